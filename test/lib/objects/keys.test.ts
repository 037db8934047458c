import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { InvalidKeyError } from "../../../lib/objects/types.ts";
import {
	checkRangeShape,
	isValidKey,
	normaliseContentType,
	normaliseMetadata,
	resolveRange,
	validateExpiry,
	validateKey,
	validatePrefix,
	MAX_KEY_BYTES
} from "../../../lib/objects/keys.ts";

describe("validateKey", () => {
	const valid = [
		"a",
		"inbox/demo/file.csv",
		"a/b/c/d/e/f/g",
		"%2e%2e/x",
		"a/%2e%2e",
		"%2E%2E%2Fetc%2Fpasswd",
		"a..b",
		"...",
		"a/.../b",
		".hidden",
		"a/.b",
		"..a",
		"a..",
		"नमस्ते/रिपोर्ट.pdf",
		"ü/ß/ç",
		"\u{1f600}/emoji",
		"with space/and+plus&amp?q=1#frag",
		"tilde~/~t/x~o",
		"C:/x",
		"a:b",
		"é".repeat(512),
		"x".repeat(MAX_KEY_BYTES)
	];
	for (const key of valid) {
		test(`accepts ${JSON.stringify(key.length > 40 ? `${key.slice(0, 20)}...(${key.length})` : key)}`, () => {
			assert.equal(validateKey(key), key);
			assert.equal(isValidKey(key), true);
		});
	}

	const invalid: [string, RegExp][] = [
		["", /empty/],
		["/", /starts with '\/'/],
		["/etc/passwd", /starts with '\/'/],
		["a//b", /empty segment/],
		["a/", /empty segment/],
		["a/b/", /empty segment/],
		["//a", /starts with/],
		["..", /'\.\.' segment/],
		["../a", /'\.\.' segment/],
		["a/..", /'\.\.' segment/],
		["a/../b", /'\.\.' segment/],
		[".", /'\.' segment/],
		["./a", /'\.' segment/],
		["a/./b", /'\.' segment/],
		["a/.", /'\.' segment/],
		["a\\b", /backslash/],
		["..\\a", /backslash/],
		["a\u0000b", /control/],
		["a\tb", /control/],
		["a\nb", /control/],
		["a\rb", /control/],
		["a\u001fb", /control/],
		["a\u007fb", /control/],
		["a\u0085b", /control/],
		["a\u009fb", /control/],
		["a\ud800b", /surrogate/],
		["a\udc00", /surrogate/],
		["\udfff\ud83d", /surrogate/],
		["x".repeat(MAX_KEY_BYTES + 1), /longer than 1024 bytes/],
		["é".repeat(513), /longer than 1024 bytes/]
	];
	for (const [key, reason] of invalid) {
		test(`rejects ${JSON.stringify(key.length > 40 ? `${key.slice(0, 10)}...(${key.length})` : key)}`, () => {
			assert.throws(() => validateKey(key), (err: unknown) => err instanceof InvalidKeyError && reason.test(err.message));
			assert.equal(isValidKey(key), false);
		});
	}

	test("rejects non-strings", () => {
		assert.throws(() => validateKey(undefined as unknown as string), InvalidKeyError);
		assert.throws(() => validateKey(42 as unknown as string), InvalidKeyError);
		assert.equal(isValidKey(null as unknown as string), false);
	});

	test("the error names the key and the reason", () => {
		assert.throws(() => validateKey("a//b"), { name: "InvalidKeyError", message: "invalid object key 'a//b': has an empty segment" });
	});
});

describe("validatePrefix", () => {
	for (const p of ["", "a", "a/", "inbox/demo/", "inbox/de", "a/.", "a/..", "a/.hid", "नम"]) {
		test(`accepts ${JSON.stringify(p)}`, () => assert.equal(validatePrefix(p), p));
	}
	for (const p of ["/", "/a", "a//", "a//b/", "../", "a/../", "./", "a/./", "a\\", "a\u0001", "a\ud800", "x".repeat(1025)]) {
		test(`rejects ${JSON.stringify(p.length > 20 ? `${p.slice(0, 5)}...` : p)}`, () => assert.throws(() => validatePrefix(p), InvalidKeyError));
	}
});

describe("normaliseMetadata", () => {
	test("lower-cases names and keeps string values, unicode included", () => {
		assert.deepEqual(normaliseMetadata({ Client: "demo", "Batch-ID": "b1", name: "रिपोर्ट.csv", "a.b_c": "" }), { client: "demo", "batch-id": "b1", name: "रिपोर्ट.csv", "a.b_c": "" });
		assert.deepEqual(normaliseMetadata(undefined), {});
	});
	test("rejects bad names, reserved names, duplicates by case, non-strings, control characters and > 2 KB", () => {
		assert.throws(() => normaliseMetadata({ "has space": "x" }), TypeError);
		assert.throws(() => normaliseMetadata({ "": "x" }), TypeError);
		assert.throws(() => normaliseMetadata({ "-lead": "x" }), TypeError);
		assert.throws(() => normaliseMetadata({ "ü": "x" }), TypeError);
		assert.throws(() => normaliseMetadata({ "Content-Type": "x" }), /reserved/);
		assert.throws(() => normaliseMetadata({ "x-amz-meta-a": "x" }), /reserved/);
		assert.throws(() => normaliseMetadata({ a: "1", A: "2" }), /twice/);
		assert.throws(() => normaliseMetadata({ a: 1 as unknown as string }), /string/);
		assert.throws(() => normaliseMetadata({ a: "x\ny" }), /control/);
		assert.throws(() => normaliseMetadata({ a: "\ud800" }), /surrogate/);
		assert.throws(() => normaliseMetadata({ a: "v".repeat(2048) }), /2048/);
		assert.equal(Object.keys(normaliseMetadata({ a: "v".repeat(2047) })).length, 1);
	});
});

describe("normaliseContentType", () => {
	test("defaults to application/octet-stream and keeps a valid type", () => {
		assert.equal(normaliseContentType(undefined), "application/octet-stream");
		assert.equal(normaliseContentType(""), "application/octet-stream");
		assert.equal(normaliseContentType("text/csv; charset=utf-8"), "text/csv; charset=utf-8");
	});
	test("rejects header-unsafe values", () => {
		assert.throws(() => normaliseContentType("text/plain\r\nx: y"), TypeError);
		assert.throws(() => normaliseContentType("plain"), TypeError);
		assert.throws(() => normaliseContentType("tëxt/plain"), TypeError);
	});
});

describe("ranges and expiry", () => {
	test("resolveRange clamps the end and checks the start", () => {
		assert.deepEqual(resolveRange({ start: 2, end: 5 }, 10), { start: 2, end: 5 });
		assert.deepEqual(resolveRange({ start: 2 }, 10), { start: 2, end: 9 });
		assert.deepEqual(resolveRange({ start: 2, end: 100 }, 10), { start: 2, end: 9 });
		assert.deepEqual(resolveRange({ start: 0 }, 0), { start: 0, end: -1 });
		assert.throws(() => resolveRange({ start: 10 }, 10), RangeError);
		assert.throws(() => resolveRange({ start: 1 }, 0), RangeError);
		assert.throws(() => resolveRange({ start: -1 }, 10), RangeError);
		assert.throws(() => resolveRange({ start: 1.5 }, 10), RangeError);
		assert.throws(() => resolveRange({ start: 5, end: 4 }, 10), RangeError);
		assert.throws(() => checkRangeShape({ start: 0, end: Number.NaN }), RangeError);
		checkRangeShape({ start: 1e12, end: 1e12 });
	});
	test("validateExpiry takes 1 s to 7 days", () => {
		assert.equal(validateExpiry(1), 1);
		assert.equal(validateExpiry(604800), 604800);
		for (const bad of [0, -1, 1.5, 604801, Number.NaN]) assert.throws(() => validateExpiry(bad), RangeError);
	});
});

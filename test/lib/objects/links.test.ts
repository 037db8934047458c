import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { InvalidKeyError } from "../../../lib/objects/types.ts";
import { buildLink, decodeKeyPath, encodeKeyPath, signLink, verifyLink, LINK_ROUTE } from "../../../lib/objects/links.ts";

const SECRET = "s".repeat(64);
const NOW = Date.UTC(2026, 10, 1, 12, 0, 0);
const NOW_S = NOW / 1000;

function parse(url: string): { key: string; expires: string; signature: string; url: URL } {
	const u = new URL(url);
	assert.ok(u.pathname.startsWith(LINK_ROUTE));
	return { key: decodeKeyPath(u.pathname.slice(LINK_ROUTE.length)), expires: u.searchParams.get("expires") ?? "", signature: u.searchParams.get("signature") ?? "", url: u };
}

test("buildLink has the documented shape and signs key + expires", () => {
	const url = buildLink("http://localhost:3000/", SECRET, "pdf/2026/letter 1.pdf", 600, NOW);
	assert.equal(url.split("?")[0], "http://localhost:3000/api/v1/objects/pdf/2026/letter%201.pdf");
	const { key, expires, signature } = parse(url);
	assert.equal(key, "pdf/2026/letter 1.pdf");
	assert.equal(expires, String(NOW_S + 600));
	assert.equal(signature, createHmac("sha256", SECRET).update(`pdf/2026/letter 1.pdf\n${NOW_S + 600}`).digest("hex"));
	assert.equal(signature, signLink(SECRET, key, NOW_S + 600));
});

test("a base URL with a path keeps it", () => {
	assert.ok(buildLink("https://example.com/paperwork", SECRET, "a", 60, NOW).startsWith("https://example.com/paperwork/api/v1/objects/a?"));
});

test("keys with reserved URL characters survive the round trip", () => {
	for (const key of ["a/q?x=1#f", "100%/done", "नमस्ते/ü ß.csv", "%2e%2e/x", "a+b&c=d", "~t/x~o"]) {
		const { key: back, expires, signature } = parse(buildLink("http://h", SECRET, key, 60, NOW));
		assert.equal(back, key);
		assert.equal(verifyLink(SECRET, back, expires, signature, NOW), true);
	}
	assert.equal(encodeKeyPath("a b/c?d"), "a%20b/c%3Fd");
});

test("verifyLink accepts until the expiry second, then rejects", () => {
	const exp = NOW_S + 60;
	const sig = signLink(SECRET, "k", exp);
	assert.equal(verifyLink(SECRET, "k", exp, sig, NOW), true);
	assert.equal(verifyLink(SECRET, "k", String(exp), sig, NOW), true);
	assert.equal(verifyLink(SECRET, "k", exp, sig, exp * 1000 + 999), true);
	assert.equal(verifyLink(SECRET, "k", exp, sig, (exp + 1) * 1000), false);
	assert.equal(verifyLink(SECRET, "k", exp, sig.toUpperCase(), NOW), true);
});

test("verifyLink rejects another key, expiry, secret or a malformed input", () => {
	const exp = NOW_S + 60;
	const sig = signLink(SECRET, "k", exp);
	assert.equal(verifyLink(SECRET, "k2", exp, sig, NOW), false);
	assert.equal(verifyLink(SECRET, "k", exp + 1, sig, NOW), false);
	assert.equal(verifyLink("other", "k", exp, sig, NOW), false);
	assert.equal(verifyLink("", "k", exp, sig, NOW), false);
	// key/expires boundary cannot be shifted: ("a1", 23) and ("a", 123) sign differently
	assert.notEqual(signLink(SECRET, "a1", 23), signLink(SECRET, "a", 123));
	for (const bad of ["", "abc", sig.slice(0, 63), `${sig}0`, "z".repeat(64)]) assert.equal(verifyLink(SECRET, "k", exp, bad, NOW), false, bad);
	for (const badExp of ["", "-1", "1e9", "12.5", " 123", "0x10", "9".repeat(20)]) assert.equal(verifyLink(SECRET, "k", badExp, sig, NOW), false, badExp);
	assert.equal(verifyLink(SECRET, "k", exp, undefined as unknown as string, NOW), false);
});

test("decodeKeyPath validates the decoded key", () => {
	assert.equal(decodeKeyPath("a/b%2Fc"), "a/b/c");
	assert.throws(() => decodeKeyPath("a/%2e%2e/b".replace("%2e%2e", "..")), InvalidKeyError);
	assert.throws(() => decodeKeyPath("%2e%2e/etc"), InvalidKeyError);
	assert.throws(() => decodeKeyPath("a/%E0%A4"), InvalidKeyError);
	assert.throws(() => decodeKeyPath("a%00"), InvalidKeyError);
	assert.throws(() => decodeKeyPath("%2Fetc"), InvalidKeyError);
});

test("buildLink refuses an invalid key", () => {
	assert.throws(() => buildLink("http://h", SECRET, "../x", 60), InvalidKeyError);
});

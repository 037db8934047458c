/**
 * The ObjectStore contract: one suite, run against
 * (1) the folder store, always;
 * (2) the S3 store on s3rver (an independent S3 implementation) in this process, always;
 * (3) the S3 store on a real S3/MinIO when S3_ENDPOINT is set (S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET, S3_REGION);
 *     it works under a unique key prefix and deletes what it wrote.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { InvalidKeyError, ObjectNotFoundError, ObjectTooLargeError, type ObjectInfo, type ObjectStore } from "../../lib/objects/types.ts";
import { FsObjectStore } from "../../lib/objects/fs.ts";
import { S3ObjectStore } from "../../lib/objects/s3.ts";
import { verifyLink, LINK_ROUTE } from "../../lib/objects/links.ts";
import { startS3rver } from "../lib/objects/s3rver.ts";

const MiB = 1024 * 1024;

/**
 * Known deviations of a test server from S3 (never of our adapters), each limiting one assertion:
 * - "range-end-zero": s3rver treats "bytes=N-0" as "bytes=N-" (it tests the end with `||`), so {start: 0, end: 0}
 *   returns the whole object;
 * - "list-order": s3rver lists in its folders' readdir order ("a/b" before "a"), not in key order;
 * - "list-encoding": s3rver ignores ListObjectsV2's encoding-type=url, so the client URL-decodes raw keys and a key
 *   with "%" or "+" comes back changed (and is skipped);
 * - "put-in-place": s3rver writes a PUT straight into the object's file, so concurrent PUTs of one key interleave
 *   (S3 stores each PUT atomically, last writer wins).
 */
type Quirk = "range-end-zero" | "list-order" | "list-encoding" | "put-in-place";

interface Harness {
	store: ObjectStore;
	quirks?: Quirk[];
	/** every key of this run starts with it ("" for a private store) */
	base: string;
	/** folder store: the secret its links are signed with */
	linkSecret?: string;
	cleanup(): Promise<void>;
}

async function readAll(stream: Readable): Promise<Buffer> {
	const chunks: Buffer[] = [];
	for await (const c of stream) chunks.push(c as Buffer);
	return Buffer.concat(chunks);
}

async function text(store: ObjectStore, key: string, range?: { start: number; end?: number }): Promise<string> {
	return (await readAll(await store.get(key, range))).toString("utf8");
}

async function collect(it: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
	const out: ObjectInfo[] = [];
	for await (const o of it) out.push(o);
	return out;
}

function sha(data: Buffer | string): string {
	return createHash("sha256").update(data).digest("hex");
}

function byteOrder(a: string, b: string): number {
	return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** A deterministic stream of `total` bytes in 64 KiB chunks, generated as it is read. */
function patterned(total: number, seed = 7): Readable {
	async function* gen() {
		const chunk = 64 * 1024;
		for (let off = 0, i = 0; off < total; off += chunk, i++) {
			const n = Math.min(chunk, total - off);
			const b = Buffer.alloc(n);
			for (let j = 0; j < n; j += 4096) b[j] = (i * 31 + j + seed) & 0xff;
			b.fill((i + seed) & 0xff, n - 1);
			yield b;
		}
	}
	return Readable.from(gen(), { objectMode: false });
}

async function patternedDigest(total: number, seed = 7): Promise<string> {
	const h = createHash("sha256");
	for await (const c of patterned(total, seed)) h.update(c as Buffer);
	return h.digest("hex");
}

const BAD_KEYS: [string, string][] = [
	["", "empty"],
	["/abs", "leading slash"],
	["a//b", "empty segment"],
	["a/", "trailing slash"],
	["../x", "parent segment"],
	["a/../b", "inner parent segment"],
	["a/..", "trailing parent segment"],
	["a/./b", "dot segment"],
	["a\\b", "backslash"],
	["a\u0000b", "NUL"],
	["a\nb", "newline"],
	["a\u007fb", "DEL"],
	["x".repeat(1025), "over 1024 bytes"]
];

function objectStoreContract(name: string, setup: () => Promise<Harness>, skip?: string): void {
	describe(`ObjectStore contract: ${name}`, { skip }, () => {
		let h: Harness;
		let store: ObjectStore;
		let k: (key: string) => string;

		before(async () => {
			h = await setup();
			store = h.store;
			k = (key) => `${h.base}${key}`;
		});
		after(async () => {
			if (!h) return;
			try {
				for await (const o of store.list(h.base)) await store.delete(o.key);
			} finally {
				await store.close();
				await h.cleanup();
			}
		});

		test("ping answers", async () => {
			assert.equal(await store.ping(), true);
		});

		test("put from a string, a Buffer and a stream; get returns the same bytes", async () => {
			const s = await store.put(k("put/string.txt"), "héllo wörld");
			assert.deepEqual(s, { key: k("put/string.txt"), size: Buffer.byteLength("héllo wörld"), sha256: sha("héllo wörld") });
			assert.equal(await text(store, k("put/string.txt")), "héllo wörld");

			const buf = randomBytes(10_000);
			const b = await store.put(k("put/buffer.bin"), buf);
			assert.equal(b.size, 10_000);
			assert.equal(b.sha256, sha(buf));
			assert.deepEqual(await readAll(await store.get(k("put/buffer.bin"))), buf);

			const parts = ["line 1\n", "line 2\n", "", "line 3\n"];
			const r = await store.put(k("put/stream.csv"), Readable.from(parts.map((p) => Buffer.from(p))));
			assert.equal(r.size, 21);
			assert.equal(r.sha256, sha(parts.join("")));
			assert.equal(await text(store, k("put/stream.csv")), parts.join(""));

			const strings = await store.put(k("put/strings.txt"), Readable.from(["a", "b", "c"]));
			assert.equal(strings.size, 3);
			assert.equal(await text(store, k("put/strings.txt")), "abc");
		});

		test("an empty object", async () => {
			const r = await store.put(k("put/empty"), "");
			assert.deepEqual(r, { key: k("put/empty"), size: 0, sha256: sha("") });
			assert.equal((await store.stat(k("put/empty")))?.size, 0);
			assert.equal((await readAll(await store.get(k("put/empty")))).length, 0);
		});

		test("put replaces an object, its content type and its metadata", async () => {
			await store.put(k("replace/x"), "first version", { contentType: "text/plain", metadata: { a: "1" } });
			await store.put(k("replace/x"), "second", { contentType: "text/csv", metadata: { b: "2" } });
			assert.equal(await text(store, k("replace/x")), "second");
			const st = await store.stat(k("replace/x"));
			assert.equal(st?.size, 6);
			assert.equal(st?.contentType, "text/csv");
			assert.deepEqual(st?.metadata, { b: "2" });
		});

		test("get with ranges (inclusive, open-ended, clamped, single byte)", async () => {
			await store.put(k("range/digits"), "0123456789");
			assert.equal(await text(store, k("range/digits"), { start: 2, end: 5 }), "2345");
			assert.equal(await text(store, k("range/digits"), { start: 7 }), "789");
			if (!h.quirks?.includes("range-end-zero")) assert.equal(await text(store, k("range/digits"), { start: 0, end: 0 }), "0");
			assert.equal(await text(store, k("range/digits"), { start: 0, end: 1 }), "01");
			assert.equal(await text(store, k("range/digits"), { start: 9, end: 9 }), "9");
			assert.equal(await text(store, k("range/digits"), { start: 0 }), "0123456789");
			assert.equal(await text(store, k("range/digits"), { start: 8, end: 100 }), "89");
			await assert.rejects(store.get(k("range/digits"), { start: 10 }), RangeError);
			await assert.rejects(store.get(k("range/digits"), { start: 5, end: 4 }), RangeError);
			await assert.rejects(store.get(k("range/digits"), { start: -1 }), RangeError);
		});

		test("get of a missing object rejects with ObjectNotFoundError; stat gives null", async () => {
			await assert.rejects(store.get(k("missing/nothing")), ObjectNotFoundError);
			await assert.rejects(store.get(k("missing/nothing"), { start: 0, end: 1 }), ObjectNotFoundError);
			assert.equal(await store.stat(k("missing/nothing")), null);
		});

		test("stat gives size, content type, lower-cased metadata (unicode values too) and a date", async () => {
			await store.put(k("stat/letter.pdf"), Buffer.alloc(1234, 1), {
				contentType: "application/pdf",
				metadata: { Client: "demo", "batch-id": "b-42", name: "रिपोर्ट ü.csv", spaced: " edge ", word: "=?UTF-8?B?eA==?=" }
			});
			const st = await store.stat(k("stat/letter.pdf"));
			assert.ok(st);
			assert.equal(st.key, k("stat/letter.pdf"));
			assert.equal(st.size, 1234);
			assert.equal(st.contentType, "application/pdf");
			assert.deepEqual(st.metadata, { client: "demo", "batch-id": "b-42", name: "रिपोर्ट ü.csv", spaced: " edge ", word: "=?UTF-8?B?eA==?=" });
			assert.ok(st.lastModified instanceof Date && !Number.isNaN(st.lastModified.getTime()));

			await store.put(k("stat/plain"), "x");
			const plain = await store.stat(k("stat/plain"));
			assert.equal(plain?.contentType, "application/octet-stream");
			assert.deepEqual(plain?.metadata, {});
		});

		test("bad metadata is refused before anything is stored", async () => {
			await assert.rejects(store.put(k("meta/bad"), "x", { metadata: { "bad name": "v" } }), TypeError);
			await assert.rejects(store.put(k("meta/bad"), "x", { metadata: { "content-type": "text/plain" } }), TypeError);
			await assert.rejects(store.put(k("meta/bad"), "x", { metadata: { "x-amz-acl": "public-read" } }), TypeError);
			await assert.rejects(store.put(k("meta/bad"), "x", { metadata: { big: "v".repeat(3000) } }), TypeError);
			await assert.rejects(store.put(k("meta/bad"), "x", { metadata: { ctl: "a\nb" } }), TypeError);
			assert.equal(await store.stat(k("meta/bad")), null);
		});

		test("list by prefix: key order, nested prefixes, no false prefix matches", async () => {
			const names = ["a", "a.txt", "a/b", "a/c/d", "a/c/e", "a0", "ab", "b", "B", "z~o", "~m", "\uff01", "\u{1f600}", "é"];
			for (const n of names) await store.put(k(`list/${n}`), n, { metadata: { n: String(names.indexOf(n)) } });
			await store.put(k("listx"), "not under list/");
			await store.put(k("lis"), "shorter than the prefix");

			const keys = async (prefix: string) => {
				const got = (await collect(store.list(k(prefix)))).map((o) => o.key.slice(h.base.length));
				return h.quirks?.includes("list-order") ? got.sort(byteOrder) : got;
			};
			const all = [...names].sort(byteOrder).map((n) => `list/${n}`);
			assert.deepEqual(await keys("list/"), all);
			assert.deepEqual(await keys("list/a/"), ["list/a/b", "list/a/c/d", "list/a/c/e"]);
			assert.deepEqual(await keys("list/a"), ["list/a", "list/a.txt", "list/a/b", "list/a/c/d", "list/a/c/e", "list/a0", "list/ab"]);
			assert.deepEqual(await keys("list/a/c"), ["list/a/c/d", "list/a/c/e"]);
			assert.deepEqual(await keys("list/a/c/"), ["list/a/c/d", "list/a/c/e"]);
			assert.deepEqual(await keys("list/ab"), ["list/ab"]);
			assert.deepEqual(await keys("list/a/b"), ["list/a/b"]);
			assert.deepEqual(await keys("list/nothing/"), []);
			assert.deepEqual(await keys("list/nothing"), []);
			assert.deepEqual(await keys("nowhere/at/all/"), []);
			assert.deepEqual(await keys("list"), [...all, "listx"]);
			assert.deepEqual(await keys("lis"), ["lis", ...all, "listx"]);
			assert.deepEqual(await keys("list/~"), ["list/~m"]);
			assert.deepEqual(await keys("list/z~"), ["list/z~o"]);
		});

		test("list gives the same info as stat", async () => {
			await store.put(k("info/one.csv"), "a,b\n", { contentType: "text/csv", metadata: { client: "demo", name: "ñ" } });
			const [info] = await collect(store.list(k("info/")));
			const st = await store.stat(k("info/one.csv"));
			assert.ok(st);
			assert.equal(info.key, st.key);
			assert.equal(info.size, 4);
			assert.equal(info.contentType, "text/csv");
			assert.deepEqual(info.metadata, { client: "demo", name: "ñ" });
			assert.equal(info.lastModified.getTime(), st.lastModified.getTime());
		});

		test("a consumer may stop listing early", async () => {
			for (let i = 0; i < 25; i++) await store.put(k(`early/${String(i).padStart(2, "0")}`), String(i));
			const seen: string[] = [];
			for await (const o of store.list(k("early/"))) {
				seen.push(o.key);
				if (seen.length === 3) break;
			}
			assert.deepEqual(seen, [k("early/00"), k("early/01"), k("early/02")]);
			assert.equal((await collect(store.list(k("early/")))).length, 25);
		});

		test("an object and a folder of the same name coexist", async () => {
			await store.put(k("both/a"), "object a");
			await store.put(k("both/a/b"), "object a/b");
			assert.equal(await text(store, k("both/a")), "object a");
			assert.equal(await text(store, k("both/a/b")), "object a/b");
			await store.delete(k("both/a"));
			assert.equal(await store.stat(k("both/a")), null);
			assert.equal(await text(store, k("both/a/b")), "object a/b");
		});

		test("keys that look like encodings, dots and unicode are literal names", async () => {
			const odd = ["odd/%2e%2e/x", "odd/a..b", "odd/...", "odd/.hidden", "odd/नमस्ते/ü ß.csv", "odd/with space & plus+", "odd/q?x=1#f", "odd/~t123", "odd/x~m"];
			for (const key of odd) await store.put(k(key), key);
			for (const key of odd) assert.equal(await text(store, k(key)), key, key);
			let listed = (await collect(store.list(k("odd/")))).map((o) => o.key);
			let expected = odd.map(k).sort(byteOrder);
			if (h.quirks?.includes("list-order")) listed = listed.sort(byteOrder);
			if (h.quirks?.includes("list-encoding")) expected = expected.filter((key) => !/[%+]/.test(key));
			assert.deepEqual(listed, expected);
		});

		test("delete removes the object; deleting a missing object is fine", async () => {
			await store.put(k("del/one"), "1");
			await store.put(k("del/deep/two"), "2");
			await store.delete(k("del/one"));
			assert.equal(await store.stat(k("del/one")), null);
			await assert.rejects(store.get(k("del/one")), ObjectNotFoundError);
			await store.delete(k("del/one"));
			await store.delete(k("del/never/was"));
			await store.delete(k("del/deep/two"));
			assert.deepEqual(await collect(store.list(k("del/"))), []);
			// the (possibly pruned) folder can be written again
			await store.put(k("del/deep/three"), "3");
			assert.equal(await text(store, k("del/deep/three")), "3");
		});

		test("maxBytes: at the limit is stored, one byte over is refused and nothing is stored", async () => {
			const ok = await store.put(k("max/at"), "12345", { maxBytes: 5 });
			assert.equal(ok.size, 5);
			await assert.rejects(store.put(k("max/over"), "123456", { maxBytes: 5 }), (err: unknown) => err instanceof ObjectTooLargeError && err.limit === 5);
			assert.equal(await store.stat(k("max/over")), null);
			await assert.rejects(store.put(k("max/over-stream"), Readable.from([Buffer.alloc(3), Buffer.alloc(3)]), { maxBytes: 5 }), ObjectTooLargeError);
			assert.equal(await store.stat(k("max/over-stream")), null);
			await assert.rejects(store.put(k("max/zero"), "x", { maxBytes: 0 }), ObjectTooLargeError);
		});

		test("maxBytes on a large stream (past several parts) refuses it and stops reading", async () => {
			let produced = 0;
			async function* endless() {
				for (;;) {
					produced += MiB;
					yield Buffer.alloc(MiB, 3);
				}
			}
			const source = Readable.from(endless(), { objectMode: false, highWaterMark: MiB });
			await assert.rejects(store.put(k("max/big"), source, { maxBytes: 12 * MiB }), ObjectTooLargeError);
			assert.equal(await store.stat(k("max/big")), null);
			assert.ok(produced <= 16 * MiB, `read ${produced} bytes of an endless stream`);
			assert.equal(source.destroyed, true);
		});

		test("a failed put leaves the previous object untouched", async () => {
			await store.put(k("keep/x"), "old content", { metadata: { v: "1" } });
			await assert.rejects(store.put(k("keep/x"), patterned(12 * MiB), { maxBytes: 11 * MiB, metadata: { v: "2" } }), ObjectTooLargeError);
			assert.equal(await text(store, k("keep/x")), "old content");
			assert.deepEqual((await store.stat(k("keep/x")))?.metadata, { v: "1" });

			async function* failing() {
				yield Buffer.alloc(MiB);
				throw new Error("source broke");
			}
			await assert.rejects(store.put(k("keep/x"), Readable.from(failing())), /source broke/);
			assert.equal(await text(store, k("keep/x")), "old content");
			await assert.rejects(store.put(k("keep/new"), Readable.from(failing())), /source broke/);
			assert.equal(await store.stat(k("keep/new")), null);
		});

		test("invalid keys are rejected by every method", async () => {
			for (const [bad, why] of BAD_KEYS) {
				await assert.rejects(store.put(bad, "x"), InvalidKeyError, `put ${why}`);
				await assert.rejects(store.get(bad), InvalidKeyError, `get ${why}`);
				await assert.rejects(store.stat(bad), InvalidKeyError, `stat ${why}`);
				await assert.rejects(store.delete(bad), InvalidKeyError, `delete ${why}`);
				await assert.rejects(store.link(bad, 60), InvalidKeyError, `link ${why}`);
			}
			for (const bad of ["/abs", "a//", "../", "a/./", "a\\", "a\u0001"]) {
				await assert.rejects(collect(store.list(bad)), InvalidKeyError, `list ${JSON.stringify(bad)}`);
			}
			// a stream body of a refused put is released, not left open
			const body = Readable.from([Buffer.from("x")]);
			await assert.rejects(store.put("a//b", body), InvalidKeyError);
			assert.equal(body.destroyed, true);
		});

		test("link reads the object until it expires", async () => {
			await store.put(k("link/doc 1.pdf"), "%PDF-1.7 fake", { contentType: "application/pdf" });
			const url = await store.link(k("link/doc 1.pdf"), 300);
			await assert.rejects(store.link(k("link/doc 1.pdf"), 0), RangeError);
			await assert.rejects(store.link(k("link/doc 1.pdf"), 8 * 24 * 3600), RangeError);
			if (store.kind === "s3") {
				const res = await fetch(url);
				assert.equal(res.status, 200);
				assert.equal(await res.text(), "%PDF-1.7 fake");
				const tampered = await fetch(url.replace("doc%201.pdf", "doc%202.pdf"));
				assert.equal(tampered.status >= 400, true);
				await tampered.body?.cancel();
			} else {
				const u = new URL(url);
				assert.ok(u.pathname.startsWith(LINK_ROUTE), u.pathname);
				const key = u.pathname.slice(LINK_ROUTE.length).split("/").map(decodeURIComponent).join("/");
				assert.equal(key, k("link/doc 1.pdf"));
				const expires = u.searchParams.get("expires") ?? "";
				const signature = u.searchParams.get("signature") ?? "";
				assert.ok(Number(expires) >= Math.floor(Date.now() / 1000) + 290);
				assert.equal(verifyLink(h.linkSecret ?? "", key, expires, signature), true);
				assert.equal(verifyLink(h.linkSecret ?? "", k("link/other.pdf"), expires, signature), false);
				assert.equal(verifyLink(h.linkSecret ?? "", key, expires, signature, (Number(expires) + 1) * 1000), false);
			}
		});

		test("a 20 MiB stream is stored and read back streaming (multipart on S3)", async () => {
			const size = 20 * MiB;
			const put = await store.put(k("big/20mb.bin"), patterned(size), { contentType: "application/octet-stream" });
			assert.equal(put.size, size);
			assert.equal(put.sha256, await patternedDigest(size));
			assert.equal((await store.stat(k("big/20mb.bin")))?.size, size);
			const h2 = createHash("sha256");
			let n = 0;
			for await (const c of await store.get(k("big/20mb.bin"))) {
				h2.update(c as Buffer);
				n += (c as Buffer).length;
			}
			assert.equal(n, size);
			assert.equal(h2.digest("hex"), put.sha256);
			// a range across a part boundary (5 MiB and 8 MiB parts)
			const whole = patterned(size);
			const expected: Buffer[] = [];
			let off = 0;
			for await (const c of whole) {
				const b = c as Buffer;
				const from = Math.max(0, 5 * MiB - 100 - off);
				const to = Math.min(b.length, 8 * MiB + 100 - off);
				if (from < to) expected.push(b.subarray(from, to));
				off += b.length;
			}
			const got = await readAll(await store.get(k("big/20mb.bin"), { start: 5 * MiB - 100, end: 8 * MiB + 99 }));
			assert.equal(got.length, 3 * MiB + 200);
			assert.deepEqual(got, Buffer.concat(expected));
		});

		test("concurrent puts of different keys all land", async () => {
			const keys = Array.from({ length: 20 }, (_, i) => k(`many/${i}`));
			const results = await Promise.all(keys.map((key, i) => store.put(key, `value ${i}`)));
			assert.deepEqual(results.map((r) => r.size), keys.map((_, i) => `value ${i}`.length));
			for (const [i, key] of keys.entries()) assert.equal(await text(store, key), `value ${i}`);
		});

		test("concurrent puts of one key leave one whole version", async (t) => {
			if (h.quirks?.includes("put-in-place")) return t.skip("this server does not store a PUT atomically");
			const versions = Array.from({ length: 6 }, (_, i) => Buffer.alloc(64 * 1024 + i, 65 + i));
			await Promise.all(versions.map((v) => store.put(k("race/one"), v)));
			const got = await readAll(await store.get(k("race/one")));
			assert.ok(versions.some((v) => v.equals(got)), "the object is one of the versions written, whole");
		});
	});
}

// (1) the folder store
{
	let dir = "";
	objectStoreContract("folder store", async () => {
		dir = fs.mkdtempSync(path.join(os.tmpdir(), "paperwork-objects-"));
		const linkSecret = randomBytes(32).toString("hex");
		const store = new FsObjectStore({ dir: path.join(dir, "objects"), linkSecret, publicUrl: "http://localhost:3000" });
		return { store, base: "", linkSecret, cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
	});
}

// (2) s3rver, in process
objectStoreContract("S3 store on s3rver", async () => {
	const server = await startS3rver();
	// the bucket does not exist yet: the store creates it on first use
	const store = new S3ObjectStore({ endpoint: server.endpoint, accessKey: server.accessKey, secretKey: server.secretKey, bucket: "paperwork-test", region: "us-east-1", partSize: 5 * MiB });
	return { store, base: "", quirks: ["range-end-zero", "list-order", "list-encoding", "put-in-place"], cleanup: () => server.stop() };
});

// (3) a real S3 / MinIO
const endpoint = process.env.S3_ENDPOINT;
objectStoreContract(
	`S3 store on ${endpoint ?? "S3_ENDPOINT"}`,
	async () => {
		const store = new S3ObjectStore({
			endpoint: endpoint as string,
			accessKey: process.env.S3_ACCESS_KEY ?? "",
			secretKey: process.env.S3_SECRET_KEY ?? "",
			bucket: process.env.S3_BUCKET || "paperwork-test",
			region: process.env.S3_REGION || "us-east-1"
		});
		return { store, base: `contract-${Date.now()}-${randomBytes(4).toString("hex")}/`, cleanup: async () => undefined };
	},
	endpoint ? undefined : "S3_ENDPOINT is not set (no S3/MinIO server here)"
);

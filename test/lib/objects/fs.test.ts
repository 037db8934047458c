import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { InvalidKeyError, ObjectTooLargeError } from "../../../lib/objects/types.ts";
import { FsObjectStore } from "../../../lib/objects/fs.ts";
import { verifyLink } from "../../../lib/objects/links.ts";

let tmp = "";
let root = "";
let store: FsObjectStore;

before(() => {
	tmp = fs.mkdtempSync(path.join(os.tmpdir(), "paperwork-fsstore-"));
	root = path.join(tmp, "objects");
	store = new FsObjectStore({ dir: root, linkSecret: "secret", publicUrl: "http://files.example" });
});
after(async () => {
	await store.close();
	fs.rmSync(tmp, { recursive: true, force: true });
});

async function read(key: string): Promise<string> {
	let s = "";
	for await (const c of await store.get(key)) s += (c as Buffer).toString();
	return s;
}

/** Every file and folder under `dir`, relative, sorted. */
function tree(dir: string): string[] {
	return (fs.readdirSync(dir, { recursive: true }) as string[]).map((p) => p.split(path.sep).join("/")).sort();
}

test("layout: data and sidecar files with escaped tildes, no temporary files left", async () => {
	await store.put("lay/a~b/c.csv", "x,y\n", { contentType: "text/csv", metadata: { client: "demo" } });
	await store.put("lay/a~b/c.csv~m", "looks like a sidecar");
	await store.put("lay/d", "object d");
	await store.put("lay/d/e", "object d/e");
	assert.deepEqual(tree(path.join(root, "lay")), ["a~~b", "a~~b/c.csv~m", "a~~b/c.csv~o", "a~~b/c.csv~~m~m", "a~~b/c.csv~~m~o", "d", "d/e~m", "d/e~o", "d~m", "d~o"]);
	const sidecar = JSON.parse(fs.readFileSync(path.join(root, "lay/a~~b/c.csv~m"), "utf8"));
	assert.deepEqual(sidecar, { contentType: "text/csv", metadata: { client: "demo" }, size: 4, sha256: sidecar.sha256 });
	assert.equal(await read("lay/a~b/c.csv~m"), "looks like a sidecar");
	assert.equal(await read("lay/a~b/c.csv"), "x,y\n");
});

test("files this store did not write are ignored by list", async () => {
	await store.put("foreign/ok", "1");
	fs.writeFileSync(path.join(root, "foreign", "README"), "not an object");
	fs.writeFileSync(path.join(root, "foreign", "odd~x~o"), "odd tilde");
	fs.writeFileSync(path.join(root, "foreign", "~tdeadbeef"), "a leftover temp file");
	fs.mkdirSync(path.join(root, "foreign", "bad~dir"));
	fs.writeFileSync(path.join(root, "foreign", "bad~dir", "x~o"), "under an invalid folder name");
	const keys: string[] = [];
	for await (const o of store.list("foreign/")) keys.push(o.key);
	assert.deepEqual(keys, ["foreign/ok"]);
});

test("a failed put removes its temporary files", async () => {
	await assert.rejects(store.put("fail/x", "123456", { maxBytes: 3 }), ObjectTooLargeError);
	await assert.rejects(store.put("fail/y", Readable.from((async function* () {
		yield Buffer.from("abc");
		throw new Error("boom");
	})())), /boom/);
	assert.deepEqual(tree(path.join(root, "fail")), []);
});

test("a body in memory, written on the writer thread, gives the same object and files as a streamed one; its failure is thrown and leaves nothing", async () => {
	const bytes = Buffer.from("%PDF-1.4 rendered in memory");
	const fromMemory = await store.put("mem/a.pdf", bytes, { contentType: "application/pdf", metadata: { filename: "a.pdf" } });
	const streamed = await store.put("mem/b.pdf", Readable.from([bytes]), { contentType: "application/pdf", metadata: { filename: "a.pdf" } });
	assert.deepEqual({ ...fromMemory, key: "" }, { ...streamed, key: "" });
	assert.deepEqual(tree(path.join(root, "mem")), ["a.pdf~m", "a.pdf~o", "b.pdf~m", "b.pdf~o"]);
	assert.deepEqual(fs.readFileSync(path.join(root, "mem/a.pdf~m"), "utf8"), fs.readFileSync(path.join(root, "mem/b.pdf~m"), "utf8"));
	assert.equal(await read("mem/a.pdf"), bytes.toString());
	const [a, b] = [await store.stat("mem/a.pdf"), await store.stat("mem/b.pdf")];
	assert.deepEqual({ ...a, key: "", lastModified: 0 }, { ...b, key: "", lastModified: 0 }, "size, hash, type and metadata alike");
	// replaced in place
	await store.put("mem/a.pdf", "v2");
	assert.equal(await read("mem/a.pdf"), "v2");
	// a file where the object's folder should be: the thread's error comes back, nothing is left behind
	fs.writeFileSync(path.join(root, "mem", "blocked"), "a file, not a folder");
	await assert.rejects(store.put("mem/blocked/c.pdf", bytes), /EEXIST|ENOTDIR/);
	await assert.rejects(store.put("mem/big", bytes, { maxBytes: 3 }), ObjectTooLargeError);
	assert.deepEqual(tree(path.join(root, "mem")), ["a.pdf~m", "a.pdf~o", "b.pdf~m", "b.pdf~o", "blocked"]);
});

test("a reader sees the old object while a put is streaming, the new one after", async () => {
	await store.put("atomic/doc", "old");
	const body = new PassThrough();
	const pending = store.put("atomic/doc", body);
	body.write("new-");
	await new Promise((r) => setTimeout(r, 20));
	assert.equal(await read("atomic/doc"), "old");
	const partial = fs.readdirSync(path.join(root, "atomic")).filter((n) => n.startsWith("~t"));
	assert.equal(partial.length, 1, "the new bytes go to a temporary file");
	body.end("content");
	await pending;
	assert.equal(await read("atomic/doc"), "new-content");
});

test("a stream opened before a replace keeps reading the old version", async () => {
	await store.put("pinned/doc", "A".repeat(200_000));
	const stream = await store.get("pinned/doc");
	await store.put("pinned/doc", "B".repeat(10));
	let s = "";
	for await (const c of stream) s += (c as Buffer).toString();
	assert.equal(s, "A".repeat(200_000));
	assert.equal(await read("pinned/doc"), "B".repeat(10));
});

test("delete prunes the folders it empties, not the root nor non-empty folders", async () => {
	await store.put("prune/a/b/c/one", "1");
	await store.put("prune/a/two", "2");
	await store.delete("prune/a/b/c/one");
	assert.equal(fs.existsSync(path.join(root, "prune/a/b")), false);
	assert.equal(fs.existsSync(path.join(root, "prune/a/two~o")), true);
	await store.delete("prune/a/two");
	assert.equal(fs.existsSync(path.join(root, "prune")), false);
	assert.equal(fs.existsSync(root), true);
});

test("an object without its sidecar has the default content type and no metadata", async () => {
	await store.put("nosidecar/x", "data", { contentType: "text/plain", metadata: { a: "1" } });
	fs.rmSync(path.join(root, "nosidecar", "x~m"));
	const st = await store.stat("nosidecar/x");
	assert.equal(st?.contentType, "application/octet-stream");
	assert.deepEqual(st?.metadata, {});
	assert.equal(st?.size, 4);
});

test("a segment too long for a file name is an InvalidKeyError; the limit fits", async () => {
	const ok = `long/${"n".repeat(253)}`;
	await store.put(ok, "fits");
	assert.equal(await read(ok), "fits");
	const tooLong = `long/${"n".repeat(254)}`;
	await assert.rejects(store.put(tooLong, "x"), InvalidKeyError);
	await assert.rejects(store.stat(tooLong), InvalidKeyError);
	// "~" doubles on disk
	await assert.rejects(store.put(`long/${"~".repeat(127)}`, "x"), InvalidKeyError);
	const none: string[] = [];
	for await (const o of store.list(`${"d".repeat(300)}/`)) none.push(o.key);
	assert.deepEqual(none, []);
});

test("link is under publicUrl and verifies with the store's secret", async () => {
	await store.put("links/a b.pdf", "pdf");
	const url = new URL(await store.link("links/a b.pdf", 120));
	assert.equal(url.origin, "http://files.example");
	assert.equal(url.pathname, "/api/v1/objects/links/a%20b.pdf");
	assert.equal(verifyLink("secret", "links/a b.pdf", url.searchParams.get("expires") ?? "", url.searchParams.get("signature") ?? ""), true);
	assert.equal(verifyLink("other", "links/a b.pdf", url.searchParams.get("expires") ?? "", url.searchParams.get("signature") ?? ""), false);
});

test("a store whose root does not exist lists nothing and creates it on put; ping fails on an unusable root", async () => {
	const fresh = new FsObjectStore({ dir: path.join(tmp, "fresh", "objects"), linkSecret: "s", publicUrl: "http://x" });
	const none: string[] = [];
	for await (const o of fresh.list("")) none.push(o.key);
	assert.deepEqual(none, []);
	assert.equal(await fresh.stat("a"), null);
	await fresh.put("a", "1");
	assert.equal(await fresh.ping(), true);
	fs.writeFileSync(path.join(tmp, "a-file"), "");
	const broken = new FsObjectStore({ dir: path.join(tmp, "a-file", "objects"), linkSecret: "s", publicUrl: "http://x" });
	assert.equal(await broken.ping(), false);
});

test("an empty object read with range start 0 gives no bytes", async () => {
	await store.put("emptyrange/x", "");
	let n = 0;
	for await (const c of await store.get("emptyrange/x", { start: 0 })) n += (c as Buffer).length;
	assert.equal(n, 0);
	await assert.rejects(store.get("emptyrange/x", { start: 1 }), RangeError);
});

test("many small chunks are written in batches and come back intact", async () => {
	const pieces = Array.from({ length: 20_000 }, (_, i) => `${i},`);
	const r = await store.put("batched/x", Readable.from(pieces));
	assert.equal(r.size, pieces.join("").length);
	assert.equal(await read("batched/x"), pieces.join(""));
});

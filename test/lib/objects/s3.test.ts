/**
 * S3-store specifics (the shared behaviour is in test/contract/objects.contract.test.ts), run against s3rver.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { ObjectTooLargeError } from "../../../lib/objects/types.ts";
import { S3ObjectStore, decodeMetaValue, encodeMetaValue, type S3ObjectStoreOptions } from "../../../lib/objects/s3.ts";
import { startS3rver, type S3rverHandle } from "./s3rver.ts";

const MiB = 1024 * 1024;
let server: S3rverHandle;
const stores: S3ObjectStore[] = [];

function open(bucket: string, extra: Partial<S3ObjectStoreOptions> = {}): S3ObjectStore {
	const s = new S3ObjectStore({ endpoint: server.endpoint, accessKey: server.accessKey, secretKey: server.secretKey, bucket, region: "us-east-1", partSize: 5 * MiB, ...extra });
	stores.push(s);
	return s;
}

/** Counts calls of one client method (the store's client is public for this). */
function spy(store: S3ObjectStore, method: "initiateNewMultipartUpload" | "abortMultipartUpload" | "completeMultipartUpload" | "putObject" | "uploadPart"): { calls: number } {
	const counter = { calls: 0 };
	const client = store.client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
	const original = client[method].bind(store.client);
	client[method] = (...args: unknown[]) => {
		counter.calls++;
		return original(...args);
	};
	return counter;
}

async function body(store: S3ObjectStore, key: string): Promise<Buffer> {
	const parts: Buffer[] = [];
	for await (const c of await store.get(key)) parts.push(c as Buffer);
	return Buffer.concat(parts);
}

before(async () => {
	server = await startS3rver();
});
after(async () => {
	for (const s of stores) await s.close();
	await server.stop();
});

test("metadata values: printable ASCII as is, anything else as an RFC 2047 encoded word", () => {
	assert.equal(encodeMetaValue("plain value"), "plain value");
	assert.equal(encodeMetaValue(""), "");
	for (const v of ["रिपोर्ट", "ü", " lead", "trail ", "=?UTF-8?B?eA==?=", "\u{1f600}"]) {
		const enc = encodeMetaValue(v);
		assert.match(enc, /^[\u0021-\u007e]+$/);
		assert.equal(decodeMetaValue(enc), v);
	}
	assert.equal(encodeMetaValue("ü"), "=?UTF-8?B?w7w=?=");
	assert.equal(decodeMetaValue("=?utf-8?b?w7w=?="), "ü");
});

test("the bucket is created on first use, also by two stores at once", async () => {
	const a = open("fresh-bucket");
	const b = open("fresh-bucket");
	assert.equal(await a.client.bucketExists("fresh-bucket"), false);
	await Promise.all([a.put("x", "from a"), b.put("y", "from b")]);
	assert.equal(await a.client.bucketExists("fresh-bucket"), true);
	assert.equal((await body(b, "x")).toString(), "from a");
});

test("a body of up to one part is one PutObject; a bigger one a multipart upload of exact parts", async () => {
	const store = open("parts");
	const puts = spy(store, "putObject");
	const multi = spy(store, "initiateNewMultipartUpload");
	const parts = spy(store, "uploadPart");
	const exact = Buffer.alloc(5 * MiB, 1);
	await store.put("exact", Readable.from([exact.subarray(0, MiB), exact.subarray(MiB)]));
	assert.deepEqual([puts.calls, multi.calls], [1, 0]);
	const bigger = Buffer.alloc(11 * MiB + 3);
	for (let i = 0; i < bigger.length; i += 1000) bigger[i] = i & 0xff;
	const r = await store.put("bigger", Readable.from([bigger.subarray(0, 3 * MiB), bigger.subarray(3 * MiB)]));
	assert.deepEqual([puts.calls, multi.calls, parts.calls], [1, 1, 3]);
	assert.equal(r.sha256, createHash("sha256").update(bigger).digest("hex"));
	assert.deepEqual(await body(store, "bigger"), bigger);
	assert.equal((await store.stat("bigger"))?.size, bigger.length);
});

test("metadata and content type survive a multipart upload", async () => {
	const store = open("parts");
	await store.put("meta-multi", Readable.from([Buffer.alloc(6 * MiB)]), { contentType: "text/csv", metadata: { client: "demo", name: "ñ" } });
	const st = await store.stat("meta-multi");
	assert.equal(st?.contentType, "text/csv");
	assert.deepEqual(st?.metadata, { client: "demo", name: "ñ" });
});

test("a multipart upload that fails is aborted and nothing is completed", async () => {
	const store = open("parts");
	const abort = spy(store, "abortMultipartUpload");
	const complete = spy(store, "completeMultipartUpload");
	const chunks = Array.from({ length: 12 }, () => Buffer.alloc(MiB));
	await assert.rejects(store.put("aborted", Readable.from(chunks), { maxBytes: 11 * MiB }), ObjectTooLargeError);
	assert.equal(abort.calls, 1);
	assert.equal(complete.calls, 0);
	assert.equal(await store.stat("aborted"), null);
});

test("a part upload that fails fails the put (after reading no further than one part ahead)", async () => {
	const store = open("parts");
	const client = store.client as unknown as { uploadPart: () => Promise<never> };
	client.uploadPart = async () => {
		throw new Error("part refused");
	};
	let produced = 0;
	async function* endless() {
		for (;;) {
			produced += MiB;
			yield Buffer.alloc(MiB);
		}
	}
	await assert.rejects(store.put("part-fails", Readable.from(endless(), { objectMode: false, highWaterMark: MiB })), /part refused/);
	assert.ok(produced <= 18 * MiB, `read ${produced} bytes`);
	assert.equal(await store.stat("part-fails"), null);
});

test("options are checked", () => {
	assert.throws(() => open("okbucket", { endpoint: "http://127.0.0.1:9000/sub/path" }), /must not have a path/);
	assert.throws(() => open("okbucket", { partSize: MiB }), RangeError);
	assert.throws(() => open("ab"), /S3_BUCKET/);
	assert.throws(() => open("Upper"), /S3_BUCKET/);
});

test("ping is false when nothing answers", async () => {
	const other = await startS3rver();
	const endpoint = other.endpoint;
	await other.stop();
	const store = open("nobody", { endpoint });
	assert.equal(await store.ping(), false);
	assert.equal(await open("parts").ping(), true);
});

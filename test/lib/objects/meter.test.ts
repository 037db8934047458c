import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { ObjectTooLargeError } from "../../../lib/objects/types.ts";
import { Meter, blocks, checkBody, discardBody } from "../../../lib/objects/meter.ts";

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
	const out: T[] = [];
	for await (const x of it) out.push(x);
	return out;
}

test("Meter counts and hashes Buffers, strings and Uint8Arrays, skipping empty chunks", async () => {
	const m = new Meter();
	const chunks = await all(m.chunks(Readable.from([Buffer.from("ab"), "cé", new Uint8Array([100]), Buffer.alloc(0)])));
	assert.equal(chunks.length, 3);
	assert.equal(m.size, 6);
	assert.equal(m.digest(), createHash("sha256").update("abcéd").digest("hex"));

	const s = new Meter();
	await all(s.chunks("hello"));
	assert.equal(s.size, 5);
	const b = new Meter();
	await all(b.chunks(Buffer.from("hello")));
	assert.equal(b.digest(), createHash("sha256").update("hello").digest("hex"));
});

test("Meter throws ObjectTooLargeError past maxBytes, not at it", async () => {
	await all(new Meter(5).chunks("12345"));
	await assert.rejects(all(new Meter(5).chunks("123456")), (e: unknown) => e instanceof ObjectTooLargeError && e.limit === 5);
	const src = Readable.from([Buffer.alloc(4), Buffer.alloc(4), Buffer.alloc(4)]);
	await assert.rejects(all(new Meter(6).chunks(src)), ObjectTooLargeError);
	assert.equal(src.destroyed, true);
	assert.throws(() => new Meter(-1), RangeError);
	assert.throws(() => new Meter(1.5), RangeError);
});

test("Meter refuses object-mode chunks that are not bytes", async () => {
	await assert.rejects(all(new Meter().chunks(Readable.from([{ a: 1 }]))), TypeError);
});

test("blocks regroups chunks into exact sizes", async () => {
	const src = async function* () {
		yield Buffer.from("abc");
		yield Buffer.from("defghij");
		yield Buffer.from("k");
		yield Buffer.from("lmnopqrstu");
	};
	const out = (await all(blocks(src(), 4))).map((b) => b.toString());
	assert.deepEqual(out, ["abcd", "efgh", "ijkl", "mnop", "qrst", "u"]);
	assert.deepEqual((await all(blocks((async function* () {})(), 4))).length, 0);
	assert.deepEqual((await all(blocks((async function* () { yield Buffer.from("abcd"); })(), 4))).map(String), ["abcd"]);
});

test("checkBody and discardBody", () => {
	checkBody("x");
	checkBody(Buffer.alloc(1));
	checkBody(Readable.from([]));
	assert.throws(() => checkBody(42 as unknown as string), TypeError);
	assert.throws(() => checkBody({} as unknown as string), TypeError);
	const r = Readable.from([Buffer.from("x")]);
	discardBody(r);
	assert.equal(r.destroyed, true);
	discardBody("x");
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { Coalescer, FlushGroup } from "../../../lib/store/coalesce.ts";

test("calls made in one turn become one batch call; each caller gets its own result, in order", async () => {
	const batches: number[][] = [];
	const c = new Coalescer<number, string>(async (items) => {
		batches.push(items);
		return items.map((i) => `r${i}`);
	});
	const out = await Promise.all([1, 2, 3].map((i) => c.call(i)));
	assert.deepEqual(out, ["r1", "r2", "r3"]);
	assert.deepEqual(batches, [[1, 2, 3]]);
	// a call after the batch settled starts the next batch
	assert.equal(await c.call(4), "r4");
	assert.deepEqual(batches, [[1, 2, 3], [4]]);
});

test("a caller settles only after its batch call settled; a failed batch rejects every caller in it", async () => {
	let release: () => void = () => undefined;
	const gate = new Promise<void>((r) => (release = r));
	const c = new Coalescer<number, number>(async (items) => {
		await gate;
		if (items.includes(0)) throw new Error("disk on fire");
		return items;
	});
	let settled = false;
	const p = c.call(1).then((v) => {
		settled = true;
		return v;
	});
	await new Promise((r) => setTimeout(r, 20));
	assert.equal(settled, false, "not before the batch's write is done");
	release();
	assert.equal(await p, 1);
	const failed = await Promise.allSettled([c.call(0), c.call(5)]);
	assert.deepEqual(
		failed.map((f) => f.status),
		["rejected", "rejected"]
	);
});

test("max flushes a full batch at once; lingerMs gathers calls made a few milliseconds apart", async () => {
	const sizes: number[] = [];
	const full = new Coalescer<number, number>(
		async (items) => {
			sizes.push(items.length);
			return items;
		},
		{ max: 2 }
	);
	await Promise.all([1, 2, 3, 4, 5].map((i) => full.call(i)));
	assert.deepEqual(sizes, [2, 2, 1]);
	const lingering: number[][] = [];
	const slow = new Coalescer<number, number>(
		async (items) => {
			lingering.push(items);
			return items;
		},
		{ lingerMs: 50 }
	);
	const a = slow.call(1);
	await new Promise((r) => setTimeout(r, 5));
	const b = slow.call(2);
	await Promise.all([a, b]);
	assert.deepEqual(lingering, [[1, 2]]);
});

test("a batch function answering the wrong number of results rejects its callers", async () => {
	const c = new Coalescer<number, number>(async () => [1]);
	const r = await Promise.allSettled([c.call(1), c.call(2)]);
	assert.ok(r.every((x) => x.status === "rejected"));
});

test("a FlushGroup flushes its members together, inside one `together`, and answers only after it returned", async () => {
	const log: string[] = [];
	const group = new FlushGroup(
		(fn) => {
			log.push("begin");
			fn();
			log.push("commit");
		},
		{ lingerMs: 5 }
	);
	const a = new Coalescer<number, number>(async (items) => (log.push(`a${items.join(",")}`), items), { group });
	const b = new Coalescer<string, string>(async (items) => (log.push(`b${items.join(",")}`), items), { group });
	const out = await Promise.all([a.call(1), b.call("x"), a.call(2)]);
	assert.deepEqual(out, [1, "x", 2]);
	assert.deepEqual(log, ["begin", "a1,2", "bx", "commit"], "one transaction for both members' batches");
});

test("a FlushGroup whose commit fails rejects every caller, even those whose own call succeeded", async () => {
	let ran = 0;
	const group = new FlushGroup((fn) => {
		fn();
		throw new Error("commit failed");
	});
	const a = new Coalescer<number, number>(async (items) => (ran++, items), { group });
	const results = await Promise.allSettled([a.call(1), a.call(2)]);
	assert.equal(ran, 1);
	assert.deepEqual(
		results.map((r) => r.status),
		["rejected", "rejected"]
	);
});

test("a FlushGroup whose transaction cannot start rejects its callers and runs nothing", async () => {
	let ran = 0;
	const group = new FlushGroup(() => {
		throw new Error("database is locked");
	});
	const a = new Coalescer<number, number>(async (items) => (ran++, items), { group });
	const results = await Promise.allSettled([a.call(1)]);
	assert.equal(ran, 0, "nothing written outside the transaction that failed to start");
	assert.equal(results[0]?.status, "rejected");
	// the next call tries again
	let fail = true;
	const retry = new FlushGroup((fn) => {
		if (fail) throw new Error("busy");
		fn();
	});
	const c = new Coalescer<number, number>(async (items) => items, { group: retry });
	await assert.rejects(c.call(1), /busy/);
	fail = false;
	assert.equal(await c.call(2), 2);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { ThreadPool } from "../../lib/threads.ts";
import type { TestJob } from "./fixtures/job-worker.ts";

type Out = { threadId: number; data: unknown; value: number | null };
const url = new URL("./fixtures/job-worker.ts", import.meta.url);

test("jobs run on the pool's threads with its workerData; errors come back with their message and name", async () => {
	const pool = new ThreadPool<TestJob, Out>({ url, size: 2, name: "test", workerData: { tag: "t1" } });
	try {
		const outs = await Promise.all([1, 2, 3, 4].map((value) => pool.run({ op: "echo", value })));
		assert.deepEqual(outs.map((o) => o.value), [1, 2, 3, 4]);
		assert.deepEqual(outs[0].data, { tag: "t1" });
		assert.equal(new Set(outs.map((o) => o.threadId)).size, 2, "both threads took jobs");
		await assert.rejects(pool.run({ op: "fail", message: "bad job" }), { name: "RangeError", message: "bad job" });
		assert.equal(pool.busy, 0);
	} finally {
		await pool.close();
	}
	await assert.rejects(pool.run({ op: "echo", value: 1 }), /closed/);
});

test("a thread that dies fails the jobs it held and is replaced", async () => {
	const pool = new ThreadPool<TestJob, Out>({ url, size: 1, name: "test" });
	try {
		const first = await pool.run({ op: "echo", value: 1 });
		const held = pool.run({ op: "slow", ms: 5000 });
		await assert.rejects(pool.run({ op: "die" }), /test thread exited with code 3/);
		await assert.rejects(held, /exited with code 3/);
		const after = await pool.run({ op: "echo", value: 2 });
		assert.equal(after.value, 2);
		assert.notEqual(after.threadId, first.threadId, "a new thread answers");
	} finally {
		await pool.close();
	}
});

test("the pool reports the CPU its threads use: a job that computes counts, one that waits hardly does", async () => {
	let cpu = 0;
	const pool = new ThreadPool<TestJob, Out>({ url, size: 1, name: "test", onCpu: (s) => (cpu += s) });
	try {
		await pool.run({ op: "echo", value: 1 }); // the thread's start-up is reported with its first answer
		const atStart = cpu;
		await pool.run({ op: "slow", ms: 400 });
		const waited = cpu - atStart;
		await pool.run({ op: "spin", ms: 400 });
		const computed = cpu - atStart - waited;
		assert.ok(waited < 0.1, `a job that sleeps 400 ms used ${waited.toFixed(3)} s of CPU`);
		assert.ok(computed > 0.15, `a job that computes for 400 ms used ${computed.toFixed(3)} s of CPU`);
		assert.ok(computed < 1, `no more CPU than the job ran for: ${computed.toFixed(3)} s`);
	} finally {
		await pool.close();
	}
});

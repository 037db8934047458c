/**
 * What the contract suite cannot see of the in-process backend: payloads are copies (JSON), a stopped backend drops
 * its pending retries (not durable: the services recover from the store) and leaves no timers behind.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryQueueBackend } from "../../../lib/queues/memory.ts";
import { eventually, silentLogger, sleep } from "../../fixtures/queue-helpers.ts";

describe("MemoryQueueBackend", () => {
	it("hands handlers a copy of the payload, so later changes by the publisher do not leak", async () => {
		const backend = new MemoryQueueBackend({ retries: 0, retryDelayMs: 1, prefetch: 0 }, silentLogger);
		await backend.connect();
		const sent = { rows: [1, 2], skip: undefined };
		const got: unknown[] = [];
		await backend.publish("q", sent);
		sent.rows.push(3);
		await backend.consume("q", async (p) => void got.push(p));
		await eventually(() => assert.equal(got.length, 1));
		assert.deepEqual(got[0], { rows: [1, 2] });
		await backend.close();
	});

	it("close() drops scheduled retries and clears their timers", async () => {
		const backend = new MemoryQueueBackend({ retries: 3, retryDelayMs: 60_000, prefetch: 0 }, silentLogger);
		await backend.connect();
		let calls = 0;
		await backend.consume("q", async () => {
			calls++;
			throw new Error("fail");
		});
		await backend.publish("q", 1);
		await eventually(() => assert.equal(calls, 1));
		await sleep(5);
		const t = Date.now();
		await backend.close();
		// the test process would stay alive for a minute if the retry timer were left running
		assert.ok(Date.now() - t < 1000);
		assert.equal(calls, 1);
		await assert.rejects(backend.consume("q", async () => undefined), /closed/);
	});

	it("a queue's declared retries apply to its consumers unless they set their own", async () => {
		const backend = new MemoryQueueBackend({ retries: 5, retryDelayMs: 1, prefetch: 0 }, silentLogger);
		await backend.connect();
		await backend.declare("q", { retries: 1, retryDelayMs: 1 });
		const attempts: number[] = [];
		await backend.consume("q", async (_p, info) => {
			attempts.push(info.attempt);
			throw new Error("no");
		});
		await backend.publish("q", 1);
		await eventually(async () => assert.equal((await backend.stats("q")).dead, 1));
		assert.deepEqual(attempts, [1, 2]);
		await backend.close();
	});
});

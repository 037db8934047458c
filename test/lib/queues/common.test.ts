/**
 * The shared pieces of the queue backends: option defaults, the retry schedule, header filtering, mapWindow.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
	MAX_RETRY_DELAY_MS,
	RETRY_BUCKETS,
	deadLetterQueueName,
	errorMessage,
	headerNumber,
	jitteredRetryDelay,
	mapWindow,
	resolveOptions,
	retryBucket,
	retryBucketTtls,
	retryDelay,
	retryQueueName,
	userHeaders
} from "../../../lib/queues/common.ts";

describe("queues/common", () => {
	it("resolves options from the config defaults; prefetch 0 means 2x concurrency", () => {
		assert.deepEqual(resolveOptions({ retries: 5, retryDelayMs: 1000, prefetch: 0 }), { concurrency: 1, retries: 5, retryDelayMs: 1000, prefetch: 2 });
		assert.deepEqual(resolveOptions({ retries: 5, retryDelayMs: 1000, prefetch: 0 }, { concurrency: 4, retries: 0, retryDelayMs: 10 }), {
			concurrency: 4,
			retries: 0,
			retryDelayMs: 10,
			prefetch: 8
		});
		assert.equal(resolveOptions({ retries: 1, retryDelayMs: 1, prefetch: 50 }, { concurrency: 4 }).prefetch, 50);
		// a fixed prefetch below the concurrency would starve handlers: never less than concurrency
		assert.equal(resolveOptions({ retries: 1, retryDelayMs: 1, prefetch: 2 }, { concurrency: 8 }).prefetch, 8);
		assert.equal(resolveOptions({ retries: 1, retryDelayMs: 1, prefetch: 0 }, { concurrency: 0 }).concurrency, 1);
	});

	it("waits retryDelayMs * 4^(n-1) before retry n, capped at a day", () => {
		assert.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelay(1000, n)), [1000, 4000, 16000, 64000, 256000]);
		assert.equal(retryDelay(1000, 20), MAX_RETRY_DELAY_MS);
		assert.equal(retryDelay(0, 3), 0);
	});

	it("jitters each retry's delay uniformly over the upper half of its backoff, in whole ms", () => {
		// the ends of the range, from the ends of random()
		assert.equal(jitteredRetryDelay(1000, 1, () => 0), 500);
		assert.equal(jitteredRetryDelay(1000, 1, () => 1 - Number.EPSILON), 1000);
		assert.equal(jitteredRetryDelay(1000, 3, () => 0), 8000);
		assert.equal(jitteredRetryDelay(1000, 3, () => 0.5), 12_000);
		assert.equal(jitteredRetryDelay(0, 2), 0);
		assert.equal(jitteredRetryDelay(1000, 20, () => 1 - Number.EPSILON), MAX_RETRY_DELAY_MS);
		// with Math.random: always within [d/2, d], whole, and spread (not one value, both halves of the range hit)
		for (const level of [1, 2, 3, 5]) {
			const d = retryDelay(1000, level);
			const seen = Array.from({ length: 2000 }, () => jitteredRetryDelay(1000, level));
			for (const v of seen) {
				assert.ok(Number.isInteger(v) && v >= d / 2 && v <= d, `level ${level}: ${v} outside [${d / 2}, ${d}]`);
			}
			assert.ok(seen.some((v) => v < 0.625 * d) && seen.some((v) => v > 0.875 * d), `level ${level}: not spread over the range`);
			const mean = seen.reduce((a, b) => a + b, 0) / seen.length;
			assert.ok(Math.abs(mean - 0.75 * d) < 0.03 * d, `level ${level}: mean ${mean} not ~${0.75 * d}`);
		}
	});

	it("splits a level's jitter range into buckets whose TTL bounds every delay put in them (RabbitMQ)", () => {
		assert.equal(RETRY_BUCKETS, 4);
		assert.deepEqual(retryBucketTtls(1000, 1), [625, 750, 875, 1000]);
		assert.deepEqual(retryBucketTtls(1000, 2), [2500, 3000, 3500, 4000]);
		assert.deepEqual(retryBucketTtls(0, 1), [0, 0, 0, 0]);
		const ttls = retryBucketTtls(1000, 1);
		assert.deepEqual([500, 625, 626, 750, 751, 999, 1000].map((d) => retryBucket(ttls, d)), [0, 0, 1, 1, 2, 3, 3]);
		// every jittered delay lands in a bucket whose TTL is at least the delay and at most a slice (d/8) above it
		for (const level of [1, 2, 4]) {
			const t = retryBucketTtls(1000, level);
			const d = retryDelay(1000, level);
			for (let i = 0; i < 500; i++) {
				const delay = jitteredRetryDelay(1000, level);
				const ttl = t[retryBucket(t, delay)] as number;
				assert.ok(ttl >= delay && ttl - delay <= d / 8 + 1, `level ${level}: delay ${delay} in bucket with TTL ${ttl}`);
			}
		}
	});

	it("names retry and dead-letter queues after the queue", () => {
		assert.equal(retryQueueName("chunks.ready", 2), "chunks.ready.retry.2");
		assert.equal(retryQueueName("chunks.ready", 2, 3), "chunks.ready.retry.2.3");
		assert.equal(deadLetterQueueName("chunks.ready"), "chunks.ready.dlq");
	});

	it("keeps only the caller's headers, as strings", () => {
		assert.deepEqual(
			userHeaders({ client: "acme", n: 3, buf: Buffer.from("b"), "pw-attempt": "2", "x-death": [], "x-first-death-queue": "q", "x-delivery-count": 1, gone: undefined }),
			{ client: "acme", n: "3", buf: "b" }
		);
		assert.equal(headerNumber({ a: "7", b: 8, c: "x" }, "a", 1), 7);
		assert.equal(headerNumber({ a: "7", b: 8, c: "x" }, "b", 1), 8);
		assert.equal(headerNumber({ a: "7", b: 8, c: "x" }, "c", 1), 1);
		assert.equal(headerNumber(undefined, "a", 1), 1);
	});

	it("turns anything thrown into a bounded message", () => {
		assert.equal(errorMessage(new Error("boom")), "boom");
		assert.equal(errorMessage("plain"), "plain");
		assert.equal(errorMessage({ code: 1 }), '{"code":1}');
		assert.equal(errorMessage(new Error("x".repeat(5000))).length, 2000);
	});

	it("mapWindow keeps at most `limit` calls in flight and the results in order", async () => {
		let active = 0;
		let max = 0;
		const out = await mapWindow([5, 1, 4, 2, 3, 0, 6], 3, async (v, i) => {
			active++;
			max = Math.max(max, active);
			await new Promise((r) => setTimeout(r, v));
			active--;
			return `${i}:${v}`;
		});
		assert.deepEqual(out, ["0:5", "1:1", "2:4", "3:2", "4:3", "5:0", "6:6"]);
		assert.equal(max, 3);
		assert.deepEqual(await mapWindow([], 3, async () => 1), []);
	});

	it("mapWindow rejects with the first error and starts no new calls after it", async () => {
		const started: number[] = [];
		await assert.rejects(
			mapWindow([0, 1, 2, 3, 4, 5, 6, 7], 2, async (v) => {
				started.push(v);
				if (v === 1) throw new Error("no 1");
				await new Promise((r) => setTimeout(r, 5));
				return v;
			}),
			/no 1/
		);
		assert.ok(started.length <= 3, `started ${started.join(",")}`);
	});
});

/**
 * Process-level guarantees of the RabbitMQ queue backend, with consumers in separate Node processes
 * (test/fixtures/queue-worker.ts) and the real broker:
 * 1. a message sent while no consumer runs is handled once one starts;
 * 2. a consumer killed (SIGKILL) mid-message leaves the message to another consumer, which handles it;
 * 3. a handler that always throws ends in the DLQ after its tries; replay puts it back and a healthy consumer handles it;
 * 4. after the broker closes the connections (rabbitmqctl close_connection), publishing and consuming resume and
 *    nothing published around the close is lost.
 */
import { describe, it, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { RabbitQueueBackend } from "../../lib/queues/rabbitmq.ts";
import { AMQP_URL, closeConnection, connectionPids, eventually, silentLogger, sleep, startWorker, type Worker, type WorkerEvent } from "../fixtures/queue-helpers.ts";

const publisherName = `queues-it-publisher:${process.pid}:${randomUUID().slice(0, 8)}`;
const backend = new RabbitQueueBackend({
	url: AMQP_URL,
	defaults: { retries: 0, retryDelayMs: 50, prefetch: 0 },
	logger: silentLogger,
	connectionName: publisherName
});
await backend.connect();

const workers: Worker[] = [];
const queues: string[] = [];

function newQueue(): string {
	const q = `test.${randomUUID()}`;
	queues.push(q);
	return q;
}

async function worker(queue: string, mode: "ok" | "hang" | "fail", extra: { retries?: number; retryDelayMs?: number; concurrency?: number; connectionName?: string } = {}): Promise<Worker> {
	const w = await startWorker({ url: AMQP_URL, queue, mode, connectionName: extra.connectionName ?? `queues-it-worker:${randomUUID()}`, ...extra });
	workers.push(w);
	return w;
}

const done = (ids: Iterable<string>, w: Worker): Set<string> => {
	const want = new Set(ids);
	return new Set(w.events.filter((e: WorkerEvent) => e.ev === "done" && e.id && want.has(e.id)).map((e) => e.id as string));
};

afterEach(async () => {
	await Promise.all(workers.splice(0).map((w) => (w.proc.exitCode === null && w.proc.signalCode === null ? w.stop() : undefined)));
	for (const q of queues.splice(0)) await backend.deleteQueue(q, 3);
});

after(async () => {
	await backend.close();
});

describe("queues on RabbitMQ, consumers in other processes", () => {
	it("handles messages sent while no consumer was running once a consumer starts", async () => {
		const queue = newQueue();
		const keys = ["m1", "m2", "m3", "m4", "m5"];
		await backend.publishMany(queue, keys.map((key, i) => ({ payload: { i }, options: { key } })));
		await eventually(async () => assert.deepEqual(await backend.stats(queue), { queue, ready: 5, dead: 0, consumers: 0 }));
		const w = await worker(queue, "ok");
		for (const key of keys) await w.waitFor((e) => e.ev === "done" && e.id === key);
		const starts = w.events.filter((e) => e.ev === "start");
		assert.equal(starts.length, 5, "each message handled once");
		assert.deepEqual(starts.map((e) => e.payload).sort((a, b) => (a as { i: number }).i - (b as { i: number }).i), [0, 1, 2, 3, 4].map((i) => ({ i })));
		await eventually(async () => assert.equal((await backend.stats(queue)).ready, 0));
	});

	it("leaves the message of a consumer killed mid-handler to another consumer", async () => {
		const queue = newQueue();
		const a = await worker(queue, "hang", { concurrency: 1 });
		await backend.publish(queue, { job: 1 }, { key: "job-1" });
		await a.waitFor((e) => e.ev === "start" && e.id === "job-1");
		const b = await worker(queue, "ok", { concurrency: 1 });
		await sleep(200);
		assert.equal(b.events.filter((e) => e.ev === "start").length, 0, "the message is held by the first consumer while it lives");
		a.proc.kill("SIGKILL");
		await a.exited;
		const handled = await b.waitFor((e) => e.ev === "done" && e.id === "job-1");
		assert.equal(handled.redelivered, true);
		assert.equal(handled.attempt, 1, "a crash is not a handler failure: the attempt number does not move");
		await eventually(async () => assert.deepEqual(await backend.stats(queue), { queue, ready: 0, dead: 0, consumers: 1 }));
	});

	it("dead-letters a message whose handler always throws, and replay lets a healthy consumer handle it", async () => {
		const queue = newQueue();
		const failing = await worker(queue, "fail", { retries: 2, retryDelayMs: 30 });
		await backend.publish(queue, { doc: "x" }, { key: "poison" });
		await failing.waitFor((e) => e.ev === "fail" && e.attempt === 3);
		await eventually(async () => assert.equal((await backend.stats(queue)).dead, 1));
		assert.deepEqual(
			failing.events.filter((e) => e.ev === "fail").map((e) => e.attempt),
			[1, 2, 3]
		);
		const [dead] = await backend.deadLetters.list(queue);
		assert.equal(dead?.messageId, "poison");
		assert.equal(dead?.attempts, 3);
		assert.match(dead?.error ?? "", /worker refuses poison \(attempt 3\)/);
		assert.deepEqual(dead?.payload, { doc: "x" });
		await failing.stop();

		const healthy = await worker(queue, "ok", { retries: 2, retryDelayMs: 30 });
		assert.equal(await backend.deadLetters.replay(queue, [dead?.id ?? ""]), 1);
		const handled = await healthy.waitFor((e) => e.ev === "done" && e.id === "poison");
		assert.equal(handled.attempt, 1);
		await eventually(async () => assert.deepEqual(await backend.stats(queue), { queue, ready: 0, dead: 0, consumers: 1 }));
	});

	it("resumes publishing and consuming after the broker closes the connections, losing nothing", async () => {
		const queue = newQueue();
		const workerName = `queues-it-worker:${randomUUID()}`;
		const w = await worker(queue, "ok", { connectionName: workerName, concurrency: 4 });
		const pids = await connectionPids();
		const [workerConn] = pids.get(workerName) ?? [];
		const [publisherConn] = pids.get(publisherName) ?? [];
		assert.ok(workerConn, "the worker's connection is found by its client-provided name");
		assert.ok(publisherConn, "the publisher's connection is found by its client-provided name");

		// publish in batches before, during and after the two closes (rabbitmqctl takes ~0.5 s per call)
		const ids: string[] = [];
		let closed = false;
		let batchesAfter = 0;
		const publishing = (async () => {
			for (let i = 0; !closed || batchesAfter < 10; i += 10) {
				if (closed) batchesAfter++;
				const batch = Array.from({ length: 10 }, (_, j) => ({ payload: { n: i + j }, options: { key: `msg-${i + j}` } }));
				ids.push(...(await backend.publishMany(queue, batch)));
				await sleep(10);
			}
		})();
		await sleep(50);
		const before = ids.length;
		await Promise.all([closeConnection(workerConn, "test: broker closes the consumer"), closeConnection(publisherConn, "test: broker closes the publisher")]);
		closed = true;
		await publishing;
		const N = ids.length;
		assert.ok(before > 0 && N > before + 90, `published ${before} before and ${N - before} after the closes`);
		assert.equal(new Set(ids).size, N);

		// all N handled by the worker that lost its connection: it re-declared and is consuming again
		await eventually(() => assert.equal(done(ids, w).size, N), 30_000);
		const after = await connectionPids();
		assert.ok(after.get(workerName)?.length === 1 && after.get(workerName)?.[0] !== workerConn, "the worker reconnected with a new connection");
		assert.ok(after.get(publisherName)?.length === 1 && after.get(publisherName)?.[0] !== publisherConn, "the publisher reconnected with a new connection");

		// and keeps consuming what is sent afterwards
		await backend.publish(queue, { after: true }, { key: "after-close" });
		await w.waitFor((e) => e.ev === "done" && e.id === "after-close");
		await eventually(async () => assert.deepEqual(await backend.stats(queue), { queue, ready: 0, dead: 0, consumers: 1 }));
	});
});

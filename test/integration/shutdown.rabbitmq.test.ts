/**
 * A stopping pod (SIGTERM) never loses a message: a handler that finishes in time is acknowledged; one still running
 * at the shutdown deadline (SHUTDOWN_TIMEOUT_MS + margin, lib/shutdown.ts) makes the process exit, and RabbitMQ hands
 * its unacknowledged message to another consumer. Consumers run in their own processes (test/fixtures/queue-worker.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { RabbitQueueBackend } from "../../lib/queues/rabbitmq.ts";
import { AMQP_URL, eventually, silentLogger, startWorker, type Worker } from "../fixtures/queue-helpers.ts";

test("SIGTERM with a handler stuck past the shutdown deadline: the process exits and another consumer gets the message", async (t) => {
	const queue = `test.shutdown.${randomUUID()}`;
	const backend = new RabbitQueueBackend({ url: AMQP_URL, defaults: { retries: 0, retryDelayMs: 50, prefetch: 0 }, logger: silentLogger, connectionName: `shutdown-test:${process.pid}` });
	await backend.connect();
	const workers: Worker[] = [];
	t.after(async () => {
		for (const w of workers) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill("SIGKILL");
		await Promise.all(workers.map((w) => w.exited));
		await backend.deleteQueue(queue, 3);
		await backend.close();
	});

	const stuck = await startWorker({ url: AMQP_URL, queue, mode: "hang", connectionName: `shutdown-stuck:${randomUUID()}`, concurrency: 1, shutdownTimeoutMs: 200 });
	workers.push(stuck);
	await backend.publish(queue, { case: 1 }, { key: "case-1" });
	await stuck.waitFor((e) => e.ev === "start" && e.id === "case-1");

	stuck.proc.kill("SIGTERM");
	const code = await stuck.exited;
	assert.equal(code, 1, "the deadline ended the process (it would otherwise wait for the handler forever)");
	assert.equal(stuck.events.some((e) => e.ev === "done"), false);

	const healthy = await startWorker({ url: AMQP_URL, queue, mode: "ok", connectionName: `shutdown-healthy:${randomUUID()}`, concurrency: 1 });
	workers.push(healthy);
	const handled = await healthy.waitFor((e) => e.ev === "done" && e.id === "case-1");
	assert.equal(handled.redelivered, true, "the message came back to the queue, not lost");
	await eventually(async () => assert.deepEqual(await backend.stats(queue), { queue, ready: 0, dead: 0, consumers: 1 }));
});

test("SIGTERM with a handler that finishes in time: it is acknowledged and the process exits cleanly", async (t) => {
	const queue = `test.shutdown.${randomUUID()}`;
	const backend = new RabbitQueueBackend({ url: AMQP_URL, defaults: { retries: 0, retryDelayMs: 50, prefetch: 0 }, logger: silentLogger, connectionName: `shutdown-test2:${process.pid}` });
	await backend.connect();
	const w = await startWorker({ url: AMQP_URL, queue, mode: "ok", connectionName: `shutdown-ok:${randomUUID()}`, concurrency: 1, shutdownTimeoutMs: 10_000 });
	t.after(async () => {
		if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill("SIGKILL");
		await w.exited;
		await backend.deleteQueue(queue, 3);
		await backend.close();
	});
	await backend.publish(queue, { case: 2 }, { key: "case-2" });
	await w.waitFor((e) => e.ev === "done" && e.id === "case-2");
	w.proc.kill("SIGTERM");
	assert.equal(await w.exited, 0);
	assert.ok(w.events.some((e) => e.ev === "closed"));
	await eventually(async () => assert.deepEqual(await backend.stats(queue), { queue, ready: 0, dead: 0, consumers: 0 }));
});

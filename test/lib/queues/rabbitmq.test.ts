/**
 * What the contract suite cannot see of the RabbitMQ backend, checked on the real broker: the topology (durable
 * quorum queues, one retry queue per level with its TTL dead-lettering back), persistent messages with our headers,
 * clear errors (retry queues with another delay, unroutable publishes), bad bodies dead-lettered at once, DLQ peeks
 * that leave the dead letters in place, and the watchdog that resubscribes a consumer that stopped consuming.
 */
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Connection } from "rabbitmq-client";
import { RabbitQueueBackend } from "../../../lib/queues/rabbitmq.ts";
import type { QueueDefaults } from "../../../lib/queues/common.ts";
import { AMQP_URL, eventually, silentLogger } from "../../fixtures/queue-helpers.ts";

const run = promisify(execFile);
const open: { backend: RabbitQueueBackend; queue: string }[] = [];

async function setup(defaults: QueueDefaults = { retries: 2, retryDelayMs: 100, prefetch: 0 }, watchdogMs?: number): Promise<{ backend: RabbitQueueBackend; queue: string }> {
	const backend = new RabbitQueueBackend({ url: AMQP_URL, defaults, logger: silentLogger, connectionName: `rabbitmq-test:${process.pid}`, watchdogMs });
	await backend.connect();
	const entry = { backend, queue: `test.${randomUUID()}` };
	open.push(entry);
	return entry;
}

async function rawConnection<T>(fn: (conn: Connection) => Promise<T>): Promise<T> {
	const conn = new Connection({ url: AMQP_URL, connectionName: "rabbitmq-test-raw" });
	conn.on("error", () => undefined);
	try {
		return await fn(conn);
	} finally {
		await conn.close();
	}
}

afterEach(async () => {
	for (const { backend, queue } of open.splice(0)) {
		await backend.close();
		const cleaner = new RabbitQueueBackend({ url: AMQP_URL, defaults: { retries: 0, retryDelayMs: 1, prefetch: 0 }, logger: silentLogger });
		await cleaner.deleteQueue(queue, 3);
		await cleaner.close();
	}
});

describe("RabbitQueueBackend", () => {
	it("declares durable quorum queues: Q, Q.dlq and one retry queue per level whose TTL dead-letters back to Q", async () => {
		const { backend, queue } = await setup();
		await backend.declare(queue, { retries: 2, retryDelayMs: 100 });
		const { stdout } = await run("rabbitmqctl", ["list_queues", "-q", "--formatter", "json", "name", "type", "durable", "arguments"]);
		const rows = (JSON.parse(stdout) as { name: string; type: string; durable: boolean; arguments: [string, string, unknown][] }[]).filter((r) => r.name.startsWith(queue));
		const byName = new Map(rows.map((r) => [r.name, { type: r.type, durable: r.durable, args: Object.fromEntries(r.arguments.map(([k, , v]) => [k, v])) }]));
		assert.deepEqual([...byName.keys()].sort(), [queue, `${queue}.dlq`, `${queue}.retry.1`, `${queue}.retry.2`]);
		for (const q of byName.values()) {
			assert.equal(q.type, "quorum");
			assert.equal(q.durable, true);
		}
		assert.deepEqual(byName.get(`${queue}.retry.1`)?.args, {
			"x-queue-type": "quorum",
			"x-message-ttl": 100,
			"x-dead-letter-exchange": "",
			"x-dead-letter-routing-key": queue,
			"x-dead-letter-strategy": "at-least-once",
			"x-overflow": "reject-publish"
		});
		assert.equal(byName.get(`${queue}.retry.2`)?.args["x-message-ttl"], 400);
		// what the broker dead-letters from Q itself (delivery limit, rejects) lands in Q.dlq
		assert.deepEqual(byName.get(queue)?.args, {
			"x-queue-type": "quorum",
			"x-dead-letter-exchange": "",
			"x-dead-letter-routing-key": `${queue}.dlq`,
			"x-dead-letter-strategy": "at-least-once",
			"x-overflow": "reject-publish"
		});
		// listing dead letters must never exhaust a delivery limit (RabbitMQ 4.x defaults to 20)
		assert.deepEqual(byName.get(`${queue}.dlq`)?.args, { "x-queue-type": "quorum", "x-delivery-limit": 1_000_000_000 });
	});

	it("publishes persistent JSON messages with the messageId, the attempt and the first publish time", async () => {
		const { backend, queue } = await setup();
		const before = Date.now();
		await backend.publish(queue, { a: 1 }, { key: "k-1", headers: { client: "acme" } });
		const msg = await rawConnection(async (conn) => {
			const ch = await conn.acquire();
			const m = await ch.basicGet({ queue, noAck: true });
			await ch.close();
			return m;
		});
		assert.ok(msg);
		assert.equal(msg.durable, true, "deliveryMode 2 (persistent)");
		assert.equal(msg.messageId, "k-1");
		assert.equal(msg.contentType, "application/json");
		assert.deepEqual(msg.body, { a: 1 });
		assert.equal(msg.headers?.["pw-attempt"], "1");
		assert.equal(msg.headers?.client, "acme");
		const first = Number(msg.headers?.["pw-first-published"]);
		assert.ok(first >= before && first <= Date.now());
	});

	it("explains a retry queue that already exists with another delay", async () => {
		const { backend, queue } = await setup();
		await backend.declare(queue, { retries: 1, retryDelayMs: 100 });
		const other = new RabbitQueueBackend({ url: AMQP_URL, defaults: { retries: 1, retryDelayMs: 999, prefetch: 0 }, logger: silentLogger });
		try {
			await other.connect();
			await assert.rejects(other.declare(queue), /retry queue .*\.retry\.1 .*QUEUE_RETRY_DELAY_MS/);
		} finally {
			await other.close();
		}
	});

	it("declares a queue again when the broker returns a message as unroutable (queue deleted behind its back)", async () => {
		const { backend, queue } = await setup({ retries: 1, retryDelayMs: 20, prefetch: 0 });
		await backend.publish(queue, 1);
		await rawConnection((conn) => conn.queueDelete({ queue }));
		await backend.publish(queue, 2, { key: "second" });
		await eventually(async () => assert.equal((await backend.stats(queue)).ready, 1));
		// publishMany too: the whole batch comes back, the queue is declared again and the batch sent again
		await rawConnection((conn) => conn.queueDelete({ queue }));
		assert.deepEqual(await backend.publishMany(queue, [3, 4, 5].map((n) => ({ payload: n, options: { key: `many-${n}` } }))), ["many-3", "many-4", "many-5"]);
		await eventually(async () => assert.equal((await backend.stats(queue)).ready, 3));

		await rawConnection((conn) => conn.queuePurge({ queue }));

		// the same for a retry queue: a failing message still gets its retry, then reaches the DLQ
		const attempts: number[] = [];
		await backend.consume(queue, async (_p, info) => {
			attempts.push(info.attempt);
			throw new Error("no");
		});
		await rawConnection((conn) => conn.queueDelete({ queue: `${queue}.retry.1` }));
		await backend.publish(queue, 3);
		await eventually(async () => assert.equal((await backend.stats(queue)).dead, 1));
		assert.deepEqual(attempts, [1, 2]);
	});

	it("rejects a publish that stays unroutable", async () => {
		const { backend } = await setup();
		// publishing through send() to a name nobody declares: no redeclare given, so the return is an error
		await assert.rejects(backend.send(`test.${randomUUID()}.nowhere`, Buffer.from("1"), "lost", {}), /returned message lost: queue '.*' does not exist/);
	});

	it("dead-letters a message whose body is not JSON without calling the handler", async () => {
		const { backend, queue } = await setup();
		let calls = 0;
		await backend.consume(queue, async () => void calls++);
		await rawConnection(async (conn) => {
			const pub = conn.createPublisher({ confirm: true });
			await pub.send({ routingKey: queue, durable: true, contentType: "application/json", messageId: "garbage" }, Buffer.from("{not json"));
			await pub.close();
		});
		await eventually(async () => assert.equal((await backend.stats(queue)).dead, 1));
		const [dead] = await backend.deadLetters.list(queue);
		assert.equal(dead?.messageId, "garbage");
		assert.match(dead?.error ?? "", /JSON/);
		assert.equal(calls, 0);
	});

	it("lists and replays messages the broker dead-lettered itself", async () => {
		const { backend, queue } = await setup();
		await backend.publish(queue, { v: 1 }, { key: "rejected-1" });
		await rawConnection(async (conn) => {
			const ch = await conn.acquire();
			const m = await ch.basicGet({ queue });
			assert.ok(m);
			ch.basicNack({ deliveryTag: m.deliveryTag, requeue: false });
			await ch.close();
		});
		await eventually(async () => assert.equal((await backend.stats(queue)).dead, 1));
		const dead = await eventually(async () => {
			const d = await backend.deadLetters.get(queue, "rejected-1");
			assert.ok(d);
			return d;
		});
		assert.equal(dead.error, "dead-lettered by RabbitMQ (rejected)");
		assert.deepEqual(dead.payload, { v: 1 });
		const got: unknown[] = [];
		await backend.consume(queue, async (p, info) => void got.push([p, info.attempt]));
		assert.equal(await backend.deadLetters.replay(queue, ["rejected-1"]), 1);
		await eventually(() => assert.deepEqual(got, [[{ v: 1 }, 1]]));
	});

	it("peeking at the DLQ leaves the dead letters in it", async () => {
		const { backend, queue } = await setup({ retries: 0, retryDelayMs: 1, prefetch: 0 });
		await backend.consume(queue, async () => {
			throw new Error("nope");
		});
		await backend.publishMany(queue, [1, 2, 3].map((n) => ({ payload: n })));
		await eventually(async () => assert.equal((await backend.stats(queue)).dead, 3));
		for (let i = 0; i < 3; i++) {
			const listed = await backend.deadLetters.list(queue, { limit: 2 });
			assert.equal(listed.length, 2);
			await eventually(async () => assert.equal((await backend.stats(queue)).dead, 3));
		}
		await eventually(async () => assert.deepEqual((await backend.deadLetters.list(queue)).map((d) => d.payload).sort(), [1, 2, 3]));
	});

	it("consume() resolves once the broker has the subscription", async () => {
		const { backend, queue } = await setup();
		await backend.consume(queue, async () => undefined);
		assert.equal((await backend.stats(queue)).consumers, 1);
	});

	it("the watchdog subscribes again when a consumer has stopped consuming while the connection is up", async () => {
		const { backend, queue } = await setup({ retries: 0, retryDelayMs: 1, prefetch: 0 }, 30);
		const got: number[] = [];
		const consumer = await backend.consume<number>(queue, async (n) => void got.push(n));
		// simulate rabbitmq-client giving up on its subscription (e.g. a channel closed without a new one)
		const inner = (consumer as unknown as { sub: { close(): Promise<void> } }).sub;
		await inner.close();
		await eventually(async () => assert.equal((await backend.stats(queue)).consumers, 0));
		await backend.publish(queue, 42);
		await eventually(() => assert.deepEqual(got, [42]), 5000);
		await eventually(async () => assert.equal((await backend.stats(queue)).consumers, 1));
		await consumer.close();
	});
});

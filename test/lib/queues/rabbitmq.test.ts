/**
 * What the contract suite cannot see of the RabbitMQ backend, checked on the real broker: the topology (durable
 * quorum queues, per retry level 4 jitter buckets whose TTLs dead-letter back, the top one declared up front and the
 * others on first use), retries spread over their jittered
 * delays (each within its bound, none lost), persistent messages with our headers,
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
import { AMQP_URL, eventually, silentLogger, sleep } from "../../fixtures/queue-helpers.ts";

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
	it("declares durable quorum queues: Q, Q.dlq and per retry level its top jitter bucket, whose TTL dead-letters back to Q", async () => {
		const { backend, queue } = await setup();
		await backend.declare(queue, { retries: 2, retryDelayMs: 100 });
		const { stdout } = await run("rabbitmqctl", ["list_queues", "-q", "--formatter", "json", "name", "type", "durable", "arguments"]);
		const rows = (JSON.parse(stdout) as { name: string; type: string; durable: boolean; arguments: [string, string, unknown][] }[]).filter((r) => r.name.startsWith(queue));
		const byName = new Map(rows.map((r) => [r.name, { type: r.type, durable: r.durable, args: Object.fromEntries(r.arguments.map(([k, , v]) => [k, v])) }]));
		// the lower buckets of a level are declared when a retry first goes to them (see the bucket test below)
		assert.deepEqual([...byName.keys()].sort(), [queue, `${queue}.dlq`, `${queue}.retry.1.3`, `${queue}.retry.2.3`]);
		for (const q of byName.values()) {
			assert.equal(q.type, "quorum");
			assert.equal(q.durable, true);
		}
		assert.deepEqual(byName.get(`${queue}.retry.1.3`)?.args, {
			"x-queue-type": "quorum",
			"x-message-ttl": 100,
			"x-dead-letter-exchange": "",
			"x-dead-letter-routing-key": queue,
			"x-dead-letter-strategy": "at-least-once",
			"x-overflow": "reject-publish"
		});
		// the top bucket's TTL is the level's delay: 100 ms, then 400 ms
		assert.equal(byName.get(`${queue}.retry.2.3`)?.args["x-message-ttl"], 400);
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
			await assert.rejects(other.declare(queue), /retry queue .*\.retry\.1\.3 .*QUEUE_RETRY_DELAY_MS/);
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
		await rawConnection(async (conn) => {
			for (const k of [0, 1, 2, 3]) await conn.queueDelete({ queue: `${queue}.retry.1.${k}` });
		});
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

	it("puts a failed message in the jitter bucket of its delay, with that delay as its own expiration", async () => {
		// a long delay keeps the retries parked in their buckets, to be looked at
		const { backend, queue } = await setup({ retries: 1, retryDelayMs: 60_000, prefetch: 0 });
		await backend.consume(queue, async () => {
			throw new Error("not yet");
		});
		await backend.publishMany(queue, Array.from({ length: 16 }, (_, i) => ({ payload: i, options: { key: `m-${i}` } })));
		const ttls = [37_500, 45_000, 52_500, 60_000];
		// the buckets slice [30 s, 60 s] in 4; each queue's TTL is the top of its slice (a bucket no retry used does not exist)
		await rawConnection(async (conn) => {
			const depth = (k: number) => conn.queueDeclare({ queue: `${queue}.retry.1.${k}`, passive: true }).then((ok) => ok.messageCount, () => 0);
			// generous limits: this machine is shared and busy
			await eventually(async () => assert.equal((await Promise.all(ttls.map((_, k) => depth(k)))).reduce((a, b) => a + b, 0), 16), 30_000, 100);
		});
		const buckets = await eventually(async () => {
			const { stdout } = await run("rabbitmqctl", ["list_queues", "-q", "--formatter", "json", "name", "arguments"]);
			return (JSON.parse(stdout) as { name: string; arguments: [string, string, unknown][] }[]).filter((r) => r.name.startsWith(`${queue}.retry.`));
		}, 30_000, 500);
		for (const b of buckets) {
			const k = Number(b.name.slice(`${queue}.retry.1.`.length));
			assert.equal(Object.fromEntries(b.arguments.map(([key, , v]) => [key, v]))["x-message-ttl"], ttls[k], b.name);
		}
		const parked = await rawConnection(async (conn) => {
			const ch = await conn.acquire();
			const out: { bucket: number; expiration: number; attempt: unknown; id: unknown }[] = [];
			for (const k of buckets.map((b) => Number(b.name.slice(`${queue}.retry.1.`.length)))) {
				for (let m = await ch.basicGet({ queue: `${queue}.retry.1.${k}`, noAck: true }); m; m = await ch.basicGet({ queue: `${queue}.retry.1.${k}`, noAck: true })) {
					out.push({ bucket: k, expiration: Number(m.expiration), attempt: m.headers?.["pw-attempt"], id: m.messageId });
				}
			}
			await ch.close();
			return out;
		});
		assert.deepEqual(parked.map((p) => p.id).sort(), Array.from({ length: 16 }, (_, i) => `m-${i}`).sort());
		for (const p of parked) {
			// its own TTL is its jittered delay, within its bucket's slice of [30 s, 60 s]: the bucket's TTL never cuts it short
			assert.ok(Number.isInteger(p.expiration) && p.expiration >= (ttls[p.bucket - 1] ?? 30_000) && p.expiration <= (ttls[p.bucket] as number), JSON.stringify(p));
			assert.equal(p.attempt, "2");
		}
		assert.ok(new Set(parked.map((p) => p.bucket)).size >= 2, "16 retries spread over more than one bucket");
	});

	it("retries come back after their jittered delays, spread out, each within its bound, and none is lost", async () => {
		// level 1 waits 300-600 ms, level 2 1,200-2,400 ms
		const { backend, queue } = await setup({ retries: 2, retryDelayMs: 600, prefetch: 0 });
		const n = 40;
		const seen = new Map<string, number[]>();
		await backend.consume(
			queue,
			async (_p, info) => {
				const times = seen.get(info.messageId) ?? [];
				times[info.attempt - 1] = Date.now();
				seen.set(info.messageId, times);
				if (info.attempt < 3) throw new Error(`attempt ${info.attempt} fails`);
			},
			{ concurrency: 8 }
		);
		// all fail at once, as when a provider is down: the burst the jitter must spread
		await backend.publishMany(queue, Array.from({ length: n }, (_, i) => ({ payload: i, options: { key: `r-${i}` } })));
		await eventually(() => assert.equal([...seen.values()].filter((t) => t[2] !== undefined).length, n), 15_000, 50);
		await sleep(300);
		const stats = await backend.stats(queue);
		assert.deepEqual([stats.ready, stats.dead, seen.size], [0, 0, n], "every message handled, none dead");
		const first = [...seen.values()].map(([t1, t2]) => (t2 as number) - (t1 as number));
		const second = [...seen.values()].map(([, t2, t3]) => (t3 as number) - (t2 as number));
		// never before its jittered delay (at least half the backoff); never much after the backoff itself (the bucket's
		// TTL bounds the wait behind a later head; the slack is the broker's and this machine's latency)
		const slack = 400;
		for (const d of first) assert.ok(d >= 295 && d <= 600 + slack, `first retry after ${d} ms (300-600)`);
		for (const d of second) assert.ok(d >= 1195 && d <= 2400 + slack, `second retry after ${d} ms (1,200-2,400)`);
		// spread, not all at the top of the range: the lowest slices (TTL <= 450 ms) and the highest (> 525 ms) both served
		assert.ok(Math.min(...first) < 450 + 100 && Math.max(...first) > 525, `first retries from ${Math.min(...first)} to ${Math.max(...first)} ms`);
		assert.ok(Math.min(...second) < 1800 + 100 && Math.max(...second) > 2100, `second retries from ${Math.min(...second)} to ${Math.max(...second)} ms`);
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

/**
 * Queue counters from RabbitMQ's management API (RABBITMQ_MANAGEMENT_URL), on the real broker with the
 * rabbitmq_management plugin that scripts/setup.sh --test enables:
 * 1. a work queue (quorum) with no consumer: published counts what was sent, nothing is settled, the oldest age is
 *    what the broker reports for its head (quorum queues report none: then absent); once consumed, with one message
 *    failing once, settled counts each message once (the retry is not a second settle) and the oldest age is null;
 * 2. a classic queue, whose head timestamp the broker does report: the oldest age is a number that grows;
 * 3. a management API that does not answer: depths and consumers still come (AMQP), with the reason.
 * The broker samples these figures every 5 s: each check polls with a bounded wait.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Connection } from "rabbitmq-client";
import { RabbitQueueBackend } from "../../lib/queues/rabbitmq.ts";
import { AMQP_URL, eventually, silentLogger, sleep } from "../fixtures/queue-helpers.ts";

const MANAGEMENT_URL = process.env.RABBITMQ_MANAGEMENT_URL ?? "http://guest:guest@127.0.0.1:15672";
/** longer than two of the broker's 5 s statistics intervals */
const SAMPLED_WITHIN_MS = 20_000;

/** GET on the management API with the URL's credentials (fetch refuses them in the URL). */
async function managementGet(path: string): Promise<unknown> {
	const u = new URL(MANAGEMENT_URL);
	const auth = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString("base64")}`;
	u.username = "";
	u.password = "";
	const res = await fetch(new URL(path, u), { headers: { authorization: auth }, signal: AbortSignal.timeout(3000) });
	if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
	return res.json();
}

const backend = new RabbitQueueBackend({
	url: AMQP_URL,
	defaults: { retries: 1, retryDelayMs: 50, prefetch: 0 },
	logger: silentLogger,
	connectionName: `queues-mgmt-it:${process.pid}`,
	managementUrl: MANAGEMENT_URL
});
const raw = new Connection({ url: AMQP_URL, connectionName: `queues-mgmt-it-raw:${process.pid}` });
const workQueues: string[] = [];
const classicQueues: string[] = [];

before(async () => {
	try {
		await managementGet("api/overview");
	} catch (err) {
		throw new Error(
			`RabbitMQ's management API does not answer at ${new URL(MANAGEMENT_URL).host} (${(err as Error).message}): run scripts/setup.sh --test, which enables the rabbitmq_management plugin (or set RABBITMQ_MANAGEMENT_URL)`,
			{ cause: err }
		);
	}
	await backend.connect();
	await raw.onConnect(15_000, true);
});

after(async () => {
	for (const q of workQueues) await backend.deleteQueue(q, 2);
	for (const q of classicQueues) await raw.queueDelete({ queue: q });
	await backend.close();
	await raw.close();
});

describe("queue stats from the RabbitMQ management API", () => {
	it("counts what a work queue got and gave, each message settled once whatever its attempts", async () => {
		const queue = `test.mgmt.${randomUUID()}`;
		workQueues.push(queue);
		await backend.publishMany(queue, [1, 2, 3].map((i) => ({ payload: { i } })));

		const waiting = await eventually(async () => {
			const s = await backend.stats(queue);
			assert.equal(s.published, 3, "published counts the 3 messages once the broker has sampled them");
			return s;
		}, SAMPLED_WITHIN_MS, 250);
		assert.deepEqual([waiting.ready, waiting.consumers, waiting.settled, waiting.countersError], [3, 0, 0, undefined]);
		// the oldest age is the head's timestamp where the broker reports it, absent where it does not (quorum queues)
		const { head_message_timestamp: head } = (await managementGet(`api/queues/%2F/${encodeURIComponent(queue)}`)) as { head_message_timestamp?: number };
		if (head) assert.ok(typeof waiting.oldestAgeMs === "number" && waiting.oldestAgeMs >= 0);
		else assert.equal(waiting.oldestAgeMs, undefined, "no head timestamp from the broker: the age is unknown, not 0");

		let failedOnce = false;
		const consumer = await backend.consume<{ i: number }>(queue, async ({ i }) => {
			if (i === 2 && !failedOnce) {
				failedOnce = true;
				throw new Error("first attempt fails");
			}
		});
		try {
			// the broker's own sample: 4 acks on the queue (3 handled + the failed attempt moved to retry level 1)
			await eventually(async () => {
				const stats = async (q: string) => ((await managementGet(`api/queues/%2F/${encodeURIComponent(q)}`)) as { message_stats?: { ack?: number; publish?: number } }).message_stats;
				assert.equal((await stats(queue))?.ack, 4);
				// the failed attempt went to one of level 1's jitter buckets (a bucket no retry used is not declared: 404)
				const buckets = await Promise.all([0, 1, 2, 3].map((k) => stats(`${queue}.retry.1.${k}`).catch(() => undefined)));
				assert.equal(buckets.reduce((n, b) => n + (b?.publish ?? 0), 0), 1);
			}, SAMPLED_WITHIN_MS, 250);
			assert.ok(failedOnce, "one message took two attempts");
			const s = await backend.stats(queue);
			assert.deepEqual([s.published, s.settled, s.ready, s.oldestAgeMs, s.consumers], [3, 3, 0, null, 1], "each message settled once");
		} finally {
			await consumer.close();
		}
	});

	it("gives the age of the head message where the broker reports its timestamp (a classic queue), growing while it waits", async () => {
		const queue = `test.mgmt.classic.${randomUUID()}`;
		classicQueues.push(queue);
		await raw.queueDeclare({ queue, durable: false });
		const pub = raw.createPublisher({ confirm: true });
		try {
			await pub.send({ routingKey: queue, timestamp: Math.floor(Date.now() / 1000) - 30 }, { waiting: true });
		} finally {
			await pub.close();
		}
		const first = await eventually(async () => {
			const s = await backend.stats(queue);
			assert.equal(typeof s.oldestAgeMs, "number", "the head's age once the broker has sampled the queue");
			return s.oldestAgeMs as number;
		}, SAMPLED_WITHIN_MS, 250);
		assert.ok(first >= 30_000, `the message was stamped 30 s ago, age ${first} ms`);
		await sleep(1100);
		const later = (await backend.stats(queue)).oldestAgeMs as number;
		assert.ok(later > first, `the age grows while the message waits (${first} -> ${later} ms)`);
	});

	it("answers depths and consumers with the reason when the management API does not answer", async () => {
		const queue = `test.mgmt.down.${randomUUID()}`;
		workQueues.push(queue);
		const down = new RabbitQueueBackend({
			url: AMQP_URL,
			defaults: { retries: 0, retryDelayMs: 50, prefetch: 0 },
			logger: silentLogger,
			connectionName: `queues-mgmt-it-down:${process.pid}`,
			// a port nobody listens on (the discard port)
			managementUrl: "http://guest:guest@127.0.0.1:9",
			managementTimeoutMs: 1000
		});
		try {
			await down.connect();
			await down.publish(queue, { n: 1 });
			const s = await down.stats(queue);
			assert.deepEqual([s.ready, s.dead, s.consumers, s.published, s.settled, s.oldestAgeMs], [1, 0, 0, undefined, undefined, undefined]);
			assert.match(s.countersError ?? "", /^RabbitMQ management API (unreachable|did not answer)/);
			assert.ok(!(s.countersError ?? "").includes("guest:guest"), "no credentials in the reason");
		} finally {
			await down.close();
		}
	});
});

/**
 * The queues contract (lib/queues/types.ts), run against the in-process backend and the real RabbitMQ
 * (AMQP_URL, default amqp://guest:guest@127.0.0.1:5672). Each test uses its own queue name and deletes it afterwards.
 */
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { Consumer, DeliveryInfo, QueueBackend } from "../../lib/queues/types.ts";
import { PermanentError } from "../../lib/queues/types.ts";
import type { QueueDefaults } from "../../lib/queues/common.ts";
import { MemoryQueueBackend } from "../../lib/queues/memory.ts";
import { RabbitQueueBackend } from "../../lib/queues/rabbitmq.ts";
import { AMQP_URL, eventually, gate, silentLogger, sleep } from "../fixtures/queue-helpers.ts";

interface Subject {
	name: string;
	make(defaults: QueueDefaults): QueueBackend;
	/** removes the queue and its retry/dead-letter queues */
	drop(backend: QueueBackend, queue: string): Promise<void>;
}

const subjects: Subject[] = [
	{ name: "memory", make: (defaults) => new MemoryQueueBackend(defaults, silentLogger), drop: async () => undefined },
	{
		name: "rabbitmq",
		make: (defaults) => new RabbitQueueBackend({ url: AMQP_URL, defaults, logger: silentLogger, connectionName: `contract-test:${process.pid}` }),
		drop: (backend, queue) => (backend as RabbitQueueBackend).deleteQueue(queue, 5)
	}
];

const DEFAULTS: QueueDefaults = { retries: 2, retryDelayMs: 20, prefetch: 0 };

for (const subject of subjects) {
	describe(`queues contract: ${subject.name}`, () => {
		const open: { backend: QueueBackend; queues: string[]; consumers: Consumer[] }[] = [];

		async function setup(defaults: QueueDefaults = DEFAULTS): Promise<{ backend: QueueBackend; queue: string; track(c: Consumer): Consumer }> {
			const backend = subject.make(defaults);
			await backend.connect();
			const queue = `test.${randomUUID()}`;
			const entry = { backend, queues: [queue], consumers: [] as Consumer[] };
			open.push(entry);
			return {
				backend,
				queue,
				track: (c) => {
					entry.consumers.push(c);
					return c;
				}
			};
		}

		afterEach(async () => {
			for (const { backend, queues, consumers } of open.splice(0)) {
				await Promise.all(consumers.map((c) => c.close()));
				for (const q of queues) await subject.drop(backend, q);
				await backend.close();
			}
		});

		it("reports its kind and answers ping once connected", async () => {
			const { backend } = await setup();
			assert.equal(backend.kind, subject.name);
			assert.equal(await backend.ping(), true);
		});

		it("delivers a published message with its payload, key as messageId, headers and attempt 1", async () => {
			const { backend, queue, track } = await setup();
			const got: { payload: unknown; info: DeliveryInfo }[] = [];
			track(await backend.consume(queue, async (payload, info) => void got.push({ payload, info })));
			const before = Date.now();
			const id = await backend.publish(queue, { batchId: "b1", rows: [1, 2, 3], when: new Date(0) }, { key: "b1:0", headers: { client: "acme" } });
			assert.equal(id, "b1:0");
			await eventually(() => assert.equal(got.length, 1));
			const [{ payload, info }] = got as [{ payload: unknown; info: DeliveryInfo }];
			// payloads travel as JSON: a Date arrives as its ISO string
			assert.deepEqual(payload, { batchId: "b1", rows: [1, 2, 3], when: "1970-01-01T00:00:00.000Z" });
			assert.equal(info.queue, queue);
			assert.equal(info.messageId, "b1:0");
			assert.equal(info.attempt, 1);
			assert.equal(info.redelivered, false);
			assert.deepEqual(info.headers, { client: "acme" });
			assert.ok(info.publishedAt instanceof Date);
			assert.ok(Math.abs(info.publishedAt.getTime() - before) < 60_000);
		});

		it("gives messages without a key distinct UUID message IDs", async () => {
			const { backend, queue, track } = await setup();
			const ids: string[] = [];
			track(await backend.consume(queue, async (_p, info) => void ids.push(info.messageId)));
			const a = await backend.publish(queue, 1);
			const b = await backend.publish(queue, 2);
			assert.notEqual(a, b);
			assert.match(a, /^[0-9a-f-]{36}$/);
			await eventually(() => assert.deepEqual([...ids].sort(), [a, b].sort()));
		});

		it("publishMany holds every message and returns the IDs in order", async () => {
			const { backend, queue, track } = await setup();
			const items = Array.from({ length: 200 }, (_, i) => ({ payload: { n: i }, options: i % 2 ? { key: `k${i}` } : undefined }));
			const ids = await backend.publishMany(queue, items);
			assert.equal(ids.length, 200);
			ids.forEach((id, i) => (i % 2 ? assert.equal(id, `k${i}`) : assert.match(id, /^[0-9a-f-]{36}$/)));
			await eventually(async () => assert.equal((await backend.stats(queue)).ready, 200));
			const seen = new Set<number>();
			track(await backend.consume<{ n: number }>(queue, async (p) => void seen.add(p.n), { concurrency: 8 }));
			await eventually(() => assert.equal(seen.size, 200));
		});

		it("runs at most `concurrency` handlers at once", async () => {
			const { backend, queue, track } = await setup();
			let active = 0;
			let max = 0;
			let done = 0;
			track(
				await backend.consume(
					queue,
					async () => {
						active++;
						max = Math.max(max, active);
						await sleep(15);
						active--;
						done++;
					},
					{ concurrency: 3 }
				)
			);
			await backend.publishMany(queue, Array.from({ length: 15 }, (_, i) => ({ payload: i })));
			await eventually(() => assert.equal(done, 15));
			assert.equal(max, 3);
		});

		it("retries a failing handler with growing attempt numbers and delays, then dead-letters it", async () => {
			const { backend, queue, track } = await setup();
			const tries: { attempt: number; at: number }[] = [];
			track(
				await backend.consume(
					queue,
					async (_p, info) => {
						tries.push({ attempt: info.attempt, at: Date.now() });
						throw new Error(`boom ${info.attempt}`);
					},
					{ retries: 2, retryDelayMs: 40 }
				)
			);
			await backend.publish(queue, { x: 1 }, { key: "doomed", headers: { client: "acme" } });
			await eventually(async () => assert.equal((await backend.stats(queue)).dead, 1));
			assert.deepEqual(
				tries.map((t) => t.attempt),
				[1, 2, 3]
			);
			// retry n waits retryDelayMs * 4^(n-1) jittered over its upper half: at least 20 ms, then at least 80 ms
			// (lower bounds, with a little timer slack)
			const [t1, t2, t3] = tries.map((t) => t.at) as [number, number, number];
			assert.ok(t2 - t1 >= 18, `first retry after ${t2 - t1} ms`);
			assert.ok(t3 - t2 >= 75, `second retry after ${t3 - t2} ms`);
			const [dead, ...rest] = await backend.deadLetters.list(queue);
			assert.equal(rest.length, 0);
			assert.ok(dead);
			assert.equal(dead.messageId, "doomed");
			assert.equal(dead.queue, queue);
			assert.deepEqual(dead.payload, { x: 1 });
			assert.equal(dead.attempts, 3);
			assert.equal(dead.error, "boom 3");
			assert.ok(dead.failedAt instanceof Date && !Number.isNaN(dead.failedAt.getTime()));
			assert.deepEqual(dead.headers, { client: "acme" });
			await sleep(100);
			assert.equal(tries.length, 3, "no try after the message was dead-lettered");
		});

		it("with retries 0 dead-letters after the first failure; a later success is not retried", async () => {
			const { backend, queue, track } = await setup({ retries: 0, retryDelayMs: 10, prefetch: 0 });
			let calls = 0;
			track(
				await backend.consume(queue, async (p) => {
					calls++;
					if (p === "bad") throw new Error("bad payload");
				})
			);
			await backend.publish(queue, "bad");
			await backend.publish(queue, "good");
			await eventually(async () => assert.equal((await backend.stats(queue)).dead, 1));
			await eventually(() => assert.equal(calls, 2));
			const [dead] = await backend.deadLetters.list(queue);
			assert.equal(dead?.attempts, 1);
			assert.equal(dead?.payload, "bad");
		});

		it("a PermanentError is dead-lettered at once, whatever the retries", async () => {
			const { backend, queue, track } = await setup({ retries: 3, retryDelayMs: 10, prefetch: 0 });
			let calls = 0;
			track(
				await backend.consume(queue, async () => {
					calls++;
					throw new PermanentError("unknown template 'x'");
				})
			);
			await backend.publish(queue, { caseId: "c1" }, { key: "perm-1" });
			await eventually(async () => assert.equal((await backend.stats(queue)).dead, 1));
			const [dead] = await backend.deadLetters.list(queue);
			assert.equal(calls, 1);
			assert.equal(dead?.attempts, 1);
			assert.match(dead?.error ?? "", /unknown template 'x'/);
		});

		it("lists, gets, replays (attempt 1 again) and purges dead letters", async () => {
			const { backend, queue, track } = await setup({ retries: 0, retryDelayMs: 10, prefetch: 0 });
			let accept = false;
			const handled: { payload: unknown; attempt: number; messageId: string }[] = [];
			track(
				await backend.consume(queue, async (payload, info) => {
					if (!accept) throw new Error(`not yet: ${String(payload)}`);
					handled.push({ payload, attempt: info.attempt, messageId: info.messageId });
				})
			);
			await backend.publishMany(queue, ["a", "b", "c", "d"].map((k) => ({ payload: k, options: { key: `key-${k}` } })));
			await eventually(async () => assert.equal((await backend.stats(queue)).dead, 4));

			const all = await backend.deadLetters.list(queue);
			assert.deepEqual(all.map((d) => d.payload).sort(), ["a", "b", "c", "d"]);
			assert.equal(new Set(all.map((d) => d.id)).size, 4);
			assert.equal((await backend.deadLetters.list(queue, { limit: 2 })).length, 2);

			const b = all.find((d) => d.payload === "b");
			assert.ok(b);
			const got = await backend.deadLetters.get(queue, b.id);
			assert.equal(got?.messageId, "key-b");
			assert.equal(got?.error, "not yet: b");
			assert.equal(await backend.deadLetters.get(queue, "no-such-id"), null);

			// ids are stable: listing again names the same dead letters
			await eventually(async () => assert.deepEqual((await backend.deadLetters.list(queue)).map((d) => d.id).sort(), all.map((d) => d.id).sort()));

			accept = true;
			assert.equal(await backend.deadLetters.replay(queue, [b.id, "no-such-id"]), 1);
			await eventually(() => assert.deepEqual(handled, [{ payload: "b", attempt: 1, messageId: "key-b" }]));
			await eventually(async () => assert.equal((await backend.stats(queue)).dead, 3));
			assert.equal(await backend.deadLetters.get(queue, b.id), null);

			const c = all.find((d) => d.payload === "c");
			assert.ok(c);
			assert.equal(await backend.deadLetters.replay(queue, [c.id]), 1);
			await eventually(() => assert.equal(handled.length, 2));
			await eventually(async () => assert.equal((await backend.stats(queue)).dead, 2));

			assert.equal(await backend.deadLetters.purge(queue), 2);
			await eventually(async () => assert.equal((await backend.stats(queue)).dead, 0));
			assert.deepEqual(await backend.deadLetters.list(queue), []);
			assert.equal(await backend.deadLetters.replay(queue), 0);
		});

		it("replays every dead letter when no ids are given", async () => {
			const { backend, queue, track } = await setup({ retries: 0, retryDelayMs: 10, prefetch: 0 });
			let accept = false;
			const handled = new Set<unknown>();
			track(
				await backend.consume(queue, async (payload) => {
					if (!accept) throw new Error("no");
					handled.add(payload);
				})
			);
			await backend.publishMany(queue, [1, 2, 3].map((n) => ({ payload: n })));
			await eventually(async () => assert.equal((await backend.stats(queue)).dead, 3));
			accept = true;
			assert.equal(await backend.deadLetters.replay(queue), 3);
			await eventually(() => assert.deepEqual([...handled].sort(), [1, 2, 3]));
			await eventually(async () => assert.equal((await backend.stats(queue)).dead, 0));
		});

		it("reports ready messages, dead letters and consumers in stats (and, where known, counts in and out and the oldest message's age)", async () => {
			const { backend, queue, track } = await setup();
			const depths = async (q: string) => {
				const s = await backend.stats(q);
				return { queue: s.queue, ready: s.ready, dead: s.dead, consumers: s.consumers };
			};
			const missing = `test.${randomUUID()}.missing`;
			assert.deepEqual(await depths(missing), { queue: missing, ready: 0, dead: 0, consumers: 0 });
			await backend.declare(queue);
			assert.deepEqual(await depths(queue), { queue, ready: 0, dead: 0, consumers: 0 });
			await backend.publishMany(queue, [1, 2, 3].map((n) => ({ payload: n })));
			await eventually(async () => assert.deepEqual(await depths(queue), { queue, ready: 3, dead: 0, consumers: 0 }));
			const waiting = await backend.stats(queue);
			// optional: a backend either knows these or leaves them out (the in-process one knows them)
			if (subject.name === "memory") assert.equal(typeof waiting.published, "number");
			if (waiting.published !== undefined) assert.deepEqual([waiting.published, waiting.settled, typeof waiting.oldestAgeMs], [3, 0, "number"]);
			let n = 0;
			const c = track(await backend.consume(queue, async () => void n++));
			await eventually(async () => assert.deepEqual(await depths(queue), { queue, ready: 0, dead: 0, consumers: 1 }));
			assert.equal(n, 3);
			const drained = await backend.stats(queue);
			if (drained.published !== undefined) await eventually(async () => assert.deepEqual(await backend.stats(queue), { queue, ready: 0, dead: 0, consumers: 1, published: 3, settled: 3, oldestAgeMs: null }));
			await c.close();
			await eventually(async () => assert.equal((await backend.stats(queue)).consumers, 0));
		});

		/**
		 * A consumer whose handler records its start and end and waits for `release`, with "first" in its handler and
		 * "second" published behind it (on RabbitMQ already with the client, buffered: concurrency 1).
		 */
		async function heldConsumer(): Promise<{ backend: QueueBackend; queue: string; c: Consumer; order: string[]; release: () => void; calls: () => number }> {
			const { backend, queue, track } = await setup();
			const release = gate();
			const started = gate();
			const order: string[] = [];
			let calls = 0;
			const c = track(
				await backend.consume(queue, async (p) => {
					calls++;
					order.push(`start ${String(p)}`);
					started.open();
					await release.promise;
					order.push(`end ${String(p)}`);
				})
			);
			await backend.publish(queue, "first");
			await started.promise;
			await backend.publish(queue, "second");
			return { backend, queue, c, order, release: () => release.open(), calls: () => calls };
		}

		/** The message not taken stays in the queue for the next consumer. */
		async function assertOneLeft(backend: QueueBackend, queue: string): Promise<void> {
			if (subject.name === "rabbitmq") await eventually(async () => assert.equal((await backend.stats(queue)).ready, 1));
			else assert.equal((await backend.stats(queue)).ready, 1);
		}

		it("a message waiting behind a handler is not taken once close() began, even when that handler ends at once", async () => {
			const { backend, queue, c, order, release } = await heldConsumer();
			await sleep(50);
			// the handler ends before the broker can confirm the cancel
			const closing = c.close();
			release();
			await closing;
			assert.deepEqual(order, ["start first", "end first"]);
			await assertOneLeft(backend, queue);
		});

		it("consumer.close() stops taking messages and waits for handlers in flight", async () => {
			const { backend, queue, c, order, release, calls } = await heldConsumer();
			const closing = c.close().then(() => order.push("closed"));
			await sleep(50);
			assert.deepEqual(order, ["start first"], "close() must not resolve while a handler runs");
			release();
			await closing;
			assert.deepEqual(order, ["start first", "end first", "closed"]);
			assert.equal(calls(), 1, "no new message taken after close()");
			await assertOneLeft(backend, queue);
		});

		it("backend.close() waits for handlers in flight and refuses to publish afterwards", async () => {
			const backend = subject.make(DEFAULTS);
			await backend.connect();
			const queue = `test.${randomUUID()}`;
			const release = gate();
			const started = gate();
			let finished = false;
			await backend.consume(queue, async () => {
				started.open();
				await release.promise;
				finished = true;
			});
			await backend.publish(queue, "x");
			await started.promise;
			const closing = backend.close();
			await sleep(30);
			assert.equal(finished, false);
			release.open();
			await closing;
			assert.equal(finished, true);
			await assert.rejects(backend.publish(queue, "y"), /closed/);
			if (subject.name === "rabbitmq") {
				const cleaner = subject.make(DEFAULTS);
				await cleaner.connect();
				await subject.drop(cleaner, queue);
				await cleaner.close();
			}
		});

		it("spreads messages over several consumers of the same queue", async () => {
			const { backend, queue, track } = await setup();
			const byConsumer = [0, 0];
			for (const i of [0, 1]) {
				track(
					await backend.consume(queue, async () => {
						byConsumer[i]!++;
						await sleep(5);
					})
				);
			}
			await backend.publishMany(queue, Array.from({ length: 20 }, (_, i) => ({ payload: i })));
			await eventually(() => assert.equal(byConsumer[0]! + byConsumer[1]!, 20));
			assert.ok(byConsumer[0]! > 0 && byConsumer[1]! > 0, `both consumers worked: ${byConsumer.join("/")}`);
		});
	});
}

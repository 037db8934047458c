/**
 * The in-process queue backend: the embedded default (no AMQP_URL). Same semantics as the RabbitMQ backend —
 * per-consumer concurrency, retries after retryDelayMs * 4^(attempt-1) with equal jitter (uniform over the upper
 * half of that delay, as on RabbitMQ), a dead-letter list per queue with
 * list/get/replay/purge, stats — but NOT durable: messages waiting, retrying or dead are lost when the process
 * stops. That is acceptable because the services recover unfinished work (batches, cases) from the store on
 * start-up; the queue is only the hand-off between actors inside one process.
 *
 * Payloads are copied through JSON on publish, so handlers see exactly what they would see from RabbitMQ
 * (Dates become strings, undefined fields vanish) and a publisher mutating its object later changes nothing.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Consumer, ConsumerState, DeadLetter, DeliveryInfo, PublishOptions, QueueBackend, QueueHandler, QueueOptions, QueueStats } from "./types.ts";
import { isPermanent } from "./types.ts";
import { errorMessage, jitteredRetryDelay, resolveOptions, type QueueDefaults, type ResolvedQueueOptions } from "./common.ts";

interface Message {
	messageId: string;
	/** the payload as JSON text */
	body: string;
	attempt: number;
	publishedAt: Date;
	headers: Record<string, string>;
}

interface Dead extends Message {
	id: string;
	error: string;
	failedAt: Date;
}

interface MemQueue {
	name: string;
	options: ResolvedQueueOptions;
	ready: Message[];
	/** index of the first message in `ready` (avoids O(n) shift on long queues) */
	head: number;
	dead: Map<string, Dead>;
	consumers: MemConsumer[];
	/** round-robin position among consumers */
	turn: number;
	/** messages put on the queue (published or replayed) and taken off it (handled, or dead-lettered) since this backend started */
	published: number;
	settled: number;
}

class MemConsumer implements Consumer {
	readonly queue: string;
	readonly options: ResolvedQueueOptions;
	readonly handler: QueueHandler<unknown>;
	readonly running = new Set<Promise<void>>();
	closed = false;
	private readonly backend: MemoryQueueBackend;

	constructor(backend: MemoryQueueBackend, queue: string, handler: QueueHandler<unknown>, options: ResolvedQueueOptions) {
		this.backend = backend;
		this.queue = queue;
		this.handler = handler;
		this.options = options;
	}

	get hasCapacity(): boolean {
		return !this.closed && this.running.size < this.options.concurrency;
	}

	async close(): Promise<void> {
		this.closed = true;
		this.backend.detach(this);
		while (this.running.size > 0) await Promise.allSettled([...this.running]);
	}
}

export class MemoryQueueBackend implements QueueBackend {
	readonly kind = "memory" as const;
	private readonly defaults: QueueDefaults;
	private readonly logger: Logger;
	private readonly queues = new Map<string, MemQueue>();
	private readonly timers = new Set<NodeJS.Timeout>();
	private closed = false;

	constructor(defaults: QueueDefaults, logger: Logger) {
		this.defaults = defaults;
		this.logger = logger;
	}

	async connect(): Promise<void> {
		this.closed = false;
	}

	async declare(queue: string, options?: QueueOptions): Promise<void> {
		this.queue(queue, options);
	}

	async publish(queue: string, payload: unknown, options: PublishOptions = {}): Promise<string> {
		this.assertOpen();
		const q = this.queue(queue);
		const messageId = options.key ?? randomUUID();
		q.ready.push({ messageId, body: toJson(payload), attempt: 1, publishedAt: new Date(), headers: { ...options.headers } });
		q.published++;
		this.pump(q);
		return messageId;
	}

	async publishMany(queue: string, items: { payload: unknown; options?: PublishOptions }[]): Promise<string[]> {
		this.assertOpen();
		const q = this.queue(queue);
		const now = new Date();
		const ids = items.map(({ payload, options = {} }) => {
			const messageId = options.key ?? randomUUID();
			q.ready.push({ messageId, body: toJson(payload), attempt: 1, publishedAt: now, headers: { ...options.headers } });
			return messageId;
		});
		q.published += items.length;
		this.pump(q);
		return ids;
	}

	async consume<T>(queue: string, handler: QueueHandler<T>, options?: QueueOptions): Promise<Consumer> {
		this.assertOpen();
		const q = this.queue(queue, options);
		const resolved = resolveOptions(this.defaults, { ...q.options, ...definedOnly(options) });
		const consumer = new MemConsumer(this, queue, handler as QueueHandler<unknown>, resolved);
		q.consumers.push(consumer);
		this.pump(q);
		return consumer;
	}

	async stats(queue: string): Promise<QueueStats> {
		const q = this.queues.get(queue);
		if (!q) return { queue, ready: 0, dead: 0, consumers: 0, published: 0, settled: 0, oldestAgeMs: null };
		const next = q.head < q.ready.length ? q.ready[q.head] : undefined;
		return { queue, ready: q.ready.length - q.head, dead: q.dead.size, consumers: q.consumers.length, published: q.published, settled: q.settled, oldestAgeMs: next ? Date.now() - next.publishedAt.getTime() : null };
	}

	readonly deadLetters = {
		list: async (queue: string, options: { limit?: number } = {}): Promise<DeadLetter[]> => {
			const q = this.queues.get(queue);
			if (!q) return [];
			const limit = options.limit ?? 100;
			const out: DeadLetter[] = [];
			for (const d of q.dead.values()) {
				if (out.length >= limit) break;
				out.push(toDeadLetter(queue, d));
			}
			return out;
		},
		get: async (queue: string, id: string): Promise<DeadLetter | null> => {
			const d = this.queues.get(queue)?.dead.get(id);
			return d ? toDeadLetter(queue, d) : null;
		},
		replay: async (queue: string, ids?: string[]): Promise<number> => {
			this.assertOpen();
			const q = this.queues.get(queue);
			if (!q) return 0;
			const chosen = ids ? ids.map((id) => q.dead.get(id)).filter((d): d is Dead => d !== undefined) : [...q.dead.values()];
			for (const d of chosen) {
				q.dead.delete(d.id);
				q.ready.push({ messageId: d.messageId, body: d.body, attempt: 1, publishedAt: d.publishedAt, headers: d.headers });
			}
			q.published += chosen.length;
			this.pump(q);
			return chosen.length;
		},
		purge: async (queue: string): Promise<number> => {
			const q = this.queues.get(queue);
			if (!q) return 0;
			const n = q.dead.size;
			q.dead.clear();
			return n;
		}
	};

	async ping(): Promise<boolean> {
		return !this.closed;
	}

	consumers(): ConsumerState[] {
		return [...this.queues.values()].flatMap((q) => q.consumers.map((c) => ({ queue: c.queue, consuming: !c.closed && !this.closed })));
	}

	async close(): Promise<void> {
		this.closed = true;
		const consumers = [...this.queues.values()].flatMap((q) => q.consumers);
		await Promise.all(consumers.map((c) => c.close()));
		for (const t of this.timers) clearTimeout(t);
		this.timers.clear();
	}

	/** @internal called by a closing consumer */
	detach(consumer: MemConsumer): void {
		const q = this.queues.get(consumer.queue);
		if (q) q.consumers = q.consumers.filter((c) => c !== consumer);
	}

	private assertOpen(): void {
		if (this.closed) throw new Error("queue backend is closed");
	}

	private queue(name: string, options?: QueueOptions): MemQueue {
		let q = this.queues.get(name);
		if (!q) {
			q = { name, options: resolveOptions(this.defaults, options), ready: [], head: 0, dead: new Map(), consumers: [], turn: 0, published: 0, settled: 0 };
			this.queues.set(name, q);
		} else if (options) {
			q.options = resolveOptions(this.defaults, { ...q.options, ...definedOnly(options) });
		}
		return q;
	}

	/** Hands waiting messages to consumers with free slots, round-robin. */
	private pump(q: MemQueue): void {
		while (q.head < q.ready.length) {
			const consumer = this.nextConsumer(q);
			if (!consumer) break;
			const msg = q.ready[q.head] as Message;
			q.ready[q.head++] = undefined as unknown as Message;
			this.run(q, consumer, msg);
		}
		if (q.head > 1024 && q.head * 2 > q.ready.length) {
			q.ready = q.ready.slice(q.head);
			q.head = 0;
		}
	}

	private nextConsumer(q: MemQueue): MemConsumer | undefined {
		const n = q.consumers.length;
		for (let i = 0; i < n; i++) {
			const c = q.consumers[(q.turn + i) % n] as MemConsumer;
			if (c.hasCapacity) {
				q.turn = (q.turn + i + 1) % n;
				return c;
			}
		}
		return undefined;
	}

	private run(q: MemQueue, consumer: MemConsumer, msg: Message): void {
		const info: DeliveryInfo = {
			queue: q.name,
			messageId: msg.messageId,
			attempt: msg.attempt,
			redelivered: false,
			publishedAt: msg.publishedAt,
			headers: { ...msg.headers }
		};
		const task = (async () => {
			try {
				await consumer.handler(JSON.parse(msg.body), info);
				q.settled++;
			} catch (err) {
				this.failed(q, consumer.options, msg, err);
			}
		})();
		consumer.running.add(task);
		void task.finally(() => {
			consumer.running.delete(task);
			this.pump(q);
		});
	}

	/** A handler threw: schedule the next try, or dead-letter once the retries are used up. */
	private failed(q: MemQueue, options: ResolvedQueueOptions, msg: Message, err: unknown): void {
		const error = errorMessage(err);
		if (msg.attempt <= options.retries && !isPermanent(err)) {
			const delay = jitteredRetryDelay(options.retryDelayMs, msg.attempt);
			this.logger.warn({ queue: q.name, messageId: msg.messageId, attempt: msg.attempt, delayMs: delay, err: error }, "queue handler failed; retrying");
			const timer = setTimeout(() => {
				this.timers.delete(timer);
				if (this.closed) return;
				q.ready.push({ ...msg, attempt: msg.attempt + 1 });
				this.pump(q);
			}, delay);
			this.timers.add(timer);
			return;
		}
		this.logger.error({ queue: q.name, messageId: msg.messageId, attempts: msg.attempt, err: error }, "queue handler failed; message dead-lettered");
		const id = randomUUID();
		q.dead.set(id, { ...msg, id, error, failedAt: new Date() });
		q.settled++;
	}
}

function toJson(payload: unknown): string {
	return JSON.stringify(payload ?? null);
}

function toDeadLetter(queue: string, d: Dead): DeadLetter {
	return {
		id: d.id,
		messageId: d.messageId,
		queue,
		payload: JSON.parse(d.body),
		attempts: d.attempt,
		error: d.error,
		failedAt: d.failedAt,
		headers: { ...d.headers }
	};
}

function definedOnly(options: QueueOptions | undefined): QueueOptions {
	const out: QueueOptions = {};
	if (options?.concurrency !== undefined) out.concurrency = options.concurrency;
	if (options?.retries !== undefined) out.retries = options.retries;
	if (options?.retryDelayMs !== undefined) out.retryDelayMs = options.retryDelayMs;
	return out;
}

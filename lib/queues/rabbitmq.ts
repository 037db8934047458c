/**
 * The RabbitMQ queue backend, our own small layer on rabbitmq-client (not @moleculer/channels: see DESIGN.md).
 *
 * Topology per queue Q (all durable quorum queues, names as given):
 *   Q            the work queue; consumers take messages from it with a prefetch (QoS) and ack after the handler;
 *                what the broker itself dead-letters from Q (a delivery limit reached) goes to Q.dlq
 *   Q.retry.<n>.<k>  per retry level n, RETRY_BUCKETS (4) jitter buckets k; level n's delay d = retryDelayMs *
 *                4^(n-1) is jittered uniformly over [d/2, d] (common.ts), the slice [d/2, d] split into 4 equal
 *                buckets, each a queue with the top of its slice as fixed x-message-ttl, dead-lettering back to Q.
 *                A failed message goes to the bucket of its jittered delay with that delay as its per-message
 *                `expiration`. RabbitMQ expires messages only at a queue's head, so a message may wait behind a head
 *                that expires later, but never past its bucket's TTL (the head entered no later and expires within
 *                that TTL): each retry waits between its jittered delay and its bucket's top, and a burst of
 *                failures still comes back in 4 waves spread over [d/2, d], not all at d. Separate queues per level
 *                keep a long delay from holding back a short one; per bucket, a late head from holding back an early
 *                message by more than a slice. Each level's top bucket (TTL d) is declared with Q, so a node with
 *                another retry delay is refused at start-up; the others when a retry first goes to them.
 *                (Q.retry.<n>, one queue per level with TTL d and no jitter, is what earlier versions declared:
 *                deleteQueue removes it too; left on a broker, it drains into Q.)
 *   Q.dlq        messages whose retries are used up, with the last error and the attempt count in headers
 * Publishing: persistent, mandatory, with publisher confirms — publish() resolves once the broker confirms. A message
 * the broker returns as unroutable (its queue was deleted, or the broker lost its definitions) makes us declare the
 * queue again and send it once more. messageId = the caller's key or a UUID; headers carry the attempt number and
 * the first publish time. publishMany keeps many confirms in flight (not one at a time).
 * A failed handler's message is republished (confirmed) to the retry or dead-letter queue, and only then acked; if
 * that republish fails the message is nacked back onto Q, so nothing is lost (at-least-once, handlers idempotent).
 *
 * Dead letters are peeked with basic.get without ack on a dedicated channel; closing that channel hands the
 * messages we did not take back to the DLQ (quorum queues put them at its tail, so the DLQ order may rotate and
 * x-delivery-count grows, so the DLQ's delivery limit is set out of reach; nothing is lost even if this process dies
 * mid-scan). Replay publishes a copy (attempt 1,
 * confirmed) to Q before acking the DLQ copy. While a listing is running its messages are invisible to another one.
 *
 * Reconnects: rabbitmq-client reconnects the connection, the publisher and each consumer (re-declaring Q, setting
 * QoS and consuming again). Because a consumer may fail to come back (a closed channel with no new one), each
 * consumer also has a watchdog: when the connection is up but the consumer has had no consumer tag for a few
 * checks, it is replaced by a new one.
 */
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { Connection, ConsumerStatus, type AsyncMessage, type Consumer as RmqConsumer, type Publisher, type SyncMessage } from "rabbitmq-client";
import type { Consumer, ConsumerState, DeadLetter, DeliveryInfo, PublishOptions, QueueBackend, QueueHandler, QueueOptions, QueueStats } from "./types.ts";
import { isPermanent } from "./types.ts";
import {
	H,
	deadLetterQueueName,
	errorMessage,
	headerNumber,
	headerString,
	jitteredRetryDelay,
	mapWindow,
	RETRY_BUCKETS,
	resolveOptions,
	retryBucket,
	retryBucketTtls,
	retryQueueName,
	userHeaders,
	type QueueDefaults,
	type ResolvedQueueOptions
} from "./common.ts";
import { RabbitManagement, vhostOf, type ManagementCounters } from "./management.ts";
import { redactUrl } from "../log.ts";

export interface RabbitQueueBackendOptions {
	url: string;
	defaults: QueueDefaults;
	logger: Logger;
	/** shown by RabbitMQ (management UI, `rabbitmqctl list_connections client_properties`) */
	connectionName?: string;
	/** publishes awaiting their confirm at once in publishMany (default 500) */
	publishWindow?: number;
	/** how often a consumer's watchdog checks that it is still consuming, in ms (default 5000) */
	watchdogMs?: number;
	/** how long connect() waits for the broker, in ms (default 15000) */
	connectTimeoutMs?: number;
	/**
	 * RabbitMQ's management API (http://user:pass@host:15672): stats() then adds published/settled counters and the
	 * head message's age (see management.ts); unset, stats() answers depths and consumers only
	 */
	managementUrl?: string;
	/** longest one management API request may take, in ms (default 2000) */
	managementTimeoutMs?: number;
}

type Headers = Record<string, unknown>;

const QUORUM = { "x-queue-type": "quorum" } as const;

/**
 * The work queue's declaration: every declare of Q (ours, the consumer's re-declare) must use exactly this.
 * What the broker itself dead-letters from Q (e.g. a quorum queue's delivery limit, 20 by default on RabbitMQ 4.x,
 * reached by a message whose consumers keep crashing) goes to Q.dlq instead of being dropped.
 */
function mainQueueDecl(queue: string) {
	return {
		queue,
		durable: true,
		arguments: {
			...QUORUM,
			"x-dead-letter-exchange": "",
			"x-dead-letter-routing-key": deadLetterQueueName(queue),
			"x-dead-letter-strategy": "at-least-once",
			"x-overflow": "reject-publish" as const
		}
	};
}

/**
 * The dead-letter queue's declaration. Listing dead letters hands them back by closing the peeking channel, which a
 * quorum queue counts as a delivery; RabbitMQ 4.x drops a message after 20 such deliveries by default, so the DLQ
 * gets a delivery limit no amount of listing reaches (harmless on 3.x, which has no default limit).
 */
function dlqDecl(queue: string) {
	return { queue: deadLetterQueueName(queue), durable: true, arguments: { ...QUORUM, "x-delivery-limit": 1_000_000_000 } };
}

/** A dead letter's ID: ours when we dead-lettered it, else (the broker did) its messageId. */
function deadLetterId(m: SyncMessage): string {
	return headerString(m.headers, H.deadId) ?? m.messageId ?? "";
}

function retryQueueDecl(queue: string, level: number, bucket: number, ttl: number) {
	return {
		queue: retryQueueName(queue, level, bucket),
		durable: true,
		arguments: {
			...QUORUM,
			"x-message-ttl": ttl,
			"x-dead-letter-exchange": "",
			"x-dead-letter-routing-key": queue,
			// at-least-once dead-lettering (quorum queues): a retry is never dropped on its way back to Q
			"x-dead-letter-strategy": "at-least-once",
			"x-overflow": "reject-publish" as const
		}
	};
}

/** Our and the caller's headers of a message, without what the broker added (x-death...). */
function carriedHeaders(headers: Headers | undefined): Record<string, string> {
	const out: Record<string, string> = {};
	for (const [k, v] of Object.entries(headers ?? {})) {
		if (k.startsWith("x-death") || k.startsWith("x-first-death") || k.startsWith("x-last-death") || k === "x-delivery-count") continue;
		if (v === undefined || v === null) continue;
		out[k] = Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
	}
	return out;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function decodeBody(body: unknown): unknown {
	if (Buffer.isBuffer(body)) return body.length === 0 ? null : JSON.parse(body.toString("utf8"));
	return body;
}

/** A dead letter's payload for display: its JSON, or its raw text when it is not JSON (why it died). */
function displayBody(body: unknown): unknown {
	try {
		return decodeBody(body);
	} catch {
		return Buffer.isBuffer(body) ? body.toString("utf8") : body;
	}
}

export class RabbitQueueBackend implements QueueBackend {
	readonly kind = "rabbitmq" as const;
	readonly connectionName: string;
	readonly logger: Logger;
	readonly defaults: QueueDefaults;
	readonly watchdogMs: number;
	private readonly url: string;
	private readonly publishWindow: number;
	private readonly connectTimeoutMs: number;
	private readonly conn: Connection;
	private readonly pub: Publisher;
	private readonly management: RabbitManagement | undefined;
	private readonly running = new Set<RabbitConsumer>();
	/** queues whose Q and Q.dlq this process declared */
	private readonly mainDeclared = new Map<string, Promise<void>>();
	/** retry levels declared per queue (their top buckets), with their base delay */
	private readonly retryDeclared = new Map<string, { retryDelayMs: number; levels: number }>();
	/** the retry bucket queues this process declared, as `<name>@<ttl>` */
	private readonly retryQueues = new Set<string>();
	/** messageIds the broker returned as unroutable, waiting for their publish to notice */
	private readonly returned = new Set<string>();
	private closed = false;

	constructor(options: RabbitQueueBackendOptions) {
		this.url = options.url;
		this.logger = options.logger;
		this.defaults = options.defaults;
		this.publishWindow = Math.max(1, options.publishWindow ?? 500);
		this.watchdogMs = options.watchdogMs ?? 5000;
		this.connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
		this.connectionName = options.connectionName ?? `paperwork:${hostname()}:${process.pid}`;
		this.management = options.managementUrl
			? new RabbitManagement({ url: options.managementUrl, vhost: vhostOf(options.url), logger: options.logger, timeoutMs: options.managementTimeoutMs })
			: undefined;
		this.conn = new Connection({
			url: options.url,
			connectionName: this.connectionName,
			noDelay: true,
			retryLow: 250,
			retryHigh: 5000
		});
		this.conn.on("error", (err: unknown) => this.logger.warn({ err: errorMessage(err) }, "RabbitMQ connection error"));
		this.conn.on("connection", () => this.logger.info({ url: redactUrl(this.url), name: this.connectionName }, "RabbitMQ connected"));
		this.conn.on("connection.blocked", (reason: string) => this.logger.warn({ reason }, "RabbitMQ blocked publishing"));
		this.conn.on("connection.unblocked", () => this.logger.info("RabbitMQ unblocked publishing"));
		this.pub = this.conn.createPublisher({
			confirm: true,
			// a publish that fails because the connection dropped is sent again once it is back
			maxAttempts: 5
		});
		// a mandatory message the broker cannot route comes back (basic.return) before its confirm
		this.pub.on("basic.return", (msg) => {
			if (msg.messageId) this.returned.add(msg.messageId);
		});
		this.pub.on("retry", (err: unknown) => this.logger.warn({ err: errorMessage(err) }, "RabbitMQ publish failed; retrying"));
	}

	async connect(): Promise<void> {
		try {
			await this.conn.onConnect(this.connectTimeoutMs, true);
		} catch (err) {
			throw new Error(`cannot connect to RabbitMQ at ${redactUrl(this.url)}: ${errorMessage(err)}`, { cause: err });
		}
	}

	async declare(queue: string, options?: QueueOptions): Promise<void> {
		const resolved = resolveOptions(this.defaults, options);
		await this.declareMain(queue);
		const done = this.retryDeclared.get(queue);
		if (done && done.retryDelayMs === resolved.retryDelayMs && done.levels >= resolved.retries) return;
		// each level's top bucket now (its TTL is the level's delay: a node with another QUEUE_RETRY_DELAY_MS is refused
		// here, at start-up); the lower buckets when a retry first goes to them (retryBucketQueue)
		for (let level = 1; level <= resolved.retries; level++) await this.retryBucketQueue(queue, level, RETRY_BUCKETS - 1, resolved.retryDelayMs);
		this.retryDeclared.set(queue, { retryDelayMs: resolved.retryDelayMs, levels: Math.max(done?.levels ?? 0, resolved.retries) });
	}

	/** Declares a retry level's bucket queue once per process (again after forgetRetries); returns its name. */
	private async retryBucketQueue(queue: string, level: number, bucket: number, retryDelayMs: number): Promise<string> {
		const ttl = retryBucketTtls(retryDelayMs, level)[bucket] as number;
		const decl = retryQueueDecl(queue, level, bucket, ttl);
		// keyed with the TTL: the same queue asked for with another delay goes to the broker, which refuses it
		const key = `${decl.queue}@${ttl}`;
		if (this.retryQueues.has(key)) return decl.queue;
		try {
			await this.conn.queueDeclare(decl);
		} catch (err) {
			throw new Error(
				`cannot declare retry queue ${decl.queue} (x-message-ttl ${ttl} ms): ${errorMessage(err)}. ` +
					"A retry queue that exists with another delay must be deleted first (or keep QUEUE_RETRY_DELAY_MS the same on every node).",
				{ cause: err }
			);
		}
		this.retryQueues.add(key);
		return decl.queue;
	}

	/** Forgets the retry queues of Q this process declared (they are declared again on their next use). */
	private forgetRetries(queue: string): void {
		this.retryDeclared.delete(queue);
		for (const name of this.retryQueues) if (name.startsWith(`${queue}.retry.`)) this.retryQueues.delete(name);
	}

	async publish(queue: string, payload: unknown, options: PublishOptions = {}): Promise<string> {
		this.assertOpen();
		await this.declareMain(queue);
		const messageId = options.key ?? randomUUID();
		const headers = { ...options.headers, [H.attempt]: "1", [H.firstPublished]: String(Date.now()) };
		await this.send(queue, Buffer.from(JSON.stringify(payload ?? null)), messageId, headers, () => this.redeclareMain(queue));
		return messageId;
	}

	async publishMany(queue: string, items: { payload: unknown; options?: PublishOptions }[]): Promise<string[]> {
		this.assertOpen();
		await this.declareMain(queue);
		const now = String(Date.now());
		const encode = (i: number, messageId: string) => {
			const { payload, options = {} } = items[i] as { payload: unknown; options?: PublishOptions };
			return { body: Buffer.from(JSON.stringify(payload ?? null)), headers: { ...options.headers, [H.attempt]: "1", [H.firstPublished]: now }, messageId };
		};
		const ids = await mapWindow(items, this.publishWindow, async (item, i) => {
			const m = encode(i, item.options?.key ?? randomUUID());
			await this.sendConfirmed(queue, m.body, m.messageId, m.headers);
			return m.messageId;
		});
		// returns are checked once for the whole batch (not one event-loop turn per message); returned messages are
		// sent again, one by one, after declaring the queue again
		await nextTurn();
		if (this.returned.size > 0) {
			const again = ids.flatMap((id, i) => (this.returned.delete(id) ? [encode(i, id)] : []));
			if (again.length > 0) {
				this.logger.warn({ queue, messages: again.length }, "queue missing on the broker; declaring it again");
				await this.redeclareMain(queue);
				for (const m of again) await this.send(queue, m.body, m.messageId, m.headers);
			}
		}
		return ids;
	}

	async consume<T>(queue: string, handler: QueueHandler<T>, options?: QueueOptions): Promise<Consumer> {
		this.assertOpen();
		const resolved = resolveOptions(this.defaults, options);
		await this.declare(queue, options);
		const consumer = new RabbitConsumer(this, queue, handler as QueueHandler<unknown>, resolved);
		this.running.add(consumer);
		// resolves once the broker has registered the subscription (QoS set, basic.consume-ok)
		await consumer.start();
		return consumer;
	}

	/**
	 * Depths and consumers from AMQP (passive declares: exact now). With a management URL, also the counters and the
	 * head's age from the management API (sampled every 5 s by the broker); when that API cannot be read the answer
	 * has depths only and `countersError` says why.
	 */
	async stats(queue: string): Promise<QueueStats> {
		const [main, dead, counters] = await Promise.all([this.peekCounts(queue), this.peekCounts(deadLetterQueueName(queue)), this.management?.counters(queue)]);
		const base: QueueStats = { queue, ready: main?.messageCount ?? 0, dead: dead?.messageCount ?? 0, consumers: main?.consumerCount ?? 0 };
		return this.management ? withCounters(base, counters ?? null, Date.now()) : base;
	}

	readonly deadLetters = {
		list: async (queue: string, options: { limit?: number } = {}): Promise<DeadLetter[]> => {
			const limit = Math.max(0, options.limit ?? 100);
			if (limit === 0) return [];
			return this.scanDlq(queue, limit, async (msgs) => msgs.map((m) => toDeadLetter(queue, m)));
		},
		get: async (queue: string, id: string): Promise<DeadLetter | null> => {
			return this.scanDlq(queue, Infinity, async (msgs) => {
				const m = msgs.find((x) => deadLetterId(x) === id);
				return m ? toDeadLetter(queue, m) : null;
			}, (m) => deadLetterId(m) === id);
		},
		replay: async (queue: string, ids?: string[]): Promise<number> => {
			this.assertOpen();
			await this.declareMain(queue);
			const wanted = ids ? new Set(ids) : undefined;
			if (wanted?.size === 0) return 0;
			let moved = 0;
			await this.withChannel(async (ch) => {
				const dlq = deadLetterQueueName(queue);
				// bounded by the DLQ's size at the first get: dead letters arriving meanwhile wait for the next replay
				let bound: number | undefined;
				for (let seen = 0; bound === undefined || seen < bound; seen++) {
					const m = await ch.basicGet({ queue: dlq, noAck: false });
					if (!m) break;
					bound ??= m.messageCount + 1;
					if (wanted && !wanted.has(deadLetterId(m))) continue; // stays unacked: back to the DLQ when the channel closes
					const headers = carriedHeaders(m.headers);
					for (const k of [H.error, H.failedAt, H.deadId]) delete headers[k];
					headers[H.attempt] = "1";
					const body = Buffer.isBuffer(m.body) ? m.body : Buffer.from(JSON.stringify(m.body ?? null));
					await this.send(queue, body, m.messageId ?? randomUUID(), headers, () => this.redeclareMain(queue));
					ch.basicAck({ deliveryTag: m.deliveryTag });
					moved++;
					if (wanted && moved >= wanted.size) break;
				}
			});
			if (moved > 0) this.logger.info({ queue, replayed: moved }, "dead letters replayed");
			return moved;
		},
		purge: async (queue: string): Promise<number> => {
			if (!(await this.peekCounts(deadLetterQueueName(queue)))) return 0;
			const { messageCount } = await this.conn.queuePurge({ queue: deadLetterQueueName(queue) });
			return messageCount;
		}
	};

	async ping(): Promise<boolean> {
		return !this.closed && this.conn.ready;
	}

	consumers(): ConsumerState[] {
		return [...this.running].map((c) => ({ queue: c.queue, consuming: !this.closed && c.consuming }));
	}

	async close(): Promise<void> {
		if (this.closed) return;
		this.closed = true;
		await Promise.allSettled([...this.running].map((c) => c.close()));
		await this.pub.close().catch((err: unknown) => this.logger.warn({ err: errorMessage(err) }, "closing RabbitMQ publisher"));
		await this.conn.close();
	}

	/**
	 * Deletes Q, its retry queues and its DLQ with every message in them (tests, operator clean-up).
	 * Not part of QueueBackend: queues are otherwise never removed by the application.
	 */
	async deleteQueue(queue: string, maxLevels = 20): Promise<void> {
		const names = [queue, deadLetterQueueName(queue)];
		for (let level = 1; level <= maxLevels; level++) {
			names.push(retryQueueName(queue, level));
			for (let bucket = 0; bucket < RETRY_BUCKETS; bucket++) names.push(retryQueueName(queue, level, bucket));
		}
		for (const name of names) await this.conn.queueDelete({ queue: name });
		this.mainDeclared.delete(queue);
		this.forgetRetries(queue);
	}

	/** @internal used by consumers */
	get connection(): Connection {
		return this.conn;
	}

	/** @internal */
	forget(consumer: RabbitConsumer): void {
		this.running.delete(consumer);
	}

	/**
	 * @internal: publishes one message, persistent, mandatory, and waits for the broker's confirm. When the broker
	 * returns it as unroutable (its queue was deleted, or the broker lost its definitions), `redeclare` recreates the
	 * queue and the message is sent once more; a second return is an error. `expirationMs`: the message's own TTL
	 * (a retry's jittered delay).
	 */
	async send(queue: string, body: Buffer, messageId: string, headers: Record<string, string>, redeclare?: () => Promise<void>, expirationMs?: number): Promise<void> {
		for (let round = 1; ; round++) {
			await this.sendConfirmed(queue, body, messageId, headers, expirationMs);
			await nextTurn();
			if (this.returned.size === 0 || !this.returned.delete(messageId)) return;
			if (!redeclare || round > 1) throw new Error(`RabbitMQ returned message ${messageId}: queue '${queue}' does not exist`);
			this.logger.warn({ queue, messageId }, "queue missing on the broker; declaring it again");
			await redeclare();
		}
	}

	/**
	 * Publishes without looking for a return: rabbitmq-client emits basic.return from a setImmediate queued before
	 * the confirm was read, so a return is recorded in `returned` one event-loop turn (nextTurn) after this resolves.
	 */
	private sendConfirmed(queue: string, body: Buffer, messageId: string, headers: Record<string, string>, expirationMs?: number): Promise<void> {
		// timestamp (seconds; rabbitmq-client's default too, set here so it cannot silently go): the broker reports the
		// head message's as head_message_timestamp, the management API's source of a queue's oldest age
		const envelope = { exchange: "", routingKey: queue, durable: true, mandatory: true, contentType: "application/json", messageId, headers, timestamp: Math.floor(Date.now() / 1000) };
		return this.pub.send(expirationMs === undefined ? envelope : { ...envelope, expiration: String(expirationMs) }, body);
	}

	/** Forgets what this process declared for Q and declares Q (and its DLQ) again. */
	private redeclareMain(queue: string): Promise<void> {
		this.mainDeclared.delete(queue);
		return this.declareMain(queue);
	}

	/** @internal: a handler threw; move the message to its next retry level or to the DLQ (confirmed) */
	async failed(queue: string, msg: AsyncMessage, attempt: number, options: ResolvedQueueOptions, err: unknown): Promise<void> {
		const error = errorMessage(err);
		const headers = carriedHeaders(msg.headers);
		const body = Buffer.isBuffer(msg.body) ? msg.body : Buffer.from(JSON.stringify(msg.body ?? null));
		const messageId = msg.messageId ?? randomUUID();
		headers[H.firstPublished] ??= String((msg.timestamp ?? Date.now() / 1000) * 1000);
		if (attempt <= options.retries && !isPermanent(err)) {
			// a consumer may run with more retries than this process declared so far
			if ((this.retryDeclared.get(queue)?.levels ?? 0) < attempt) await this.declare(queue, options);
			headers[H.attempt] = String(attempt + 1);
			headers[H.error] = error;
			// the jittered delay picks the bucket (its TTL is the delay's upper bound) and is the message's own TTL
			const delayMs = jitteredRetryDelay(options.retryDelayMs, attempt);
			const bucket = retryBucket(retryBucketTtls(options.retryDelayMs, attempt), delayMs);
			const retryQueue = await this.retryBucketQueue(queue, attempt, bucket, options.retryDelayMs);
			this.logger.warn({ queue, messageId, attempt, delayMs, err: error }, "queue handler failed; retrying");
			await this.send(
				retryQueue,
				body,
				messageId,
				headers,
				async () => {
					this.forgetRetries(queue);
					await this.declare(queue, options);
					await this.retryBucketQueue(queue, attempt, bucket, options.retryDelayMs);
				},
				delayMs
			);
			return;
		}
		headers[H.attempt] = String(attempt);
		headers[H.error] = error;
		headers[H.failedAt] = String(Date.now());
		headers[H.deadId] = randomUUID();
		this.logger.error({ queue, messageId, attempts: attempt, err: error }, "queue handler failed; message dead-lettered");
		await this.send(deadLetterQueueName(queue), body, messageId, headers, () => this.redeclareMain(queue));
	}

	private assertOpen(): void {
		if (this.closed) throw new Error("queue backend is closed");
	}

	private declareMain(queue: string): Promise<void> {
		let p = this.mainDeclared.get(queue);
		if (!p) {
			p = (async () => {
				await this.conn.queueDeclare(mainQueueDecl(queue));
				await this.conn.queueDeclare(dlqDecl(queue));
			})();
			this.mainDeclared.set(queue, p);
			p.catch(() => this.mainDeclared.delete(queue));
		}
		return p;
	}

	/** Message and consumer counts by a passive declare on its own channel (a missing queue closes that channel). */
	private async peekCounts(queue: string): Promise<{ messageCount: number; consumerCount: number } | null> {
		const ch = await this.conn.acquire();
		try {
			const ok = await ch.queueDeclare({ queue, passive: true });
			return { messageCount: ok.messageCount, consumerCount: ok.consumerCount };
		} catch (err) {
			if ((err as { code?: string }).code === "NOT_FOUND") return null;
			throw err;
		} finally {
			await ch.close().catch(() => undefined);
		}
	}

	private async withChannel<T>(fn: (ch: Awaited<ReturnType<Connection["acquire"]>>) => Promise<T>): Promise<T> {
		const ch = await this.conn.acquire();
		try {
			return await fn(ch);
		} finally {
			// unacked messages go back to their queue
			await ch.close().catch(() => undefined);
		}
	}

	/** Takes up to `limit` messages of Q.dlq without ack (stopping early at one matching `stop`), then gives them back. */
	private async scanDlq<T>(queue: string, limit: number, visit: (msgs: SyncMessage[]) => Promise<T>, stop?: (m: SyncMessage) => boolean): Promise<T> {
		const dlq = deadLetterQueueName(queue);
		if (!(await this.peekCounts(dlq))) return visit([]);
		return this.withChannel(async (ch) => {
			const msgs: SyncMessage[] = [];
			let left = limit;
			while (left > 0) {
				const m = await ch.basicGet({ queue: dlq, noAck: false });
				if (!m) break;
				if (msgs.length === 0) left = Math.min(limit, m.messageCount + 1);
				msgs.push(m);
				left--;
				if (stop?.(m)) break;
			}
			return visit(msgs);
		});
	}
}

/**
 * AMQP's stats with the management API's counters (pure). A queue the API does not list yet (declared within the
 * last sample) has counted nothing; the oldest age is null when nothing waits, the head's age when the broker
 * reports its timestamp, else unknown (quorum queues).
 */
export function withCounters(base: QueueStats, counters: ManagementCounters | null | Error, now: number): QueueStats {
	if (counters instanceof Error) return { ...base, countersError: counters.message };
	const out: QueueStats = { ...base, published: counters?.published ?? 0, settled: counters?.settled ?? 0 };
	if (base.ready === 0) out.oldestAgeMs = null;
	else if (counters?.headTimestampMs !== undefined) out.oldestAgeMs = Math.max(0, now - counters.headTimestampMs);
	return out;
}

function toDeadLetter(queue: string, m: SyncMessage): DeadLetter {
	const headers = m.headers as Headers | undefined;
	return {
		id: deadLetterId(m),
		messageId: m.messageId ?? "",
		queue,
		payload: displayBody(m.body),
		attempts: headerNumber(headers, H.attempt, 1),
		error: headerString(headers, H.error) ?? `dead-lettered by RabbitMQ (${headerString(headers, "x-first-death-reason") ?? "unknown reason"})`,
		failedAt: new Date(headerNumber(headers, H.failedAt, (m.timestamp ?? 0) * 1000)),
		headers: userHeaders(headers)
	};
}

/** One consuming subscription on Q, recreated by its watchdog if rabbitmq-client stops consuming. */
class RabbitConsumer implements Consumer {
	readonly queue: string;
	private readonly backend: RabbitQueueBackend;
	private readonly handler: QueueHandler<unknown>;
	private readonly options: ResolvedQueueOptions;
	private sub: RmqConsumer | undefined;
	private readonly retired = new Set<Promise<void>>();
	private watchdog: NodeJS.Timeout | undefined;
	private stalledChecks = 0;
	private closing: Promise<void> | undefined;

	constructor(backend: RabbitQueueBackend, queue: string, handler: QueueHandler<unknown>, options: ResolvedQueueOptions) {
		this.backend = backend;
		this.queue = queue;
		this.handler = handler;
		this.options = options;
	}

	start(): Promise<void> {
		const sub = this.subscribe();
		this.sub = sub;
		if (this.backend.watchdogMs > 0) {
			this.watchdog = setInterval(() => this.check(), this.backend.watchdogMs);
			this.watchdog.unref();
		}
		return new Promise((resolve) => sub.once("ready", () => resolve()));
	}

	/** connected and subscribed: the broker delivers to this consumer now */
	get consuming(): boolean {
		return !this.closing && this.sub !== undefined && this.backend.connection.ready && this.sub.consumerTag !== "";
	}

	close(): Promise<void> {
		this.closing ??= (async () => {
			if (this.watchdog) clearInterval(this.watchdog);
			// rabbitmq-client's close cancels the subscription, then waits for the handlers in flight before closing
			await Promise.allSettled([this.sub?.close(), ...this.retired]);
			this.backend.forget(this);
		})();
		return this.closing;
	}

	private subscribe(): RmqConsumer {
		const { concurrency, prefetch } = this.options;
		const sub = this.backend.connection.createConsumer(
			{ queue: this.queue, queueOptions: mainQueueDecl(this.queue), qos: { prefetchCount: prefetch }, concurrency, requeue: true },
			(msg) => this.onMessage(msg)
		);
		sub.on("error", (err: unknown) => this.backend.logger.warn({ queue: this.queue, err: errorMessage(err) }, "queue consumer error"));
		sub.on("ready", () => this.backend.logger.debug({ queue: this.queue }, "queue consumer ready"));
		return sub;
	}

	/** The watchdog: connected, yet no consumer tag for 3 checks in a row: replace the subscription. */
	private check(): void {
		if (this.closing || !this.sub) return;
		const stalled = this.backend.connection.ready && this.sub.consumerTag === "";
		this.stalledChecks = stalled ? this.stalledChecks + 1 : 0;
		if (this.stalledChecks < 3) return;
		this.stalledChecks = 0;
		this.backend.logger.warn({ queue: this.queue }, "queue consumer stopped consuming; subscribing again");
		const old = this.sub;
		this.sub = this.subscribe();
		const retiring = old.close().catch(() => undefined);
		this.retired.add(retiring);
		void retiring.finally(() => this.retired.delete(retiring));
	}

	/**
	 * Runs the handler; resolves (ack) when it succeeded or the message was moved to a retry queue or the DLQ. A message
	 * that reaches it once close() has begun goes back to the queue untouched (nack, requeue): rabbitmq-client hands on
	 * a message it had buffered when a handler in flight ends before the broker confirmed the cancel.
	 */
	private async onMessage(msg: AsyncMessage): Promise<ConsumerStatus | undefined> {
		if (this.closing) return ConsumerStatus.REQUEUE;
		const headers = msg.headers as Headers | undefined;
		const attempt = headerNumber(headers, H.attempt, 1);
		const info: DeliveryInfo = {
			queue: this.queue,
			messageId: msg.messageId ?? "",
			attempt,
			redelivered: msg.redelivered,
			publishedAt: new Date(headerNumber(headers, H.firstPublished, (msg.timestamp ?? 0) * 1000)),
			headers: userHeaders(headers)
		};
		let payload: unknown;
		try {
			payload = decodeBody(msg.body);
		} catch (err) {
			// a body that is not JSON can never succeed: straight to the DLQ
			await this.backend.failed(this.queue, msg, this.options.retries + 1, this.options, err);
			return;
		}
		try {
			await this.handler(payload, info);
		} catch (err) {
			// if this throws (broker unreachable), rabbitmq-client nacks with requeue and the message comes back
			await this.backend.failed(this.queue, msg, attempt, this.options, err);
		}
	}
}

/**
 * The queues port: durable hand-off of work between actors (at-least-once; handlers are idempotent).
 * In-process by default; RabbitMQ quorum queues with publisher confirms when AMQP_URL (or an AMQP TRANSPORTER) is set.
 *
 * Semantics both implementations keep:
 * - publish() resolves only once the message is safely held (RabbitMQ: publisher confirm).
 * - a handler's message is acknowledged only after the handler resolves; a throw schedules a retry after
 *   d = retryDelayMs * 4^(attempt-1) with equal jitter (between d/2 and d; RabbitMQ: see rabbitmq.ts); after
 *   `retries` retries it goes to the queue's dead-letter queue ("<queue>.dlq").
 *   A PermanentError (bad input that no retry can fix) goes to the dead-letter queue at once.
 * - a consumer runs at most `concurrency` handlers at once.
 * - dead letters can be listed, inspected, replayed (back onto the queue with attempt 1) and purged.
 */

/**
 * Thrown (or any error with `permanent: true`) by a handler for a message that can never succeed, such as bad
 * input: the message goes to the dead-letter queue at once instead of being retried.
 */
export class PermanentError extends Error {
	readonly permanent = true;
	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = "PermanentError";
	}
}

/** True for errors marked permanent (PermanentError, or `permanent: true` on any error object). */
export function isPermanent(err: unknown): boolean {
	return typeof err === "object" && err !== null && (err as { permanent?: unknown }).permanent === true;
}

export interface DeliveryInfo {
	queue: string;
	/** the message ID: the `key` given to publish, or a generated UUID */
	messageId: string;
	/** 1 for the first delivery, 2 for the first retry, ... */
	attempt: number;
	/** true when the broker says this message was delivered before (e.g. its consumer died) */
	redelivered: boolean;
	publishedAt: Date;
	headers: Record<string, string>;
}

export type QueueHandler<T = unknown> = (payload: T, info: DeliveryInfo) => Promise<void>;

export interface QueueOptions {
	/** handlers running at once in this process (default 1) */
	concurrency?: number;
	/** retries after the first try (default: config QUEUE_RETRIES) */
	retries?: number;
	/** delay before the first retry in ms, jittered between half of it and all of it (default: config QUEUE_RETRY_DELAY_MS) */
	retryDelayMs?: number;
}

export interface PublishOptions {
	/** idempotency key, used as the message ID (e.g. `${batchId}:${chunkNo}`) */
	key?: string;
	headers?: Record<string, string>;
}

export interface DeadLetter {
	/** ID of the dead letter within its DLQ listing (stable until replay/purge) */
	id: string;
	messageId: string;
	queue: string;
	payload: unknown;
	attempts: number;
	/** the last handler error message */
	error: string;
	failedAt: Date;
	headers: Record<string, string>;
}

export interface QueueStats {
	queue: string;
	/** messages waiting (ready) in the main queue */
	ready: number;
	/** messages in the dead-letter queue */
	dead: number;
	/** consumers attached */
	consumers: number;
	/**
	 * What a backend knows beyond depths: messages put on the queue and messages handled or dead-lettered (each once,
	 * however many attempts it took), both counted from some start (rates come from differences between readings;
	 * a counter that drops was reset), and the age of the next message to be delivered (null when none waits).
	 * - in-process: counted since the backend started, exact at each reading;
	 * - RabbitMQ with RABBITMQ_MANAGEMENT_URL: the management API's counters since the queue was declared (or its
	 *   node restarted), sampled every 5 s by the broker; the oldest age only where the broker reports the head's
	 *   timestamp (classic queues; not quorum queues, ours), else absent;
	 * - RabbitMQ without it (AMQP alone): absent.
	 */
	published?: number;
	settled?: number;
	oldestAgeMs?: number | null;
	/** why published/settled/oldestAgeMs are missing though the backend should have them (management API unreachable) */
	countersError?: string;
}

export interface Consumer {
	readonly queue: string;
	/** stops taking messages and waits for handlers in flight to finish */
	close(): Promise<void>;
}

/** One consumer of this process, as the readiness probe sees it. */
export interface ConsumerState {
	queue: string;
	/** true while the broker delivers to it (RabbitMQ: connected and holding a consumer tag; memory: not closed) */
	consuming: boolean;
}

export interface QueueBackend {
	readonly kind: "memory" | "rabbitmq";
	connect(): Promise<void>;
	/** declares the queue and its retry/dead-letter plumbing (idempotent) */
	declare(queue: string, options?: QueueOptions): Promise<void>;
	publish(queue: string, payload: unknown, options?: PublishOptions): Promise<string>;
	/** many messages, each confirmed; resolves once all are held */
	publishMany(queue: string, items: { payload: unknown; options?: PublishOptions }[]): Promise<string[]>;
	consume<T>(queue: string, handler: QueueHandler<T>, options?: QueueOptions): Promise<Consumer>;
	stats(queue: string): Promise<QueueStats>;
	deadLetters: {
		list(queue: string, options?: { limit?: number }): Promise<DeadLetter[]>;
		get(queue: string, id: string): Promise<DeadLetter | null>;
		/** moves the given dead letters (all when ids is omitted) back onto the queue; returns how many */
		replay(queue: string, ids?: string[]): Promise<number>;
		/** drops every dead letter of the queue; returns how many */
		purge(queue: string): Promise<number>;
	};
	/** true when connected and able to publish */
	ping(): Promise<boolean>;
	/** the consumers this process runs and whether each is consuming now (for the readiness probe) */
	consumers(): ConsumerState[];
	/** stops every consumer (waiting for handlers in flight) and closes the connection */
	close(): Promise<void>;
}

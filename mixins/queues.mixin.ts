/**
 * The queues mixin: lets a service consume and send durable work-queue messages (lib/queues) declaratively.
 *
 *   const etl: QueueServiceSchema<Self> = {
 *     name: "etl",
 *     mixins: [queuesMixin],
 *     queues: {
 *       "chunks.ready": { concurrency: 4, retries: 3, async handler(payload: ChunkMsg, info) { ... this.enqueue("chunks.staged", out, { key }) } }
 *     }
 *   };
 *
 * Handlers run with `this` = the service, inside withLogContext({ messageId }) so their log lines carry the message.
 * Consumers start after every other `started` handler of the service (so the service is ready when the first
 * message arrives) and stop before any other `stopped` handler, waiting for handlers in flight: stopping a node
 * never cuts a handler short and never leaves a handler writing into a closed store. The backend is the
 * process's platform queue backend (getPlatform().queues).
 */
import type { Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { Consumer, DeliveryInfo, PublishOptions, QueueBackend } from "../lib/queues/types.ts";
import { getPlatform } from "../lib/platform.ts";
import { withLogContext } from "../lib/log.ts";

/** What the mixin adds to a service. */
export interface QueuesMethods {
	/** publishes one message (confirmed by the broker before it resolves); returns its message ID */
	enqueue(queue: string, payload: unknown, options?: PublishOptions): Promise<string>;
	/** publishes many messages with their confirms in flight together; resolves once all are held */
	enqueueMany(queue: string, items: { payload: unknown; options?: PublishOptions }[]): Promise<string[]>;
}

/** One queue a service consumes. */
export interface QueueBinding<TThis> {
	/** handlers running at once in this process (default 1) */
	concurrency?: number;
	/** retries after the first try (default QUEUE_RETRIES) */
	retries?: number;
	/** delay before the first retry in ms (default QUEUE_RETRY_DELAY_MS) */
	retryDelayMs?: number;
	/** acks on resolve; a throw schedules a retry (then the dead-letter queue). Must be idempotent. */
	handler(this: TThis, payload: unknown, info: DeliveryInfo): Promise<void>;
}

/** `this` inside a service using the mixin: the Moleculer service, the mixin's methods and the service's own members. */
export type QueueService<TOwn = object> = Service & QueuesMethods & TOwn;

/** A service schema with typed `queues` (and `this.enqueue` in their handlers). */
export type QueueServiceSchema<TOwn = object> = ServiceSchema<ServiceSettingSchema, Record<string, unknown>, Record<string, unknown>, QueueService<TOwn>> & {
	queues?: Record<string, QueueBinding<QueueService<TOwn>>>;
	merged?: (schema: QueueServiceSchema<TOwn>) => void;
};

interface QueueState {
	$queueConsumers?: Consumer[];
}

type Lifecycle = (this: Service) => void | Promise<void>;
type MutableSchema = { started?: Lifecycle | Lifecycle[]; stopped?: Lifecycle | Lifecycle[]; queues?: Record<string, QueueBinding<unknown>> };

function list(v: Lifecycle | Lifecycle[] | undefined): Lifecycle[] {
	return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/**
 * The mixin, reading the queue backend from `queues()` (the platform's by default; tests pass their own).
 */
export function createQueuesMixin(queues: () => QueueBackend = () => getPlatform().queues): Partial<ServiceSchema> & { merged(schema: ServiceSchema): void } {
	async function startConsumers(this: Service): Promise<void> {
		const bindings = (this.schema as MutableSchema).queues ?? {};
		const state = this as Service & QueueState;
		const backend = queues();
		state.$queueConsumers = [];
		for (const [queue, binding] of Object.entries(bindings)) {
			const run = (payload: unknown, info: DeliveryInfo): Promise<void> =>
				withLogContext({ messageId: info.messageId }, () => binding.handler.call(this, payload, info));
			const consumer = await backend.consume(queue, run, { concurrency: binding.concurrency, retries: binding.retries, retryDelayMs: binding.retryDelayMs });
			state.$queueConsumers.push(consumer);
			this.logger.info({ queue, concurrency: binding.concurrency ?? 1, backend: backend.kind }, "consuming queue");
		}
	}

	async function stopConsumers(this: Service): Promise<void> {
		const state = this as Service & QueueState;
		const consumers = state.$queueConsumers ?? [];
		state.$queueConsumers = [];
		await Promise.all(consumers.map((c) => c.close()));
	}

	return {
		methods: {
			enqueue(queue: string, payload: unknown, options?: PublishOptions): Promise<string> {
				return queues().publish(queue, payload, options);
			},
			enqueueMany(queue: string, items: { payload: unknown; options?: PublishOptions }[]): Promise<string[]> {
				return queues().publishMany(queue, items);
			}
		},
		// Moleculer runs `started` handlers in order and `stopped` handlers in reverse order: putting ours last in
		// both lists starts consumers after the service's own start-up and stops them before its own shut-down.
		merged(schema: ServiceSchema): void {
			const s = schema as MutableSchema;
			s.started = [...list(s.started).filter((fn) => fn !== startConsumers), startConsumers];
			s.stopped = [...list(s.stopped).filter((fn) => fn !== stopConsumers), stopConsumers];
		}
	};
}

export const queuesMixin = createQueuesMixin();

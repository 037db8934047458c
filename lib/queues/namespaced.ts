/**
 * Queue names on a shared RabbitMQ carry the deployment's NAMESPACE ("paperwork.chunks.ready"), as Moleculer's own
 * transporter queues do, so two deployments (or test runs) on one broker never take each other's work. Services
 * keep using the plain names of config/queues.ts; this wrapper adds and strips the prefix.
 */
import type { Consumer, ConsumerState, DeadLetter, PublishOptions, QueueBackend, QueueHandler, QueueOptions, QueueStats } from "./types.ts";

export function namespaced(inner: QueueBackend, namespace: string): QueueBackend {
	const prefix = `${namespace}.`;
	const to = (q: string) => `${prefix}${q}`;
	const from = (q: string) => (q.startsWith(prefix) ? q.slice(prefix.length) : q);
	const letter = (d: DeadLetter): DeadLetter => ({ ...d, queue: from(d.queue) });
	return {
		kind: inner.kind,
		connect: () => inner.connect(),
		declare: (queue: string, options?: QueueOptions) => inner.declare(to(queue), options),
		publish: (queue: string, payload: unknown, options?: PublishOptions) => inner.publish(to(queue), payload, options),
		publishMany: (queue: string, items: { payload: unknown; options?: PublishOptions }[]) => inner.publishMany(to(queue), items),
		consume: async <T>(queue: string, handler: QueueHandler<T>, options?: QueueOptions): Promise<Consumer> => {
			const c = await inner.consume<T>(to(queue), (payload, info) => handler(payload, { ...info, queue: from(info.queue) }), options);
			return { queue, close: () => c.close() };
		},
		stats: async (queue: string): Promise<QueueStats> => ({ ...(await inner.stats(to(queue))), queue }),
		deadLetters: {
			list: async (queue, options) => (await inner.deadLetters.list(to(queue), options)).map(letter),
			get: async (queue, id) => {
				const d = await inner.deadLetters.get(to(queue), id);
				return d ? letter(d) : null;
			},
			replay: (queue, ids) => inner.deadLetters.replay(to(queue), ids),
			purge: (queue) => inner.deadLetters.purge(to(queue))
		},
		ping: () => inner.ping(),
		consumers: (): ConsumerState[] => inner.consumers().map((c) => ({ ...c, queue: from(c.queue) })),
		close: () => inner.close()
	};
}

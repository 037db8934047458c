/**
 * Start-up recovery: after a crash, unfinished work (batches, chunks, cases) is found from its stored state and
 * put back on its queue. A service gets this by mixing in recoveryMixin and declaring `recover()` in its schema;
 * it runs once the whole node has started (so queues and other local services are ready), and its result (how much
 * work was resumed) is logged. Handlers are idempotent, so re-enqueueing work that was in fact done is harmless.
 */
import type { Service, ServiceSchema } from "moleculer";

export type RecoverFn = (this: Service) => Promise<number | Record<string, number>>;

export const recoveryMixin: Partial<ServiceSchema> = {
	events: {
		async "$broker.started"(this: Service) {
			const recover = (this.schema as { recover?: RecoverFn }).recover;
			if (!recover) return;
			try {
				const resumed = await recover.call(this);
				this.logger.info({ resumed }, "start-up recovery done");
			} catch (err) {
				this.logger.error({ err }, "start-up recovery failed; unfinished work stays as it is until the next start");
			}
		}
	}
};

/**
 * ops: runs on every node (whatever SERVICES says) so operators can ask any node about itself: health, queue
 * depths and dead letters. The REPL commands and the /health, /queues routes call these actions.
 */
import type { Context, ServiceSchema } from "moleculer";
import { getPlatform } from "../lib/platform.ts";
import { checkHealth } from "../lib/health.ts";
import { QUEUE_NAMES } from "../config/queues.ts";
import { badRequest } from "../lib/api/errors.ts";

function knownQueue(queue: string): string {
	if (!(QUEUE_NAMES as string[]).includes(queue)) throw badRequest(`unknown queue '${queue}'; known queues: ${QUEUE_NAMES.join(", ")}`);
	return queue;
}

const opsService: ServiceSchema = {
	name: "ops",
	actions: {
		health: {
			async handler(ctx: Context) {
				const transit = ctx.broker.transit as { connected: boolean } | undefined;
				const report = await checkHealth(getPlatform(), ctx.broker.nodeID, transit ?? null);
				if (report.status !== "ok") (ctx.meta as Record<string, unknown>).$statusCode = 503;
				return report;
			}
		},
		queues: {
			async handler() {
				const { queues } = getPlatform();
				return { queues: await Promise.all(QUEUE_NAMES.map((q) => queues.stats(q))) };
			}
		},
		dlqList: {
			params: { queue: { type: "string" }, limit: { type: "number", convert: true, optional: true, min: 1, max: 1000 } },
			async handler(ctx: Context<{ queue: string; limit?: number }>) {
				const items = await getPlatform().queues.deadLetters.list(knownQueue(ctx.params.queue), { limit: ctx.params.limit ?? 50 });
				return { queue: ctx.params.queue, items };
			}
		},
		dlqShow: {
			params: { queue: { type: "string" }, id: { type: "string" } },
			async handler(ctx: Context<{ queue: string; id: string }>) {
				return getPlatform().queues.deadLetters.get(knownQueue(ctx.params.queue), ctx.params.id);
			}
		},
		dlqReplay: {
			params: { queue: { type: "string" }, ids: { type: "array", items: "string", optional: true } },
			async handler(ctx: Context<{ queue: string; ids?: string[] }>) {
				const replayed = await getPlatform().queues.deadLetters.replay(knownQueue(ctx.params.queue), ctx.params.ids);
				ctx.broker.logger.info({ queue: ctx.params.queue, replayed }, "dead letters replayed");
				return { queue: ctx.params.queue, replayed };
			}
		},
		dlqPurge: {
			params: { queue: { type: "string" } },
			async handler(ctx: Context<{ queue: string }>) {
				const purged = await getPlatform().queues.deadLetters.purge(knownQueue(ctx.params.queue));
				ctx.broker.logger.warn({ queue: ctx.params.queue, purged }, "dead letters purged");
				return { queue: ctx.params.queue, purged };
			}
		}
	}
};

export default opsService;

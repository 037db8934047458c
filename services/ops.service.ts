/**
 * ops: runs on every node (whatever SERVICES says) so operators can ask any node about itself: health, queue
 * depths and dead letters. The REPL commands and the /health, /queues routes call these actions. Health includes
 * the messaging providers' circuits, asked of every notifier node, and the local programs this node's services run.
 */
import type { Context, ServiceSchema } from "moleculer";
import { getPlatform } from "../lib/platform.ts";
import { nodesRunning } from "../lib/nodes.ts";
import { checkHealth, circuitsOf, healthStatusCode, type ProviderCircuit, type ProvidersAnswer } from "../lib/health.ts";
import { checkTools } from "../lib/tools.ts";
import { QUEUE_NAMES } from "../config/queues.ts";
import { badRequest } from "../lib/api/errors.ts";
import { audit } from "../lib/audit/index.ts";
import type { DeadLetter } from "../lib/queues/types.ts";

/** the most dead letters one listing or one "replay all matching" looks at */
const SCAN_LIMIT = 10_000;

function matching(items: DeadLetter[], error: string | undefined): DeadLetter[] {
	if (!error) return items;
	const needle = error.toLowerCase();
	return items.filter((d) => d.error.toLowerCase().includes(needle));
}

function knownQueue(queue: string): string {
	if (!(QUEUE_NAMES as string[]).includes(queue)) throw badRequest(`unknown queue '${queue}'; known queues: ${QUEUE_NAMES.join(", ")}`);
	return queue;
}

/** The configured providers' circuits as every notifier node sees them (each process has its own breakers). */
async function providerCircuits(ctx: Context): Promise<ProviderCircuit[]> {
	const answers = await Promise.all(
		nodesRunning(ctx.broker, "notifier").map((id) =>
			(ctx.call("notifier.providers", {}, { nodeID: id }) as Promise<ProvidersAnswer>).then(
				(answer) => circuitsOf(id, answer),
				(err: Error) => {
					ctx.broker.logger.debug({ node: id, err: err.message }, "a notifier did not say how its providers are");
					return [];
				}
			)
		)
	);
	return answers.flat();
}

const opsService: ServiceSchema = {
	name: "ops",
	actions: {
		health: {
			async handler(ctx: Context) {
				const transit = ctx.broker.transit as { connected: boolean } | undefined;
				const platform = getPlatform();
				const local = ctx.broker.services.map((s) => s.name);
				const report = await checkHealth(platform, ctx.broker.nodeID, transit ?? null, 2000, () => providerCircuits(ctx), () => checkTools(local, platform.config));
				// a port down answers 503; a provider's open circuit makes the node degraded, not unavailable
				if (healthStatusCode(report) === 503) (ctx.meta as Record<string, unknown>).$statusCode = 503;
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
			params: {
				queue: { type: "string" },
				error: { type: "string", optional: true, max: 200, description: "only dead letters whose error contains this text (case-insensitive)" },
				limit: { type: "number", convert: true, optional: true, min: 1, max: 1000 }
			},
			async handler(ctx: Context<{ queue: string; error?: string; limit?: number }>) {
				const limit = ctx.params.limit ?? 50;
				const dl = getPlatform().queues.deadLetters;
				const queue = knownQueue(ctx.params.queue);
				if (!ctx.params.error) return { queue, items: await dl.list(queue, { limit }) };
				const all = matching(await dl.list(queue, { limit: SCAN_LIMIT }), ctx.params.error);
				return { queue, matching: all.length, items: all.slice(0, limit) };
			}
		},
		dlqShow: {
			params: { queue: { type: "string" }, id: { type: "string" } },
			async handler(ctx: Context<{ queue: string; id: string }>) {
				return getPlatform().queues.deadLetters.get(knownQueue(ctx.params.queue), ctx.params.id);
			}
		},
		/** Replays the given ids, or those whose error contains `error`, or the `first` N (of those matching), or all. */
		dlqReplay: {
			params: {
				queue: { type: "string" },
				ids: { type: "array", items: "string", optional: true, max: SCAN_LIMIT },
				error: { type: "string", optional: true, max: 200 },
				first: { type: "number", integer: true, optional: true, min: 1, max: SCAN_LIMIT }
			},
			async handler(ctx: Context<{ queue: string; ids?: string[]; error?: string; first?: number }>) {
				const queue = knownQueue(ctx.params.queue);
				const dl = getPlatform().queues.deadLetters;
				let ids = ctx.params.ids;
				if (ids && (ctx.params.error || ctx.params.first)) throw badRequest("send ids, or error and/or first, not both");
				if (!ids && (ctx.params.error || ctx.params.first)) {
					const chosen = matching(await dl.list(queue, { limit: SCAN_LIMIT }), ctx.params.error);
					ids = chosen.slice(0, ctx.params.first ?? chosen.length).map((d) => d.id);
					if (ids.length === 0) return { queue, replayed: 0 };
				}
				const replayed = await dl.replay(queue, ids);
				ctx.broker.logger.info({ queue, replayed }, "dead letters replayed");
				await audit(ctx, { action: "dlq.replay", target: `queue:${queue}`, items: ids ?? [], count: replayed, details: { ...(ctx.params.error ? { error: ctx.params.error } : {}), ...(ctx.params.first ? { first: ctx.params.first } : {}), ...(ids ? {} : { all: true }) } });
				return { queue, replayed };
			}
		},
		dlqPurge: {
			params: { queue: { type: "string" } },
			async handler(ctx: Context<{ queue: string }>) {
				const queue = knownQueue(ctx.params.queue);
				const purged = await getPlatform().queues.deadLetters.purge(queue);
				ctx.broker.logger.warn({ queue, purged }, "dead letters purged");
				await audit(ctx, { action: "dlq.purge", target: `queue:${queue}`, count: purged });
				return { queue, purged };
			}
		}
	}
};

export default opsService;

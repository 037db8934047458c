/**
 * Operator commands for the Moleculer REPL (`npm run repl`), on top of the built-in ones (nodes, services, call...):
 *   health                         each node's dependencies, up or down
 *   queues                         depth, consumers and dead letters per work queue
 *   dlq list|show|replay|purge <queue> [id]
 *   clients                        the clients and their IDs
 * They call actions, so in distributed mode they reach whichever node runs the service.
 */
import type { ServiceBroker } from "moleculer";
import type { HealthReport } from "./health.ts";
import type { DeadLetter, QueueStats } from "./queues/types.ts";
import type { ClientView } from "./clients.ts";

export interface ReplCommand {
	command: string;
	description: string;
	action(broker: ServiceBroker, args: Record<string, string | undefined>): Promise<void>;
}

type Print = (line: string) => void;

/** Builds the commands; `print` is console output (tests pass their own). */
export function replCommands(print: Print = (l) => process.stdout.write(`${l}\n`)): ReplCommand[] {
	const table = (rows: Record<string, unknown>[]) => {
		if (rows.length === 0) return print("(none)");
		const cols = Object.keys(rows[0]);
		const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? "").length)));
		print(cols.map((c, i) => c.padEnd(widths[i])).join("  "));
		for (const r of rows) print(cols.map((c, i) => String(r[c] ?? "").padEnd(widths[i])).join("  "));
	};
	return [
		{
			command: "health",
			description: "Health of every node: store, objects, queues, search, transporter",
			async action(broker) {
				const nodes = (broker.registry.getNodeList({ onlyAvailable: true, withServices: true }) as unknown as { id: string; services: { name: string }[] }[]).filter((n) => n.services.some((s) => s.name === "ops"));
				const reports = await Promise.all(
					nodes.map((n) => (broker.call("ops.health", {}, { nodeID: n.id }) as Promise<HealthReport>).catch((err: Error) => ({ node: n.id, status: `unreachable: ${err.message}` }) as unknown as HealthReport))
				);
				table(reports.map((r) => ({ node: r.node, status: r.status, ...(r.dependencies ?? {}) })));
			}
		},
		{
			command: "queues",
			description: "Work queues: messages waiting, consumers, dead letters",
			async action(broker) {
				const res = (await broker.call("ops.queues")) as { queues: QueueStats[] };
				table(res.queues.map((q) => ({ queue: q.queue, ready: q.ready, consumers: q.consumers, dead: q.dead })));
			}
		},
		{
			command: "dlq <verb> <queue> [id]",
			description: "Dead letters: dlq list <queue> | dlq show <queue> <id> | dlq replay <queue> [id] | dlq purge <queue>",
			async action(broker, args) {
				const { verb, queue, id } = args;
				switch (verb) {
					case "list": {
						const res = (await broker.call("ops.dlqList", { queue })) as { items: DeadLetter[] };
						table(res.items.map((d) => ({ id: d.id, messageId: d.messageId, attempts: d.attempts, failedAt: new Date(d.failedAt).toISOString(), error: d.error.slice(0, 80) })));
						return;
					}
					case "show": {
						if (!id) return print("usage: dlq show <queue> <id>");
						const d = await broker.call("ops.dlqShow", { queue, id });
						print(d ? JSON.stringify(d, null, 2) : `no dead letter '${id}' in ${queue}.dlq`);
						return;
					}
					case "replay": {
						const res = (await broker.call("ops.dlqReplay", { queue, ...(id ? { ids: [id] } : {}) })) as { replayed: number };
						print(`replayed ${res.replayed} message(s) onto ${queue}`);
						return;
					}
					case "purge": {
						const res = (await broker.call("ops.dlqPurge", { queue })) as { purged: number };
						print(`purged ${res.purged} dead letter(s) of ${queue}`);
						return;
					}
					default:
						print(`unknown verb '${verb}': use list, show, replay or purge`);
				}
			}
		},
		{
			command: "clients",
			description: "Lists clients (id, name, webhook, email)",
			async action(broker) {
				const res = (await broker.call("clients.list", { limit: 500 })) as { items: ClientView[] };
				table(res.items.map((c) => ({ id: c.id, name: c.name, webhook: c.webhook?.url ?? "", email: c.email ?? "", format: c.format ? "custom" : "default" })));
			}
		}
	];
}

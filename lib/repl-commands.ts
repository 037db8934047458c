/**
 * Operator commands for the Moleculer REPL (`npm run repl`), on top of the built-in ones (nodes, services, call...):
 *   health                         each node's dependencies, up or down; the programs a node lacks; the providers' circuits and each notifier's share of their rate limits
 *   queues                         depth, consumers and dead letters per work queue
 *   dlq list|show|replay|purge <queue> [id]
 *   clients                        the clients and their IDs
 *   runs                           dispatch runs with their counts by status and channel
 *   run <from> <to> [clientId]     starts a dispatch run (new loans and the window's pending/failed cases)
 *   case <id>                      a case's history: every attempt and status event
 *   outbox [caseId]                what the sandbox provider would have sent
 *   replay [clientId]              retries every case failed on every channel (and pending welcome letters), reusing their PDFs
 *   billing runs [clientId]        billing runs, newest first, with their counts
 *   billing start <clientId> [date][:nopdf]  starts (or resumes) a client's billing run (statement date, no PDFs)
 *   billing show <runId>           a billing run's counts per step
 *   billing halted <runId> [step]  the loans halted in a run, with the step, reason and attempts
 *   billing resume <runId> [step]  halted loans go on from the step they halted at
 *   refunds [status] [clientId]    refund requests, oldest first: open (default: requested or timed out), timed_out...
 *   passbook <loanId> [clientId] [asOf]  a loan's passbook: totals, instalments and entries
 * They call actions, so in distributed mode they reach whichever node runs the service; reads scoped by client run
 * as an operator's (every client's, or the one named).
 */
import type { ServiceBroker } from "moleculer";
import type { HealthReport, ProviderCircuit } from "./health.ts";
import { nodesRunning } from "./nodes.ts";
import type { DeadLetter, QueueStats } from "./queues/types.ts";
import type { ClientView } from "./clients.ts";
import type { RunView } from "./delivery/types.ts";
import type { Passbook } from "./billing/passbook.ts";
import type { RefundView } from "./billing/refund-requests.ts";
import type { Caller } from "./api/auth.ts";

export interface ReplCommand {
	command: string;
	description: string;
	action(broker: ServiceBroker, args: Record<string, string | undefined>): Promise<void>;
}

type Print = (line: string) => void;

/** Who the REPL calls client-scoped reads as: an operator at the console (lib/api/scope.ts readScope). */
const OPERATOR: { meta: { auth: Caller } } = { meta: { auth: { kind: "operator", sub: "repl", role: "operator" } } };
const REFUND_STATUSES = ["open", "requested", "timed_out", "confirmed", "rejected", "withdrawn"];

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
			description: "Health of every node: store, objects, queues, search, transporter, its local programs; each provider's circuit (state, since when, last failure)",
			async action(broker) {
				const reports = await Promise.all(
					nodesRunning(broker, "ops").map((id) => (broker.call("ops.health", {}, { nodeID: id }) as Promise<HealthReport>).catch((err: Error) => ({ node: id, status: `unreachable: ${err.message}` }) as unknown as HealthReport))
				);
				const withProviders = reports.some((r) => r.dependencies?.providers);
				const withTools = reports.some((r) => r.dependencies?.tools);
				table(reports.map((r) => ({ node: r.node, status: r.status, ...(r.dependencies ?? {}), ...(withProviders ? { providers: r.dependencies?.providers ?? "-" } : {}), ...(withTools ? { tools: r.dependencies?.tools ?? "-" } : {}) })));
				// the programs a node lacks, with what brings them
				const missing = reports.flatMap((r) => (r.tools ?? []).filter((t) => t.state !== "up").map((t) => ({ node: r.node, tool: t.tool, neededBy: t.neededBy, detail: t.detail ?? "" })));
				if (missing.length > 0) {
					print("");
					table(missing);
				}
				// every node reports every notifier's circuits: each (notifier, provider) once
				const circuits = new Map<string, ProviderCircuit>();
				for (const r of reports) for (const c of r.providers ?? []) circuits.set(`${c.node}\u0000${c.provider}`, c);
				if (circuits.size === 0) return;
				print("");
				table(
					[...circuits.values()].map((c) => ({
						notifier: c.node,
						channel: c.channel,
						provider: c.provider,
						circuit: c.state,
						since: c.since ? new Date(c.since).toISOString() : "",
						failures: c.failures,
						lastFailure: c.lastFailure ? `${new Date(c.lastFailure.at).toISOString()} ${c.lastFailure.reason}` : "",
						"rate/s": c.ratePerSecond === undefined ? "" : c.ratePerSecond === 0 ? "no limit" : Math.round(c.ratePerSecond * 10) / 10
					}))
				);
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
		},
		{
			command: "runs",
			description: "Dispatch runs, newest first: status, window, counts by case status and channel",
			async action(broker) {
				const res = (await broker.call("scheduler.listRuns", { limit: 20 })) as { items: RunView[] };
				table(res.items.map(runRow));
			}
		},
		{
			command: "run <from> <to> [clientId]",
			description: "Starts a dispatch run over disbursement dates from..to (YYYY-MM-DD), pending and failed cases included",
			async action(broker, args) {
				const v = (await broker.call("scheduler.createRun", { from: args.from, to: args.to, includePending: true, ...(args.clientId ? { clientId: args.clientId } : {}) })) as RunView;
				print(`run ${v.id} started (${v.from}..${v.to}); follow it with: runs`);
			}
		},
		{
			command: "case <id>",
			description: "A case's history: its status, every attempt (channel, provider, status changes) and every status event",
			async action(broker, args) {
				const c = (await broker.call("notifier.getCase", { id: args.id })) as {
					id: string;
					loanId: string;
					status: string;
					try: number;
					plan?: string[];
					failure?: { code: string; reason: string };
					attempts: { id: string; channel: string; provider: string; providerMessageId?: string; status: string; history: { status: string; at: string | Date; source: string; code?: string }[]; failure?: { code: string } }[];
					events: { attemptId: string; status: string; at: string | Date; applied: boolean }[];
				};
				print(`case ${c.id} (loan ${c.loanId}): ${c.status}, try ${c.try}, plan ${(c.plan ?? []).join(" > ") || "-"}${c.failure ? `, failure ${c.failure.code}: ${c.failure.reason}` : ""}`);
				const rows: Record<string, unknown>[] = [];
				for (const a of c.attempts) for (const h of a.history) rows.push({ attempt: a.id, channel: a.channel, provider: a.provider, status: h.status, at: new Date(h.at).toISOString(), source: h.source, code: h.code ?? "" });
				table(rows);
				print(`${c.events.length} status event(s), ${c.events.filter((e) => !e.applied).length} of them duplicate or late`);
			}
		},
		{
			command: "outbox [caseId]",
			description: "What the sandbox provider would have sent (latest first)",
			async action(broker, args) {
				const res = (await broker.call("notifier.outbox", { limit: 50, ...(args.caseId ? { caseId: args.caseId } : {}) })) as { items: { at: string | Date; caseId: string; attemptId: string; channel: string; outcome: string; subject: string }[] };
				table(res.items.map((o) => ({ at: new Date(o.at).toISOString(), case: o.caseId, attempt: o.attemptId, channel: o.channel, outcome: o.outcome, subject: o.subject })));
			}
		},
		{
			command: "replay [clientId]",
			description: "Retries every case failed on every channel (and those still pending), reusing their stored PDFs",
			async action(broker, args) {
				const v = (await broker.call("scheduler.createRun", { from: "1970-01-01", to: "9999-12-31", includePending: true, retryOnly: true, ...(args.clientId ? { clientId: args.clientId } : {}) })) as RunView;
				print(`replay run ${v.id} started; follow it with: runs`);
			}
		},
		{
			command: "billing <verb> [id] [arg]",
			description: "Billing runs: billing runs [clientId] | billing start <clientId> [YYYY-MM-DD][:nopdf] | billing show <runId> | billing halted <runId> [step] | billing resume <runId> [step]",
			async action(broker, args) {
				const { verb, id, arg } = args;
				switch (verb) {
					case "runs": {
						const res = (await broker.call("billing.listRuns", { limit: 20, ...(id ? { clientId: id } : {}) })) as { items: BillingRunView[] };
						table(res.items.map(billingRunRow));
						return;
					}
					case "start": {
						if (!id) return print("usage: billing start <clientId> [YYYY-MM-DD | nopdf | YYYY-MM-DD:nopdf]");
						const [cycleTo, nopdf] = (arg ?? "").split(":");
						const noPdf = cycleTo === "nopdf" || nopdf === "nopdf";
						const v = (await broker.call("billing.startRun", { clientId: id, ...(cycleTo && cycleTo !== "nopdf" ? { cycleTo } : {}), ...(noPdf ? { pdf: false } : {}) })) as BillingRunView;
						print(`billing run ${v.id} for client ${v.clientId}, cycle ${v.cycle.from}..${v.cycle.to}${v.pdf ? "" : " (no PDFs)"}: ${v.counts.loans} loan(s); follow it with: billing show ${v.id}`);
						return;
					}
					case "show": {
						if (!id) return print("usage: billing show <runId>");
						const v = (await broker.call("billing.getRun", { id })) as BillingRunView;
						print(`billing run ${v.id} (client ${v.clientId}, cycle ${v.cycle.from}..${v.cycle.to}${v.pdf ? "" : ", no PDFs"}): ${v.status}; ${v.counts.loans} loans, ${v.counts.done} done, ${v.counts.active} active, ${v.counts.halted} halted`);
						table(Object.entries(v.counts.steps).map(([step, c]) => ({ step, active: c.active, halted: c.halted, passed: c.passed })));
						return;
					}
					case "halted": {
						if (!id) return print("usage: billing halted <runId> [step]");
						const res = (await broker.call("billing.halted", { id, limit: 100, ...(arg ? { step: arg } : {}) })) as { total: number; items: { loanId: string; step: string; reason?: string; attempts: number; haltedAt?: string | Date }[] };
						table(res.items.map((i) => ({ loan: i.loanId, step: i.step, attempts: i.attempts, haltedAt: i.haltedAt ? new Date(i.haltedAt).toISOString() : "", reason: (i.reason ?? "").slice(0, 100) })));
						if (res.total > res.items.length) print(`(${res.items.length} of ${res.total} shown)`);
						return;
					}
					case "resume": {
						if (!id) return print("usage: billing resume <runId> [step]");
						const res = (await broker.call("billing.resume", { id, ...(arg ? { step: arg } : {}) })) as { resumed: number; run: BillingRunView };
						print(`resumed ${res.resumed} halted loan(s) of billing run ${id}; the run is ${res.run.status}; follow it with: billing show ${id}`);
						return;
					}
					default:
						print(`unknown verb '${verb}': billing runs|start|show|halted|resume`);
				}
			}
		},
		{
			command: "refunds [status] [clientId]",
			description: "Refund requests of suspected duplicate repayments, oldest first: open (default: requested or timed out), requested, timed_out, confirmed, rejected or withdrawn; every client's, or one client's",
			async action(broker, args) {
				const status = args.status ?? "open";
				if (!REFUND_STATUSES.includes(status)) return print(`unknown status '${status}': use ${REFUND_STATUSES.join(", ")}`);
				const res = (await broker.call("billing.refunds", { status, limit: 100, ...(args.clientId ? { clientId: args.clientId } : {}) }, OPERATOR)) as { total: number; items: RefundView[] };
				table(
					res.items.map((r) => ({
						id: r.id,
						client: r.clientId,
						loan: r.loan_id,
						payment: r.payment_ref,
						of: r.of,
						amount: r.amount,
						status: r.status,
						requested: new Date(r.requestedAt).toISOString(),
						notice: r.noticeDelivered ? "delivered" : `not delivered${r.noticeError ? `: ${r.noticeError.slice(0, 60)}` : ""}`
					}))
				);
				if (res.total > res.items.length) print(`(${res.items.length} of ${res.total} shown)`);
			}
		},
		{
			command: "passbook <loanId> [clientId] [asOf]",
			description: "A loan's passbook as of a date (YYYY-MM-DD, default today): totals, instalments and entries; the client is needed only when the loan ID is registered for several",
			async action(broker, args) {
				const pb = (await broker.call("billing.passbook", { loan_id: args.loanId, ...(args.clientId ? { clientId: args.clientId } : {}), ...(args.asOf ? { asOf: args.asOf } : {}) }, OPERATOR)) as Passbook & { client_id: string };
				const t = pb.totals;
				print(`loan ${pb.loan_id} (client ${pb.client_id}) as of ${pb.as_of}: EMI ${pb.emi}; billed ${t.billed}, penalties ${t.penalties}, charges ${t.charges} (GST ${t.tax}), paid ${t.paid}, held ${t.held}, refunded ${t.refunded}, bounced ${t.bounced}, overdue ${t.overdue}, balance ${t.balance}`);
				if (pb.next_due) print(`next due: instalment ${pb.next_due.no} on ${pb.next_due.due_date}, ${pb.next_due.unpaid} of ${pb.next_due.amount} unpaid`);
				table(pb.instalments.map((i) => ({ no: i.no, due: i.due_date, amount: i.amount, paid: i.paid, status: i.status, paid_on: i.paid_on ?? "" })));
				table(pb.entries.map((e) => ({ date: e.date, kind: e.kind, ref: e.ref, debit: e.debit, credit: e.credit, balance: e.balance, amount: e.amount ?? "" })));
			}
		}
	];
}

/** A billing run as billing's actions answer it (lib/billing/runs.ts runCounts). */
interface BillingRunView {
	id: string;
	clientId: string;
	cycle: { from: string; to: string };
	pdf: boolean;
	status: string;
	counts: { loans: number; done: number; active: number; halted: number; steps: Record<string, { active: number; halted: number; passed: number }> };
	createdAt: string | Date;
}

function billingRunRow(r: BillingRunView): Record<string, unknown> {
	return { id: r.id, client: r.clientId, cycle: `${r.cycle.from}..${r.cycle.to}`, pdf: r.pdf ? "yes" : "no", status: r.status, loans: r.counts.loans, done: r.counts.done, active: r.counts.active, halted: r.counts.halted, started: new Date(r.createdAt).toISOString() };
}

function runRow(r: RunView): Record<string, unknown> {
	const statuses = Object.entries(r.byStatus)
		.filter(([, n]) => n)
		.map(([s, n]) => `${s} ${n}`)
		.join(", ");
	const channels = Object.entries(r.byChannel)
		.map(([c, n]) => `${c} ${n}`)
		.join(", ");
	return { id: r.id, kind: r.kind, status: r.status, window: `${r.from}..${r.to}`, cases: r.cases, byStatus: statuses || "-", byChannel: channels || "-", started: new Date(r.startedAt).toISOString() };
}

/**
 * billing: a loan's passbook, the excess-refund saga of suspected duplicate repayments, and billing runs. Thin: the
 * logic is in lib/billing/ and this file wires it to the store, queues and API.
 *
 * - Refunds (lib/billing/refund-requests.ts): when a repayment batch completes (`billing.repayments`), the loans it
 *   touched are checked for suspected duplicates and a refund request is recorded for each new one; the client is
 *   asked over its signed webhook (`billing.refund-notices`, retried by the queue) and answers with
 *   POST /refunds/:id/confirm or /reject; a request unanswered for BILLING_REFUND_TIMEOUT_H times out (alerted once:
 *   `refund_timeout`); a notice still undelivered after its queue's retries is queued again by the refund sweep. A
 *   payment that bounces withdraws its open request (the client told: `refund.withdrawn`), or, its refund already
 *   confirmed, alerts operators once (`refund_bounced`).
 *   Operators read every client's refunds and passbooks (or one client's with ?clientId=).
 * - Runs (lib/billing/run-control.ts, runs.ts, flow.ts): POST /billing/runs enrols a client's loans for a cycle and
 *   moves them through duplicates -> passbook -> statement -> validate -> render -> deliver, one queue per step
 *   (`billing.step.<step>`, chunks of loans); a loan that keeps failing a step halts there and waits for an operator
 *   (GET /billing/runs/:id/halted, POST /billing/runs/:id/resume); many halted at one step alert operators once
 *   (`billing_halted`). Each client's run starts by itself once its cycle has ended (BILLING_SCHEDULE_MS).
 * - Recovery (run-control.ts sweepRuns): at start-up and every minute, the work of runs that made no progress for a
 *   lease is handed on again (every open run's at start-up on the in-process queue, which lost its messages).
 */
import type { Context } from "moleculer";
import { queuesMixin, type QueueServiceSchema, type QueueService } from "../mixins/queues.mixin.ts";
import { recoveryMixin } from "../mixins/recovery.mixin.ts";
import type { DeliveryInfo } from "../lib/queues/types.ts";
import type { Caller } from "../lib/api/auth.ts";
import { dbMixin, type DbMixinThis } from "../mixins/db.mixin.ts";
import { getPlatform } from "../lib/platform.ts";
import { QUEUES } from "../config/queues.ts";
import { clientFor, clientSettings, recordsStore } from "../lib/ingest/context.ts";
import { badRequest, notFound } from "../lib/api/errors.ts";
import { audit } from "../lib/audit/index.ts";
import { withLogContext } from "../lib/log.ts";
import { startSweep, type Sweep } from "../lib/sweep.ts";
import { isoDateIn } from "../lib/validate/dates.ts";
import { parseIsoDate } from "../lib/render/emi.ts";
import { findLoan, findLoanAnyClient, loanPassbook, penaltyRuleOf, REFUND_INDEXES, type RefundDoc } from "../lib/billing/loans.ts";
import type { RefundEvent, RefundStatus } from "../lib/billing/refunds.ts";
import { decideRefund, dueNotices, noticeKey, noticeResendAfterMs, openBatchRefunds, refundStatusQuery, refundView, sendRefundNotice, sweepRefunds, type RefundView } from "../lib/billing/refund-requests.ts";
import { alertBouncedRefunds, alertHalts, alertRefundTimeouts } from "../lib/billing/alerts.ts";
import { createAlertSink } from "../lib/delivery/wiring.ts";
import type { AlertSink } from "../lib/delivery/types.ts";
import { Metrics } from "../lib/metrics.ts";
import type { Passbook } from "../lib/billing/passbook.ts";
import { deliveryStore } from "../lib/delivery/store.ts";
import { pendingStatementCases } from "../lib/billing/deliver.ts";
import { BILLING_STEPS, STEP_QUEUES, ITEM_INDEXES, ITEMS, RUN_INDEXES, RUNS, haltChunk, itemsAfter, runChunk, type BillingItemDoc, type BillingRunDoc, type BillingStep, type Flow } from "../lib/billing/runs.ts";
import { noteProgress, requestedCycle, resumeHalted, runLeaseMs, runView, startDueRuns, startRun, sweepRuns, type RunPorts, type SweepOutcome } from "../lib/billing/run-control.ts";
import { billingFlow, type RunChunk } from "../lib/billing/flow.ts";
import { PASSBOOK_FIELDS, PASSBOOK_INDEX } from "../lib/billing/passbook-search.ts";
import { inScope, readScope } from "../lib/api/scope.ts";
import type { SearchIndex } from "../lib/search/types.ts";
import type { Cycle } from "../lib/billing/statement.ts";

const SWEEP_MS = 60_000;
const REFUND_STATUSES: (RefundStatus | "open")[] = ["requested", "confirmed", "rejected", "timed_out", "withdrawn", "open"];

interface Own {
	sweep?: Sweep;
	scheduleSweep?: Sweep;
	runSweep?: Sweep;
	sweepRefunds(): Promise<number>;
	resendRefundNotices(now?: Date): Promise<number>;
	alerts(): AlertSink;
	alertSink?: AlertSink;
	sweepRuns(atStartup: boolean, now?: Date): Promise<SweepOutcome>;
	reportHalts(run: BillingRunDoc, haltedAt: Partial<Record<BillingStep, number>>): Promise<void>;
	startDueRuns(now?: Date): Promise<string[]>;
	decide(ctx: Context<{ id: string; note?: string }>, event: RefundEvent): Promise<RefundView>;
	runPorts(): Promise<RunPorts>;
	startRun(clientId: string, cycle: Cycle, pdf: boolean, startedBy: string): Promise<BillingRunDoc>;
	runStep(step: BillingStep, payload: unknown, lastTry: boolean): Promise<void>;
	flow(): Flow<RunChunk>;
	billingFlow?: Flow<RunChunk>;
	opened?: Promise<RunPorts>;
	passbookSearch(): Promise<SearchIndex>;
	passbookIndex?: Promise<SearchIndex>;
}

/** What an operator passes to start a run. */
interface StartParams {
	clientId: string;
	/** the statement date (YYYY-MM-DD); default: the client's last statement date up to today */
	cycleTo?: string;
	/** first day of the cycle; default: the day after the previous statement date */
	cycleFrom?: string;
	pdf?: boolean;
}
type Self = QueueService<Own & DbMixinThis>;

const billing: QueueServiceSchema<Own & DbMixinThis> & { recover(this: Self): Promise<Record<string, number>> } = {
	name: "billing",
	mixins: [dbMixin("refunds", { indexes: REFUND_INDEXES }), queuesMixin, recoveryMixin],

	/** At start-up: the work of runs left unfinished by a node that stopped (all of it on the in-process queue). */
	async recover(this: Self) {
		const r = await this.sweepRuns(true);
		return { runs: r.runs.length, items: r.items, cases: r.cases };
	},

	actions: {
		/** GET /loans/:loan_id/passbook?asOf=YYYY-MM-DD (default: today in India); operators: ?clientId=, or the one client the loan is registered for */
		passbook: {
			params: { loan_id: { type: "string", min: 1, max: 64 }, asOf: { type: "string", optional: true, max: 10 }, clientId: { type: "string", optional: true, max: 100 } },
			async handler(this: Self, ctx: Context<{ loan_id: string; asOf?: string; clientId?: string }>): Promise<Passbook & { client_id: string }> {
				const asOf = ctx.params.asOf ?? isoDateIn(new Date(), "Asia/Kolkata");
				try {
					parseIsoDate(asOf, "asOf");
				} catch (err) {
					throw badRequest((err as Error).message, [{ field: "asOf", message: "must be a date YYYY-MM-DD" }]);
				}
				const records = await recordsStore();
				const scope = readScope(ctx, ctx.params.clientId);
				let loan: Awaited<ReturnType<typeof findLoan>> | undefined;
				if (scope) loan = await findLoan(records, scope, ctx.params.loan_id);
				else {
					// an operator without a client: the loan ID is looked up among every client's loans
					const clients = (await ctx.call("clients.list", { limit: 500 })) as { total: number; items: { id: string }[] };
					const found = await findLoanAnyClient(records, ctx.params.loan_id, clients.total <= clients.items.length ? clients.items.map((c) => c.id) : undefined);
					if (found.length > 1) throw badRequest(`loan ${ctx.params.loan_id} is registered for several clients: name one with ?clientId=`, [{ field: "clientId", message: `one of ${found.map((l) => l.client).join(", ")}` }]);
					loan = found[0];
				}
				if (!loan) throw notFound("loan", ctx.params.loan_id);
				const client = await clientSettings(this.broker, loan.client);
				return { client_id: loan.client, ...(await loanPassbook(records, this.adapter, loan.client, loan.data, asOf, penaltyRuleOf(client?.charges))) };
			}
		},

		/**
		 * GET /passbooks?q=&status=&loan_id=&minArrears=&maxArrears=&dueFrom=&dueTo=&sort=&limit=&offset=: the loans'
		 * passbooks as of their last billing run, through the search port; operators: every client's, or ?clientId=
		 */
		searchPassbooks: {
			params: {
				q: { type: "string", optional: true, max: 200 },
				status: { type: "enum", values: ["overdue", "current", "closed"], optional: true },
				loan_id: { type: "string", optional: true, max: 64 },
				minArrears: { type: "number", convert: true, optional: true, min: 0 },
				maxArrears: { type: "number", convert: true, optional: true, min: 0 },
				dueFrom: { type: "string", optional: true, pattern: /^\d{4}-\d{2}-\d{2}$/ },
				dueTo: { type: "string", optional: true, pattern: /^\d{4}-\d{2}-\d{2}$/ },
				sort: { type: "enum", values: ["arrears", "-arrears", "due_date", "-due_date", "loan_id"], optional: true },
				limit: { type: "number", convert: true, optional: true, min: 1, max: 200 },
				offset: { type: "number", convert: true, optional: true, min: 0 },
				clientId: { type: "string", optional: true, max: 100 }
			},
			async handler(this: Self, ctx: Context<{ q?: string; status?: string; loan_id?: string; minArrears?: number; maxArrears?: number; dueFrom?: string; dueTo?: string; sort?: string; limit?: number; offset?: number; clientId?: string }>) {
				const p = ctx.params;
				const clientId = readScope(ctx, p.clientId);
				const filter: Record<string, string> = clientId ? { client: clientId } : {};
				if (p.status) filter.status = p.status;
				if (p.loan_id) filter.loan_id = p.loan_id.trim();
				const range: Record<string, { gte?: string | number; lte?: string | number }> = {};
				if (p.minArrears !== undefined || p.maxArrears !== undefined) range.arrears = { ...(p.minArrears !== undefined ? { gte: p.minArrears } : {}), ...(p.maxArrears !== undefined ? { lte: p.maxArrears } : {}) };
				if (p.dueFrom || p.dueTo) range.due_date = { ...(p.dueFrom ? { gte: p.dueFrom } : {}), ...(p.dueTo ? { lte: p.dueTo } : {}) };
				const limit = p.limit ?? 20;
				const offset = p.offset ?? 0;
				const search = await this.passbookSearch();
				const res = await search.search(PASSBOOK_INDEX, { filter, range, text: p.q?.trim() || undefined, sort: p.sort ?? "-arrears", limit, offset });
				return { total: res.total, limit, offset, items: res.hits.map((h) => h.fields) };
			}
		},

		/** GET /refunds?status=&loan_id=&limit=&offset= (oldest request first; status=open: requested or timed out); operators: every client's, or ?clientId= */
		refunds: {
			params: {
				status: { type: "enum", values: REFUND_STATUSES, optional: true },
				loan_id: { type: "string", optional: true, max: 64 },
				limit: { type: "number", convert: true, optional: true, min: 1, max: 500 },
				offset: { type: "number", convert: true, optional: true, min: 0 },
				clientId: { type: "string", optional: true, max: 100 }
			},
			async handler(this: Self, ctx: Context<{ status?: RefundStatus | "open"; loan_id?: string; limit?: number; offset?: number; clientId?: string }>) {
				const scope = readScope(ctx, ctx.params.clientId);
				const query: Record<string, unknown> = { ...(scope ? { client: scope } : {}), ...refundStatusQuery(ctx.params.status), ...(ctx.params.loan_id ? { loan_id: ctx.params.loan_id } : {}) };
				const limit = ctx.params.limit ?? 50;
				const offset = ctx.params.offset ?? 0;
				const [rows, total] = await Promise.all([this.adapter.find({ query, sort: "requestedAt", limit, offset }), this.adapter.count({ query })]);
				return { total, limit, offset, items: (rows as RefundDoc[]).map(refundView) };
			}
		},

		/** GET /refunds/:id (a client: its own; an operator: any, or one of ?clientId=) */
		refund: {
			params: { id: { type: "string" }, clientId: { type: "string", optional: true, max: 100 } },
			async handler(this: Self, ctx: Context<{ id: string; clientId?: string }>): Promise<RefundView> {
				const scope = readScope(ctx, ctx.params.clientId);
				const r = (await this.adapter.findById(ctx.params.id)) as RefundDoc | null;
				if (!r || !inScope(scope, r.client)) throw notFound("refund", ctx.params.id);
				return refundView(r);
			}
		},

		/** POST /refunds/:id/confirm {note?}: the client refunded the borrower */
		confirmRefund: {
			params: { id: { type: "string" }, note: { type: "string", optional: true, max: 500 } },
			handler(this: Self, ctx: Context<{ id: string; note?: string }>) {
				return this.decide(ctx, "confirm");
			}
		},

		/** POST /billing/runs {clientId, cycleTo?, cycleFrom?, pdf?}: bills a client's active loans for a cycle (the same cycle again: the same run, resumed) */
		startRun: {
			params: {
				clientId: { type: "string", min: 1, max: 64 },
				cycleTo: { type: "string", optional: true, max: 10 },
				cycleFrom: { type: "string", optional: true, max: 10 },
				pdf: { type: "boolean", optional: true, convert: true }
			},
			async handler(this: Self, ctx: Context<StartParams>) {
				const p = ctx.params;
				const client = await clientSettings(this.broker, p.clientId);
				if (!client) throw notFound("client", p.clientId);
				const cycle = requestedCycle(client, isoDateIn(new Date(), "Asia/Kolkata"), p.cycleTo, p.cycleFrom);
				const auth = (ctx.meta as { auth?: Caller }).auth;
				const run = await this.startRun(p.clientId, cycle, p.pdf ?? true, auth?.kind === "operator" ? `operator:${auth.sub}` : "internal");
				await audit(ctx, { action: "billing.run", target: `billing-run:${run._id}`, items: [run._id], count: 1, clientId: p.clientId, details: { cycleFrom: cycle.from, cycleTo: cycle.to, pdf: p.pdf ?? true } });
				(ctx.meta as Record<string, unknown>).$statusCode = 202;
				return runView((await this.runPorts()).items, run);
			}
		},

		/** GET /billing/runs?clientId=&limit=&offset= (newest first) */
		listRuns: {
			params: { clientId: { type: "string", optional: true, max: 64 }, limit: { type: "number", convert: true, optional: true, min: 1, max: 200 }, offset: { type: "number", convert: true, optional: true, min: 0 } },
			async handler(this: Self, ctx: Context<{ clientId?: string; limit?: number; offset?: number }>) {
				const { runs, items } = await this.runPorts();
				const query = ctx.params.clientId ? { clientId: ctx.params.clientId } : {};
				const limit = ctx.params.limit ?? 20;
				const offset = ctx.params.offset ?? 0;
				const [rows, total] = await Promise.all([runs.find({ query, sort: "-createdAt", limit, offset }), runs.count({ query })]);
				return { total, limit, offset, items: await Promise.all((rows as BillingRunDoc[]).map((r) => runView(items, r))) };
			}
		},

		/** GET /billing/runs/:id: status and live counts per step */
		getRun: {
			params: { id: { type: "string" } },
			async handler(this: Self, ctx: Context<{ id: string }>) {
				const { runs, items } = await this.runPorts();
				const run = (await runs.findById(ctx.params.id)) as BillingRunDoc | null;
				if (!run) throw notFound("billing run", ctx.params.id);
				return runView(items, run);
			}
		},

		/** GET /billing/runs/:id/halted?step=&reason=&limit=&offset=: halted loans with the step, reason and input (reason: a case-insensitive part of it) */
		halted: {
			params: {
				id: { type: "string" },
				step: { type: "enum", values: [...BILLING_STEPS], optional: true },
				reason: { type: "string", optional: true, min: 1, max: 200 },
				limit: { type: "number", convert: true, optional: true, min: 1, max: 1000 },
				offset: { type: "number", convert: true, optional: true, min: 0 }
			},
			async handler(this: Self, ctx: Context<{ id: string; step?: BillingStep; reason?: string; limit?: number; offset?: number }>) {
				const { items } = await this.runPorts();
				const query = { runId: ctx.params.id, status: "halted", ...(ctx.params.step ? { step: ctx.params.step } : {}) };
				const reason = ctx.params.reason?.trim() ? { search: ctx.params.reason.trim(), searchFields: "halted.reason" } : {};
				const limit = ctx.params.limit ?? 100;
				const offset = ctx.params.offset ?? 0;
				const [rows, total] = await Promise.all([items.find({ query, ...reason, sort: "loanId", limit, offset }), items.count({ query, ...reason })]);
				return { total, limit, offset, items: (rows as BillingItemDoc[]).map((i) => ({ loanId: i.loanId, step: i.step, reason: i.halted?.reason, input: i.halted?.input, haltedAt: i.halted?.at, attempts: i.attempts })) };
			}
		},

		/** POST /billing/runs/:id/resume {step?, loanIds?}: halted loans go on from the step they halted at */
		resume: {
			params: { id: { type: "string" }, step: { type: "enum", values: [...BILLING_STEPS], optional: true }, loanIds: { type: "array", items: "string", optional: true, max: 10000 } },
			async handler(this: Self, ctx: Context<{ id: string; step?: BillingStep; loanIds?: string[] }>) {
				const ports = await this.runPorts();
				const run = (await ports.runs.findById(ctx.params.id)) as BillingRunDoc | null;
				if (!run) throw notFound("billing run", ctx.params.id);
				const resumed = await resumeHalted(ports, run, { ...(ctx.params.step ? { step: ctx.params.step } : {}), ...(ctx.params.loanIds ? { loanIds: ctx.params.loanIds } : {}) });
				const auth = (ctx.meta as { auth?: Caller }).auth;
				this.logger.info({ runId: run._id, resumed, by: auth?.kind === "operator" ? auth.sub : undefined }, "halted loans resumed");
				await audit(ctx, { action: "billing.resume", target: `billing-run:${run._id}`, items: ctx.params.loanIds ?? [], count: resumed, clientId: run.clientId, details: { ...(ctx.params.step ? { step: ctx.params.step } : {}) } });
				return { resumed, run: await runView(ports.items, run) };
			}
		},

		/** POST /refunds/:id/reject {note?}: no refund; the payment becomes the borrower's credit */
		rejectRefund: {
			params: { id: { type: "string" }, note: { type: "string", optional: true, max: 500 } },
			handler(this: Self, ctx: Context<{ id: string; note?: string }>) {
				return this.decide(ctx, "reject");
			}
		}
	},

	queues: {
		// one queue per run step, each carrying chunks of loans; a chunk with failed loans is retried by its queue
		...Object.fromEntries(
			BILLING_STEPS.map((step) => [
				STEP_QUEUES[step],
				{
					concurrency: step === "render" || step === "deliver" ? 4 : 2,
					async handler(this: Self, payload: unknown, info: DeliveryInfo) {
						await this.runStep(step, payload, info.attempt > getPlatform().config.queues.retries);
					}
				}
			])
		),

		/** A repayment batch completed: check the loans it touched for suspected duplicates. */
		[QUEUES.billingRepayments]: {
			concurrency: 2,
			async handler(this: Self, payload: unknown) {
				const { batchId, clientId } = payload as { batchId: string; clientId: string };
				await withLogContext({ batchId, clientId }, async () => {
					const { created, withdrawn, flagged, loans, pending } = await openBatchRefunds(await recordsStore(), this.adapter, clientId, batchId, getPlatform().config.billing.duplicateWindowSeconds);
					// a notice for every request not yet delivered (also those created by a try that died before this line), and
					// the withdrawals the client must hear of (a try that died here leaves them to the sweep)
					const told = withdrawn.filter((r) => r.notice?.deliveredAt);
					await this.enqueueMany(QUEUES.billingRefundNotices, [...pending, ...told].map((r) => ({ payload: { refundId: r._id }, options: { key: noticeKey(r) } })));
					if (created) this.logger.warn({ created, loans }, "suspected duplicate repayments: refund requests opened");
					alertBouncedRefunds(this.alerts(), flagged);
					if (withdrawn.length) this.logger.warn({ withdrawn: withdrawn.length, refundIds: withdrawn.map((r) => r._id).slice(0, 20) }, "refund requests withdrawn: their payment, or the one it repeats, bounced");
				});
			}
		},

		/** Tells the client about one refund request over its signed webhook (the queue retries a failure). */
		[QUEUES.billingRefundNotices]: {
			concurrency: 4,
			async handler(this: Self, payload: unknown) {
				const { refundId } = payload as { refundId: string };
				const { config } = getPlatform();
				const outcome = await sendRefundNotice(this.adapter, refundId, (id) => clientSettings(this.broker, id), { publicUrl: config.http.publicUrl, timeoutMs: config.ingest.webhookTimeoutMs });
				if (outcome === "no-webhook") this.logger.info({ refundId }, "refund request open but the client has no webhook: it waits for POST /refunds/:id/confirm or /reject");
			}
		}
	},

	methods: {
		runPorts(this: Self): Promise<RunPorts> {
			this.opened ??= (async () => {
				const { store } = getPlatform();
				const runs = store.adapter(RUNS);
				const items = store.adapter(ITEMS);
				await Promise.all([runs.connect(), items.connect()]);
				await Promise.all([runs.ensureIndexes(RUN_INDEXES), items.ensureIndexes(ITEM_INDEXES)]);
				return {
					runs,
					items,
					records: () => recordsStore(),
					enqueue: async (step, runId, chunks) => {
						await this.enqueueMany(STEP_QUEUES[step], chunks.map((ids) => ({ payload: { runId, ids } })));
					},
					rehandCases: async (run, staleBefore) =>
						pendingStatementCases(
							{
								delivery: await deliveryStore(store),
								documents: store.adapter("documents"),
								rendered: async (cases) => void (await this.enqueueMany(QUEUES.casesRendered, cases.map((i) => ({ payload: i.payload, options: { key: i.key } }))))
							},
							items,
							run,
							staleBefore
						)
				};
			})();
			return this.opened;
		},

		/** The run of a client's cycle, created once, with its loans enrolled and handed on (lib/billing/run-control.ts). */
		async startRun(this: Self, clientId: string, cycle: Cycle, pdf: boolean, startedBy: string): Promise<BillingRunDoc> {
			const { run, created } = await startRun(await this.runPorts(), clientId, cycle, pdf, startedBy);
			if (created) this.logger.info({ runId: run._id, clientId, cycle, startedBy }, "billing run started");
			return run;
		},

		/** One chunk of one step: apply it (and the inline steps after it), hand the loans that went on to their steps, and let the queue retry the ones that failed. */
		async runStep(this: Self, step: BillingStep, payload: unknown, lastTry: boolean): Promise<void> {
			const { runId, ids } = payload as { runId: string; ids: string[] };
			const ports = await this.runPorts();
			const run = (await ports.runs.findById(runId)) as BillingRunDoc | null;
			if (!run || !Array.isArray(ids)) return;
			await withLogContext({ runId, clientId: run.clientId }, async () => {
				await noteProgress(ports, run);
				try {
					const out = await runChunk(ports.items, run, step, ids, this.flow(), lastTry);
					// the chunk's items now at a later step (moved by this try or an earlier one that died before handing on)
					for (const [at, list] of await itemsAfter(ports.items, step, ids)) await ports.enqueue(at, run._id, [list]);
					await this.reportHalts(run, out.haltedAt);
					if (out.retry.length) throw new Error(`${out.retry.length} loan(s) failed at ${step}; they are retried (the others went on)`);
				} catch (err) {
					if (!lastTry) throw err;
					// the last try failed as a whole (a read, a write, a hand-on): the chunk's loans still at the step halt
					// there with the reason, for an operator to resume, before the message is dead-lettered. Should this
					// write fail too, they stay active and the run sweep hands them on once the run has stalled.
					const halted = await haltChunk(ports.items, step, ids, `the ${step} step failed on its last try: ${(err as Error).message}`);
					if (halted.length) await this.reportHalts(run, { [step]: halted.length });
					throw err;
				}
			});
		},

		/** Logs a chunk's halts, and alerts operators once per step when many loans of the run halted there (lib/billing/alerts.ts). */
		async reportHalts(this: Self, run: BillingRunDoc, haltedAt: Partial<Record<BillingStep, number>>): Promise<void> {
			for (const [at, n] of Object.entries(haltedAt) as [BillingStep, number][]) this.logger.warn({ step: at, halted: n }, "loans halted at a billing step");
			await alertHalts(await this.runPorts(), this.alerts(), run, haltedAt);
		},

		/**
		 * Hands on again the work of stalled runs (lib/billing/run-control.ts sweepRuns): at start-up on the in-process
		 * queue every open run's, else the runs without progress for the lease (runLeaseMs: 10 min, or more with long retries).
		 */
		async sweepRuns(this: Self, atStartup: boolean, now = new Date()): Promise<SweepOutcome> {
			const { queues, config } = getPlatform();
			const out = await sweepRuns(await this.runPorts(), { leaseMs: runLeaseMs(config.queues), all: atStartup && queues.kind === "memory", now });
			if (out.runs.length) this.logger.warn({ runIds: out.runs, items: out.items, cases: out.cases }, "billing runs without progress: their loans and statement cases handed on again");
			return out;
		},

		/** The search port with the passbooks' index declared (once). */
		passbookSearch(this: Self): Promise<SearchIndex> {
			this.passbookIndex ??= (async () => {
				const { search } = getPlatform();
				await search.ensureIndex(PASSBOOK_INDEX, PASSBOOK_FIELDS);
				return search;
			})();
			this.passbookIndex.catch(() => (this.passbookIndex = undefined));
			return this.passbookIndex;
		},

		flow(this: Self): Flow<RunChunk> {
			const { store, config } = getPlatform();
			this.billingFlow ??= billingFlow({
				records: () => recordsStore(),
				refunds: this.adapter,
				client: (clientId) => clientSettings(this.broker, clientId),
				duplicateWindowSeconds: config.billing.duplicateWindowSeconds,
				render: async (clientId, template, language, data) =>
					(await this.broker.call("renderer.render", { template, language, data }, { meta: { auth: { kind: "client", clientId, keyId: "billing" } } })) as { id: string; pages: number; bytes: number },
				// twice the tabs of a renderer: a chunk keeps one renderer busy while its results come back
				renderInFlight: 2 * config.render.concurrency,
				delivery: async () => ({ delivery: await deliveryStore(store), documents: store.adapter("documents") }),
				indexPassbooks: async (docs) => (await this.passbookSearch()).index(PASSBOOK_INDEX, docs),
				noticeRefunds: async (ids) => {
					await this.enqueueMany(QUEUES.billingRefundNotices, ids.map((id) => ({ payload: { refundId: id }, options: { key: `${id}:notice` } })));
					this.logger.warn({ created: ids.length }, "suspected duplicate repayments found by a billing run: refund requests opened");
				},
				handOnCases: async (cases) => {
					await this.enqueueMany(QUEUES.casesRendered, cases.map((i) => ({ payload: i.payload, options: { key: i.key } })));
				}
			});
			return this.billingFlow;
		},

		async decide(this: Self, ctx: Context<{ id: string; note?: string }>, event: RefundEvent): Promise<RefundView> {
			const { view, changed } = await decideRefund(this.adapter, ctx.params.id, clientFor(ctx, undefined), event, ctx.params.note);
			if (changed) this.logger.info({ refundId: view.id, status: view.status }, "refund decided by the client");
			return view;
		},

		/** Starts each client's run of its latest ended cycle, once (lib/billing/run-control.ts startDueRuns); returns their IDs. */
		async startDueRuns(this: Self, now = new Date()): Promise<string[]> {
			const started = await startDueRuns(
				await this.runPorts(),
				isoDateIn(now, "Asia/Kolkata"),
				async (offset, limit) => ((await this.broker.call("clients.list", { limit, offset })) as { items: { id: string; billing?: { statementDay: number } }[] }).items,
				(clientId, cycle, reason) => this.logger.warn({ clientId, cycle, reason }, "billing run of the client's cycle not started: an operator should start it with a cycleFrom that does not overlap")
			);
			for (const run of started) this.logger.info({ runId: run._id, clientId: run.clientId, cycle: run.cycle }, "billing run started for the client's cycle");
			return started.map((r) => r._id);
		},

		/** The refund sweep: marks requests unanswered for too long as timed out (alerting once per refund) and queues undelivered notices again. Returns how many timed out. */
		async sweepRefunds(this: Self): Promise<number> {
			const hours = getPlatform().config.billing.refundTimeoutHours;
			const marked = await sweepRefunds(this.adapter, hours * 3600_000);
			alertRefundTimeouts(this.alerts(), marked, hours);
			await this.resendRefundNotices();
			return marked.length;
		},

		/** Queues again the notices of open requests not delivered (lib/billing/refund-requests.ts dueNotices). Returns how many. */
		async resendRefundNotices(this: Self, now = new Date()): Promise<number> {
			const due = await dueNotices(this.adapter, noticeResendAfterMs(getPlatform().config.queues), now);
			await this.enqueueMany(QUEUES.billingRefundNotices, due.map((r) => ({ payload: { refundId: r._id }, options: { key: noticeKey(r) } })));
			if (due.length) this.logger.info({ refunds: due.length }, "refund notices not delivered yet queued again");
			return due.length;
		},

		/** The operator alert sink (lib/alerts: logged and counted; mailed when ALERT_EMAILS and SMTP_URL are set), made once. */
		alerts(this: Self): AlertSink {
			const { config, logger, store } = getPlatform();
			this.alertSink ??= createAlertSink(config, logger, store, new Metrics(this.broker));
			return this.alertSink;
		}
	},

	started(this: Self) {
		this.sweep = startSweep(SWEEP_MS, () => this.sweepRefunds(), (err) => this.logger.warn({ err: err.message }, "refund sweep failed"));
		// each client's cycle is billed once it has ended: looked for every BILLING_SCHEDULE_MS
		const every = getPlatform().config.billing.scheduleMs;
		if (every > 0) this.scheduleSweep = startSweep(every, () => this.startDueRuns(), (err) => this.logger.warn({ err: err.message }, "billing schedule failed"));
		// runs whose loans or statement cases stopped moving (a lost message, a node that died): handed on again
		this.runSweep = startSweep(SWEEP_MS, () => this.sweepRuns(false), (err) => this.logger.warn({ err: err.message }, "billing run sweep failed"));
	},

	async stopped(this: Self) {
		this.sweep?.stop();
		this.scheduleSweep?.stop();
		this.runSweep?.stop();
		await this.alertSink?.close();
	}
};

export default billing;

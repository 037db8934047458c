/**
 * billing: a loan's passbook, and the excess-refund saga of suspected duplicate repayments.
 *
 * When a repayment batch completes, the batches actor hands it on (`billing.repayments`); billing checks every loan
 * the batch touched for suspected duplicates (lib/billing/duplicates.ts) and records a refund request for each new
 * one (unique per client and payment reference), then asks the client over its signed webhook
 * (`refund.requested`, one `billing.refund-notices` message per refund, retried by the queue). The client answers
 * with POST /refunds/:id/confirm or /reject; a request unanswered for BILLING_REFUND_TIMEOUT_H is marked timed out
 * and operators are alerted once.
 *
 * Billing runs (lib/billing/runs.ts): POST /billing/runs enrols a client's active loans for a cycle and moves them
 * through duplicates -> passbook -> statement -> validate -> render -> deliver, one queue per step
 * (`billing.step.<step>`, chunks of loans); a loan that keeps failing a step halts there and waits for an operator
 * (GET /billing/runs/:id/halted, POST /billing/runs/:id/resume). The logic is in lib/billing/; this file wires it
 * to the store, queues and API.
 */
import type { Context } from "moleculer";
import { queuesMixin, type QueueServiceSchema, type QueueService } from "../mixins/queues.mixin.ts";
import type { DeliveryInfo } from "../lib/queues/types.ts";
import type { Caller } from "../lib/api/auth.ts";
import { isDuplicateKeyError } from "../lib/store/errors.ts";
import { dbMixin, type DbMixinThis } from "../mixins/db.mixin.ts";
import { getPlatform } from "../lib/platform.ts";
import { QUEUES } from "../config/queues.ts";
import { clientFor, clientSettings, recordsStore } from "../lib/ingest/context.ts";
import { signBody } from "../lib/ingest/report.ts";
import { badRequest, conflict, notFound } from "../lib/api/errors.ts";
import { audit } from "../lib/audit/index.ts";
import { withLogContext } from "../lib/log.ts";
import { startSweep, type Sweep } from "../lib/sweep.ts";
import { isoDateIn } from "../lib/validate/dates.ts";
import { parseIsoDate } from "../lib/render/emi.ts";
import { findLoan, loadLoanChunk, loanPassbook, loansOf, openRefunds, passbookFrom, penaltyRuleOf, REFUND_INDEXES, type LoanChunk, type RefundDoc } from "../lib/billing/loans.ts";
import type { PenaltyRule } from "../lib/billing/passbook.ts";
import { applyRefundEvent, isRefundOverdue, type RefundEvent, type RefundStatus } from "../lib/billing/refunds.ts";
import type { Passbook } from "../lib/billing/passbook.ts";
import type { ClientDoc } from "../lib/clients.ts";
import type { RecordDoc } from "../lib/ingest/register.ts";
import { deliverStatement } from "../lib/billing/deliver.ts";
import { deliveryStore } from "../lib/delivery/store.ts";
import type { Channel } from "../lib/delivery/provider.ts";
import { BILLING_STEPS, CHUNK_ITEMS, STEP_QUEUES, nextStep, HaltError, ITEM_INDEXES, ITEMS, RUN_INDEXES, RUNS, itemId, runChunk, runCounts, type BillingItemDoc, type BillingRunDoc, type BillingStep, type Step } from "../lib/billing/runs.ts";
import { computeStatement, cycleEndingBy, statementDocumentData, validateStatement, type Cycle, type Statement } from "../lib/billing/statement.ts";
import { newId } from "../lib/store/ids.ts";
import type { StoreAdapter } from "../lib/store/types.ts";
import type { LoanRecord } from "../lib/records/index.ts";

const SWEEP_MS = 60_000;
const REFUND_STATUSES: RefundStatus[] = ["requested", "confirmed", "rejected", "timed_out"];

interface Own {
	sweep?: Sweep;
	scheduleSweep?: Sweep;
	sweepRefunds(): Promise<number>;
	startDueRuns(now?: Date): Promise<string[]>;
	decide(ctx: Context<{ id: string; note?: string }>, event: RefundEvent): Promise<RefundView>;
	runsStore(): Promise<{ runs: StoreAdapter; items: StoreAdapter }>;
	startRun(clientId: string, cycle: Cycle, pdf: boolean, startedBy: string): Promise<BillingRunDoc>;
	handOn(run: BillingRunDoc, step: BillingStep, ids?: string[]): Promise<number>;
	runStep(step: BillingStep, payload: unknown, lastTry: boolean): Promise<void>;
	stepFn(step: BillingStep): Step<RunChunk>;
	runView(run: BillingRunDoc): Promise<Record<string, unknown>>;
	/** delivers a loan's statement (SMS with the amount due; the PDF by the client's plan) */
	deliverStatement(item: BillingItemDoc, run: BillingRunDoc, loan: LoanRecord, statement: Statement, documentId: string | undefined): Promise<Record<string, unknown>>;
	opened?: Promise<{ runs: StoreAdapter; items: StoreAdapter }>;
}

/** What a run step reads once per chunk. */
type RunChunk = LoanChunk & { penalty: PenaltyRule | null };

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

/** What a client sees of a refund request. */
export interface RefundView {
	id: string;
	loan_id: string;
	payment_ref: string;
	of: string;
	amount: string;
	paid_at: string;
	status: RefundStatus;
	requestedAt: string;
	history: RefundDoc["history"];
	noticeDelivered: boolean;
}

/** The client's statement day of the month (settings `billing.statementDay`, default the 1st). */
function statementDayOf(client: ClientDoc): number {
	const d = (client.billing as { statementDay?: unknown } | undefined)?.statementDay;
	return typeof d === "number" && Number.isInteger(d) && d >= 1 && d <= 31 ? d : 1;
}

function toView(r: RefundDoc): RefundView {
	return { id: r._id, loan_id: r.loan_id, payment_ref: r.payment_ref, of: r.of, amount: r.amount, paid_at: r.paid_at, status: r.status, requestedAt: r.requestedAt, history: r.history, noticeDelivered: Boolean(r.notice?.deliveredAt) };
}

const billing: QueueServiceSchema<Own & DbMixinThis> = {
	name: "billing",
	mixins: [dbMixin("refunds", { indexes: REFUND_INDEXES }), queuesMixin],

	actions: {
		/** GET /loans/:loan_id/passbook?asOf=YYYY-MM-DD (default: today in India) */
		passbook: {
			params: { loan_id: { type: "string", min: 1, max: 64 }, asOf: { type: "string", optional: true, max: 10 }, clientId: { type: "string", optional: true, internal: true } },
			async handler(this: Self, ctx: Context<{ loan_id: string; asOf?: string; clientId?: string }>): Promise<Passbook> {
				const clientId = clientFor(ctx, ctx.params.clientId);
				const asOf = ctx.params.asOf ?? isoDateIn(new Date(), "Asia/Kolkata");
				try {
					parseIsoDate(asOf, "asOf");
				} catch (err) {
					throw badRequest((err as Error).message, [{ field: "asOf", message: "must be a date YYYY-MM-DD" }]);
				}
				const records = await recordsStore();
				const loan = await findLoan(records, clientId, ctx.params.loan_id);
				if (!loan) throw notFound("loan", ctx.params.loan_id);
				const client = await clientSettings(this.broker, clientId);
				return loanPassbook(records, this.adapter, clientId, loan.data, asOf, penaltyRuleOf(client?.charges));
			}
		},

		/** GET /refunds?status=&loan_id=&limit=&offset= (oldest request first) */
		refunds: {
			params: {
				status: { type: "enum", values: REFUND_STATUSES, optional: true },
				loan_id: { type: "string", optional: true, max: 64 },
				limit: { type: "number", convert: true, optional: true, min: 1, max: 500 },
				offset: { type: "number", convert: true, optional: true, min: 0 },
				clientId: { type: "string", optional: true, internal: true }
			},
			async handler(this: Self, ctx: Context<{ status?: RefundStatus; loan_id?: string; limit?: number; offset?: number; clientId?: string }>) {
				const client = clientFor(ctx, ctx.params.clientId);
				const query: Record<string, unknown> = { client, ...(ctx.params.status ? { status: ctx.params.status } : {}), ...(ctx.params.loan_id ? { loan_id: ctx.params.loan_id } : {}) };
				const limit = ctx.params.limit ?? 50;
				const offset = ctx.params.offset ?? 0;
				const [rows, total] = await Promise.all([this.adapter.find({ query, sort: "requestedAt", limit, offset }), this.adapter.count({ query })]);
				return { total, limit, offset, items: (rows as RefundDoc[]).map(toView) };
			}
		},

		/** GET /refunds/:id */
		refund: {
			params: { id: { type: "string" } },
			async handler(this: Self, ctx: Context<{ id: string }>): Promise<RefundView> {
				const r = (await this.adapter.findById(ctx.params.id)) as RefundDoc | null;
				if (!r || r.client !== clientFor(ctx, undefined)) throw notFound("refund", ctx.params.id);
				return toView(r);
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
				const day = statementDayOf(client);
				const today = isoDateIn(new Date(), "Asia/Kolkata");
				let cycle: Cycle;
				try {
					if (p.cycleTo) parseIsoDate(p.cycleTo, "cycleTo");
					if (p.cycleFrom) parseIsoDate(p.cycleFrom, "cycleFrom");
					// a statement date given: the cycle is the month up to it; else the one ending on the client's statement day
					cycle = p.cycleTo ? cycleEndingBy(p.cycleTo, Number(p.cycleTo.slice(8, 10))) : cycleEndingBy(today, day);
					if (p.cycleFrom) cycle = { from: p.cycleFrom, to: cycle.to };
				} catch (err) {
					throw badRequest((err as Error).message);
				}
				if (cycle.from > cycle.to) throw badRequest(`cycleFrom ${cycle.from} is after cycleTo ${cycle.to}`);
				if (cycle.to > today) throw badRequest(`cycleTo ${cycle.to} is in the future (today is ${today} in India): a statement is made on or after its date`);
				const auth = (ctx.meta as { auth?: Caller }).auth;
				const run = await this.startRun(p.clientId, cycle, p.pdf ?? true, auth?.kind === "operator" ? `operator:${auth.sub}` : "internal");
				await audit(ctx, { action: "billing.run", target: `billing-run:${run._id}`, items: [run._id], count: 1, clientId: p.clientId, details: { cycleFrom: cycle.from, cycleTo: cycle.to, pdf: p.pdf ?? true } });
				(ctx.meta as Record<string, unknown>).$statusCode = 202;
				return this.runView(run);
			}
		},

		/** GET /billing/runs?clientId=&limit=&offset= (newest first) */
		listRuns: {
			params: { clientId: { type: "string", optional: true, max: 64 }, limit: { type: "number", convert: true, optional: true, min: 1, max: 200 }, offset: { type: "number", convert: true, optional: true, min: 0 } },
			async handler(this: Self, ctx: Context<{ clientId?: string; limit?: number; offset?: number }>) {
				const { runs } = await this.runsStore();
				const query = ctx.params.clientId ? { clientId: ctx.params.clientId } : {};
				const limit = ctx.params.limit ?? 20;
				const offset = ctx.params.offset ?? 0;
				const [rows, total] = await Promise.all([runs.find({ query, sort: "-createdAt", limit, offset }), runs.count({ query })]);
				return { total, limit, offset, items: await Promise.all((rows as BillingRunDoc[]).map((r) => this.runView(r))) };
			}
		},

		/** GET /billing/runs/:id: status and live counts per step */
		getRun: {
			params: { id: { type: "string" } },
			async handler(this: Self, ctx: Context<{ id: string }>) {
				const { runs } = await this.runsStore();
				const run = (await runs.findById(ctx.params.id)) as BillingRunDoc | null;
				if (!run) throw notFound("billing run", ctx.params.id);
				return this.runView(run);
			}
		},

		/** GET /billing/runs/:id/halted?step=&limit=&offset=: halted loans with the step, reason and input */
		halted: {
			params: {
				id: { type: "string" },
				step: { type: "enum", values: [...BILLING_STEPS], optional: true },
				limit: { type: "number", convert: true, optional: true, min: 1, max: 1000 },
				offset: { type: "number", convert: true, optional: true, min: 0 }
			},
			async handler(this: Self, ctx: Context<{ id: string; step?: BillingStep; limit?: number; offset?: number }>) {
				const { items } = await this.runsStore();
				const query = { runId: ctx.params.id, status: "halted", ...(ctx.params.step ? { step: ctx.params.step } : {}) };
				const limit = ctx.params.limit ?? 100;
				const offset = ctx.params.offset ?? 0;
				const [rows, total] = await Promise.all([items.find({ query, sort: "loanId", limit, offset }), items.count({ query })]);
				return { total, limit, offset, items: (rows as BillingItemDoc[]).map((i) => ({ loanId: i.loanId, step: i.step, reason: i.halted?.reason, input: i.halted?.input, haltedAt: i.halted?.at, attempts: i.attempts })) };
			}
		},

		/** POST /billing/runs/:id/resume {step?, loanIds?}: halted loans go on from the step they halted at */
		resume: {
			params: { id: { type: "string" }, step: { type: "enum", values: [...BILLING_STEPS], optional: true }, loanIds: { type: "array", items: "string", optional: true, max: 10000 } },
			async handler(this: Self, ctx: Context<{ id: string; step?: BillingStep; loanIds?: string[] }>) {
				const { runs, items } = await this.runsStore();
				const run = (await runs.findById(ctx.params.id)) as BillingRunDoc | null;
				if (!run) throw notFound("billing run", ctx.params.id);
				const query: Record<string, unknown> = { runId: run._id, status: "halted", ...(ctx.params.step ? { step: ctx.params.step } : {}), ...(ctx.params.loanIds ? { loanId: { $in: ctx.params.loanIds } } : {}) };
				const halted = (await items.find({ query })) as BillingItemDoc[];
				let resumed = 0;
				for (const i of halted) resumed += await items.updateMany({ _id: i._id, status: "halted", step: i.step }, { $set: { status: "active", attempts: 0, updatedAt: new Date() }, $unset: { halted: "" } });
				for (const step of BILLING_STEPS) await this.handOn(run, step, halted.filter((i) => i.step === step).map((i) => i._id));
				const auth = (ctx.meta as { auth?: Caller }).auth;
				this.logger.info({ runId: run._id, resumed, by: auth?.kind === "operator" ? auth.sub : undefined }, "halted loans resumed");
				await audit(ctx, { action: "billing.resume", target: `billing-run:${run._id}`, items: halted.map((i) => i.loanId), count: resumed, clientId: run.clientId, details: { ...(ctx.params.step ? { step: ctx.params.step } : {}) } });
				return { resumed, run: await this.runView(run) };
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
					const records = await recordsStore();
					const rows = (await records.find({ query: { client: clientId, kind: "repayment", batchId } })) as RecordDoc[];
					const { config } = getPlatform();
					let created = 0;
					for (const loanId of loansOf(rows)) created += (await openRefunds(records, this.adapter, clientId, loanId, config.billing.duplicateWindowSeconds)).length;
					// a notice for every request not yet delivered (also those created by a try that died before this line)
					const pending = (await this.adapter.find({ query: { client: clientId, status: "requested", "notice.deliveredAt": { $exists: false } } })) as RefundDoc[];
					await this.enqueueMany(QUEUES.billingRefundNotices, pending.map((r) => ({ payload: { refundId: r._id }, options: { key: `${r._id}:notice` } })));
					if (created) this.logger.warn({ created, loans: loansOf(rows).length }, "suspected duplicate repayments: refund requests opened");
				});
			}
		},

		/** Tells the client about one refund request over its signed webhook (the queue retries a failure). */
		[QUEUES.billingRefundNotices]: {
			concurrency: 4,
			async handler(this: Self, payload: unknown) {
				const { refundId } = payload as { refundId: string };
				const r = (await this.adapter.findById(refundId)) as RefundDoc | null;
				if (!r || r.notice?.deliveredAt) return;
				const client = (await clientSettings(this.broker, r.client)) as ClientDoc | null;
				if (!client?.webhook) {
					this.logger.info({ refundId, clientId: r.client }, "refund request open but the client has no webhook: it waits for POST /refunds/:id/confirm or /reject");
					await this.adapter.updateById(refundId, { $set: { notice: { lastError: "client has no webhook" } } });
					return;
				}
				const { config } = getPlatform();
				const api = `${config.http.publicUrl}/api/v1`;
				const body = JSON.stringify({ event: "refund.requested", refund: toView(r), links: { confirm: `${api}/refunds/${r._id}/confirm`, reject: `${api}/refunds/${r._id}/reject` } });
				const res = await fetch(client.webhook.url, {
					method: "POST",
					headers: { "Content-Type": "application/json", "User-Agent": "Paperwork-Webhook/1", "X-Paperwork-Event": "refund.requested", "X-Paperwork-Delivery": r._id, "X-Paperwork-Signature": signBody(client.webhook.secret, body) },
					body,
					signal: AbortSignal.timeout(config.ingest.webhookTimeoutMs),
					redirect: "error"
				}).catch((err: Error) => {
					throw new Error(`refund webhook ${new URL(client.webhook?.url ?? "http://x").host} unreachable: ${err.message}`);
				});
				await res.body?.cancel();
				if (res.status < 200 || res.status >= 300) {
					await this.adapter.updateById(refundId, { $set: { "notice.lastError": `webhook answered ${res.status}` } });
					throw new Error(`refund webhook answered ${res.status}`);
				}
				await this.adapter.updateById(refundId, { $set: { "notice.deliveredAt": new Date().toISOString() } });
			}
		}
	},

	methods: {
		runsStore(this: Self) {
			this.opened ??= (async () => {
				const { store } = getPlatform();
				const runs = store.adapter(RUNS);
				const items = store.adapter(ITEMS);
				await Promise.all([runs.connect(), items.connect()]);
				await Promise.all([runs.ensureIndexes(RUN_INDEXES), items.ensureIndexes(ITEM_INDEXES)]);
				return { runs, items };
			})();
			return this.opened;
		},

		/**
		 * The run of a client's cycle, created once (unique on client and statement date); enrols every loan whose
		 * first instalment falls due by the statement date (an item per loan, created once), then hands the items
		 * still at a step on to that step's queue (a second start resumes a run that stopped half-way).
		 */
		async startRun(this: Self, clientId: string, cycle: Cycle, pdf: boolean, startedBy: string): Promise<BillingRunDoc> {
			const { runs, items } = await this.runsStore();
			const now = new Date();
			let run = (await runs.findOne({ clientId, "cycle.to": cycle.to })) as BillingRunDoc | null;
			if (!run) {
				try {
					run = (await runs.insert({ _id: newId(), clientId, cycle, pdf, startedBy, loans: 0, createdAt: now, updatedAt: now })) as BillingRunDoc;
					this.logger.info({ runId: run._id, clientId, cycle }, "billing run started");
				} catch (err) {
					if (!isDuplicateKeyError(err)) throw err;
					run = (await runs.findOne({ clientId, "cycle.to": cycle.to })) as BillingRunDoc;
				}
			}
			const current = run;
			const records = await recordsStore();
			const page = 5000;
			for (let offset = 0; ; offset += page) {
				const loans = (await records.find({ query: { client: clientId, kind: "loan", "data.first_emi_date": { $lte: cycle.to } }, sort: "key", limit: page, offset })) as RecordDoc[];
				if (loans.length === 0) break;
				await items.bulkUpsert(
					loans.map((l) => ({ _id: itemId(clientId, cycle.to, l.key), runId: current._id, clientId, loanId: l.key, cycleTo: cycle.to, step: "duplicates", status: "active", attempts: 0, results: {}, updatedAt: now })),
					{ key: ["clientId", "cycleTo", "loanId"], skip: () => true }
				);
				if (loans.length < page) break;
			}
			const enrolled = await items.count({ query: { runId: current._id } });
			const started = enrolled === current.loans ? current : { ...current, loans: enrolled };
			if (enrolled !== current.loans) await runs.updateById(current._id, { $set: { loans: enrolled, updatedAt: new Date() } });
			for (const step of BILLING_STEPS) await this.handOn(started, step);
			return started;
		},

		/** Enqueues, in chunks, the run's active items at `step` (all of them, or those of `ids`); returns how many. */
		async handOn(this: Self, run: BillingRunDoc, step: BillingStep, ids?: string[]): Promise<number> {
			const { items } = await this.runsStore();
			const query: Record<string, unknown> = { runId: run._id, step, status: "active", ...(ids ? { _id: { $in: ids } } : {}) };
			if (ids && ids.length === 0) return 0;
			const at = (await items.find({ query, sort: "loanId" })) as BillingItemDoc[];
			const chunks: string[][] = [];
			for (let i = 0; i < at.length; i += CHUNK_ITEMS) chunks.push(at.slice(i, i + CHUNK_ITEMS).map((d) => d._id));
			await this.enqueueMany(STEP_QUEUES[step], chunks.map((c) => ({ payload: { runId: run._id, ids: c } })));
			return at.length;
		},

		/** One chunk of one step: apply it, hand the loans that passed on, and let the queue retry the ones that failed. */
		async runStep(this: Self, step: BillingStep, payload: unknown, lastTry: boolean): Promise<void> {
			const { runId, ids } = payload as { runId: string; ids: string[] };
			const { runs, items } = await this.runsStore();
			const run = (await runs.findById(runId)) as BillingRunDoc | null;
			if (!run || !Array.isArray(ids)) return;
			await withLogContext({ runId, clientId: run.clientId }, async () => {
				const out = await runChunk(items, run, step, ids, this.stepFn(step), lastTry);
				const next = nextStep(step);
				// the chunk's items now at the next step (moved by this try or an earlier one that died before handing on)
				if (next) await this.handOn(run, next, ids);
				if (out.halted.length) {
					this.logger.warn({ step, halted: out.halted.length }, "loans halted at a billing step");
					const haltedAtStep = await items.count({ query: { runId, step, status: "halted" } });
					// many loans halted on one step: alert operators once per run and step
					if (haltedAtStep >= Math.max(10, Math.ceil(run.loans * 0.01)) && !(run.alerted ?? []).includes(step)) {
						if ((await runs.updateMany({ _id: runId, alerted: { $nin: [step] } }, { $set: { alerted: [...(run.alerted ?? []), step], updatedAt: new Date() } })) > 0) {
							this.logger.warn({ alert: "billing_halted", step, halted: haltedAtStep }, `billing run ${runId}: ${haltedAtStep} loans halted at ${step}; list them with GET /billing/runs/${runId}/halted`);
						}
					}
				}
				if (out.retry.length) throw new Error(`${out.retry.length} loan(s) failed at ${step}; they are retried (the others went on)`);
			});
		},

		stepFn(this: Self, step: BillingStep): Step<RunChunk> {
			const prepare = async (items: BillingItemDoc[], run: BillingRunDoc): Promise<RunChunk> => {
				const [chunk, client] = await Promise.all([loadLoanChunk(await recordsStore(), this.adapter, run.clientId, items.map((i) => i.loanId)), clientSettings(this.broker, run.clientId)]);
				return { ...chunk, penalty: penaltyRuleOf(client?.charges) };
			};
			const loanOf = (item: BillingItemDoc, c: RunChunk): LoanRecord => {
				const loan = c.loans.get(item.loanId);
				if (!loan) throw new HaltError(`loan ${item.loanId} is no longer registered`);
				return loan;
			};
			const passbookOf = (item: BillingItemDoc, c: RunChunk) => {
				const loan = loanOf(item, c);
				return { loan, pb: passbookFrom(loan, c.repayments.get(item.loanId) ?? [], c.refunds.get(item.loanId) ?? [], item.cycleTo, c.penalty) };
			};
			const statementOf = (item: BillingItemDoc): Statement & { closed?: boolean } => {
				const st = item.results.statement as (Statement & { closed?: boolean }) | undefined;
				if (!st) throw new HaltError("the statement step left no statement");
				return st;
			};
			const apply: Record<BillingStep, Step<RunChunk>["apply"]> = {
				duplicates: async (item, run, c) => {
					const opened = await openRefunds(await recordsStore(), this.adapter, run.clientId, item.loanId, getPlatform().config.billing.duplicateWindowSeconds, new Date(), c.repayments.get(item.loanId) ?? []);
					return { refundsOpened: opened.length };
				},
				passbook: async (item, _run, c) => ({ ...passbookOf(item, c).pb.totals }),
				statement: async (item, run, c) => {
					const st = computeStatement(passbookOf(item, c).pb, run.cycle);
					// a loan paid off before the cycle with nothing in it has nothing to bill
					const closed = st.amount_due === "0.00" && st.outstanding_principal === "0.00" && st.instalments.length === 0 && st.payment_refs.length === 0;
					return { ...st, closed };
				},
				validate: async (item, _run, c) => {
					const { loan, pb } = passbookOf(item, c);
					const problems = validateStatement(statementOf(item), pb, loan.loan_amount);
					if (problems.length) throw new HaltError(`the statement does not balance: ${problems.map((p) => p.message).join("; ")}`);
					return { ok: true };
				},
				render: async (item, run, c) => {
					const st = statementOf(item);
					if (!run.pdf) return { skipped: "pdf off" };
					if (st.closed) return { skipped: "nothing to bill" };
					const { loan, pb } = passbookOf(item, c);
					const doc = (await this.broker.call(
						"renderer.render",
						{ template: "loan-statement", language: loan.language, data: statementDocumentData(st, pb, loan) },
						{ meta: { auth: { kind: "client", clientId: item.clientId, keyId: "billing" } } }
					)) as { id: string; pages: number; bytes: number };
					return { documentId: doc.id, pages: doc.pages, bytes: doc.bytes };
				},
				deliver: async (item, run, c) => {
					const st = statementOf(item);
					if (st.closed) return { skipped: "nothing to bill" };
					const documentId = (item.results.render as { documentId?: string } | undefined)?.documentId;
					return this.deliverStatement(item, run, loanOf(item, c), st, documentId);
				}
			};
			return { prepare, apply: apply[step] };
		},

		async deliverStatement(this: Self, item: BillingItemDoc, run: BillingRunDoc, loan: LoanRecord, statement: Statement, documentId: string | undefined) {
			const { store } = getPlatform();
			return deliverStatement(
				{
					delivery: await deliveryStore(store),
					documents: store.adapter("documents"),
					plan: async (clientId) => ((await clientSettings(this.broker, clientId))?.delivery as { plan?: Channel[] } | undefined)?.plan,
					rendered: async (items) => {
						await this.enqueueMany(QUEUES.casesRendered, items.map((i) => ({ payload: i.payload, options: { key: i.key } })));
					}
				},
				{ runId: run._id, clientId: item.clientId, loan, statement, ...(documentId ? { documentId } : {}) }
			);
		},

		async runView(this: Self, run: BillingRunDoc): Promise<Record<string, unknown>> {
			const { items } = await this.runsStore();
			const { status, counts } = await runCounts(items, run);
			return { id: run._id, clientId: run.clientId, cycle: run.cycle, pdf: run.pdf, status, counts, startedBy: run.startedBy, createdAt: run.createdAt, updatedAt: run.updatedAt };
		},

		async decide(this: Self, ctx: Context<{ id: string; note?: string }>, event: RefundEvent): Promise<RefundView> {
			const client = clientFor(ctx, undefined);
			const r = (await this.adapter.findById(ctx.params.id)) as RefundDoc | null;
			if (!r || r.client !== client) throw notFound("refund", ctx.params.id);
			const t = applyRefundEvent(r, event, new Date(), `client:${client}`, ctx.params.note);
			if (!t.changed) {
				if (t.conflict) throw conflict(t.conflict);
				return toView(r);
			}
			// compare-and-set on the status read: of two answers at once, one wins and the other sees the new status
			const n = await this.adapter.updateMany({ _id: r._id, status: r.status }, { $set: { status: t.state.status, history: t.state.history } });
			const now = (await this.adapter.findById(r._id)) as RefundDoc;
			if (n === 0 && now.status !== t.state.status) throw conflict(`the refund was ${now.status} meanwhile`);
			this.logger.info({ refundId: r._id, status: t.state.status }, "refund decided by the client");
			return toView(now);
		},

		/**
		 * The scheduler's part of billing: for every client with a statement day (settings `billing.statementDay`),
		 * starts the run of the latest cycle ended by today (India) unless it exists. Safe on any number of nodes at
		 * once: a run is unique per client and cycle. Returns the IDs of the runs started or resumed.
		 */
		async startDueRuns(this: Self, now = new Date()): Promise<string[]> {
			const today = isoDateIn(now, "Asia/Kolkata");
			const { runs } = await this.runsStore();
			const started: string[] = [];
			for (let offset = 0; ; offset += 200) {
				const page = (await this.broker.call("clients.list", { limit: 200, offset })) as { items: { id: string; billing?: { statementDay: number } }[] };
				for (const c of page.items) {
					if (!c.billing?.statementDay) continue;
					const cycle = cycleEndingBy(today, c.billing.statementDay);
					if (await runs.findOne({ clientId: c.id, "cycle.to": cycle.to })) continue;
					const run = await this.startRun(c.id, cycle, true, "scheduler");
					started.push(run._id);
					this.logger.info({ runId: run._id, clientId: c.id, cycle }, "billing run started for the client's cycle");
				}
				if (page.items.length < 200) break;
			}
			return started;
		},

		/** Marks requests unanswered for too long as timed out, alerting once per refund. Returns how many. */
		async sweepRefunds(this: Self): Promise<number> {
			const { config } = getPlatform();
			const timeoutMs = config.billing.refundTimeoutHours * 3600_000;
			const now = new Date();
			const waiting = (await this.adapter.find({ query: { status: "requested", requestedAt: { $lt: new Date(now.getTime() - timeoutMs).toISOString() } }, limit: 1000 })) as RefundDoc[];
			let n = 0;
			for (const r of waiting) {
				if (!isRefundOverdue(r, now, timeoutMs)) continue;
				const t = applyRefundEvent(r, "timeout", now, "billing");
				if (!t.changed) continue;
				if ((await this.adapter.updateMany({ _id: r._id, status: "requested" }, { $set: { status: t.state.status, history: t.state.history } })) === 0) continue;
				n++;
				this.logger.warn({ alert: "refund_timed_out", refundId: r._id, clientId: r.client }, "a refund request had no answer from the client in time; an operator should follow it up");
			}
			return n;
		}
	},

	started(this: Self) {
		this.sweep = startSweep(SWEEP_MS, () => this.sweepRefunds(), (err) => this.logger.warn({ err: err.message }, "refund sweep failed"));
		// each client's cycle is billed once it has ended: looked for every BILLING_SCHEDULE_MS
		const every = getPlatform().config.billing.scheduleMs;
		if (every > 0) this.scheduleSweep = startSweep(every, () => this.startDueRuns(), (err) => this.logger.warn({ err: err.message }, "billing schedule failed"));
	},

	stopped(this: Self) {
		this.sweep?.stop();
		this.scheduleSweep?.stop();
	}
};

export default billing;

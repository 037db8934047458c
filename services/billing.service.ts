/**
 * billing: a loan's passbook, and the excess-refund saga of suspected duplicate repayments.
 *
 * When a repayment batch completes, the batches actor hands it on (`billing.repayments`); billing checks every loan
 * the batch touched for suspected duplicates (lib/billing/duplicates.ts) and records a refund request for each new
 * one (unique per client and payment reference), then asks the client over its signed webhook
 * (`refund.requested`, one `billing.refund-notices` message per refund, retried by the queue). The client answers
 * with POST /refunds/:id/confirm or /reject; a request unanswered for BILLING_REFUND_TIMEOUT_H is marked timed out
 * and operators are alerted once. The logic is in lib/billing/; this file wires it to the store, queues and API.
 */
import type { Context } from "moleculer";
import { queuesMixin, type QueueServiceSchema, type QueueService } from "../mixins/queues.mixin.ts";
import { dbMixin, type DbMixinThis } from "../mixins/db.mixin.ts";
import { getPlatform } from "../lib/platform.ts";
import { QUEUES } from "../config/queues.ts";
import { clientFor, clientSettings, recordsStore } from "../lib/ingest/context.ts";
import { signBody } from "../lib/ingest/report.ts";
import { badRequest, conflict, notFound } from "../lib/api/errors.ts";
import { withLogContext } from "../lib/log.ts";
import { startSweep, type Sweep } from "../lib/sweep.ts";
import { isoDateIn } from "../lib/validate/dates.ts";
import { parseIsoDate } from "../lib/render/emi.ts";
import { findLoan, loanPassbook, loansOf, openRefunds, penaltyRuleOf, REFUND_INDEXES, type RefundDoc } from "../lib/billing/loans.ts";
import { applyRefundEvent, isRefundOverdue, type RefundEvent, type RefundStatus } from "../lib/billing/refunds.ts";
import type { Passbook } from "../lib/billing/passbook.ts";
import type { ClientDoc } from "../lib/clients.ts";
import type { RecordDoc } from "../lib/ingest/register.ts";

const SWEEP_MS = 60_000;
const REFUND_STATUSES: RefundStatus[] = ["requested", "confirmed", "rejected", "timed_out"];

interface Own {
	sweep?: Sweep;
	sweepRefunds(): Promise<number>;
	decide(ctx: Context<{ id: string; note?: string }>, event: RefundEvent): Promise<RefundView>;
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

		/** POST /refunds/:id/reject {note?}: no refund; the payment becomes the borrower's credit */
		rejectRefund: {
			params: { id: { type: "string" }, note: { type: "string", optional: true, max: 500 } },
			handler(this: Self, ctx: Context<{ id: string; note?: string }>) {
				return this.decide(ctx, "reject");
			}
		}
	},

	queues: {
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
					this.logger.warn({ refundId, clientId: r.client }, "refund request open but the client has no webhook: it waits for POST /refunds/:id/confirm or /reject");
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
	},

	stopped(this: Self) {
		this.sweep?.stop();
	}
};

export default billing;

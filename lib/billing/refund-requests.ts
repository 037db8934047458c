/**
 * The excess-refund saga on the store (the transitions themselves are lib/billing/refunds.ts):
 *   - a repayment batch completed: the loans it touched are checked for suspected duplicates and a refund request is
 *     recorded for each new one (openBatchRefunds); every request whose notice is not delivered yet is to be notified;
 *   - a billing run's duplicates step opens them too (lib/billing/flow.ts) and has their notices queued at once;
 *   - the notice: the signed `refund.requested` webhook to the client (sendRefundNotice; a failure throws so the
 *     queue retries it); every try is recorded (`notice.triedAt`), and a request whose notice is still undelivered
 *     once its queue's retries are over (or was never queued: a handler that died in between) is queued again by the
 *     refund sweep (dueNotices);
 *   - the client's answer (decideRefund: a compare-and-set on the status read, so of two answers at once one wins);
 *   - the timeout (sweepRefunds: requests unanswered for too long, marked timed out once each);
 *   - the withdrawal (withdrawBouncedRefunds, after a repayment batch): an open request whose payment, or the payment
 *     it repeats, has since bounced is withdrawn (there is no excess: a refund now would pay out money never
 *     received); a client that had the request's notice gets the signed `refund.withdrawn` webhook, retried and swept
 *     like the notice; a later answer to it is a 409 with the reason; a request the client had already confirmed (the
 *     borrower refunded) is flagged once instead, for operators (`refund_bounced`): the lender paid out money it
 *     never received, or refunded the only payment.
 */
import type { StoreAdapter } from "../store/types.ts";
import type { RepaymentRecord } from "../records/index.ts";
import type { ClientDoc } from "../clients.ts";
import { signBody } from "../ingest/report.ts";
import { conflict, notFound } from "../api/errors.ts";
import { loadLoanChunk, loansOfBatch, openRefunds, type RefundDoc } from "./loans.ts";
import { applyRefundEvent, isRefundOverdue, OPEN_REFUND_STATUSES, type RefundEvent, type RefundStatus } from "./refunds.ts";

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
	/** why the last try to deliver the notice failed (while it is not delivered) */
	noticeError?: string;
	/** withdrawn: whether the client's webhook got the refund.withdrawn notice (absent when it never had the request's) */
	withdrawalDelivered?: boolean;
	clientId: string;
}

export function refundView(r: RefundDoc): RefundView {
	const delivered = Boolean(r.notice?.deliveredAt);
	return {
		id: r._id,
		clientId: r.client,
		loan_id: r.loan_id,
		payment_ref: r.payment_ref,
		of: r.of,
		amount: r.amount,
		paid_at: r.paid_at,
		status: r.status,
		requestedAt: r.requestedAt,
		history: r.history,
		noticeDelivered: delivered,
		...(!delivered && r.notice?.lastError ? { noticeError: r.notice.lastError } : {}),
		...(r.status === "withdrawn" && delivered ? { withdrawalDelivered: Boolean(r.withdrawal?.deliveredAt) } : {})
	};
}

/** The queue key of a refund's next notice: its request, or its withdrawal (one message each, however often queued). */
export function noticeKey(r: Pick<RefundDoc, "_id" | "status">): string {
	return `${r._id}:${r.status === "withdrawn" ? "withdrawn" : "notice"}`;
}

/** The refund statuses a list may ask for: one status, or `open` (requested or timed out: waiting for the client). */
export function refundStatusQuery(status: RefundStatus | "open" | undefined): Record<string, unknown> {
	if (!status) return {};
	return status === "open" ? { status: { $in: ["requested", "timed_out"] } } : { status };
}

/**
 * Checks every loan a repayment batch touched: opens a refund request for each new suspected duplicate and withdraws
 * the open ones whose payment (or the one it repeats) has bounced since. Returns the refunds created now, those
 * withdrawn now, the loans checked, and every request of the client whose notice is not delivered yet (also those
 * created by a try that died before notifying).
 */
export async function openBatchRefunds(records: StoreAdapter, refunds: StoreAdapter, clientId: string, batchId: string, windowSeconds: number): Promise<{ created: number; withdrawn: RefundDoc[]; flagged: RefundDoc[]; loans: number; pending: RefundDoc[] }> {
	const loans = await loansOfBatch(records, clientId, batchId);
	let created = 0;
	const withdrawn: RefundDoc[] = [];
	const flagged: RefundDoc[] = [];
	// every repayment of the loans (a duplicate may repeat one of an earlier batch), read 500 loans at a time
	for (let i = 0; i < loans.length; i += 500) {
		const some = loans.slice(i, i + 500);
		const { repayments } = await loadLoanChunk(records, refunds, clientId, some, { payments: true, loans: false, refunds: false });
		for (const loanId of some) created += (await openRefunds(records, refunds, clientId, loanId, windowSeconds, new Date(), repayments.get(loanId) ?? [])).created.length;
		const bounced = await withdrawBouncedRefunds(refunds, clientId, some, (loanId) => repayments.get(loanId) ?? []);
		withdrawn.push(...bounced.withdrawn);
		flagged.push(...bounced.flagged);
	}
	const pending = (await refunds.find({ query: { client: clientId, status: "requested", "notice.deliveredAt": { $exists: false } } })) as RefundDoc[];
	return { created, withdrawn, flagged, loans: loans.length, pending };
}

/**
 * Withdraws the open refund requests of these loans whose payment, or the payment it repeats, is now recorded as
 * bounced: there is no excess left to refund (a bounced suspect was never received; a bounced original leaves the
 * suspect the only payment). A compare-and-set on the status read: a client's answer at the same moment wins or
 * loses whole. A request already confirmed (the borrower was refunded) cannot be undone here: it is flagged once,
 * for operators. Returns the requests withdrawn now and those flagged now.
 */
export async function withdrawBouncedRefunds(refunds: StoreAdapter, clientId: string, loanIds: string[], repaymentsOf: (loanId: string) => RepaymentRecord[], now = new Date()): Promise<{ withdrawn: RefundDoc[]; flagged: RefundDoc[] }> {
	const withdrawn: RefundDoc[] = [];
	const flagged: RefundDoc[] = [];
	if (loanIds.length === 0) return { withdrawn, flagged };
	const candidates = (await refunds.find({ query: { client: clientId, loan_id: { $in: loanIds }, status: { $in: [...OPEN_REFUND_STATUSES, "confirmed"] } } })) as RefundDoc[];
	for (const r of candidates) {
		const bounced = new Set(repaymentsOf(r.loan_id).filter((p) => p.status === "bounced").map((p) => p.payment_ref));
		const ref = [r.payment_ref, r.of].find((x) => bounced.has(x));
		if (!ref) continue;
		if (r.status === "confirmed") {
			if (r.bounced) continue;
			const mark = { bounced: { at: now.toISOString(), payment_ref: ref } };
			if ((await refunds.updateMany({ _id: r._id, status: "confirmed", bounced: { $exists: false } }, { $set: mark })) > 0) flagged.push({ ...r, ...mark });
			continue;
		}
		const t = applyRefundEvent(r, "withdraw", now, "billing", `payment ${ref} bounced`);
		if (!t.changed) continue;
		const set = { status: t.state.status, history: t.state.history, withdrawnAt: now.toISOString() };
		if ((await refunds.updateMany({ _id: r._id, status: r.status }, { $set: set })) === 0) continue;
		withdrawn.push({ ...r, ...set });
	}
	return { withdrawn, flagged };
}

export interface NoticeSettings {
	/** the API's public base URL (the confirm/reject links) */
	publicUrl: string;
	timeoutMs: number;
}

/**
 * Sends a refund's next notice to the client's webhook, once: the request (`refund.requested`, with the links to
 * answer it), or, once withdrawn, the withdrawal (`refund.withdrawn`, only to a client that had the request's).
 * Answers "delivered", "already" (delivered before, nothing to tell, or the refund is gone), or "no-webhook"
 * (recorded; the request waits for the client's answer through the API). A failure is recorded and thrown (the queue
 * retries it).
 */
export async function sendRefundNotice(refunds: StoreAdapter, refundId: string, clientOf: (clientId: string) => Promise<ClientDoc | null>, s: NoticeSettings): Promise<"delivered" | "already" | "no-webhook"> {
	const r = (await refunds.findById(refundId)) as RefundDoc | null;
	if (!r) return "already";
	const withdrawn = r.status === "withdrawn";
	// a withdrawal is news only to a client told of the request; a request withdrawn before its notice is never sent
	if (withdrawn ? !r.notice?.deliveredAt || r.withdrawal?.deliveredAt : r.notice?.deliveredAt) return "already";
	const field = withdrawn ? "withdrawal" : "notice";
	const event = withdrawn ? "refund.withdrawn" : "refund.requested";
	// every try is recorded: the sweep queues a notice again only once its tries have been over for a while
	const failed = async (error: string) => void (await refunds.updateById(refundId, { $set: { [`${field}.lastError`]: error, [`${field}.triedAt`]: new Date().toISOString() } }));
	const client = await clientOf(r.client);
	const hook = client?.webhook;
	if (!hook) {
		await failed("client has no webhook");
		return "no-webhook";
	}
	const api = `${s.publicUrl}/api/v1`;
	const body = JSON.stringify(withdrawn ? { event, refund: refundView(r) } : { event, refund: refundView(r), links: { confirm: `${api}/refunds/${r._id}/confirm`, reject: `${api}/refunds/${r._id}/reject` } });
	const res = await fetch(hook.url, {
		method: "POST",
		headers: { "Content-Type": "application/json", "User-Agent": "Paperwork-Webhook/1", "X-Paperwork-Event": event, "X-Paperwork-Delivery": withdrawn ? `${r._id}:withdrawn` : r._id, "X-Paperwork-Signature": signBody(hook.secret, body) },
		body,
		signal: AbortSignal.timeout(s.timeoutMs),
		redirect: "error"
	}).catch(async (err: Error) => {
		const error = `refund webhook ${new URL(hook.url).host} unreachable: ${err.message}`;
		await failed(error);
		throw new Error(error);
	});
	await res.body?.cancel();
	if (res.status < 200 || res.status >= 300) {
		await failed(`webhook answered ${res.status}`);
		throw new Error(`refund webhook answered ${res.status}`);
	}
	await refunds.updateById(refundId, { $set: { [`${field}.deliveredAt`]: new Date().toISOString() } });
	// withdrawn while its request's notice was on its way: the client, told of it now, is told of the withdrawal too
	if (!withdrawn && ((await refunds.findById(refundId)) as RefundDoc | null)?.status === "withdrawn") await sendRefundNotice(refunds, refundId, clientOf, s);
	return "delivered";
}

/**
 * A client's answer to one of its refund requests (404 for another client's); the same answer twice changes nothing,
 * the opposite one after a decision is a 409. A compare-and-set on the status read: of two answers at once, one wins.
 */
export async function decideRefund(refunds: StoreAdapter, id: string, clientId: string, event: RefundEvent, note?: string): Promise<{ view: RefundView; changed: boolean }> {
	const r = (await refunds.findById(id)) as RefundDoc | null;
	if (!r || r.client !== clientId) throw notFound("refund", id);
	const t = applyRefundEvent(r, event, new Date(), `client:${clientId}`, note);
	if (!t.changed) {
		if (t.conflict) throw conflict(t.conflict);
		return { view: refundView(r), changed: false };
	}
	const n = await refunds.updateMany({ _id: r._id, status: r.status }, { $set: { status: t.state.status, history: t.state.history } });
	const now = (await refunds.findById(r._id)) as RefundDoc;
	if (n === 0 && now.status !== t.state.status) throw conflict(`the refund was ${now.status} meanwhile`);
	return { view: refundView(now), changed: n > 0 };
}

/** Marks requests unanswered for longer than `timeoutMs` as timed out (once each); returns those it marked. */
export async function sweepRefunds(refunds: StoreAdapter, timeoutMs: number, now = new Date()): Promise<RefundDoc[]> {
	const waiting = (await refunds.find({ query: { status: "requested", requestedAt: { $lt: new Date(now.getTime() - timeoutMs).toISOString() } }, limit: 1000 })) as RefundDoc[];
	const marked: RefundDoc[] = [];
	for (const r of waiting) {
		if (!isRefundOverdue(r, now, timeoutMs)) continue;
		const t = applyRefundEvent(r, "timeout", now, "billing");
		if (!t.changed) continue;
		if ((await refunds.updateMany({ _id: r._id, status: "requested" }, { $set: { status: t.state.status, history: t.state.history } })) === 0) continue;
		marked.push(r);
	}
	return marked;
}

/**
 * How long after a notice's last try (or its request, when never tried) the sweep queues it again: at least 15
 * minutes, and longer than the queue's own retries take (QUEUE_RETRY_DELAY_MS, 4x longer each of QUEUE_RETRIES
 * times), so a notice still being retried by its queue is not queued a second time.
 */
export function noticeResendAfterMs(queues: { retries: number; retryDelayMs: number }): number {
	const retrying = (queues.retryDelayMs * (4 ** queues.retries - 1)) / 3;
	return Math.max(15 * 60_000, Math.ceil(retrying) + 60_000);
}

/**
 * Notices to queue again, each last tried (or, never tried, due) more than `afterMs` ago: a notice whose queue gave
 * up (webhook down, dead-lettered), one whose handler died before queueing it, a client without a webhook then.
 * Requests still waiting for the client's answer (requested or timed out: a late answer is taken) whose notice is not
 * delivered, oldest first, at most `limit`; then withdrawals not delivered to clients that had the request's notice.
 */
export async function dueNotices(refunds: StoreAdapter, afterMs: number, now = new Date(), limit = 500): Promise<RefundDoc[]> {
	const before = new Date(now.getTime() - afterMs).toISOString();
	const requests = (await refunds.find({
		query: {
			status: { $in: OPEN_REFUND_STATUSES },
			requestedAt: { $lt: before },
			"notice.deliveredAt": { $exists: false },
			$or: [{ "notice.triedAt": { $exists: false } }, { "notice.triedAt": { $lt: before } }]
		},
		sort: "requestedAt",
		limit
	})) as RefundDoc[];
	if (requests.length >= limit) return requests;
	const withdrawals = (await refunds.find({
		query: {
			status: "withdrawn",
			withdrawnAt: { $lt: before },
			"notice.deliveredAt": { $exists: true },
			"withdrawal.deliveredAt": { $exists: false },
			$or: [{ "withdrawal.triedAt": { $exists: false } }, { "withdrawal.triedAt": { $lt: before } }]
		},
		sort: "withdrawnAt",
		limit: limit - requests.length
	})) as RefundDoc[];
	return [...requests, ...withdrawals];
}

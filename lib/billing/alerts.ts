/**
 * Billing's operator alerts, raised through lib/alerts (logged and counted always; mailed when ALERT_EMAILS and
 * SMTP_URL are set, at most one mail per kind per ALERT_INTERVAL_S, later ones summarised):
 *   - `refund_timeout`: a refund request the client did not answer within BILLING_REFUND_TIMEOUT_H, once per refund
 *     (only the sweep whose compare-and-set moved it to timed_out raises it);
 *   - `refund_bounced`: a payment (or the one it repeated) bounced after the client had confirmed its refund: the
 *     lender refunded money it never received, or the only payment; once per refund (flagged by compare-and-set);
 *   - `billing_halted`: many loans of a run halted at one step (10, and 1 % of the run), once per run and step (the
 *     run records the step it alerted for by compare-and-set: run-control.ts shouldAlertHalts).
 */
import type { Alerts } from "../alerts/index.ts";
import type { RefundDoc } from "./loans.ts";
import { shouldAlertHalts, type RunPorts } from "./run-control.ts";
import type { BillingRunDoc, BillingStep } from "./runs.ts";

/** Where billing raises alerts (lib/alerts' sink, or a test double). */
export type AlertRaiser = Pick<Alerts, "raise">;

/** One `refund_timeout` alert per refund the sweep has just marked timed out. */
export function alertRefundTimeouts(alerts: AlertRaiser, timedOut: RefundDoc[], timeoutHours: number): void {
	for (const r of timedOut) {
		const notice = r.notice?.deliveredAt ? "its notice was delivered" : `its notice was not delivered${r.notice?.lastError ? ` (${r.notice.lastError})` : ""}`;
		alerts.raise(
			"refund_timeout",
			`refund request ${r._id} (client ${r.client}, loan ${r.loan_id}, payment ${r.payment_ref}, ${r.amount}) had no answer from the client in ${timeoutHours} h; ${notice}. Follow it up with the client (GET /refunds/${r._id}).`,
			{ refundId: r._id, clientId: r.client, loanId: r.loan_id, requestedAt: new Date(r.requestedAt).toISOString(), noticeDelivered: Boolean(r.notice?.deliveredAt) }
		);
	}
}

/** One `refund_bounced` alert per confirmed refund a bounce has just flagged. */
export function alertBouncedRefunds(alerts: AlertRaiser, flagged: RefundDoc[]): void {
	for (const r of flagged) {
		const ref = r.bounced?.payment_ref ?? r.payment_ref;
		const which = ref === r.payment_ref ? "the refunded payment itself bounced: the borrower was refunded money never received" : `the payment it repeated (${ref}) bounced: the borrower was refunded the only payment`;
		alerts.raise(
			"refund_bounced",
			`refund ${r._id} (client ${r.client}, loan ${r.loan_id}, payment ${r.payment_ref}, ${r.amount}) was confirmed, and then ${which}. Recover it with the client (GET /refunds/${r._id}, GET /loans/${r.loan_id}/passbook).`,
			{ refundId: r._id, clientId: r.client, loanId: r.loan_id, bouncedPayment: ref }
		);
	}
}

/**
 * After a chunk halted loans (`haltedAt`: how many per step), a `billing_halted` alert for each step of the run that
 * now has many halted loans, once per run and step. Returns the steps alerted.
 */
export async function alertHalts(p: RunPorts, alerts: AlertRaiser, run: BillingRunDoc, haltedAt: Partial<Record<BillingStep, number>>): Promise<BillingStep[]> {
	const alerted: BillingStep[] = [];
	for (const step of Object.keys(haltedAt) as BillingStep[]) {
		const { alert, halted } = await shouldAlertHalts(p, run, step);
		if (!alert) continue;
		alerted.push(step);
		alerts.raise(
			"billing_halted",
			`billing run ${run._id} (client ${run.clientId}, cycle ${run.cycle.from}..${run.cycle.to}): ${halted} loans halted at ${step} (of ${run.loans} enrolled). List them with GET /billing/runs/${run._id}/halted?step=${step} (REPL: billing halted ${run._id} ${step}) and resume them once the cause is fixed.`,
			{ runId: run._id, clientId: run.clientId, step, halted, loans: run.loans }
		);
	}
	return alerted;
}

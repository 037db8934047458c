/**
 * The excess-refund saga of one suspected duplicate repayment, as pure transitions over a stored state (the
 * billing actor stores it under a unique key (client, payment_ref), so one excess never yields two refunds).
 *
 *   requested --confirm--> confirmed   (the client refunded the borrower: the payment is marked refunded)
 *   requested --reject---> rejected    (no refund: the payment becomes the borrower's credit)
 *   requested --timeout--> timed_out   (operators are alerted once; a late answer is still taken)
 *   timed_out --confirm/reject--> confirmed / rejected
 *   requested | timed_out --withdraw--> withdrawn   (billing: the payment, or the one it repeats, bounced: there is no
 *                                                   excess to refund; the client is told, and can no longer confirm)
 *
 * The same answer twice changes nothing (a callback retried); the opposite answer after a decision is a conflict,
 * and so is any answer to a withdrawn request. A bounce after the client's decision changes nothing here (the
 * passbook counts the bounce; a confirmed refund of a bounced payment is reported to operators by the caller).
 * Every step is appended to the history with who and when.
 */
import type { RepaymentState } from "./passbook.ts";

export type RefundStatus = "requested" | "confirmed" | "rejected" | "timed_out" | "withdrawn";
export type RefundEvent = "confirm" | "reject" | "timeout" | "withdraw";

/** Statuses still waiting for the client's answer. */
export const OPEN_REFUND_STATUSES: RefundStatus[] = ["requested", "timed_out"];

export interface RefundStep {
	status: RefundStatus;
	at: string;
	by: string;
	note?: string;
}

export interface RefundState {
	status: RefundStatus;
	/** when the refund request was made (ISO) */
	requestedAt: string;
	history: RefundStep[];
}

export type RefundTransition =
	| { changed: true; state: RefundState; repayment: RepaymentState; alert: boolean }
	| { changed: false; state: RefundState; conflict?: string };

/** The state of a new refund request. */
export function requestRefund(at: Date, by = "billing"): RefundState {
	const iso = at.toISOString();
	return { status: "requested", requestedAt: iso, history: [{ status: "requested", at: iso, by }] };
}

/** What a repayment counts as in the passbook while its refund is in this state (withdrawn: a payment like any other). */
export function repaymentStateOf(status: RefundStatus): RepaymentState {
	return status === "confirmed" ? "refunded" : status === "rejected" || status === "withdrawn" ? "applied" : "held";
}

const TARGET: Record<RefundEvent, RefundStatus> = { confirm: "confirmed", reject: "rejected", timeout: "timed_out", withdraw: "withdrawn" };

/** Applies an event; `changed: false` leaves the stored state as it is (a repeat, or a conflict to report). */
export function applyRefundEvent(state: RefundState, event: RefundEvent, at: Date, by: string, note?: string): RefundTransition {
	const target = TARGET[event];
	if (state.status === target) return { changed: false, state };
	if (state.status === "withdrawn") {
		const why = state.history.at(-1)?.note;
		return { changed: false, state, conflict: `the refund was withdrawn${why ? ` (${why})` : ""}: there is nothing to refund` };
	}
	if (event === "timeout") {
		// only a request still waiting times out; a decided one stays decided
		if (state.status !== "requested") return { changed: false, state };
	} else if (event === "withdraw") {
		// decided already: the passbook counts the bounce; a confirmed refund of it is the caller's to report
		if (state.status === "confirmed" || state.status === "rejected") return { changed: false, state, conflict: `the refund was already ${state.status}` };
	} else if (state.status === "confirmed" || state.status === "rejected") {
		return { changed: false, state, conflict: `the refund was already ${state.status}; it cannot be ${target} now` };
	}
	const step: RefundStep = { status: target, at: at.toISOString(), by, ...(note ? { note } : {}) };
	const next: RefundState = { ...state, status: target, history: [...state.history, step] };
	return { changed: true, state: next, repayment: repaymentStateOf(target), alert: event === "timeout" };
}

/** True when a refund still waiting for the client's answer has waited longer than `timeoutMs` at `now`. */
export function isRefundOverdue(state: RefundState, now: Date, timeoutMs: number): boolean {
	// stores may hand an ISO string back as a Date
	return state.status === "requested" && now.getTime() - new Date(state.requestedAt).getTime() > timeoutMs;
}

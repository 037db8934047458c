/**
 * Delivery's stored shapes (cases, attempts, events, runs) and the alert sink it raises operator alerts through.
 *
 * A case is one document for one recipient (loan L-123's welcome letter), created once per (client, loan key,
 * document type). An attempt is one try of a case on one channel; its status only moves forward. Every status
 * event a provider reports is kept as it came (the `delivery_events` collection).
 */
import type { Logger } from "pino";
import type { AlertKind } from "../alerts/index.ts";
import type { Channel, DeliveryStatus, Recipient } from "./provider.ts";
import type { StatementWords } from "./texts.ts";

/**
 * A case's status: pending (created, waiting for its document or its next try), sending (an attempt is out),
 * sent (accepted by a channel that reports no delivery, e.g. email: the end of the plan), dispatched (handed to a
 * courier), delivered, failed (on every channel of its plan: waits for a later run).
 */
export type CaseStatus = "pending" | "sending" | "sent" | "dispatched" | "delivered" | "failed";
export const CASE_STATUSES: readonly CaseStatus[] = ["pending", "sending", "sent", "dispatched", "delivered", "failed"];
/** statuses after which nothing is sent for the case (failed waits for a later run) */
export const FINAL_CASE_STATUSES: readonly CaseStatus[] = ["sent", "dispatched", "delivered", "failed"];

export interface CaseDoc extends Record<string, unknown> {
	_id: string;
	clientId: string;
	/** the business key of the record the document is for (loan_id) */
	loanKey: string;
	/** the document type: the template's ID ("welcome-letter") */
	documentType: string;
	template: string;
	recordId: string;
	/** channels this case goes out on, instead of the client's plan (a statement's SMS: ["sms"]) */
	planOverride?: Channel[];
	/** the words of a document that is not a welcome letter (lib/delivery/texts.ts) */
	message?: { kind: "statement"; words: StatementWords };
	/** the record's date that made it due (disbursement_date, YYYY-MM-DD) */
	dueDate: string;
	language?: string;
	/** who receives it (from the record when the case was created) */
	recipient: Recipient;
	status: CaseStatus;
	/** the run that last picked the case */
	runId: string;
	/** every run that picked it, oldest first */
	runIds: string[];
	/** tries of its plan so far (1 for the first run; a later run's retry adds one) */
	try: number;
	/** the plan in force for this try (channels the recipient can be reached on) */
	plan?: Channel[];
	/** position in `plan` of the current attempt */
	channelIndex?: number;
	/** channel of the current (or last) attempt */
	channel?: Channel;
	/** the current attempt's ID, written before the attempt itself (so a crash in between is found) */
	attemptId?: string;
	documentId?: string;
	documentKey?: string;
	pages?: number;
	bytes?: number;
	/** when it reached a final status */
	finishedAt?: Date;
	failure?: { code: string; reason: string };
	createdAt: Date;
	updatedAt: Date;
}

/**
 * An attempt's state of the call to its provider: `calling` until the provider's answer is written; `unknown` when
 * the call ended without an answer after the request may have reached the provider (never sent again: its
 * callbacks or its deadline decide).
 */
export type CallState = "calling" | "answered" | "unknown";

export interface AttemptEventEntry {
	status: DeliveryStatus;
	at: Date;
	source: "send" | "callback" | "timeout" | "courier";
	code?: string;
	reason?: string;
}

export interface AttemptDoc extends Record<string, unknown> {
	/** our attempt ID: `${caseId}.t<try>.<channel>` (stable: the same attempt always has the same ID) */
	_id: string;
	caseId: string;
	clientId: string;
	runId: string;
	try: number;
	channel: Channel;
	provider: string;
	providerMessageId?: string;
	status: DeliveryStatus;
	/** the status changes this attempt went through, in the order they were applied */
	history: AttemptEventEntry[];
	call: CallState;
	/** true while the attempt may still succeed (not delivered, failed or timed out) */
	open: boolean;
	/** when no "delivered" by then, the case moves to its next channel */
	deadline: Date;
	timedOutAt?: Date;
	failure?: { code: string; reason: string };
	sentAt?: Date;
	deliveredAt?: Date;
	/** courier attempts: the courier and its tracking number */
	courier?: { name: string; trackingNumber: string; dispatchedOn: string; deliveredOn?: string; sheetLine?: number };
	createdAt: Date;
	updatedAt: Date;
}

/** One status event as it arrived (never changed, never dropped). */
export interface EventDoc extends Record<string, unknown> {
	_id: string;
	attemptId: string;
	caseId: string;
	provider: string;
	status: DeliveryStatus;
	at: Date;
	receivedAt: Date;
	/** false when it did not move the attempt (a duplicate, or older than its status) */
	applied: boolean;
	code?: string;
	reason?: string;
}

export type RunStatus = "running" | "completed" | "failed";

export interface RunDoc extends Record<string, unknown> {
	_id: string;
	kind: "scheduled" | "manual";
	/** scheduled runs: the cron slot, unique, so that one node runs it */
	slot?: string;
	from: string;
	to: string;
	includePending: boolean;
	clientId?: string;
	requestedBy?: string;
	/** an operator's replay: retries only, no new cases */
	retryOnly?: boolean;
	/** an operator's resend of this one case (POST /cases/:id/resend) */
	caseId?: string;
	status: RunStatus;
	/** what the run did when it started: new cases, cases retried, loans that already had a case */
	picked: { created: number; retried: number; existing: number };
	error?: string;
	startedAt: Date;
	pickedAt?: Date;
	finishedAt?: Date;
}

/** What a run looks like over the API: its live counts by case status and by channel. */
export interface RunView {
	id: string;
	kind: RunDoc["kind"];
	status: RunStatus;
	from: string;
	to: string;
	includePending: boolean;
	clientId?: string;
	/** a resend of one case: that case */
	caseId?: string;
	requestedBy?: string;
	picked: RunDoc["picked"];
	cases: number;
	byStatus: Record<CaseStatus, number>;
	byChannel: Record<string, number>;
	error?: string;
	startedAt: Date;
	finishedAt?: Date;
}

/** The recipient of a loan's letter, from the registered record. */
export function recipientOf(data: Record<string, unknown>): Recipient {
	const s = (v: unknown) => (typeof v === "string" && v.trim() ? v.trim() : undefined);
	return { name: s(data.applicant_name) ?? s(data.debtor_name) ?? "", phone: s(data.phone), email: s(data.email), language: s(data.language) ?? "en" };
}

/** Alert kinds an operator can be told about (lib/alerts lists them). */
export type { AlertKind };

/** Where delivery raises operator alerts (lib/alerts provides the real one: SMTP, throttled per kind). */
export interface AlertSink {
	raise(kind: AlertKind, text: string, details?: Record<string, unknown>): void;
	digest(lines: string[], day?: string): Promise<void>;
	close(): Promise<void>;
}

/** The default sink: alerts go to the log only. */
export function logAlerts(logger: Logger): AlertSink {
	return {
		raise(kind, text, details) {
			logger.warn({ alert: kind, ...details }, text);
		},
		async digest(lines, day) {
			logger.info({ alert: "digest", day, lines }, "daily digest of runs");
		},
		async close() {}
	};
}

/**
 * Operator alerts: a run that failed, cases failed on every channel, a dead-letter queue that is not empty, a
 * provider whose circuit opened, a refund request the client left unanswered (billing), many loans of a billing run
 * halted at one step, and the daily digest of the day's runs.
 *
 * Every alert is logged (warn) and counted (paperwork_alerts_total{kind, outcome}); when ALERT_EMAILS and SMTP_URL
 * are set it is also mailed, at most one mail per kind per ALERT_INTERVAL_S: the first alert of a kind is mailed at
 * once, later ones in the same interval are held (counted, their texts kept, up to 20) and mailed together in one
 * summary when the interval ends (or when the process closes, so none is lost). A mail that cannot be sent is
 * logged (error), never thrown: alerts never break the work that raised them.
 *
 * The digest (`digest(lines)`) is mailed as it is asked for; the caller (the scheduler) asks once a day at
 * ALERT_DIGEST_AT, a time of day in SCHEDULER_TZ (`nextDigestAt` computes when), one node of all.
 */
import { Cron } from "croner";
import nodemailer from "nodemailer";
import type { Transporter } from "nodemailer";
import type { Logger } from "pino";
import type { Config } from "../../config/index.ts";

export type AlertKind = "run_failed" | "cases_failed" | "dlq_not_empty" | "circuit_open" | "refund_timeout" | "billing_halted" | "digest";

export interface Alerts {
	raise(kind: AlertKind, text: string, details?: Record<string, unknown>): void;
	digest(lines: string[]): Promise<void>;
	close(): Promise<void>;
}

/** A counter; lib/metrics.ts's Metrics fits. */
export interface AlertMetrics {
	inc(name: "paperwork_alerts_total", labels: Record<string, string>, value?: number): void;
}

export interface AlertDeps {
	logger: Logger;
	metrics?: AlertMetrics;
	/** a nodemailer transport instead of one built from SMTP_URL (tests) */
	transport?: Transporter;
	now?: () => number;
}

const SUBJECT: Record<AlertKind, string> = {
	run_failed: "a dispatch run failed",
	cases_failed: "cases failed on every channel",
	dlq_not_empty: "a dead-letter queue is not empty",
	circuit_open: "a provider's circuit opened",
	refund_timeout: "a refund request had no answer from the client in time",
	billing_halted: "many loans of a billing run halted at one step",
	digest: "daily digest"
};

const KEPT_TEXTS = 20;

interface Held {
	count: number;
	texts: string[];
}

/** When the next digest is due: today at `at` (HH:MM in `timeZone`, an IANA name) if still ahead, else tomorrow. */
export function nextDigestAt(at: string, now: Date = new Date(), timeZone = "UTC"): Date {
	const [h, m] = at.split(":").map(Number);
	// croner knows the zone's offsets and daylight-saving changes; a pattern without a function schedules nothing
	const next = new Cron(`${m} ${h} * * *`, { timezone: timeZone }).nextRun(now);
	if (!next) throw new Error(`no next time for ${at} in ${timeZone}`);
	return next;
}

function detailLines(details: Record<string, unknown> | undefined): string[] {
	if (!details) return [];
	return Object.entries(details)
		.filter(([, v]) => v !== undefined)
		.map(([k, v]) => `  ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
}

export function createAlerts(config: Config, deps: AlertDeps): Alerts {
	const { logger } = deps;
	const now = deps.now ?? Date.now;
	const intervalMs = config.alerts.intervalSeconds * 1000;
	const to = config.alerts.emails;
	const mailing = to.length > 0 && (deps.transport !== undefined || config.smtp !== undefined);
	const transport: Transporter | undefined = mailing ? (deps.transport ?? nodemailer.createTransport(config.smtp?.url ?? "")) : undefined;
	const from = config.smtp?.from ?? "Paperwork <no-reply@paperwork.local>";
	const lastMailed = new Map<AlertKind, number>();
	const held = new Map<AlertKind, Held>();
	const timers = new Map<AlertKind, NodeJS.Timeout>();
	const pending = new Set<Promise<void>>();
	let closed = false;
	const count = (kind: AlertKind, outcome: string, n = 1): void => deps.metrics?.inc("paperwork_alerts_total", { kind, outcome }, n);

	function mail(kind: AlertKind, subject: string, text: string, n: number): Promise<void> {
		if (!transport) return Promise.resolve();
		const p = transport
			.sendMail({ from, to: to.join(", "), subject: `[Paperwork] ${subject}`, text })
			.then(() => count(kind, "mailed", n))
			.catch((err: Error) => {
				count(kind, "mail_failed", n);
				logger.error({ alert: kind, err: err.message }, "alert mail could not be sent");
			})
			.finally(() => pending.delete(p));
		pending.add(p);
		return p;
	}

	function flush(kind: AlertKind): Promise<void> {
		timers.delete(kind);
		const h = held.get(kind);
		held.delete(kind);
		if (!h || h.count === 0) return Promise.resolve();
		lastMailed.set(kind, now());
		const more = h.count - h.texts.length;
		const text = [
			`${h.count} more alert${h.count > 1 ? "s" : ""} of this kind (${SUBJECT[kind]}) in the last ${config.alerts.intervalSeconds} s:`,
			"",
			...h.texts.map((t) => `- ${t}`),
			...(more > 0 ? [`- ... and ${more} more (see the logs)`] : [])
		].join("\n");
		return mail(kind, `${SUBJECT[kind]} (${h.count} more)`, text, h.count);
	}

	return {
		raise(kind, text, details) {
			logger.warn({ alert: kind, ...details }, `alert: ${text}`);
			if (!transport || closed) {
				count(kind, "logged");
				return;
			}
			const last = lastMailed.get(kind);
			const t = now();
			if (last === undefined || t - last >= intervalMs) {
				lastMailed.set(kind, t);
				void mail(kind, SUBJECT[kind], [text, ...(details ? ["", ...detailLines(details)] : [])].join("\n"), 1);
				return;
			}
			count(kind, "held");
			const h = held.get(kind) ?? { count: 0, texts: [] };
			h.count += 1;
			if (h.texts.length < KEPT_TEXTS) h.texts.push(text);
			held.set(kind, h);
			if (!timers.has(kind)) {
				const timer = setTimeout(() => void flush(kind), Math.max(0, last + intervalMs - t));
				timer.unref();
				timers.set(kind, timer);
			}
		},
		async digest(lines) {
			logger.info({ alert: "digest", lines: lines.length }, "daily digest");
			if (!transport) {
				count("digest", "logged");
				return;
			}
			const day = new Date(now()).toISOString().slice(0, 10);
			await mail("digest", `daily digest ${day}`, lines.length ? lines.join("\n") : "No dispatch runs today.", 1);
		},
		async close() {
			closed = true;
			for (const [kind, timer] of timers) {
				clearTimeout(timer);
				void flush(kind);
			}
			await Promise.all([...pending]);
			transport?.close();
		}
	};
}

/**
 * Operator alerts: a run that failed, cases failed on every channel, a dead-letter queue that is not empty, a
 * provider whose circuit opened, a refund request the client left unanswered (billing), many loans of a billing run
 * halted at one step, and the daily digest of the day's runs.
 *
 * Every alert is logged (warn) and counted (paperwork_alerts_total{kind, outcome}); when ALERT_EMAILS and SMTP_URL
 * are set it is also mailed, at most one mail per kind per interval (ALERT_INTERVAL_S long, aligned on the epoch):
 * the first alert of a kind in an interval is mailed at once, later ones are held (counted, their texts kept, up to
 * 20) and mailed together in one summary when the interval ends, as the next interval's one mail (or when the
 * process closes, so none is lost). A mail that cannot be sent is logged (error), never thrown: alerts never break
 * the work that raised them.
 *
 * Across processes (several notifier and scheduler nodes, each with its own sink), the sink claims each kind's
 * interval in the platform's store before mailing (claims.ts): only the claimer mails; the others log, count and hold
 * (their summary goes out in a later interval they win, or is only counted, `throttled`, when they close). The
 * in-memory state is the fast path: one claim per kind per interval per process, none for the alerts after it.
 *
 * The digest (`digest(lines, day)`) is mailed as it is asked for; the caller (the scheduler) asks once a day at
 * ALERT_DIGEST_AT, a time of day in SCHEDULER_TZ (`nextDigestAt` computes when), one node of all, naming the day in
 * that time zone (its subject's date: a digest due at 00:30 in Kolkata is still the previous day in UTC).
 */
import { Cron } from "croner";
import nodemailer from "nodemailer";
import type { Transporter } from "nodemailer";
import type { Logger } from "pino";
import type { Config } from "../../config/index.ts";
import { windowOf, type AlertClaims } from "./claims.ts";

export type AlertKind = "run_failed" | "cases_failed" | "dlq_not_empty" | "circuit_open" | "refund_timeout" | "refund_bounced" | "billing_halted" | "digest";

export interface Alerts {
	raise(kind: AlertKind, text: string, details?: Record<string, unknown>): void;
	/** `day`: YYYY-MM-DD the digest is of, in the scheduler's time zone (absent: today in UTC) */
	digest(lines: string[], day?: string): Promise<void>;
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
	/**
	 * The cluster-wide throttle (claims.ts, on the platform's store): a sink mails an interval's alert only when its
	 * claim of that kind and interval wins. Without it the throttle is this process's alone.
	 */
	claims?: AlertClaims;
}

const SUBJECT: Record<AlertKind, string> = {
	run_failed: "a dispatch run failed",
	cases_failed: "cases failed on every channel",
	dlq_not_empty: "a dead-letter queue is not empty",
	circuit_open: "a provider's circuit opened",
	refund_timeout: "a refund request had no answer from the client in time",
	refund_bounced: "a payment bounced after its refund was confirmed",
	billing_halted: "many loans of a billing run halted at one step",
	digest: "daily digest"
};

const KEPT_TEXTS = 20;

interface Held {
	count: number;
	texts: string[];
	/** when the first of them was raised */
	since: number;
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
	/** per kind, the start of the latest interval this sink claimed or tried to (whoever won it, it is taken) */
	const intervals = new Map<AlertKind, number>();
	const held = new Map<AlertKind, Held>();
	const timers = new Map<AlertKind, NodeJS.Timeout>();
	const pending = new Set<Promise<void>>();
	let closed = false;
	const count = (kind: AlertKind, outcome: string, n = 1): void => deps.metrics?.inc("paperwork_alerts_total", { kind, outcome }, n);
	const track = (p: Promise<void>): Promise<void> => {
		pending.add(p);
		p.finally(() => pending.delete(p)).catch(() => undefined);
		return p;
	};

	/** Takes the interval for this sink: always without a store; else only when its claim in the store wins (fails open). */
	async function claim(kind: AlertKind, start: number): Promise<boolean> {
		intervals.set(kind, start);
		let won = true;
		if (deps.claims) {
			try {
				won = await deps.claims.claim(kind, start, intervalMs);
			} catch (err) {
				// mailing twice beats mailing nothing while the store is down
				logger.warn({ alert: kind, err: (err as Error).message }, "alert throttle claim failed; mailing anyway");
			}
		}
		if (!won) logger.debug({ alert: kind, interval: new Date(start).toISOString() }, "alert mailed by another node this interval");
		return won;
	}

	function mail(kind: AlertKind, subject: string, text: string, n: number): Promise<void> {
		if (!transport) return Promise.resolve();
		return track(
			transport
				.sendMail({ from, to: to.join(", "), subject: `[Paperwork] ${subject}`, text })
				.then(() => count(kind, "mailed", n))
				.catch((err: Error) => {
					count(kind, "mail_failed", n);
					logger.error({ alert: kind, err: err.message }, "alert mail could not be sent");
				})
		);
	}

	/** Keeps alerts for the summary mailed when their kind's current interval ends (when this sink wins the next one). */
	function hold(kind: AlertKind, h: Held): void {
		const kept = held.get(kind);
		if (kept) {
			kept.count += h.count;
			kept.texts.push(...h.texts.slice(0, KEPT_TEXTS - kept.texts.length));
		} else held.set(kind, h);
		if (timers.has(kind) || closed) return;
		const end = (intervals.get(kind) ?? windowOf(now(), intervalMs)) + intervalMs;
		const timer = setTimeout(() => void flush(kind), Math.max(0, end - now()));
		timer.unref();
		timers.set(kind, timer);
	}

	/**
	 * The held alerts' summary, as the one mail of the interval after the kind's current one: mailed if this sink
	 * claims that interval, else kept for the next (another sink mailed in it), or, when closing, only counted.
	 */
	function flush(kind: AlertKind): Promise<void> {
		timers.delete(kind);
		const h = held.get(kind);
		held.delete(kind);
		if (!h || h.count === 0) return Promise.resolve();
		const next = Math.max(windowOf(now(), intervalMs), (intervals.get(kind) ?? -Infinity) + intervalMs);
		return track(
			claim(kind, next).then(async (won) => {
				if (!won) {
					if (closed) count(kind, "throttled", h.count);
					else hold(kind, h);
					return;
				}
				const more = h.count - h.texts.length;
				const text = [
					`${h.count} more alert${h.count > 1 ? "s" : ""} of this kind since ${new Date(h.since).toISOString().slice(0, 19).replace("T", " ")} UTC:`,
					"",
					...h.texts.map((t) => `- ${t}`),
					...(more > 0 ? [`- ... and ${more} more (see the logs)`] : [])
				].join("\n");
				await mail(kind, `${SUBJECT[kind]} (${h.count} more)`, text, h.count);
			})
		);
	}

	return {
		raise(kind, text, details) {
			logger.warn({ alert: kind, ...details }, `alert: ${text}`);
			if (!transport || closed) {
				count(kind, "logged");
				return;
			}
			const t = now();
			const start = windowOf(t, intervalMs);
			const current = intervals.get(kind);
			if (current !== undefined && current >= start) {
				// the fast path: this interval is claimed already (by this sink or another), or being claimed
				count(kind, "held");
				hold(kind, { count: 1, texts: [text], since: t });
				return;
			}
			if (held.has(kind)) {
				// a new interval while earlier alerts wait for their summary (its timer not run yet): one mail for all
				count(kind, "held");
				hold(kind, { count: 1, texts: [text], since: t });
				clearTimeout(timers.get(kind));
				void flush(kind);
				return;
			}
			const body = [text, ...(details ? ["", ...detailLines(details)] : [])].join("\n");
			void track(
				claim(kind, start).then(async (won) => {
					if (won) return mail(kind, SUBJECT[kind], body, 1);
					count(kind, "held");
					hold(kind, { count: 1, texts: [text], since: t });
				})
			);
		},
		async digest(lines, day = new Date(now()).toISOString().slice(0, 10)) {
			logger.info({ alert: "digest", day, lines: lines.length }, "daily digest");
			if (!transport) {
				count("digest", "logged");
				return;
			}
			await mail("digest", `daily digest ${day}`, lines.length ? lines.join("\n") : "No dispatch runs today.", 1);
		},
		async close() {
			closed = true;
			// claims in flight settle first (a lost one holds its alert), then what is held is summarised once
			await Promise.all([...pending]);
			for (const timer of timers.values()) clearTimeout(timer);
			await Promise.all([...held.keys()].map((kind) => flush(kind)));
			await Promise.all([...pending]);
			transport?.close();
		}
	};
}

/**
 * Telling a client a document is read: a webhook POST signed like batch reports (X-Paperwork-Signature: sha256=
 * HMAC of the exact body under the client's secret; lib/ingest/report.ts), event intake.completed,
 * intake.needs_review or intake.failed. Each try is kept (intake_deliveries: attempt, status or error, time). A few
 * quick tries with exponential backoff and full jitter run in the handler; then it throws and the queue retries
 * later with its own growing delays, finally dead-lettering for an operator. A target (scheme, host and port) that
 * fails WEBHOOK_BREAKER.failureThreshold times in a row is paused by a circuit breaker for coolDownMs: its calls are
 * refused without a request (recorded as "paused") and the queue retries them later; then one probe is let through.
 * An operator lists a document's attempts (GET /intake/:id/deliveries) and sends its event again (POST .../redeliver).
 */
import type { StoreAdapter } from "../store/types.ts";
import { signBody } from "../ingest/report.ts";
import type { IntakeStatus } from "./documents.ts";
import { CircuitBreaker, type Clock } from "../delivery/providers/resilience.ts";

/** consecutive failures that pause a webhook target, and for how long */
export const WEBHOOK_BREAKER = { failureThreshold: 5, coolDownMs: 60_000 };

/** One circuit breaker per webhook target (scheme, host and port), in this process. */
export class WebhookTargets {
	readonly #breakers = new Map<string, CircuitBreaker>();
	readonly #clock?: Clock;

	constructor(clock?: Clock) {
		this.#clock = clock;
	}

	breaker(url: string): CircuitBreaker {
		const target = new URL(url).origin;
		let b = this.#breakers.get(target);
		if (!b) {
			b = new CircuitBreaker({ ...WEBHOOK_BREAKER, ...(this.#clock ? { clock: this.#clock } : {}) });
			this.#breakers.set(target, b);
		}
		return b;
	}
}

/** The process's webhook targets (the intake.notify handler's). */
export const webhookTargets = new WebhookTargets();

/** The delivery IDs a document's events can have (one per finished status). */
export function deliveryIdsOf(documentId: string): string[] {
	return ["COMPLETED", "NEEDS_REVIEW", "FAILED"].map((s) => `${documentId}:${s}`);
}

export type IntakeEvent = "intake.completed" | "intake.needs_review" | "intake.failed";

export function eventOf(status: IntakeStatus): IntakeEvent | null {
	return status === "COMPLETED" ? "intake.completed" : status === "NEEDS_REVIEW" ? "intake.needs_review" : status === "FAILED" ? "intake.failed" : null;
}

/** Delay before try `n` (0-based): full jitter over base * 2^n, capped. */
export function backoff(n: number, baseMs: number, capMs = 30_000, random = Math.random): number {
	return Math.floor(random() * Math.min(capMs, baseMs * 2 ** n));
}

export interface DeliveryDeps {
	deliveries: StoreAdapter;
	timeoutMs: number;
	/** the breakers of the webhook targets (default: this process's) */
	targets?: WebhookTargets;
	/** quick tries in this call (default 3) */
	tries?: number;
	baseDelayMs?: number;
}

/** POSTs the payload until a 2xx answer or the tries run out (then throws); records every attempt. */
export async function deliver(url: string, secret: string, event: IntakeEvent, deliveryId: string, payload: Record<string, unknown>, deps: DeliveryDeps): Promise<void> {
	const body = JSON.stringify({ event, ...payload });
	const tries = deps.tries ?? 3;
	const breaker = (deps.targets ?? webhookTargets).breaker(url);
	const host = new URL(url).host;
	let last = "";
	for (let n = 0; n < tries; n++) {
		if (n > 0) await new Promise((r) => setTimeout(r, backoff(n, deps.baseDelayMs ?? 200)));
		const at = new Date();
		if (!breaker.tryPass()) {
			const info = breaker.info();
			const error = `paused: ${host} failed ${info.failures} times in a row; calls resume after ${Math.round(WEBHOOK_BREAKER.coolDownMs / 1000)} s`;
			await deps.deliveries.insert({ deliveryId, event, host, status: null, ok: false, error, at });
			throw new Error(`webhook ${error}`);
		}
		let status: number | undefined;
		try {
			const res = await fetch(url, {
				method: "POST",
				headers: { "Content-Type": "application/json", "User-Agent": "Paperwork-Webhook/1", "X-Paperwork-Event": event, "X-Paperwork-Delivery": deliveryId, "X-Paperwork-Signature": signBody(secret, body) },
				body,
				signal: AbortSignal.timeout(deps.timeoutMs),
				redirect: "error"
			});
			await res.body?.cancel();
			status = res.status;
			last = `answered ${res.status}`;
		} catch (err) {
			last = `unreachable: ${(err as Error).message}`;
		}
		const ok = status !== undefined && status >= 200 && status < 300;
		if (ok) breaker.success();
		else breaker.failure();
		await deps.deliveries.insert({ deliveryId, event, host, status: status ?? null, ok, error: ok ? null : last, at });
		if (ok) return;
	}
	throw new Error(`webhook ${host} ${last}`);
}

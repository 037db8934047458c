/**
 * Telling a client a document is read: a webhook POST signed like batch reports (X-Paperwork-Signature: sha256=
 * HMAC of the exact body under the client's secret; lib/ingest/report.ts), event intake.completed,
 * intake.needs_review or intake.failed. Each try is kept (intake_deliveries: attempt, status or error, time). A few
 * quick tries with exponential backoff and full jitter run in the handler; then it throws and the queue retries
 * later with its own growing delays, finally dead-lettering for an operator.
 */
import type { StoreAdapter } from "../store/types.ts";
import { signBody } from "../ingest/report.ts";
import type { IntakeStatus } from "./documents.ts";

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
	/** quick tries in this call (default 3) */
	tries?: number;
	baseDelayMs?: number;
}

/** POSTs the payload until a 2xx answer or the tries run out (then throws); records every attempt. */
export async function deliver(url: string, secret: string, event: IntakeEvent, deliveryId: string, payload: Record<string, unknown>, deps: DeliveryDeps): Promise<void> {
	const body = JSON.stringify({ event, ...payload });
	const tries = deps.tries ?? 3;
	let last = "";
	for (let n = 0; n < tries; n++) {
		if (n > 0) await new Promise((r) => setTimeout(r, backoff(n, deps.baseDelayMs ?? 200)));
		const at = new Date();
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
		await deps.deliveries.insert({ deliveryId, event, host: new URL(url).host, status: status ?? null, ok, error: ok ? null : last, at });
		if (ok) return;
	}
	throw new Error(`webhook ${new URL(url).host} ${last}`);
}

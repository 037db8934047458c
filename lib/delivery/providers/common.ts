/**
 * Small pieces the provider clients share: building a client's ResilientHttp from the configuration, turning a
 * refused or failed call into a SendResult, constant-time comparison of signatures and tokens.
 */
import { timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import type { ResilienceConfig } from "../../../config/index.ts";
import type { CallOutcome, CircuitInfo, Clock, HttpAnswer, ProviderMetrics } from "./resilience.ts";
import { ResilientHttp } from "./resilience.ts";
import type { SendResult } from "../provider.ts";

/** What every provider client gets besides its own settings. */
export interface ClientDeps {
	logger: Logger;
	metrics?: ProviderMetrics;
	clock?: Clock;
	/** told when the provider's circuit opens (operator alert) */
	onCircuitOpen?: (provider: string, info: CircuitInfo) => void;
}

export function resilientHttp(
	provider: string,
	ratePerSecond: number,
	r: ResilienceConfig,
	deps: ClientDeps,
	extra: { retryable?: (a: HttpAnswer) => boolean; unhealthy?: (a: HttpAnswer) => boolean; idempotent?: boolean } = {}
): ResilientHttp {
	return new ResilientHttp({
		provider,
		timeoutMs: r.timeoutMs,
		retries: r.retries,
		retryBaseMs: r.retryBaseMs,
		retryBudgetMs: r.retryBudgetMs,
		ratePerSecond,
		circuitFailures: r.circuitFailures,
		circuitCooldownMs: r.circuitCooldownMs,
		logger: deps.logger,
		metrics: deps.metrics,
		clock: deps.clock,
		onCircuitOpen: deps.onCircuitOpen,
		...extra
	});
}

/** A failed send. */
export function failed(code: string, reason: string, permanent: boolean, httpStatus?: number): SendResult {
	return { ok: false, permanent, code, reason, ...(httpStatus !== undefined ? { httpStatus } : {}) };
}

/**
 * The SendResult of a call that got no answer (network error, open circuit): always transient; `unknown` when the
 * last try may have reached the provider (the message may be out: the notifier waits for its callbacks or its
 * delivery timeout instead of failing the attempt).
 */
export function noAnswer(outcome: Exclude<CallOutcome, { kind: "answer" }>, provider: string): SendResult {
	if (outcome.kind === "circuit-open") return failed("CIRCUIT_OPEN", `${provider} circuit is open: not called`, false);
	if (outcome.maybeSent) return { ok: false, permanent: false, unknown: true, code: "NETWORK", reason: `${provider} gave no answer after ${outcome.tries} ${outcome.tries > 1 ? "tries" : "try"} (${outcome.error}); the request may have reached it, so it is not sent again` };
	return failed("NETWORK", `${provider} unreachable after ${outcome.tries} ${outcome.tries > 1 ? "tries" : "try"}: ${outcome.error}`, false);
}

/** The outcome label of a send in paperwork_provider_calls_total. */
export function callOutcome(result: SendResult, circuitOpen: boolean): string {
	if (result.ok) return "sent";
	if (circuitOpen) return "circuit_open";
	return result.permanent ? "rejected" : result.unknown ? "unknown" : "failed";
}

/** JSON of an answer, or undefined when it is not JSON. */
export function jsonOf(answer: HttpAnswer): unknown {
	try {
		return JSON.parse(answer.text);
	} catch {
		return undefined;
	}
}

/** Constant-time string equality (false on different lengths without leaking where they differ). */
export function safeEqual(a: string, b: string): boolean {
	const x = Buffer.from(a);
	const y = Buffer.from(b);
	return x.length === y.length && timingSafeEqual(x, y);
}

/** "+91 98765-43210" -> "919876543210" */
export function digits(phone: string): string {
	return phone.replace(/\D/g, "");
}

/** "+919876543210" when the number is E.164, else undefined. */
export function e164(phone: string | undefined): string | undefined {
	if (!phone) return undefined;
	const p = `+${digits(phone)}`;
	return /^\+[1-9]\d{6,14}$/.test(p) ? p : undefined;
}

/** A string cut to at most `max` characters (with an ellipsis when cut). */
export function clip(text: string, max: number): string {
	const chars = Array.from(text);
	return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

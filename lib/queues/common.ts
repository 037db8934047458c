/**
 * What both queue backends share: option defaults, the retry schedule, queue names and the message headers our
 * layer writes (attempt number, first publish time, dead-letter details). Kept here so the in-process and the
 * RabbitMQ backend cannot drift apart on the semantics described in types.ts.
 */
import type { QueueOptions } from "./types.ts";

/** Defaults taken from config.queues (QUEUE_RETRIES, QUEUE_RETRY_DELAY_MS, QUEUE_PREFETCH). */
export interface QueueDefaults {
	retries: number;
	retryDelayMs: number;
	/** messages held unacknowledged per consumer; 0 means 2x its concurrency */
	prefetch: number;
}

export interface ResolvedQueueOptions {
	concurrency: number;
	retries: number;
	retryDelayMs: number;
	prefetch: number;
}

/** Longest retry delay: 24 h (RabbitMQ TTLs and Node timers both have limits; a day is plenty for a work queue). */
export const MAX_RETRY_DELAY_MS = 24 * 60 * 60 * 1000;

/** Header names our layer writes; everything else in `headers` belongs to the caller. */
export const H = {
	attempt: "pw-attempt",
	firstPublished: "pw-first-published",
	error: "pw-error",
	failedAt: "pw-failed-at",
	deadId: "pw-dead-id"
} as const;

const INTERNAL_HEADER = /^(pw-|x-death$|x-first-death-|x-last-death-|x-delivery-count$)/;

export function resolveOptions(defaults: QueueDefaults, options: QueueOptions = {}): ResolvedQueueOptions {
	const concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
	const retries = Math.max(0, Math.floor(options.retries ?? defaults.retries));
	const retryDelayMs = Math.max(0, Math.floor(options.retryDelayMs ?? defaults.retryDelayMs));
	const prefetch = defaults.prefetch > 0 ? defaults.prefetch : 2 * concurrency;
	return { concurrency, retries, retryDelayMs, prefetch: Math.max(prefetch, concurrency) };
}

/**
 * The longest delay before retry `level` (1 = the first retry): retryDelayMs * 4^(level-1), capped at
 * MAX_RETRY_DELAY_MS. The delay a message actually waits is jittered below it (jitteredRetryDelay).
 */
export function retryDelay(retryDelayMs: number, level: number): number {
	return Math.min(retryDelayMs * 4 ** (level - 1), MAX_RETRY_DELAY_MS);
}

/**
 * The delay before retry `level`, with "equal jitter": uniform in [d/2, d] for d = retryDelay(...), whole ms. The
 * messages that failed together (a provider down, a store restarting) come back spread over half the delay instead of
 * all at once, and every retry still waits at least half of its backoff.
 */
export function jitteredRetryDelay(retryDelayMs: number, level: number, random: () => number = Math.random): number {
	const max = retryDelay(retryDelayMs, level);
	const min = Math.ceil(max / 2);
	return Math.min(max, min + Math.floor(random() * (max - min + 1)));
}

/**
 * RabbitMQ: jitter buckets per retry level. A queue's messages expire only at its head, so a per-message expiration
 * shorter than the head's waits behind it; each level therefore has RETRY_BUCKETS queues, splitting [d/2, d] into
 * equal slices, each with the top of its slice as its fixed TTL (see rabbitmq.ts).
 */
export const RETRY_BUCKETS = 4;

/** The TTLs of a level's buckets, ascending: the top of each slice of [d/2, d]; the last is d. */
export function retryBucketTtls(retryDelayMs: number, level: number): number[] {
	const max = retryDelay(retryDelayMs, level);
	return Array.from({ length: RETRY_BUCKETS }, (_, k) => Math.round(max / 2 + ((k + 1) * max) / (2 * RETRY_BUCKETS)));
}

/** The bucket for a jittered delay: the first whose TTL is at least the delay (so the TTL never cuts it short). */
export function retryBucket(ttls: readonly number[], delayMs: number): number {
	const k = ttls.findIndex((ttl) => ttl >= delayMs);
	return k < 0 ? ttls.length - 1 : k;
}

/** Retry level `level`'s queue; with a bucket, RabbitMQ's queue for that bucket of the level. */
export function retryQueueName(queue: string, level: number, bucket?: number): string {
	return bucket === undefined ? `${queue}.retry.${level}` : `${queue}.retry.${level}.${bucket}`;
}

export function deadLetterQueueName(queue: string): string {
	return `${queue}.dlq`;
}

/** The caller's headers of a message, without ours and the broker's (x-death, x-delivery-count...). */
export function userHeaders(headers: Record<string, unknown> | undefined): Record<string, string> {
	const out: Record<string, string> = {};
	if (!headers) return out;
	for (const [k, v] of Object.entries(headers)) {
		if (INTERNAL_HEADER.test(k) || v === undefined || v === null) continue;
		out[k] = typeof v === "string" ? v : Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
	}
	return out;
}

/** A header value read as a number (we write numbers as strings; brokers may hand back numbers). */
export function headerNumber(headers: Record<string, unknown> | undefined, name: string, fallback: number): number {
	const v = headers?.[name];
	const n = typeof v === "number" ? v : typeof v === "string" || Buffer.isBuffer(v) ? Number(v.toString()) : NaN;
	return Number.isFinite(n) ? n : fallback;
}

export function headerString(headers: Record<string, unknown> | undefined, name: string): string | undefined {
	const v = headers?.[name];
	if (v === undefined || v === null) return undefined;
	return Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
}

/** The message of whatever a handler threw, bounded so it fits an AMQP header. */
export function errorMessage(err: unknown): string {
	const msg = err instanceof Error ? err.message || err.name : typeof err === "string" ? err : JSON.stringify(err) ?? String(err);
	return msg.length > 2000 ? `${msg.slice(0, 1997)}...` : msg;
}

/** Runs fn over items with at most `limit` calls in flight; results keep the items' order. */
export async function mapWindow<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
	const results = new Array<R>(items.length);
	let next = 0;
	let failed = false;
	const worker = async (): Promise<void> => {
		while (!failed && next < items.length) {
			const i = next++;
			try {
				results[i] = await fn(items[i] as T, i);
			} catch (err) {
				failed = true;
				throw err;
			}
		}
	};
	const workers = Array.from({ length: Math.min(limit, items.length) }, worker);
	const settled = await Promise.allSettled(workers);
	const rejected = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
	if (rejected) throw rejected.reason;
	return results;
}

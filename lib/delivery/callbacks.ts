/**
 * Provider status callbacks on their way from the gateway to a notifier node.
 *
 * The gateway turns each webhook request into a CallbackRequest (the bytes, headers and URL its signature covers:
 * `callbackRequestOf`) and a `CallbackBatcher` sends the ones that arrive in the same turn of the event loop to a
 * notifier in one `notifier.webhooks` call: every callback had been a call of its own, and on RabbitMQ a call is two
 * messages through the broker, a serialisation each way and the caller's meta echoed back (~3 KB a callback, two
 * callbacks a case). The notifier verifies and applies each request on its own and answers one outcome per request
 * (`outcomeOf`), so each provider still gets its own answer: 200 with what its events did, its challenge echoed, or
 * the refusal (401 for a bad signature) as before (`answerOf`).
 */
import type { Readable } from "node:stream";
import { Coalescer } from "../store/coalesce.ts";
import { httpError, payloadTooLarge } from "../api/errors.ts";
import type { CallbackRequest } from "./provider.ts";

/** A callback's body larger than this is refused with 413. */
export const WEBHOOK_BODY_LIMIT = 1024 * 1024;

/** What a callback is answered: a verification handshake's challenge, or what its events did. */
export type CallbackAnswer = { kind: "challenge"; body: string; contentType?: string } | { kind: "events"; applied: number; duplicate: number; unknown: number };

/** A callback as it travels to a notifier (its body base64, whatever the transporter's serializer). */
export interface WireCallback {
	provider: string;
	method: "GET" | "POST";
	url: string;
	headers: Record<string, string | undefined>;
	query: Record<string, string>;
	rawBody: string;
}

/** One callback's outcome from a notifier: its answer, or the HTTP error to answer with. */
export type WireOutcome = { ok: true; answer: CallbackAnswer } | { ok: false; status: number; code: string; message: string };

/** The whole body of a request stream, or 413 past `max` bytes. */
export async function readBody(stream: Readable | undefined, max: number): Promise<Buffer> {
	if (!stream) return Buffer.alloc(0);
	const parts: Buffer[] = [];
	let size = 0;
	for await (const chunk of stream) {
		const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
		size += b.length;
		if (size > max) {
			stream.resume();
			throw payloadTooLarge(`the body is larger than ${max} bytes`);
		}
		parts.push(b);
	}
	return Buffer.concat(parts);
}

/** What the gateway's onBeforeCall keeps of a provider's request (api.service: public raw-body routes). */
export interface GatewayRequest {
	headers?: Record<string, string>;
	url?: string;
	method?: string;
	/** a JSON body's exact bytes, base64 (the gateway's parser read the stream) */
	rawBody?: string;
}

/**
 * The request a provider signed: the URL as called under PUBLIC_URL, its headers, its query as sent (the gateway's
 * parsed params nest dotted names such as hub.challenge) and its exact body (kept by the parser, else read now).
 */
export async function callbackRequestOf(publicUrl: string, provider: string, request: GatewayRequest, params: Record<string, unknown>, stream: Readable | undefined): Promise<CallbackRequest> {
	const rawBody = request.rawBody !== undefined ? Buffer.from(request.rawBody, "base64") : await readBody(stream, WEBHOOK_BODY_LIMIT);
	return {
		method: request.method === "GET" ? "GET" : "POST",
		url: `${publicUrl}${request.url ?? `/api/v1/webhooks/${provider}`}`,
		headers: request.headers ?? {},
		query: request.url ? Object.fromEntries(new URL(request.url, "http://callback.invalid").searchParams) : Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])),
		rawBody
	};
}

/** What a webhook action is given: the route's params (`provider` and the query), the gateway's meta, the body stream. */
export interface WebhookCall {
	params: Record<string, string>;
	meta: object;
	stream?: Readable;
}

/**
 * A webhook action's whole work: the signed request from the call, `handle`'s answer to it, and a challenge answered
 * as its text (its content type set on the meta, as moleculer-web reads it).
 */
export async function answerWebhook(call: WebhookCall, publicUrl: string, handle: (provider: string, req: CallbackRequest) => Promise<CallbackAnswer>): Promise<string | CallbackAnswer> {
	const { provider = "", ...query } = call.params;
	const meta = call.meta as { $request?: GatewayRequest; $responseType?: string };
	const out = await handle(provider, await callbackRequestOf(publicUrl, provider, meta.$request ?? {}, query, call.stream));
	if (out.kind !== "challenge") return out;
	meta.$responseType = out.contentType ?? "text/plain; charset=utf-8";
	return out.body;
}

export function toWire(provider: string, req: CallbackRequest): WireCallback {
	return { provider, method: req.method, url: req.url, headers: req.headers, query: req.query, rawBody: req.rawBody.toString("base64") };
}

export function fromWire(w: WireCallback): { provider: string; req: CallbackRequest } {
	return { provider: w.provider, req: { method: w.method === "GET" ? "GET" : "POST", url: w.url, headers: w.headers ?? {}, query: w.query ?? {}, rawBody: Buffer.from(w.rawBody ?? "", "base64") } };
}

/** A callback's failure as an outcome: a client error (Moleculer's: status in `code`, code in `type`) keeps both. */
export function outcomeOf(err: unknown): WireOutcome {
	const e = err as { code?: unknown; type?: unknown; message?: unknown };
	const status = typeof e.code === "number" && e.code >= 400 && e.code < 600 ? e.code : 500;
	return { ok: false, status, code: typeof e.type === "string" ? e.type : "INTERNAL_ERROR", message: typeof e.message === "string" ? e.message : "the callback could not be handled" };
}

/** The answer of an outcome, or its error thrown again (a 5xx as a plain error, as the notifier threw it). */
export function answerOf(o: WireOutcome): CallbackAnswer {
	if (o.ok) return o.answer;
	if (o.status >= 500) throw new Error(o.message);
	throw httpError(o.status, o.code, o.message);
}

/**
 * Sends the callbacks that arrive in the same turn of the event loop in one call (up to `max`), each caller
 * getting its own answer once the notifier has stored its events; a failed call fails every callback in it, and
 * their providers post them again.
 */
export class CallbackBatcher {
	readonly #batch: Coalescer<WireCallback, WireOutcome>;

	constructor(send: (items: WireCallback[]) => Promise<WireOutcome[]>, options: { max?: number } = {}) {
		this.#batch = new Coalescer(send, { max: options.max ?? 200 });
	}

	async call(provider: string, req: CallbackRequest): Promise<CallbackAnswer> {
		return answerOf(await this.#batch.call(toWire(provider, req)));
	}
}

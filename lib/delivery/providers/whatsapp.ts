/**
 * WhatsApp Cloud API client (Meta Graph API): POST {WHATSAPP_API_URL}/{version}/{phone-number-id}/messages with the
 * Bearer token.
 *
 * - A business-initiated message must be an approved template: the client's template for the letter's language
 *   (`settings.whatsapp.templates[language]`: name + language code) with the PDF as the template's document header
 *   (link + filename). Inside the customer-service window (24 h after the recipient's last inbound message, seen in
 *   callbacks and kept by a ServiceWindow) a plain document message is sent instead. No template for the language
 *   and no open window: a permanent failure (NO_TEMPLATE), the notifier falls back at once.
 * - `biz_opaque_callback_data` carries our attempt ID; Meta echoes it in every status callback.
 * - Errors are Graph API errors `{error: {code, message, error_data: {details}}}`. The throttling code 130429 is
 *   documented with HTTP 429 in one table and 400 in another: both are retried (then transient). Other codes are
 *   mapped to transient (server, throughput, spam-rate limits) or permanent (recipient, template, parameters, auth).
 * - The Cloud API has no idempotency key: a try that may have reached Meta (the connection broke or timed out after
 *   it was open) is not repeated, and the send ends `unknown` (its callbacks or its delivery timeout decide); only
 *   errors that prove nothing was sent (refused, DNS, a connect timeout) are retried.
 *
 * Callbacks (/api/v1/webhooks/whatsapp): GET hub.mode=subscribe with our verify token answers hub.challenge; a POST
 * must carry X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256 of the raw body under the app secret (compared in
 * constant time) and becomes StatusEvents (sent, delivered, read, failed with the error's code and title); inbound
 * messages open the service window.
 */
import { createHmac } from "node:crypto";
import type { ProvidersConfig, ResilienceConfig } from "../../../config/index.ts";
import { maskPhone } from "../../log.ts";
import type { CallbackHandler, CallbackOutcome, CallbackRequest, DeliveryStatus, OutgoingMessage, Provider, SendResult, StatusEvent } from "../provider.ts";
import { callOutcome, type ClientDeps, clip, digits, e164, failed, jsonOf, noAnswer, resilientHttp, safeEqual } from "./common.ts";
import type { HttpAnswer, ResilientHttp } from "./resilience.ts";

export type WhatsAppConfig = NonNullable<ProvidersConfig["whatsapp"]>;

const NAME = "whatsapp-cloud";
const WINDOW_MS = 24 * 60 * 60 * 1000;

/** Where the customer-service window is kept: the last inbound message per phone. */
export interface ServiceWindow {
	/** a message from this phone (any format; digits are what count) was received at `at` */
	noteInbound(phone: string, at: Date): void;
	/** whether a free-form message may be sent to this phone now */
	isOpen(phone: string, now: Date): boolean | Promise<boolean>;
}

/** The in-process ServiceWindow: one entry per phone, at most `max` phones (the oldest are forgotten first). */
export function memoryServiceWindow(max = 100_000): ServiceWindow {
	const last = new Map<string, number>();
	return {
		noteInbound(phone, at) {
			const key = digits(phone);
			const t = at.getTime();
			if ((last.get(key) ?? 0) >= t) return;
			last.delete(key);
			last.set(key, t);
			while (last.size > max) {
				const oldest = last.keys().next().value;
				if (oldest === undefined) break;
				last.delete(oldest);
			}
		},
		isOpen(phone, now) {
			const t = last.get(digits(phone));
			return t !== undefined && now.getTime() - t < WINDOW_MS;
		}
	};
}

/**
 * A window shared by every node: open when this process saw the phone's last inbound message within 24 h, or when
 * `lastInbound` (the store, where the node that answered the webhook recorded it) says so. The notifier uses it when
 * it runs apart from the api (TRANSPORTER set): a webhook answered by one node opens the window for every notifier.
 */
export function sharedServiceWindow(lastInbound: (phoneDigits: string) => Promise<Date | null>, local: ServiceWindow = memoryServiceWindow()): ServiceWindow {
	return {
		noteInbound(phone, at) {
			local.noteInbound(phone, at);
		},
		async isOpen(phone, now) {
			if (await local.isOpen(phone, now)) return true;
			const at = await lastInbound(digits(phone));
			return at !== null && now.getTime() - at.getTime() < WINDOW_MS;
		}
	};
}

/** Graph API error codes worth another try later (throughput, server trouble); others are permanent. */
const TRANSIENT_CODES = new Set([1, 2, 4, 17, 341, 80007, 130429, 131000, 131016, 131048, 131056, 131057, 133004]);

function graphError(answer: HttpAnswer): { code?: number; message: string } {
	const body = jsonOf(answer) as { error?: { code?: number; message?: string; error_data?: { details?: string } } } | undefined;
	const e = body?.error;
	const details = e?.error_data?.details;
	return { code: typeof e?.code === "number" ? e.code : undefined, message: [e?.message, details].filter(Boolean).join(": ") || `HTTP ${answer.status}` };
}

function isThrottled(answer: HttpAnswer): boolean {
	return (answer.status === 400 || answer.status === 429) && graphError(answer).code === 130429;
}

/**
 * This process's window, shared by every createWhatsApp without a window of its own: the api's webhook route and the
 * notifier see the same inbound messages when they run in one process (the embedded default). Across processes the
 * notifier passes a sharedServiceWindow backed by the store.
 */
const processWindow = memoryServiceWindow();

export interface WhatsAppClient {
	provider: Provider;
	callbacks: CallbackHandler;
	window: ServiceWindow;
}

/** The WhatsApp provider and its callback handler (sharing one service window). */
export function createWhatsApp(config: WhatsAppConfig, resilience: ResilienceConfig, deps: ClientDeps & { window?: ServiceWindow }): WhatsAppClient {
	const window = deps.window ?? processWindow;
	const http: ResilientHttp = resilientHttp(NAME, config.ratePerSecond, resilience, deps, {
		retryable: isThrottled,
		idempotent: false,
		unhealthy: (a) => a.status === 429 || a.status >= 500 || a.status === 401 || a.status === 403 || isThrottled(a)
	});
	const endpoint = `${config.apiUrl}/${config.apiVersion}/${encodeURIComponent(config.phoneNumberId)}/messages`;
	const now = (): Date => new Date(deps.clock?.now() ?? Date.now());

	async function body(message: OutgoingMessage, to: string): Promise<Record<string, unknown> | SendResult> {
		const base = { messaging_product: "whatsapp", recipient_type: "individual", to, biz_opaque_callback_data: message.attemptId };
		const doc = { link: message.document.url, filename: message.document.fileName };
		if (await window.isOpen(to, now())) {
			return { ...base, type: "document", document: { ...doc, caption: clip(message.text.body, 1024) } };
		}
		const templates = message.settings?.whatsapp?.templates ?? {};
		const lang = message.recipient.language;
		const template = templates[lang] ?? templates[lang.split("-")[0]];
		if (!template) return failed("NO_TEMPLATE", `no approved WhatsApp template for language '${lang}' and no open service window`, true);
		return {
			...base,
			type: "template",
			template: {
				name: template.name,
				language: { code: template.language },
				components: [{ type: "header", parameters: [{ type: "document", document: doc }] }]
			}
		};
	}

	const provider: Provider = {
		name: NAME,
		channel: "whatsapp",
		circuit: () => http.circuit(),
		shareRate: (nodes) => http.shareRate(nodes),
		ratePerSecond: () => http.ratePerSecond(),
		async send(message) {
			const phone = e164(message.recipient.phone);
			if (!phone) {
				http.count("rejected");
				return failed("NO_PHONE", "recipient has no valid E.164 phone number", true);
			}
			const to = digits(phone);
			const payload = await body(message, to);
			if ("ok" in payload) {
				http.count("rejected");
				return payload as SendResult;
			}
			const outcome = await http.call({
				method: "POST",
				url: endpoint,
				headers: { authorization: `Bearer ${config.token}`, "content-type": "application/json" },
				body: JSON.stringify(payload)
			});
			const result = outcome.kind === "answer" ? toResult(outcome.answer) : noAnswer(outcome, NAME);
			http.count(callOutcome(result, outcome.kind === "circuit-open"));
			deps.logger.debug({ provider: NAME, attemptId: message.attemptId, recipient: maskPhone(phone), ok: result.ok, code: result.ok ? undefined : result.code }, "whatsapp send");
			return result;
		}
	};

	function toResult(answer: HttpAnswer): SendResult {
		if (answer.status >= 200 && answer.status < 300) {
			const json = jsonOf(answer) as { messages?: { id?: string }[] } | undefined;
			const id = json?.messages?.[0]?.id;
			if (!id) return failed("BAD_RESPONSE", "WhatsApp accepted the message without a message ID", false, answer.status);
			return { ok: true, providerMessageId: id, status: "queued" };
		}
		const e = graphError(answer);
		const transient = answer.status === 429 || answer.status >= 500 || (e.code !== undefined && TRANSIENT_CODES.has(e.code));
		return failed(e.code !== undefined ? String(e.code) : `HTTP_${answer.status}`, e.message, !transient, answer.status);
	}

	return { provider, callbacks: whatsAppCallbacks(config, window), window };
}

type WaStatus = {
	id?: string;
	status?: string;
	timestamp?: string;
	recipient_id?: string;
	biz_opaque_callback_data?: string;
	errors?: { code?: number; title?: string; message?: string; error_data?: { details?: string } }[];
};

type WaPayload = {
	object?: string;
	entry?: { changes?: { field?: string; value?: { statuses?: WaStatus[]; messages?: { from?: string; timestamp?: string }[] } }[] }[];
};

const STATUS: Record<string, DeliveryStatus> = { sent: "sent", delivered: "delivered", read: "read", failed: "failed" };

function unixTime(ts: string | undefined, fallback: Date): Date {
	const n = Number(ts);
	return ts && Number.isFinite(n) ? new Date(n * 1000) : fallback;
}

/** The hex X-Hub-Signature-256 value Meta sends for this body ("sha256=..."). */
export function whatsAppSignature(appSecret: string, rawBody: Buffer | string): string {
	return `sha256=${createHmac("sha256", appSecret).update(rawBody).digest("hex")}`;
}

/** Verifies and parses WhatsApp webhooks (verification GET, signed POST). */
export function whatsAppCallbacks(config: Pick<WhatsAppConfig, "appSecret" | "verifyToken">, window: ServiceWindow, clock: () => Date = () => new Date()): CallbackHandler {
	return {
		provider: NAME,
		handle(req: CallbackRequest): CallbackOutcome {
			if (req.method === "GET") {
				const q = req.query;
				if (q["hub.mode"] === "subscribe" && typeof q["hub.verify_token"] === "string" && safeEqual(q["hub.verify_token"], config.verifyToken) && q["hub.challenge"]) {
					return { kind: "challenge", body: q["hub.challenge"], contentType: "text/plain" };
				}
				return { kind: "rejected", status: 403, reason: "webhook verification failed: wrong hub.mode or hub.verify_token" };
			}
			const given = req.headers["x-hub-signature-256"];
			if (!given) return { kind: "rejected", status: 401, reason: "missing X-Hub-Signature-256" };
			if (!safeEqual(given.trim().toLowerCase(), whatsAppSignature(config.appSecret, req.rawBody))) {
				return { kind: "rejected", status: 401, reason: "bad X-Hub-Signature-256" };
			}
			let payload: WaPayload;
			try {
				payload = JSON.parse(req.rawBody.toString("utf8")) as WaPayload;
			} catch {
				return { kind: "rejected", status: 400, reason: "body is not JSON" };
			}
			const received = clock();
			const events: StatusEvent[] = [];
			const inbound: { channel: "whatsapp"; phone: string; at: Date }[] = [];
			for (const entry of payload.entry ?? []) {
				for (const change of entry.changes ?? []) {
					for (const s of change.value?.statuses ?? []) {
						const status = s.status ? STATUS[s.status] : undefined;
						if (!status) continue;
						const err = s.errors?.[0];
						events.push({
							provider: NAME,
							channel: "whatsapp",
							...(s.biz_opaque_callback_data ? { attemptId: s.biz_opaque_callback_data } : {}),
							...(s.id ? { providerMessageId: s.id } : {}),
							status,
							at: unixTime(s.timestamp, received),
							...(err?.code !== undefined ? { code: String(err.code) } : {}),
							...(err ? { reason: [err.title ?? err.message, err.error_data?.details].filter(Boolean).join(": ") } : {})
						});
					}
					for (const m of change.value?.messages ?? []) {
						if (!m.from) continue;
						const at = unixTime(m.timestamp, received);
						window.noteInbound(m.from, at);
						inbound.push({ channel: "whatsapp", phone: `+${digits(m.from)}`, at });
					}
				}
			}
			return { kind: "events", events, ...(inbound.length ? { inbound } : {}) };
		}
	};
}

/**
 * RCS Business Messaging (Google RBM) client: POST {RCS_API_URL}/v1/phones/{E.164}/agentMessages?messageId=
 * {attemptId}&agentId={agent} with a rich card (title, text and an open-URL suggestion to the PDF's link), or the
 * PDF as a file message when the client's settings ask for it (`rcs.content: "file"`).
 *
 * - `messageId` is our attempt ID: RBM echoes it in every event, and refuses a second message with the same ID
 *   (409 ALREADY_EXISTS), which this client reads as "already sent" (ok): an attempt is never delivered twice, so
 *   timeouts are retried here.
 * - 404 NOT_FOUND: the phone cannot receive RCS: permanent, the notifier falls back at once. 403 (agent not launched
 *   on the recipient's carrier) and 400 are permanent too; 429 and 5xx are retried then transient.
 * - Auth as Google documents for a service account: a JWT assertion (RS256, iss = the account's client_email,
 *   scope rcsbusinessmessaging, aud = the token URL) exchanged at the token URL (RCS_TOKEN_URL, else the key file's
 *   token_uri, else Google's) for an access token, cached until a minute before it expires and refreshed after a
 *   401; or a static RCS_TOKEN.
 *
 * Callbacks (/api/v1/webhooks/rcs): the verification handshake (a POST {clientToken, secret}: when clientToken is
 * ours, answer 200 with the secret as plain text); events are Pub/Sub-style `{message: {data: base64}}` with
 * X-Goog-Signature = base64 HMAC-SHA512 under the client token of the base64-DECODED message.data (not the whole
 * body). DELIVERED and READ become events; TTL_EXPIRATION_REVOKED becomes failed (RBM never sends "failed"
 * otherwise: a missing DELIVERED is the notifier's delivery timeout).
 */
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import jwt from "jsonwebtoken";
import type { ProvidersConfig, ResilienceConfig } from "../../../config/index.ts";
import { ConfigError } from "../../../config/index.ts";
import { maskPhone } from "../../log.ts";
import type { CallbackHandler, CallbackOutcome, CallbackRequest, DeliveryStatus, OutgoingMessage, Provider, SendResult, StatusEvent } from "../provider.ts";
import { callOutcome, type ClientDeps, clip, e164, failed, jsonOf, noAnswer, resilientHttp, safeEqual } from "./common.ts";
import type { HttpAnswer } from "./resilience.ts";

export type RcsConfig = NonNullable<ProvidersConfig["rcs"]>;

const NAME = "google-rbm";
export const RBM_SCOPE = "https://www.googleapis.com/auth/rcsbusinessmessaging";
const GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token";

/** The fields of a Google service account key file this client uses. */
export interface ServiceAccountKey {
	client_email: string;
	private_key: string;
	private_key_id?: string;
	token_uri?: string;
}

/** Gives the Bearer token for RBM calls. */
export interface TokenSource {
	token(): Promise<string>;
	/** forget a token the API refused (401) */
	invalidate(): void;
}

export function staticToken(token: string): TokenSource {
	return { token: async () => token, invalidate() {} };
}

/** OAuth 2.0 JWT-bearer flow for a service account; the token is cached until 60 s before it expires. */
export function serviceAccountTokens(key: ServiceAccountKey, tokenUrl: string, timeoutMs: number, now: () => number = Date.now): TokenSource {
	let cached: { token: string; expiresAt: number } | undefined;
	let inflight: Promise<string> | undefined;
	async function fetchToken(): Promise<string> {
		const iat = Math.floor(now() / 1000);
		const assertion = jwt.sign({ iss: key.client_email, scope: RBM_SCOPE, aud: tokenUrl, iat, exp: iat + 3600 }, key.private_key, {
			algorithm: "RS256",
			...(key.private_key_id ? { keyid: key.private_key_id } : {})
		});
		const res = await fetch(tokenUrl, {
			method: "POST",
			headers: { "content-type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }).toString(),
			signal: AbortSignal.timeout(timeoutMs)
		});
		const json = (await res.json().catch(() => undefined)) as { access_token?: string; expires_in?: number; error?: string; error_description?: string } | undefined;
		if (!res.ok || !json?.access_token) throw new Error(`OAuth token endpoint answered ${res.status}${json?.error ? ` ${json.error}` : ""}${json?.error_description ? `: ${json.error_description}` : ""}`);
		cached = { token: json.access_token, expiresAt: now() + Math.max(0, (json.expires_in ?? 3600) - 60) * 1000 };
		return json.access_token;
	}
	return {
		async token() {
			if (cached && cached.expiresAt > now()) return cached.token;
			inflight ??= fetchToken().finally(() => {
				inflight = undefined;
			});
			return inflight;
		},
		invalidate() {
			cached = undefined;
		}
	};
}

/** The token source the configuration asks for (a static token wins over a key file). */
export function rcsTokenSource(config: RcsConfig, timeoutMs: number): TokenSource {
	if (config.token) return staticToken(config.token);
	const file = config.serviceAccountFile ?? "";
	let key: ServiceAccountKey;
	try {
		key = JSON.parse(readFileSync(file, "utf8")) as ServiceAccountKey;
	} catch (err) {
		throw new ConfigError("RCS_SERVICE_ACCOUNT_FILE", `RCS_SERVICE_ACCOUNT_FILE must be a readable service account key (JSON): ${(err as Error).message}`);
	}
	if (!key.client_email || !key.private_key) throw new ConfigError("RCS_SERVICE_ACCOUNT_FILE", "RCS_SERVICE_ACCOUNT_FILE must hold client_email and private_key");
	return serviceAccountTokens(key, config.tokenUrl ?? key.token_uri ?? GOOGLE_TOKEN_URL, timeoutMs);
}

/** The label of the card's open-URL suggestion (at most 25 characters) in the letter's language. */
const OPEN_LABEL: Record<string, string> = { en: "Open letter", hi: "पत्र खोलें", mr: "पत्र उघडा", gu: "પત્ર ખોલો", pt: "Abrir carta" };

/**
 * The AgentMessage body for one letter: a vertical standalone rich card with an open-URL suggestion, or (client
 * setting `rcs.content: "file"`) the PDF as a file message (contentInfo.fileUrl, fetched by RBM from the link).
 */
export function rbmMessage(message: OutgoingMessage): Record<string, unknown> {
	if (message.settings?.rcs?.content === "file") return { contentMessage: { contentInfo: { fileUrl: message.document.url, forceRefresh: false } } };
	const label = OPEN_LABEL[message.recipient.language] ?? OPEN_LABEL[message.recipient.language.split("-")[0]] ?? OPEN_LABEL.en;
	return {
		contentMessage: {
			richCard: {
				standaloneCard: {
					cardOrientation: "VERTICAL",
					cardContent: {
						title: clip(message.text.subject, 200),
						description: clip(message.text.body, 2000),
						suggestions: [{ action: { text: label, postbackData: `open:${message.attemptId}`, openUrlAction: { url: message.document.url } } }]
					}
				}
			}
		}
	};
}

export interface RcsClient {
	provider: Provider;
	callbacks: CallbackHandler;
}

export function createRcs(config: RcsConfig, resilience: ResilienceConfig, deps: ClientDeps & { tokens?: TokenSource }): RcsClient {
	const tokens = deps.tokens ?? rcsTokenSource(config, resilience.timeoutMs);
	const http = resilientHttp(NAME, config.ratePerSecond, resilience, deps, { unhealthy: (a) => a.status === 429 || a.status >= 500 || a.status === 401 });

	function toResult(answer: HttpAnswer, attemptId: string): SendResult {
		if ((answer.status >= 200 && answer.status < 300) || answer.status === 409) return { ok: true, providerMessageId: attemptId, status: "sent" };
		const e = (jsonOf(answer) as { error?: { status?: string; message?: string } } | undefined)?.error;
		const code = e?.status ?? `HTTP_${answer.status}`;
		if (answer.status === 404) return failed(code, e?.message ?? "the phone cannot receive RCS", true, 404);
		const transient = answer.status === 429 || answer.status >= 500;
		return failed(code, e?.message ?? `HTTP ${answer.status}`, !transient, answer.status);
	}

	const provider: Provider = {
		name: NAME,
		channel: "rcs",
		circuit: () => http.circuit(),
		shareRate: (nodes) => http.shareRate(nodes),
		ratePerSecond: () => http.ratePerSecond(),
		async send(message) {
			const phone = e164(message.recipient.phone);
			if (!phone) {
				http.count("rejected");
				return failed("NO_PHONE", "recipient has no valid E.164 phone number", true);
			}
			const agentId = message.settings?.rcs?.agentId ?? config.agentId;
			const url = `${config.apiUrl}/v1/phones/${phone}/agentMessages?messageId=${encodeURIComponent(message.attemptId)}&agentId=${encodeURIComponent(agentId)}`;
			const body = JSON.stringify(rbmMessage(message));
			let result: SendResult | undefined;
			let outcomeKind = "answer";
			for (let auth = 0; auth < 2 && !result; auth++) {
				let token: string;
				try {
					token = await tokens.token();
				} catch (err) {
					http.breaker.failure("OAUTH");
					result = failed("OAUTH", `no RBM access token: ${(err as Error).message}`, false);
					break;
				}
				const outcome = await http.call({ method: "POST", url, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body });
				outcomeKind = outcome.kind;
				if (outcome.kind === "answer" && outcome.answer.status === 401 && auth === 0) {
					tokens.invalidate();
					continue;
				}
				result = outcome.kind === "answer" ? toResult(outcome.answer, message.attemptId) : noAnswer(outcome, NAME);
			}
			const final = result ?? failed("UNAUTHENTICATED", "RBM refused the access token", true, 401);
			http.count(callOutcome(final, outcomeKind === "circuit-open"));
			deps.logger.debug({ provider: NAME, attemptId: message.attemptId, recipient: maskPhone(phone), ok: final.ok, code: final.ok ? undefined : final.code }, "rcs send");
			return final;
		}
	};
	return { provider, callbacks: rcsCallbacks(config) };
}

/** X-Goog-Signature for an event: base64 HMAC-SHA512 under the client token of the decoded message.data. */
export function rbmSignature(clientToken: string, decodedData: Buffer | string): string {
	return createHmac("sha512", clientToken).update(decodedData).digest("base64");
}

type RbmEvent = { eventType?: string; messageId?: string; sendTime?: string; senderPhoneNumber?: string; text?: string };

const EVENTS: Record<string, DeliveryStatus> = { DELIVERED: "delivered", READ: "read", TTL_EXPIRATION_REVOKED: "failed" };

/** Verifies and parses RBM webhooks (handshake, signed events). */
export function rcsCallbacks(config: Pick<RcsConfig, "clientToken">, clock: () => Date = () => new Date()): CallbackHandler {
	return {
		provider: NAME,
		handle(req: CallbackRequest): CallbackOutcome {
			if (req.method !== "POST") return { kind: "rejected", status: 400, reason: "RBM callbacks are POSTs" };
			let body: { clientToken?: unknown; secret?: unknown; message?: { data?: unknown } };
			try {
				body = JSON.parse(req.rawBody.toString("utf8")) as typeof body;
			} catch {
				return { kind: "rejected", status: 400, reason: "body is not JSON" };
			}
			if (body && typeof body.clientToken === "string" && typeof body.secret === "string") {
				if (!safeEqual(body.clientToken, config.clientToken)) return { kind: "rejected", status: 403, reason: "verification handshake with a wrong clientToken" };
				return { kind: "challenge", body: body.secret, contentType: "text/plain" };
			}
			const data = body?.message?.data;
			if (typeof data !== "string") return { kind: "rejected", status: 400, reason: "neither a verification handshake nor message.data" };
			const given = req.headers["x-goog-signature"];
			if (!given) return { kind: "rejected", status: 401, reason: "missing X-Goog-Signature" };
			const decoded = Buffer.from(data, "base64");
			if (!safeEqual(given.trim(), rbmSignature(config.clientToken, decoded))) return { kind: "rejected", status: 401, reason: "bad X-Goog-Signature" };
			let event: RbmEvent;
			try {
				event = JSON.parse(decoded.toString("utf8")) as RbmEvent;
			} catch {
				return { kind: "rejected", status: 400, reason: "message.data is not JSON" };
			}
			const at = event.sendTime && !Number.isNaN(Date.parse(event.sendTime)) ? new Date(event.sendTime) : clock();
			const status = event.eventType ? EVENTS[event.eventType] : undefined;
			if (!status) {
				// a user's message (text, file, suggestion response) or IS_TYPING: nothing to apply
				return event.senderPhoneNumber && !event.eventType ? { kind: "events", events: [], inbound: [{ channel: "rcs", phone: event.senderPhoneNumber, at }] } : { kind: "events", events: [] };
			}
			const ev: StatusEvent = {
				provider: NAME,
				channel: "rcs",
				...(event.messageId ? { attemptId: event.messageId, providerMessageId: event.messageId } : {}),
				status,
				at,
				...(status === "failed" ? { code: "TTL_EXPIRATION_REVOKED", reason: "the message was not delivered before its time to live and was revoked" } : {})
			};
			return { kind: "events", events: [ev] };
		}
	};
}

/**
 * SMS over Twilio's Messages resource: POST {TWILIO_API_URL}/2010-04-01/Accounts/{sid}/Messages.json, form-encoded,
 * HTTP Basic auth (account SID : auth token), To / From (or MessagingServiceSid when TWILIO_FROM or the client's
 * `settings.sms.from` is an MG... SID) / Body (the text already carries the PDF's time-limited link) and
 * StatusCallback = PUBLIC_URL + "/api/v1/webhooks/twilio?attempt=" + attemptId, so every status callback names our
 * attempt. Errors are `{code, message, status}`: 429 and 5xx are retried then transient; other 4xx (21211 invalid
 * number, 21610 unsubscribed, 21614 not a mobile, 20003 authentication...) are permanent. Messages has no
 * idempotency key: a try that may have reached Twilio (the connection broke or timed out once open) is not repeated
 * and the send ends `unknown`; only errors that prove nothing was sent (refused, DNS, a connect timeout) are retried.
 *
 * Callbacks (/api/v1/webhooks/twilio): X-Twilio-Signature = base64 HMAC-SHA1 under the auth token of the full URL
 * followed by each POST parameter's name and value, sorted by name; MessageStatus becomes a StatusEvent (queued,
 * sent, delivered, read; undelivered, failed and canceled as failed with ErrorCode).
 */
import { createHmac } from "node:crypto";
import type { ProvidersConfig, ResilienceConfig } from "../../../config/index.ts";
import { maskPhone } from "../../log.ts";
import type { CallbackHandler, CallbackOutcome, CallbackRequest, DeliveryStatus, Provider, SendResult } from "../provider.ts";
import { callOutcome, type ClientDeps, e164, failed, jsonOf, noAnswer, resilientHttp, safeEqual } from "./common.ts";
import type { HttpAnswer } from "./resilience.ts";

export type TwilioConfig = NonNullable<ProvidersConfig["twilio"]>;

const NAME = "twilio";
/** the path of our webhook route, appended to PUBLIC_URL in StatusCallback */
export const TWILIO_CALLBACK_PATH = "/api/v1/webhooks/twilio";

const STATUS: Record<string, DeliveryStatus> = {
	accepted: "queued",
	scheduled: "queued",
	queued: "queued",
	sending: "queued",
	sent: "sent",
	delivered: "delivered",
	read: "read",
	undelivered: "failed",
	failed: "failed",
	canceled: "failed"
};

/** Twilio's X-Twilio-Signature for a POST to `url` with these form parameters. */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
	const data = Object.keys(params)
		.sort()
		.reduce((acc, k) => acc + k + params[k], url);
	return createHmac("sha1", authToken).update(data, "utf8").digest("base64");
}

export interface TwilioClient {
	provider: Provider;
	callbacks: CallbackHandler;
}

/** The Twilio SMS provider and its callback handler; `publicUrl` is the gateway's base URL (PUBLIC_URL). */
export function createTwilio(config: TwilioConfig, resilience: ResilienceConfig, publicUrl: string, deps: ClientDeps): TwilioClient {
	const http = resilientHttp(NAME, config.ratePerSecond, resilience, deps, { idempotent: false });
	const endpoint = `${config.apiUrl}/2010-04-01/Accounts/${encodeURIComponent(config.accountSid)}/Messages.json`;
	const auth = `Basic ${Buffer.from(`${config.accountSid}:${config.authToken}`).toString("base64")}`;

	function toResult(answer: HttpAnswer): SendResult {
		const json = jsonOf(answer) as { sid?: string; status?: string; code?: number; message?: string } | undefined;
		if (answer.status >= 200 && answer.status < 300) {
			if (!json?.sid) return failed("BAD_RESPONSE", "Twilio accepted the message without a SID", false, answer.status);
			const s = json.status ? STATUS[json.status] : undefined;
			return { ok: true, providerMessageId: json.sid, status: s === "sent" || s === "delivered" ? s : "queued" };
		}
		const transient = answer.status === 429 || answer.status >= 500;
		return failed(json?.code !== undefined ? String(json.code) : `HTTP_${answer.status}`, json?.message ?? `HTTP ${answer.status}`, !transient, answer.status);
	}

	const provider: Provider = {
		name: NAME,
		channel: "sms",
		circuit: () => http.circuit(),
		shareRate: (nodes) => http.shareRate(nodes),
		ratePerSecond: () => http.ratePerSecond(),
		async send(message) {
			const to = e164(message.recipient.phone);
			if (!to) {
				http.count("rejected");
				return failed("NO_PHONE", "recipient has no valid E.164 phone number", true);
			}
			const from = message.settings?.sms?.from ?? config.from;
			const form = new URLSearchParams({ To: to, Body: message.text.body, StatusCallback: `${publicUrl}${TWILIO_CALLBACK_PATH}?attempt=${encodeURIComponent(message.attemptId)}` });
			form.set(/^MG[0-9a-f]{32}$/i.test(from) ? "MessagingServiceSid" : "From", from);
			const outcome = await http.call({
				method: "POST",
				url: endpoint,
				headers: { authorization: auth, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
				body: form.toString()
			});
			const result = outcome.kind === "answer" ? toResult(outcome.answer) : noAnswer(outcome, NAME);
			http.count(callOutcome(result, outcome.kind === "circuit-open"));
			deps.logger.debug({ provider: NAME, attemptId: message.attemptId, recipient: maskPhone(to), ok: result.ok, code: result.ok ? undefined : result.code }, "twilio send");
			return result;
		}
	};
	return { provider, callbacks: twilioCallbacks(config) };
}

/** Verifies and parses Twilio status callbacks. */
export function twilioCallbacks(config: Pick<TwilioConfig, "authToken">, clock: () => Date = () => new Date()): CallbackHandler {
	return {
		provider: NAME,
		handle(req: CallbackRequest): CallbackOutcome {
			if (req.method !== "POST") return { kind: "rejected", status: 400, reason: "Twilio callbacks are POSTs" };
			const given = req.headers["x-twilio-signature"];
			if (!given) return { kind: "rejected", status: 401, reason: "missing X-Twilio-Signature" };
			const params: Record<string, string> = {};
			for (const [k, v] of new URLSearchParams(req.rawBody.toString("utf8"))) params[k] = v;
			if (!safeEqual(given.trim(), twilioSignature(config.authToken, req.url, params))) {
				return { kind: "rejected", status: 401, reason: "bad X-Twilio-Signature" };
			}
			const status = STATUS[params.MessageStatus ?? params.SmsStatus ?? ""];
			if (!status) return { kind: "events", events: [] };
			const attemptId = req.query.attempt;
			const sid = params.MessageSid ?? params.SmsSid;
			const code = params.ErrorCode;
			return {
				kind: "events",
				events: [
					{
						provider: NAME,
						channel: "sms",
						...(attemptId ? { attemptId } : {}),
						...(sid ? { providerMessageId: sid } : {}),
						status,
						at: clock(),
						...(code ? { code } : {}),
						...(status === "failed" ? { reason: params.ErrorMessage ?? `Twilio ${params.MessageStatus ?? params.SmsStatus}${code ? ` (error ${code})` : ""}` } : {})
					}
				]
			};
		}
	};
}

/**
 * Email over SMTP (nodemailer, SMTP_URL, a pooled transport): the letter's subject and body in its language, the PDF
 * attached, Message-ID `<attemptId@sender's domain>` so that a bounce or a reply names our attempt.
 *
 * SMTP has no delivery callback: the server's acceptance is the last status this provider can know, so a send
 * answers `{ok: true, status: "sent"}` and the notifier treats an accepted email as the end of the plan (nothing
 * later will say "delivered" or "failed"). A refusal with a 5xx reply (mailbox unknown, rejected) is permanent; a
 * 4xx reply, a connection or authentication error is transient and counts against the circuit breaker.
 */
import nodemailer from "nodemailer";
import type { Transporter } from "nodemailer";
import { maskEmail } from "../../log.ts";
import type { Provider, SendResult } from "../provider.ts";
import { failed, type ClientDeps } from "./common.ts";
import { CIRCUIT_GAUGE, CircuitBreaker, TokenBucket } from "./resilience.ts";
import type { ResilienceConfig } from "../../../config/index.ts";

const NAME = "smtp";

export interface EmailConfig {
	url: string;
	from: string;
	/** most emails a second for the whole platform (SMTP_RATE_PER_S; this node keeps to its share); 0: no limit */
	ratePerSecond?: number;
}

/** The domain of an address like "Paperwork <no-reply@paperwork.local>" (for Message-IDs). */
function domainOf(from: string): string {
	const m = /@([^>\s]+)/.exec(from);
	return m ? m[1] : "paperwork.local";
}

export function createEmail(config: EmailConfig, resilience: ResilienceConfig, deps: ClientDeps & { transport?: Transporter }): Provider {
	const transport = deps.transport ?? nodemailer.createTransport({ url: config.url, pool: true, maxConnections: 5 } as Parameters<typeof nodemailer.createTransport>[0]);
	const breaker = new CircuitBreaker({
		failureThreshold: resilience.circuitFailures,
		coolDownMs: resilience.circuitCooldownMs,
		clock: deps.clock,
		onChange: (info) => {
			deps.metrics?.set("paperwork_provider_circuit_state", CIRCUIT_GAUGE[info.state], { provider: NAME });
			if (info.state === "open") {
				deps.logger.warn({ provider: NAME, circuit: info.state, failures: info.failures }, "provider circuit opened: sends are refused until a probe succeeds");
				deps.onCircuitOpen?.(NAME, info);
			}
		}
	});
	const limit = config.ratePerSecond ?? 0;
	const bucket = new TokenBucket(limit, Math.max(1, limit), deps.clock);
	let nodes = 1;
	const count = (outcome: string): void => deps.metrics?.inc("paperwork_provider_calls_total", { provider: NAME, outcome });
	return {
		name: NAME,
		channel: "email",
		circuit: () => breaker.info(),
		shareRate(n) {
			const share = Math.max(1, Math.floor(n));
			if (limit <= 0 || share === nodes) return;
			nodes = share;
			bucket.setRate(Math.max(1, limit / share));
		},
		ratePerSecond: () => bucket.ratePerSecond,
		async send(message): Promise<SendResult> {
			const to = message.recipient.email;
			if (!to || !/^[^\s@]+@[^\s@]+$/.test(to)) {
				count("rejected");
				return failed("NO_EMAIL", "recipient has no email address", true);
			}
			let content: Buffer;
			try {
				content = await message.document.read();
			} catch (err) {
				count("failed");
				return failed("DOCUMENT", `the PDF could not be read: ${(err as Error).message}`, false);
			}
			if (!breaker.tryPass()) {
				count("circuit_open");
				return failed("CIRCUIT_OPEN", `${NAME} circuit is open: not called`, false);
			}
			await bucket.take();
			const from = message.settings?.email?.from ?? config.from;
			const messageId = `<${message.attemptId}@${domainOf(from)}>`;
			try {
				const info = await transport.sendMail({
					from,
					to,
					...(message.settings?.email?.replyTo ? { replyTo: message.settings.email.replyTo } : {}),
					subject: message.text.subject,
					text: message.text.body,
					messageId,
					attachments: [{ filename: message.document.fileName, content, contentType: "application/pdf" }]
				});
				breaker.success();
				count("sent");
				deps.logger.debug({ provider: NAME, attemptId: message.attemptId, recipient: maskEmail(to) }, "email accepted by SMTP");
				return { ok: true, providerMessageId: (info as { messageId?: string }).messageId ?? messageId, status: "sent" };
			} catch (err) {
				const e = err as Error & { code?: string; responseCode?: number; response?: string };
				const permanent = e.responseCode !== undefined && e.responseCode >= 500 && e.code !== "EAUTH";
				if (permanent) breaker.neutral();
				else breaker.failure(e.responseCode !== undefined ? `SMTP ${e.responseCode}` : (e.code ?? "SMTP error"));
				count(permanent ? "rejected" : "failed");
				return failed(e.responseCode !== undefined ? String(e.responseCode) : (e.code ?? "SMTP"), (e.response ?? e.message).slice(0, 300), permanent);
			}
		},
		async close() {
			transport.close();
		}
	};
}

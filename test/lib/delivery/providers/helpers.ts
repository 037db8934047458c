/**
 * Test helpers for the provider clients: a stand-in gateway that hands webhook calls to the callback handlers the
 * way the api's webhook routes do (raw body, lower-cased headers, the full URL as signed), a message factory, a
 * silent logger, a clock whose sleeps are recorded and skipped, and a configuration for local servers.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { loadConfig, type Config } from "../../../../config/index.ts";
import type { CallbackHandler, CallbackOutcome, OutgoingMessage } from "../../../../lib/delivery/provider.ts";
import type { Clock } from "../../../../lib/delivery/providers/resilience.ts";

export const silent = pino({ level: "silent" });

export interface Gateway {
	url: string;
	outcomes: { route: string; outcome: CallbackOutcome }[];
	close(): Promise<void>;
}

/** POST/GET {url}/api/v1/webhooks/{route} -> handlers[route]; answers as the real routes do. */
export async function startGateway(handlers: Record<string, CallbackHandler>): Promise<Gateway> {
	const outcomes: Gateway["outcomes"] = [];
	let base = "";
	const server = http.createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on("data", (c: Buffer) => chunks.push(c));
		req.on("end", () => {
			const u = new URL(req.url ?? "/", base);
			const route = u.pathname.replace(/^\/api\/v1\/webhooks\//, "");
			const handler = handlers[route];
			if (!handler) {
				res.writeHead(404).end();
				return;
			}
			const headers: Record<string, string | undefined> = {};
			for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(",") : v;
			const outcome = handler.handle({ method: req.method === "GET" ? "GET" : "POST", url: `${base}${req.url}`, headers, query: Object.fromEntries(u.searchParams), rawBody: Buffer.concat(chunks) });
			outcomes.push({ route, outcome });
			if (outcome.kind === "challenge") res.writeHead(200, { "content-type": outcome.contentType ?? "text/plain" }).end(outcome.body);
			else if (outcome.kind === "rejected") res.writeHead(outcome.status, { "content-type": "application/json" }).end(JSON.stringify({ message: outcome.reason }));
			else res.writeHead(200).end();
		});
	});
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	return {
		url: base,
		outcomes,
		close: () =>
			new Promise<void>((r) => {
				server.closeAllConnections();
				server.close(() => r());
			})
	};
}

let seq = 0;
export function message(over: Partial<OutgoingMessage> & { phone?: string; language?: string } = {}): OutgoingMessage {
	seq += 1;
	const { phone, language, ...rest } = over;
	return {
		attemptId: `att-${process.pid}-${seq}`,
		clientId: "client-1",
		caseId: `case-${seq}`,
		channel: "whatsapp",
		recipient: { name: "Asha Rao", phone: phone ?? "+919876543210", email: "asha@example.com", language: language ?? "en" },
		document: { fileName: `welcome-letter-L-${seq}.pdf`, url: `https://files.example.com/doc-${seq}.pdf?sig=abc`, bytes: 9, read: async () => Buffer.from("%PDF-1.7\n") },
		text: { subject: "Your welcome letter", body: "Dear Asha, your loan L-1 letter: https://files.example.com/doc.pdf" },
		settings: { whatsapp: { templates: { en: { name: "welcome_letter", language: "en" }, hi: { name: "welcome_letter", language: "hi" } } } },
		...rest
	};
}

/** A clock that stands still except when slept on (sleeps are recorded and skipped) or advanced. */
export function fastClock(): Clock & { waits: number[]; advance(ms: number): void } {
	const start = Date.now();
	let offset = 0;
	const waits: number[] = [];
	return {
		waits,
		now: () => start + offset,
		sleep: async (ms) => {
			waits.push(ms);
			offset += ms;
		},
		random: () => 1,
		advance(ms) {
			offset += ms;
		}
	};
}

/** The configuration with these variables (retries fast, no rate limit unless set). */
export function configWith(env: Record<string, string>): Config {
	return loadConfig({ PROVIDER_RETRY_BASE_MS: "5", WHATSAPP_RATE_PER_S: "0", RCS_RATE_PER_S: "0", TWILIO_RATE_PER_S: "0", ...env });
}

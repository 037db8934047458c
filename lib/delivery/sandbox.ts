/**
 * The sandbox provider: the embedded default for every channel without a configured provider, so that `npm start`
 * delivers end to end with no account anywhere. It records what would have been sent in an outbox (the
 * `sandbox_outbox` collection, readable over the API and the REPL) and simulates the provider's status callbacks
 * through the same code path as real callbacks: a signed CallbackRequest handed to the notifier's callback entry,
 * verified and parsed by the sandbox's CallbackHandler, then applied like a webhook's events.
 *
 * Outcomes by the recipient's phone: ending in 0000 fails on WhatsApp (accepted, then a "failed" callback); ending
 * in 1111 fails on WhatsApp and is refused at once on RCS (as Google answers 404 for a phone without RCS);
 * otherwise "sent" then "delivered". SMS and email always succeed.
 *
 * Like a real provider under load, it batches: the outbox entries of the messages sent in one turn of the event loop
 * are written together, and the status events due at the same time go out in one signed callback (WhatsApp, too,
 * puts several statuses in one webhook).
 */
import crypto from "node:crypto";
import type { Logger } from "pino";
import type { Doc, NewDoc, StoreAdapter } from "../store/types.ts";
import { Coalescer } from "../store/coalesce.ts";
import type { CallbackHandler, CallbackOutcome, CallbackRequest, Channel, DeliveryStatus, OutgoingMessage, Provider, SendResult, StatusEvent } from "./provider.ts";

export interface OutboxEntry {
	_id: string;
	attemptId: string;
	caseId: string;
	clientId: string;
	channel: Channel;
	provider: "sandbox";
	providerMessageId: string | null;
	/** the phone or email it would have gone to */
	to: string;
	subject: string;
	body: string;
	document: { fileName: string; url: string; bytes: number };
	/** what the sandbox simulates for it */
	outcome: "delivered" | "failed" | "refused";
	at: Date;
}

export interface SandboxOptions {
	outbox: StoreAdapter;
	/** where simulated callbacks go: the notifier's callback entry (the same one the webhooks use) */
	emit(req: CallbackRequest): Promise<void>;
	/** delay before each simulated callback */
	delayMs: number;
	logger: Logger;
	/** signs simulated callbacks (a per-process secret by default) */
	secret?: string;
}

type Outcome = OutboxEntry["outcome"];

/** What the sandbox does with a message on a channel, from the recipient's phone. */
export function sandboxOutcome(channel: Channel, phone: string | undefined): Outcome {
	const p = phone ?? "";
	if (channel === "whatsapp" && (p.endsWith("0000") || p.endsWith("1111"))) return "failed";
	if (channel === "rcs" && p.endsWith("1111")) return "refused";
	return "delivered";
}

const SIGNATURE = "x-sandbox-signature";

/** The sandbox: one provider per channel, its callback handler, and its pending simulated callbacks. */
export class Sandbox {
	readonly #o: SandboxOptions;
	readonly #secret: string;
	readonly #timers = new Set<NodeJS.Timeout>();
	readonly #record: Coalescer<NewDoc, Doc>;
	/** events queued in this turn, each with the ones that follow it for the same message */
	#due: { event: Omit<StatusEvent, "at">; rest: Omit<StatusEvent, "at">[] }[] = [];
	readonly handler: CallbackHandler;
	#closed = false;

	constructor(options: SandboxOptions) {
		this.#o = options;
		this.#secret = options.secret ?? crypto.randomBytes(32).toString("hex");
		this.#record = new Coalescer((entries) => options.outbox.insertMany(entries));
		const secret = this.#secret;
		this.handler = {
			provider: "sandbox",
			handle(req: CallbackRequest): CallbackOutcome {
				// a verification handshake in WhatsApp's form (GET hub.mode, hub.verify_token, hub.challenge), token "sandbox"
				if (req.method === "GET") {
					if (req.query["hub.mode"] === "subscribe" && req.query["hub.verify_token"] === "sandbox" && req.query["hub.challenge"]) return { kind: "challenge", body: req.query["hub.challenge"] };
					return { kind: "rejected", status: 403, reason: "verification token mismatch" };
				}
				const sig = req.headers[SIGNATURE];
				const want = crypto.createHmac("sha256", secret).update(req.rawBody).digest("hex");
				if (typeof sig !== "string" || sig.length !== want.length || !crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(want))) {
					return { kind: "rejected", status: 401, reason: "sandbox signature missing or wrong" };
				}
				const body = JSON.parse(req.rawBody.toString("utf8")) as { events: (Omit<StatusEvent, "at"> & { at: string })[] };
				return { kind: "events", events: body.events.map((e) => ({ ...e, at: new Date(e.at) })) };
			}
		};
	}

	/** The sandbox provider for a channel. */
	provider(channel: Channel): Provider {
		return {
			name: "sandbox",
			channel,
			send: (m) => this.#send(channel, m),
			circuit: () => ({ state: "closed", failures: 0 })
		};
	}

	async #send(channel: Channel, m: OutgoingMessage): Promise<SendResult> {
		const outcome = sandboxOutcome(channel, m.recipient.phone);
		const providerMessageId = outcome === "refused" ? null : `sbx_${crypto.randomBytes(9).toString("hex")}`;
		const entry: Omit<OutboxEntry, "_id"> = {
			attemptId: m.attemptId,
			caseId: m.caseId,
			clientId: m.clientId,
			channel,
			provider: "sandbox",
			providerMessageId,
			to: (channel === "email" ? m.recipient.email : m.recipient.phone) ?? "",
			subject: m.text.subject,
			body: m.text.body,
			document: { fileName: m.document.fileName, url: m.document.url, bytes: m.document.bytes },
			outcome,
			at: new Date()
		};
		await this.#record.call(entry);
		if (outcome === "refused") return { ok: false, permanent: true, code: "NOT_FOUND", reason: "sandbox: this phone cannot receive RCS", httpStatus: 404 };
		const id = providerMessageId as string;
		const base = { provider: "sandbox", channel, attemptId: m.attemptId, providerMessageId: id };
		const statuses: { status: DeliveryStatus; code?: string; reason?: string }[] =
			outcome === "failed" ? [{ status: "sent" }, { status: "failed", code: "131026", reason: "sandbox: message undeliverable to this phone" }] : [{ status: "sent" }, { status: "delivered" }];
		this.#later(statuses.map((s) => ({ ...base, ...s })));
		return { ok: true, providerMessageId: id, status: "queued" };
	}

	/**
	 * Sends a message's simulated callbacks one after the other, each after the delay; the events of all messages
	 * queued in the same turn go out together, in one signed callback.
	 */
	#later(events: Omit<StatusEvent, "at">[]): void {
		const [first, ...rest] = events;
		if (!first || this.#closed) return;
		this.#due.push({ event: first, rest });
		if (this.#due.length > 1) return;
		// the first event of this turn schedules the callback that carries every event queued in it
		setImmediate(() => {
			const batch = this.#due;
			this.#due = [];
			if (this.#closed) return;
			const t = setTimeout(() => {
				this.#timers.delete(t);
				if (this.#closed) return;
				const at = new Date().toISOString();
				const rawBody = Buffer.from(JSON.stringify({ events: batch.map((b) => ({ ...b.event, at })) }));
				const headers = { "content-type": "application/json", [SIGNATURE]: crypto.createHmac("sha256", this.#secret).update(rawBody).digest("hex") };
				this.#o
					.emit({ method: "POST", url: "sandbox:/callbacks", headers, query: {}, rawBody })
					.catch((err: Error) => this.#o.logger.warn({ err: err.message, events: batch.length }, "sandbox callback failed"))
					.finally(() => {
						for (const b of batch) this.#later(b.rest);
					});
			}, this.#o.delayMs);
			this.#timers.add(t);
		});
	}

	/** Simulated callbacks not sent yet are dropped (as a provider's would be lost with a crashed receiver). */
	async close(): Promise<void> {
		this.#closed = true;
		for (const t of this.#timers) clearTimeout(t);
		this.#timers.clear();
	}
}

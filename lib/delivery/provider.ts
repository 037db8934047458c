/**
 * The delivery port: what the notifier asks of a messaging provider (WhatsApp Cloud API, Google RBM, Twilio SMS,
 * SMTP email, the sandbox), and what a provider's status callback becomes. Provider clients live in
 * lib/delivery/providers/ (one file each, plain modules, no broker); the notifier (services/notifier.service.ts)
 * and its logic (lib/delivery/) only see these types.
 *
 * Correlation and "never twice": every send carries our own `attemptId` (unique per attempt, stored before the
 * provider is called). Each client hands it to the provider where the provider echoes it back in status
 * callbacks (WhatsApp `biz_opaque_callback_data`, RBM `messageId`, Twilio's StatusCallback URL `?attempt=`, the
 * email Message-ID, the sandbox's outbox), so an attempt whose result was never written (a notifier that died
 * between the provider's answer and the write) is still matched by its callbacks and is never sent again.
 */

/** The channels of a client's plan, in the order the plan gives them. */
export type Channel = "whatsapp" | "rcs" | "sms" | "email" | "courier";
export const CHANNELS: readonly Channel[] = ["whatsapp", "rcs", "sms", "email", "courier"];

/** An attempt's status; order matters: a status never goes back to an earlier one (failed is final). */
export type DeliveryStatus = "queued" | "sent" | "delivered" | "read" | "failed";

/** Who receives the document. */
export interface Recipient {
	name: string;
	/** E.164, "+919876543210" */
	phone?: string;
	email?: string;
	/** the letter's language: en, hi, mr, gu (pt-BR for Brazilian notices) */
	language: string;
}

/** One message to send: one attempt of one case on one channel. */
export interface OutgoingMessage {
	/** our ID of this attempt: unique, stable across retries of the same attempt, echoed back by callbacks */
	attemptId: string;
	clientId: string;
	caseId: string;
	channel: Channel;
	recipient: Recipient;
	document: {
		/** e.g. "welcome-letter-L-123.pdf" */
		fileName: string;
		/** a time-limited link to the PDF (presigned on S3, signed by the gateway on the embedded default) */
		url: string;
		bytes: number;
		/** the PDF's bytes, for channels that attach it (email) */
		read(): Promise<Buffer>;
	};
	/** subject (email) and text (SMS, captions) in the recipient's language; the SMS text already carries the link */
	text: { subject: string; body: string };
	/** the client's per-channel settings (e.g. WhatsApp template name and language code per letter language) */
	settings?: ClientChannelSettings;
}

/** Per-client delivery settings (stored on the client, `settings.delivery`). */
export interface ClientChannelSettings {
	/** channel plan in order; default ["whatsapp", "rcs", "sms", "email"] */
	plan?: Channel[];
	whatsapp?: {
		/** approved template per letter language: { en: { name: "welcome_letter", language: "en" }, hi: { name: "welcome_letter", language: "hi" } } */
		templates?: Record<string, { name: string; language: string }>;
	};
	/** content: "card" (default) a rich card with a button opening the PDF; "file" the PDF itself as a file message */
	rcs?: { agentId?: string; content?: "card" | "file" };
	sms?: { from?: string };
	email?: { from?: string; replyTo?: string };
}

/** A provider's answer to a send. */
export type SendResult =
	| { ok: true; providerMessageId: string; status: "queued" | "sent" | "delivered" }
	| {
			ok: false;
			/** true: this channel cannot reach this recipient or the request is wrong (do not retry it; fall back now) */
			permanent: boolean;
			/** provider's error code, e.g. "131026", "NOT_FOUND", "21211", "EAUTH" */
			code: string;
			reason: string;
			/** HTTP status when there was one */
			httpStatus?: number;
			/**
			 * the request may have reached the provider (the connection broke or timed out after it was written): the
			 * message may be out. The notifier does not fail the attempt: its callbacks or its delivery timeout decide
			 */
			unknown?: boolean;
	  };

/** A messaging provider client for one channel. */
export interface Provider {
	/** "whatsapp-cloud", "google-rbm", "twilio", "smtp", "sandbox" */
	readonly name: string;
	readonly channel: Channel;
	/**
	 * Sends one message. Retries on 429/5xx with backoff and jitter (honouring Retry-After) and the rate limit are
	 * inside; an answer after those retries (or a circuit that is open) comes back as `{ok: false, permanent: false}`.
	 * Never throws for a provider's refusal; throws only for a programming error.
	 */
	send(message: OutgoingMessage): Promise<SendResult>;
	/** circuit breaker state for health and metrics (since: when it entered that state; the last failure's reason, no secrets) */
	circuit(): { state: "closed" | "open" | "half-open"; failures: number; openedAt?: Date; since?: Date; lastFailure?: { at: Date; reason: string } };
	/**
	 * The provider's rate limit (its `*_RATE_PER_S`) holds for the whole platform: told how many notifier nodes are
	 * live, this node keeps to its share of it. Absent: the provider has no rate limit (the sandbox).
	 */
	shareRate?(nodes: number): void;
	/** the calls a second this node allows itself now; 0: no limit */
	ratePerSecond?(): number;
	close?(): Promise<void>;
}

/** One status change reported by a provider (from a callback, or from the sandbox's simulation). */
export interface StatusEvent {
	provider: string;
	channel: Channel;
	/** our attempt ID when the provider echoed it (preferred for matching) */
	attemptId?: string;
	providerMessageId?: string;
	status: DeliveryStatus;
	at: Date;
	/** failure code and reason as the provider gave them */
	code?: string;
	reason?: string;
}

/** An HTTP callback as the gateway received it (raw body kept: signatures are computed over bytes). */
export interface CallbackRequest {
	method: "GET" | "POST";
	/** the full URL the provider called, as it signed it (PUBLIC_URL + path + query) */
	url: string;
	/** lower-cased header names */
	headers: Record<string, string | undefined>;
	query: Record<string, string>;
	rawBody: Buffer;
}

/** What the gateway answers a provider's callback. */
export type CallbackOutcome =
	/** a verification handshake (WhatsApp's GET hub.challenge, RBM's clientToken/secret echo): answer 200 with body */
	| { kind: "challenge"; body: string; contentType?: string }
	/** a verified callback: apply these events (none is fine: e.g. an inbound message we do not handle) */
	| {
			kind: "events";
			events: StatusEvent[];
			/**
			 * inbound messages from recipients seen in this callback (WhatsApp: they open the 24 h customer-service
			 * window); optional, for a gateway that keeps the window in a shared store
			 */
			inbound?: { channel: Channel; phone: string; at: Date }[];
	  }
	/** bad or missing signature, or a failed handshake: answer with this status; nothing changes */
	| { kind: "rejected"; status: 400 | 401 | 403; reason: string };

/** Verifies and parses one provider's callbacks (pure: no I/O). */
export interface CallbackHandler {
	readonly provider: string;
	handle(req: CallbackRequest): CallbackOutcome;
}

/** The providers configured for this process: at most one per channel, and the callback handlers by route name. */
export interface ProviderSet {
	byChannel: Partial<Record<Channel, Provider>>;
	/** keyed by the webhook route: "whatsapp", "rcs", "twilio" */
	callbacks: Record<string, CallbackHandler>;
	close(): Promise<void>;
}

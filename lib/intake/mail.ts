/**
 * Mail into documents (the SMTP listener and IMAP mailboxes share this). A mail routes to the client whose intake
 * addresses hold a recipient (plus-addressing: invoices+march@x routes as invoices@x), subject to the client's
 * optional sender allow-list (addresses or @domains). Each attachment, inline ones too, becomes a document of one
 * envelope that keeps sender, subject, date and Message-ID; the raw .eml is stored. The same Message-ID for the same
 * client twice creates nothing; a mail without a usable attachment is recorded with the reasons (and so is not read
 * again); mail for nobody is kept aside under intake/unrouted/ and logged (addresses masked). A mailbox's message over
 * the size limit is not downloaded: what the mailbox says about it (size, envelope) is recorded the same way.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { simpleParser, type AddressObject, type ParsedMail } from "mailparser";
import type { StoreAdapter } from "../store/types.ts";
import type { IntakeSettings } from "../clients.ts";
import type { Envelope } from "./documents.ts";
import { acceptDocument, type AcceptDeps } from "./accept.ts";

export interface MailClient {
	id: string;
	intake?: IntakeSettings;
}

/** An address without its plus tag, lower-cased ("Invoices+March@X.com" -> "invoices@x.com"). */
export function baseAddress(address: string): string {
	const a = address.trim().toLowerCase();
	const at = a.lastIndexOf("@");
	if (at < 0) return a;
	return `${a.slice(0, at).split("+")[0]}@${a.slice(at + 1)}`;
}

/** The client a mail is for: the first recipient that is one of a client's intake addresses. */
export function routeMail(recipients: string[], clients: MailClient[]): MailClient | null {
	const byAddress = new Map<string, MailClient>();
	for (const c of clients) for (const a of c.intake?.addresses ?? []) byAddress.set(baseAddress(a), c);
	for (const r of recipients) {
		const c = byAddress.get(baseAddress(r));
		if (c) return c;
	}
	return null;
}

/** True when the client takes mail from `from` (no list: everyone). */
export function senderAllowed(from: string | undefined, senders: string[] | undefined): boolean {
	if (!senders?.length) return true;
	const f = (from ?? "").trim().toLowerCase();
	if (!f) return false;
	return senders.some((s) => {
		const t = s.trim().toLowerCase();
		return t.startsWith("@") ? f.endsWith(t) : baseAddress(f) === baseAddress(t);
	});
}

/** 24 hex characters derived from parts (stable IDs for envelopes and attachments). */
export function derivedId(...parts: string[]): string {
	return createHash("sha256").update(parts.join("\n")).digest("hex").slice(0, 24);
}

function addresses(v: AddressObject | AddressObject[] | undefined): string[] {
	const list = Array.isArray(v) ? v : v ? [v] : [];
	return list.flatMap((a) => a.value.map((x) => x.address ?? "")).filter(Boolean);
}

export type MailOutcome =
	| { status: "STORED"; clientId: string; envelopeId: string; documents: string[]; refused: { filename: string; reason: string }[] }
	| { status: "NO_DOCUMENTS"; clientId: string; envelopeId: string; refused: { filename: string; reason: string }[] }
	| { status: "DUPLICATE"; clientId: string; envelopeId: string }
	| { status: "SENDER_REFUSED"; clientId: string; key: string }
	| { status: "UNROUTED"; key: string }
	| { status: "TOO_LARGE"; clientId: string | null; envelopeId: string | null };

export interface MailDeps extends AcceptDeps {
	/** intake_mails: one record per (client, Message-ID) */
	mails: StoreAdapter;
	/** the clients with intake addresses; `fresh` reads them again instead of a cached list */
	clients(fresh?: boolean): Promise<MailClient[]>;
	log(level: "info" | "warn", obj: Record<string, unknown>, msg: string): void;
}

/** Masks an address for logs ("in***@acme.test"). */
export function maskAddress(a: string | undefined): string {
	if (!a) return "";
	const at = a.indexOf("@");
	return at > 0 ? `${a.slice(0, Math.min(2, at))}***${a.slice(at)}` : "***";
}

/**
 * Takes one raw mail. `recipients` are the SMTP envelope's (RCPT TO); for a mailbox's message, its To, Cc and
 * Delivered-To headers are used.
 */
export async function takeMail(raw: Buffer, recipients: string[] | null, deps: MailDeps): Promise<MailOutcome> {
	const { objects } = deps.platform;
	const parsed: ParsedMail = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
	const rawHash = createHash("sha256").update(raw).digest("hex");
	const messageId = parsed.messageId ?? `<sha256-${rawHash}>`;
	const delivered = parsed.headers.get("delivered-to");
	const rcpts = recipients ?? [...addresses(parsed.to), ...addresses(parsed.cc), ...(typeof delivered === "string" ? [delivered] : [])];
	const from = addresses(parsed.from)[0];
	// a client given an intake address a moment ago may not be in the cached list yet
	const client = routeMail(rcpts, await deps.clients()) ?? routeMail(rcpts, await deps.clients(true));
	if (!client) {
		const key = `intake/unrouted/${new Date().toISOString().slice(0, 10)}/${rawHash.slice(0, 24)}.eml`;
		await objects.put(key, raw, { contentType: "message/rfc822" });
		deps.log("warn", { key, to: rcpts.map(maskAddress), from: maskAddress(from) }, "mail for no client kept aside");
		return { status: "UNROUTED", key };
	}
	const clientId = client.id;
	if (!senderAllowed(from, client.intake?.senders)) {
		const key = `intake/refused/${clientId}/${rawHash.slice(0, 24)}.eml`;
		await objects.put(key, raw, { contentType: "message/rfc822" });
		deps.log("warn", { clientId, key, from: maskAddress(from) }, "mail from a sender the client does not allow kept aside");
		return { status: "SENDER_REFUSED", clientId, key };
	}
	const envelopeId = derivedId(clientId, messageId);
	const seen = await deps.mails.findById(envelopeId);
	if (seen && seen.status !== "RECEIVING") return { status: "DUPLICATE", clientId, envelopeId };
	if (!seen) {
		try {
			await deps.mails.insert({ _id: envelopeId, clientId, messageId, status: "RECEIVING", createdAt: new Date() });
		} catch {
			return { status: "DUPLICATE", clientId, envelopeId };
		}
	}
	const emlKey = `intake/${clientId}/mail/${envelopeId}.eml`;
	await objects.put(emlKey, raw, { contentType: "message/rfc822" });
	const envelope: Envelope = { id: envelopeId, ...(from ? { from } : {}), to: rcpts, ...(parsed.subject ? { subject: parsed.subject } : {}), ...(parsed.date ? { date: parsed.date.toISOString() } : {}), messageId, emlKey };
	const documents: string[] = [];
	const refused: { filename: string; reason: string }[] = [];
	for (const [i, att] of parsed.attachments.entries()) {
		const filename = att.filename ?? `attachment-${i + 1}`;
		try {
			const doc = await acceptDocument({ id: derivedId(envelopeId, String(i)), clientId, body: Readable.from([att.content]), filename, source: "email", envelope }, deps);
			documents.push(doc._id);
		} catch (err) {
			const e = err as { code?: number; message?: string; data?: { id?: string } };
			if (typeof e.code !== "number" || e.code >= 500) throw err;
			refused.push({ filename, reason: e.message ?? "refused" });
		}
	}
	if (!parsed.attachments.length) refused.push({ filename: "", reason: "the mail has no attachment" });
	const status = documents.length ? "STORED" : "NO_DOCUMENTS";
	await deps.mails.updateById(envelopeId, { $set: { status, documents, refused, from: from ?? null, subject: parsed.subject ?? null, emlKey, finishedAt: new Date() } });
	deps.log("info", { clientId, envelopeId, documents: documents.length, refused: refused.length }, status === "STORED" ? "mail taken" : "mail without usable attachments recorded");
	return status === "STORED" ? { status, clientId, envelopeId, documents, refused } : { status, clientId, envelopeId, refused };
}

/** What a mailbox tells about a message without downloading it (IMAP RFC822.SIZE, ENVELOPE, Delivered-To). */
export interface MailSummary {
	size: number;
	recipients: string[];
	from?: string;
	subject?: string;
	date?: Date;
	messageId?: string;
}

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

/**
 * A mailbox's message over the size limit, never downloaded: recorded for its client with the reason (status
 * TOO_LARGE, beside the mails without usable attachments; the same Message-ID twice records it once), or only
 * logged when it is for no client or from a sender the client does not allow (there is no .eml to keep aside). It
 * stays in the mailbox.
 */
export async function recordOversized(mail: MailSummary, maxBytes: number, deps: MailDeps): Promise<MailOutcome> {
	const client = routeMail(mail.recipients, await deps.clients()) ?? routeMail(mail.recipients, await deps.clients(true));
	const size = { size: mail.size, limit: maxBytes };
	if (!client) {
		deps.log("warn", { ...size, to: mail.recipients.map(maskAddress), from: maskAddress(mail.from) }, "mail over the size limit for no client left in the mailbox");
		return { status: "TOO_LARGE", clientId: null, envelopeId: null };
	}
	const clientId = client.id;
	if (!senderAllowed(mail.from, client.intake?.senders)) {
		deps.log("warn", { clientId, ...size, from: maskAddress(mail.from) }, "mail over the size limit from a sender the client does not allow left in the mailbox");
		return { status: "TOO_LARGE", clientId, envelopeId: null };
	}
	const messageId = mail.messageId ?? `<size-${derivedId(mail.from ?? "", mail.subject ?? "", mail.date?.toISOString() ?? "", String(mail.size))}>`;
	const envelopeId = derivedId(clientId, messageId);
	if (await deps.mails.findById(envelopeId)) return { status: "DUPLICATE", clientId, envelopeId };
	const reason = `the mail is ${mib(mail.size)} MiB, over the limit of ${mib(maxBytes)} MiB: it was not downloaded and stays in the mailbox`;
	const now = new Date();
	try {
		await deps.mails.insert({ _id: envelopeId, clientId, messageId, status: "TOO_LARGE", documents: [], refused: [{ filename: "", reason }], size: mail.size, from: mail.from ?? null, subject: mail.subject ?? null, createdAt: now, finishedAt: now });
	} catch {
		return { status: "DUPLICATE", clientId, envelopeId };
	}
	deps.log("warn", { clientId, envelopeId, ...size }, "mail over the size limit recorded, not downloaded");
	return { status: "TOO_LARGE", clientId, envelopeId };
}

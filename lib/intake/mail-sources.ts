/**
 * Where mail comes from: an SMTP listener (smtp-server) and IMAP mailboxes (imapflow). Both hand raw messages to
 * takeMail (lib/intake/mail.ts).
 *
 * SMTP: `size` only announces the limit (smtp-server does not enforce it): a message whose stream reports
 * `sizeExceeded` is answered 552 and nothing is kept. A failure to store answers 451, so the sender retries.
 *
 * IMAP: each mailbox is searched for messages without the keyword $PaperworkTaken, one at a time; a message is
 * flagged $PaperworkTaken (and \Seen) only after its attachments are stored (or its mail recorded without any), so a
 * crash in between reads it again (and the Message-ID check makes that harmless). A message's size and envelope
 * are fetched first: one over the size limit is never downloaded, it is handed to `tooLarge` (recorded with the
 * reason) and flagged; the download itself stops one byte past the limit, whatever size the server announced.
 * New mail is announced by IDLE
 * (imapflow enters it after autoIdleDelay, 15 s by default) and a poll every INTAKE_IMAP_POLL_MS catches the rest.
 */
import { SMTPServer } from "smtp-server";
import { ImapFlow } from "imapflow";
import type { FetchMessageObject, MessageAddressObject } from "imapflow";
import type { MailOutcome, MailSummary } from "./mail.ts";

export type MailHandler = (raw: Buffer, recipients: string[] | null) => Promise<MailOutcome>;
/** A message over the size limit, described by what the server says about it (it is not downloaded). */
export type OversizedHandler = (mail: MailSummary) => Promise<MailOutcome>;
type Log = (level: "info" | "warn", obj: Record<string, unknown>, msg: string) => void;

export const TAKEN_KEYWORD = "$PaperworkTaken";

/** Starts the SMTP listener; resolves with it listening (port 0: a free port, see `.port`). */
export async function startSmtpListener(opts: { port: number; host: string; maxBytes: number; handle: MailHandler; log: Log }): Promise<{ port: number; close(): Promise<void> }> {
	const server = new SMTPServer({
		authOptional: true,
		disabledCommands: ["AUTH", "STARTTLS"],
		size: opts.maxBytes,
		banner: "Paperwork intake",
		logger: false,
		onData(stream, session, callback) {
			const parts: Buffer[] = [];
			let size = 0;
			stream.on("data", (d: Buffer) => {
				size += d.length;
				if (size <= opts.maxBytes) parts.push(d);
			});
			stream.on("end", () => {
				if ((stream as unknown as { sizeExceeded?: boolean }).sizeExceeded || size > opts.maxBytes) {
					callback(Object.assign(new Error(`552 message exceeds the size limit of ${Math.round(opts.maxBytes / 1024 / 1024)} MiB`), { responseCode: 552 }));
					return;
				}
				const rcpts = session.envelope.rcptTo.map((r) => r.address);
				opts.handle(Buffer.concat(parts), rcpts).then(
					() => callback(),
					(err: Error) => {
						opts.log("warn", { err: err.message }, "mail could not be stored; the sender will retry");
						callback(Object.assign(new Error("451 temporary failure, try again later"), { responseCode: 451 }));
					}
				);
			});
		}
	});
	await new Promise<void>((resolve, reject) => {
		server.once("error", reject);
		server.listen(opts.port, opts.host, () => resolve());
	});
	server.on("error", (err: Error) => opts.log("warn", { err: err.message }, "SMTP listener error"));
	const address = (server as unknown as { server: { address(): { port: number } } }).server.address();
	return { port: address.port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const addressesOf = (list: MessageAddressObject[] | undefined): string[] => (list ?? []).map((a) => a.address ?? "").filter(Boolean);

/** A message's summary from its ENVELOPE, RFC822.SIZE and Delivered-To header. */
export function summaryOf(msg: Pick<FetchMessageObject, "size" | "envelope" | "headers">): MailSummary {
	const env = msg.envelope ?? {};
	const delivered = [...String(msg.headers ?? "").matchAll(/^delivered-to:\s*<?([^\s>]+)>?\s*$/gim)].map((m) => m[1]);
	const date = env.date ? new Date(env.date) : undefined;
	const from = addressesOf(env.from)[0];
	return {
		size: msg.size ?? 0,
		recipients: [...addressesOf(env.to), ...addressesOf(env.cc), ...delivered],
		...(from ? { from } : {}),
		...(env.subject ? { subject: env.subject } : {}),
		...(date && !Number.isNaN(date.getTime()) ? { date } : {}),
		...(env.messageId ? { messageId: env.messageId } : {})
	};
}

export interface ImapMailboxOptions {
	pollMs: number;
	maxBytes: number;
	handle: MailHandler;
	tooLarge: OversizedHandler;
	log: Log;
	autoIdleDelayMs?: number;
}

/** A watched IMAP mailbox. */
export class ImapMailbox {
	private client?: ImapFlow;
	private timer?: NodeJS.Timeout;
	private running?: Promise<number>;
	private again = false;
	private closed = false;
	readonly label: string;
	private readonly url: URL;
	private readonly opts: ImapMailboxOptions;

	constructor(url: string, opts: ImapMailboxOptions) {
		this.url = new URL(url);
		this.opts = opts;
		// for logs: never the password
		this.label = `${this.url.protocol}//${this.url.username}@${this.url.host}${this.url.pathname}`;
	}

	private get mailbox(): string {
		return decodeURIComponent(this.url.pathname.replace(/^\/+/, "")) || "INBOX";
	}

	/** Connects, takes what is waiting, then watches (IDLE and the poll). */
	async start(): Promise<void> {
		this.timer = setInterval(() => void this.poll(), this.opts.pollMs).unref();
		await this.poll();
	}

	private async connect(): Promise<void> {
		const secure = this.url.protocol === "imaps:";
		const client = new ImapFlow({
			host: this.url.hostname,
			port: Number(this.url.port) || (secure ? 993 : 143),
			secure,
			auth: { user: decodeURIComponent(this.url.username), pass: decodeURIComponent(this.url.password) },
			logger: false,
			...(this.opts.autoIdleDelayMs !== undefined ? { autoIdleDelay: this.opts.autoIdleDelayMs } : {})
		});
		client.on("exists", () => void this.poll().catch(() => undefined));
		client.on("error", (err: Error) => this.opts.log("warn", { mailbox: this.label, err: err.message }, "IMAP connection error"));
		client.on("close", () => {
			if (this.client === client) this.client = undefined;
		});
		await client.connect();
		await client.mailboxOpen(this.mailbox);
		this.client = client;
	}

	/** Takes every message not yet taken; one run at a time (a request during a run runs once more after it). */
	poll(): Promise<number> {
		if (this.running) {
			this.again = true;
			return this.running;
		}
		this.running = (async () => {
			let taken = 0;
			do {
				this.again = false;
				if (this.closed) break;
				if (!this.client?.usable) await this.connect();
				const client = this.client as ImapFlow;
				const uids = (await client.search({ unKeyword: TAKEN_KEYWORD }, { uid: true })) || [];
				for (const uid of uids) {
					if (this.closed) break;
					// its size and envelope first: a message over the limit is not downloaded
					const head = await client.fetchOne(String(uid), { size: true, envelope: true, headers: ["delivered-to"] }, { uid: true });
					if (!head) continue;
					// the download stops one byte past the limit, should the server's size be wrong
					const raw = (head.size ?? 0) > this.opts.maxBytes ? undefined : await client.fetchOne(String(uid), { source: { start: 0, maxLength: this.opts.maxBytes + 1 } }, { uid: true });
					if (raw === false) continue;
					if (raw?.source && raw.source.length <= this.opts.maxBytes) {
						await this.opts.handle(raw.source, null);
						taken++;
					} else if (raw && !raw.source) {
						this.opts.log("warn", { mailbox: this.label, uid }, "IMAP message without a source flagged");
					} else {
						const summary = summaryOf(head);
						const outcome = await this.opts.tooLarge({ ...summary, size: Math.max(summary.size, raw?.source?.length ?? 0) });
						this.opts.log("warn", { mailbox: this.label, uid, size: head.size, limit: this.opts.maxBytes, outcome: outcome.status }, "IMAP message over the size limit not downloaded, flagged");
					}
					// flagged only now: its attachments are stored (or the mail recorded without any)
					await client.messageFlagsAdd(String(uid), [TAKEN_KEYWORD, "\\Seen"], { uid: true });
				}
			} while (this.again);
			return taken;
		})()
			.catch((err: Error) => {
				this.opts.log("warn", { mailbox: this.label, err: err.message }, "IMAP mailbox could not be read; trying again later");
				return 0;
			})
			.finally(() => {
				this.running = undefined;
			});
		return this.running;
	}

	async close(): Promise<void> {
		this.closed = true;
		if (this.timer) clearInterval(this.timer);
		await this.running;
		await this.client?.logout().catch(() => undefined);
		this.client = undefined;
	}
}

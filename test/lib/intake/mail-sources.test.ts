/**
 * An IMAP mailbox against a private dovecot, through a local TCP proxy that counts the bytes the server sends: a
 * message over the size limit is never downloaded (its size and envelope are read, it is handed over as too large
 * and flagged), also when the server announces a wrong size; one within the limit is taken.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import nodemailer from "nodemailer";
import { ImapFlow } from "imapflow";
import { startDovecot, type Dovecot } from "../../helpers/dovecot.ts";
import { ImapMailbox, TAKEN_KEYWORD } from "../../../lib/intake/mail-sources.ts";
import type { MailSummary } from "../../../lib/intake/mail.ts";
import { minimalPdf } from "../../helpers/intake-corpus.ts";

const USER = "box@paperwork.test";
const PASS = "imap-test-password";
const LIMIT = 1024 * 1024;

let dovecot: Dovecot;
let proxy: Server;
let proxyPort = 0;
const sockets = new Set<Socket>();
/** bytes the server sent to the mailbox */
let downstream = 0;
/** when set, the proxy rewrites every RFC822.SIZE the server announces to 100 (a server that lies) */
let lie = false;

before(async () => {
	dovecot = await startDovecot({ [USER]: PASS });
	proxy = createServer((client) => {
		const server = createConnection({ host: "127.0.0.1", port: dovecot.port });
		sockets.add(client).add(server);
		server.on("data", (d: Buffer) => {
			downstream += d.length;
			client.write(lie ? Buffer.from(d.toString("latin1").replace(/RFC822\.SIZE \d+/g, "RFC822.SIZE 100"), "latin1") : d);
		});
		client.pipe(server);
		const end = () => {
			client.destroy();
			server.destroy();
		};
		client.on("close", end).on("error", end);
		server.on("close", end).on("error", end);
	});
	await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
	proxyPort = (proxy.address() as { port: number }).port;
});

after(async () => {
	for (const s of sockets) s.destroy();
	await new Promise<void>((r) => proxy?.close(() => r()));
	await dovecot?.stop();
});

function message(messageId: string, attachment: Buffer): Promise<Buffer> {
	return new Promise<Buffer>((resolve, reject) =>
		nodemailer.createTransport({ streamTransport: true, buffer: true }).sendMail(
			{ from: "Vendor <vendor@supplier.test>", to: "apply+big@acme.test", cc: "copy@acme.test", subject: "Statements", messageId, headers: { "Delivered-To": USER }, attachments: [{ filename: "file.pdf", content: attachment }] },
			(err, info) => (err ? reject(err) : resolve(info.message as Buffer))
		)
	);
}

test("a message over the size limit is not downloaded: its size and envelope are handed over and it is flagged; one within the limit is taken", async () => {
	const imap = new ImapFlow({ host: "127.0.0.1", port: dovecot.port, secure: false, auth: { user: USER, pass: PASS }, logger: false });
	await imap.connect();
	const handled: Buffer[] = [];
	const oversized: MailSummary[] = [];
	const mailbox = new ImapMailbox(`imap://${encodeURIComponent(USER)}:${PASS}@127.0.0.1:${proxyPort}/INBOX`, {
		pollMs: 3_600_000,
		maxBytes: LIMIT,
		handle: async (raw) => {
			handled.push(raw);
			return { status: "UNROUTED", key: "k" };
		},
		tooLarge: async (mail) => {
			oversized.push(mail);
			return { status: "TOO_LARGE", clientId: null, envelopeId: null };
		},
		log: () => undefined
	});
	try {
		// random bytes: base64 makes the big one ~4 MiB on the server
		await imap.append("INBOX", await message("<small@supplier.test>", minimalPdf(1)));
		const big = await message("<big@supplier.test>", randomBytes(3 * 1024 * 1024));
		await imap.append("INBOX", big);
		downstream = 0;
		assert.equal(await mailbox.poll(), 1);
		assert.equal(handled.length, 1);
		assert.match(handled[0].toString("latin1"), /Message-ID: <small@supplier\.test>/i);
		assert.equal(oversized.length, 1);
		const o = oversized[0];
		assert.equal(o.messageId, "<big@supplier.test>");
		assert.equal(o.size, big.length);
		assert.deepEqual([o.from, o.subject, o.recipients], ["vendor@supplier.test", "Statements", ["apply+big@acme.test", "copy@acme.test", USER]]);
		assert.ok(o.date instanceof Date && !Number.isNaN(o.date.getTime()));
		assert.ok(downstream < 100_000, `the server sent ${downstream} bytes: the big message was not fetched`);

		// a server that announces a wrong size: the download stops one byte past the limit
		await imap.append("INBOX", await message("<liar@supplier.test>", randomBytes(3 * 1024 * 1024)));
		lie = true;
		downstream = 0;
		assert.equal(await mailbox.poll(), 0);
		lie = false;
		assert.equal(handled.length, 1, "nothing more was taken");
		assert.deepEqual(oversized.map((m) => m.messageId), ["<big@supplier.test>", "<liar@supplier.test>"]);
		assert.ok(oversized[1].size > LIMIT);
		assert.ok(downstream < LIMIT + 100_000, `the server sent ${downstream} bytes: the download was cut at the limit`);

		// every one is flagged: none is read again
		await imap.mailboxOpen("INBOX");
		assert.deepEqual(await imap.search({ unKeyword: TAKEN_KEYWORD }), []);
		assert.equal(await mailbox.poll(), 0);
		assert.equal(oversized.length, 2);
	} finally {
		await mailbox.close();
		await imap.logout();
	}
});

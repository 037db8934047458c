/**
 * Documents by mail: the SMTP listener (nodemailer sends to it) and an IMAP mailbox on a private dovecot. An
 * application mail with three attachments (one inline) becomes one envelope of three documents; the same
 * Message-ID creates nothing; mail for nobody and from a refused sender is kept aside; a mail without attachments
 * is recorded with the reason; an oversized mail gets 552 (by IMAP: recorded, not downloaded); an IMAP message is
 * flagged only once taken.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import nodemailer from "nodemailer";
import { ImapFlow } from "imapflow";
import { startTestNode, http, bearer, apiKey, freePort, type TestNode } from "../helpers/node.ts";
import { textPdf } from "../helpers/intake-corpus.ts";
import { startDovecot, type Dovecot } from "../helpers/dovecot.ts";
import { getPlatform } from "../../lib/platform.ts";
import { TAKEN_KEYWORD } from "../../lib/intake/mail-sources.ts";

interface DocBody {
	id: string;
	status: string;
	source: string;
	file: { name: string };
	envelope: { id: string; from: string; subject: string; messageId: string; emlKey: string; date: string } | null;
	fields: Record<string, { value: unknown }>;
}

let node: TestNode;
let dovecot: Dovecot;
let smtpPort = 0;
const IMAP_USER = "intake@paperwork.test";
const IMAP_PASS = "imap-test-password";

before(async () => {
	dovecot = await startDovecot({ [IMAP_USER]: IMAP_PASS });
	smtpPort = await freePort();
	node = await startTestNode({ INBOX_POLL_MS: "0", INTAKE_SMTP_PORT: String(smtpPort), INTAKE_SMTP_HOST: "127.0.0.1", INTAKE_MAIL_MAX_MB: "1", INTAKE_IMAP_URLS: dovecot.url(IMAP_USER, IMAP_PASS), INTAKE_IMAP_POLL_MS: "1000" });
});

after(async () => {
	await node?.close();
	await dovecot?.stop();
});

async function newClient(name: string, intake: Record<string, unknown>): Promise<{ id: string; key: string }> {
	const res = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name, intake } });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	return { id: res.body.id, key: res.body.apiKey };
}

async function list(key: string, query = ""): Promise<{ total: number; items: DocBody[] }> {
	const r = await http<{ total: number; items: DocBody[] }>(`${node.url}/intake?${query}`, { headers: apiKey(key) });
	assert.equal(r.status, 200, JSON.stringify(r.body));
	return r.body;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
	const end = Date.now() + ms;
	for (;;) {
		const v = await fn();
		if (v) return v;
		if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 150));
	}
}

const smtp = () => nodemailer.createTransport({ host: "127.0.0.1", port: smtpPort, secure: false, ignoreTLS: true });

const invoice = textPdf(["Northwind Supplies", "Invoice No: NW-77", "Invoice Date: 01/02/2026", "Subtotal: 1,000.00", "VAT: 250.00", "Total: 1,250.00"]);
const application = textPdf(["Loan application form", "Applicant: Test Applicant One", "Amount requested: 50,000.00"]);
const statement = textPdf(["Bank statement", "Account ending 0000", "Closing balance: 12,345.67"]);

test("an application mail with three attachments (one inline) becomes one envelope of three documents; the same Message-ID creates nothing", async () => {
	const c = await newClient("mail-acme", { addresses: ["apply@acme.test"], senders: ["@broker.test"] });
	const mail = {
		from: "Agent <agent@broker.test>",
		to: "apply+loan42@acme.test",
		subject: "Application 42",
		messageId: "<application-42@broker.test>",
		html: '<p>Attached.</p><img src="cid:statement">',
		attachments: [
			{ filename: "application.pdf", content: application },
			{ filename: "invoice.pdf", content: invoice },
			{ filename: "statement.pdf", content: statement, cid: "statement", contentDisposition: "inline" as const }
		]
	};
	await smtp().sendMail(mail);
	const docs = await until("three documents", async () => {
		const l = await list(c.key);
		return l.total === 3 && l.items.every((d) => !["PENDING", "PROCESSING"].includes(d.status)) ? l.items : undefined;
	});
	const env = docs[0].envelope;
	assert.ok(env);
	assert.deepEqual(docs.map((d) => d.file.name).sort(), ["application.pdf", "invoice.pdf", "statement.pdf"]);
	for (const d of docs) {
		assert.equal(d.source, "email");
		assert.deepEqual(d.envelope, env, "one envelope");
	}
	assert.equal(env.from, "agent@broker.test");
	assert.equal(env.subject, "Application 42");
	assert.equal(env.messageId, "<application-42@broker.test>");
	const eml = await getPlatform().objects.stat(env.emlKey);
	assert.ok(eml && eml.size > invoice.length, "the raw .eml is stored");
	const inv = docs.find((d) => d.file.name === "invoice.pdf");
	assert.equal(inv?.fields.total.value, 1250);
	assert.equal((await list(c.key, `envelope=${env.id}`)).total, 3);
	assert.equal((await list(c.key, "q=application")).total, 3, "the subject is searchable");

	// the same message again (a resend or a second delivery): nothing new
	await smtp().sendMail(mail);
	await new Promise((r) => setTimeout(r, 500));
	assert.equal((await list(c.key)).total, 3);
});

test("mail for nobody and from a sender the client does not allow is kept aside; without attachments it is recorded with the reason; too big is 552", async () => {
	const c = await newClient("mail-beta", { addresses: ["docs@beta.test"], senders: ["clerk@partner.test"] });
	const { objects, store } = getPlatform();
	const count = async (prefix: string) => {
		let n = 0;
		for await (const o of objects.list(prefix)) if (o.key) n++;
		return n;
	};
	const unroutedBefore = await count("intake/unrouted/");
	await smtp().sendMail({ from: "x@elsewhere.test", to: "nobody@nowhere.test", subject: "lost", attachments: [{ filename: "a.pdf", content: invoice }] });
	assert.equal(await count("intake/unrouted/"), unroutedBefore + 1);
	await smtp().sendMail({ from: "stranger@other.test", to: "docs@beta.test", subject: "not allowed", attachments: [{ filename: "a.pdf", content: invoice }] });
	assert.equal(await count(`intake/refused/${c.id}/`), 1);
	assert.equal((await list(c.key)).total, 0);

	await smtp().sendMail({ from: "Clerk <CLERK@partner.test>", to: "docs@beta.test", subject: "just text", messageId: "<no-attachments@partner.test>", text: "no files" });
	const mails = store.adapter("intake_mails");
	await mails.connect();
	const rec = await mails.findOne({ clientId: c.id, messageId: "<no-attachments@partner.test>" });
	assert.equal(rec?.status, "NO_DOCUMENTS");
	assert.deepEqual(rec?.refused, [{ filename: "", reason: "the mail has no attachment" }]);
	// a text attachment is refused with its reason; the mail is recorded, not read again
	await smtp().sendMail({ from: "clerk@partner.test", to: "docs@beta.test", subject: "text file", messageId: "<text-file@partner.test>", attachments: [{ filename: "notes.txt", content: "hello" }] });
	const rec2 = await mails.findOne({ clientId: c.id, messageId: "<text-file@partner.test>" });
	assert.equal(rec2?.status, "NO_DOCUMENTS");
	assert.match(String((rec2?.refused as { reason: string }[])[0].reason), /unsupported_type/);

	await assert.rejects(
		smtp().sendMail({ from: "clerk@partner.test", to: "docs@beta.test", subject: "huge", attachments: [{ filename: "big.pdf", content: Buffer.alloc(1_200_000, 0x41) }] }),
		(err: { responseCode?: number }) => err.responseCode === 552
	);
	assert.equal((await list(c.key)).total, 0);
});

test("an IMAP mailbox: new mail is taken and flagged only after its attachments are stored; the same Message-ID again creates nothing", async () => {
	const c = await newClient("mail-imap", { addresses: [IMAP_USER] });
	const imap = new ImapFlow({ host: "127.0.0.1", port: dovecot.port, secure: false, auth: { user: IMAP_USER, pass: IMAP_PASS }, logger: false });
	await imap.connect();
	try {
		const raw = async (messageId: string) => {
			const msg = await new Promise<Buffer>((resolve, reject) =>
				nodemailer.createTransport({ streamTransport: true, buffer: true }).sendMail({ from: "vendor@supplier.test", to: IMAP_USER, subject: "March invoice", messageId, attachments: [{ filename: "march.pdf", content: invoice }] }, (err, info) => (err ? reject(err) : resolve(info.message as Buffer)))
			);
			return msg;
		};
		await imap.append("INBOX", await raw("<march@supplier.test>"));
		const doc = await until("the IMAP document", async () => {
			const l = await list(c.key);
			return l.total === 1 && !["PENDING", "PROCESSING"].includes(l.items[0].status) ? l.items[0] : undefined;
		});
		assert.equal(doc.source, "email");
		assert.equal(doc.envelope?.messageId, "<march@supplier.test>");
		assert.equal(doc.fields.invoice_number.value, "NW-77");
		await imap.mailboxOpen("INBOX");
		const flagged = await until("the flag", async () => {
			const m = await imap.fetchOne("*", { flags: true });
			return m && m.flags?.has(TAKEN_KEYWORD) ? m : undefined;
		});
		assert.ok(flagged.flags?.has("\\Seen"));
		// the same Message-ID delivered twice: taken and flagged, but no second document
		await imap.append("INBOX", await raw("<march@supplier.test>"));
		await until("the second copy flagged", async () => {
			const all = await imap.search({ unKeyword: TAKEN_KEYWORD });
			return Array.isArray(all) && all.length === 0;
		});
		assert.equal((await list(c.key)).total, 1);
	} finally {
		await imap.logout();
	}
});

test("an IMAP message over INTAKE_MAIL_MAX_MB is not downloaded: recorded for its client with the reason, flagged, no document", async () => {
	const c = await newClient("mail-imap-big", { addresses: ["big@imap.test"] });
	const imap = new ImapFlow({ host: "127.0.0.1", port: dovecot.port, secure: false, auth: { user: IMAP_USER, pass: IMAP_PASS }, logger: false });
	await imap.connect();
	try {
		const raw = await new Promise<Buffer>((resolve, reject) =>
			nodemailer
				.createTransport({ streamTransport: true, buffer: true })
				.sendMail({ from: "vendor@supplier.test", to: "big+q1@imap.test", subject: "Scans", messageId: "<huge@supplier.test>", attachments: [{ filename: "scan.pdf", content: Buffer.alloc(1_200_000, 0x41) }] }, (err, info) => (err ? reject(err) : resolve(info.message as Buffer)))
		);
		await imap.append("INBOX", raw);
		const mails = getPlatform().store.adapter("intake_mails");
		await mails.connect();
		const rec = await until("the record", async () => (await mails.findOne({ clientId: c.id, messageId: "<huge@supplier.test>" })) ?? undefined);
		assert.equal(rec.status, "TOO_LARGE");
		assert.equal(rec.size, raw.length);
		assert.deepEqual(rec.documents, []);
		assert.match(String((rec.refused as { reason: string }[])[0].reason), /^the mail is 1\.\d MiB, over the limit of 1\.0 MiB: it was not downloaded/);
		await imap.mailboxOpen("INBOX");
		await until("the flag", async () => {
			const all = await imap.search({ unKeyword: TAKEN_KEYWORD });
			return Array.isArray(all) && all.length === 0;
		});
		assert.equal((await list(c.key)).total, 0);
	} finally {
		await imap.logout();
	}
});

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createProviders } from "../../../../lib/delivery/providers/index.ts";
import type { Provider, ProviderSet } from "../../../../lib/delivery/provider.ts";
import { configWith, fastClock, message, silent } from "./helpers.ts";
import { type LocalSmtp, startSmtp } from "../../../helpers/smtp.ts";

let smtp: LocalSmtp;
let set: ProviderSet;
let email: Provider;

before(async () => {
	smtp = await startSmtp(/^nobody@/);
	set = createProviders(configWith({ SMTP_URL: smtp.url, SMTP_FROM: "Lender <letters@lender.example>" }), { logger: silent });
	email = set.byChannel.email as Provider;
});

after(async () => {
	await set.close();
	await smtp.close();
});

test("only SMTP configured: email is the one real channel and there are no callback handlers", () => {
	assert.deepEqual(Object.keys(set.byChannel), ["email"]);
	assert.deepEqual(set.callbacks, {});
});

test("an email carries the PDF, the letter's subject and body, and a Message-ID naming the attempt; acceptance is 'sent'", async () => {
	const m = message({ channel: "email", settings: { email: { replyTo: "care@lender.example" } } });
	const r = await email.send(m);
	assert.deepEqual(r, { ok: true, providerMessageId: `<${m.attemptId}@lender.example>`, status: "sent" });
	assert.equal(smtp.mails.length, 1);
	const raw = smtp.mails[0].raw;
	assert.deepEqual(smtp.mails[0].to, ["asha@example.com"]);
	assert.match(raw, new RegExp(`Message-ID: <${m.attemptId}@lender.example>`, "i"));
	assert.match(raw, /Subject: Your welcome letter/);
	assert.match(raw, /Reply-To: care@lender.example/);
	assert.match(raw, new RegExp(`Content-Type: application/pdf; name=${m.document.fileName}`));
	assert.ok(raw.includes(Buffer.from("%PDF-1.7\n").toString("base64")), "the PDF is attached");
});

test("a mailbox the server refuses (550) is a permanent failure; no email address is one without a call", async () => {
	const r = await email.send(message({ recipient: { name: "N", email: "nobody@example.com", language: "en" } }));
	assert.deepEqual(r.ok ? null : [r.permanent, r.code], [true, "550"]);
	const none = await email.send(message({ recipient: { name: "N", language: "en" } }));
	assert.deepEqual(none.ok ? null : [none.permanent, none.code], [true, "NO_EMAIL"]);
	assert.equal(email.circuit().state, "closed");
});

test("SMTP_RATE_PER_S paces the emails, shared among the notifier nodes like the other providers' rates", async () => {
	const clock = fastClock();
	const paced = createProviders(configWith({ SMTP_URL: smtp.url, SMTP_RATE_PER_S: "4" }), { logger: silent, clock });
	after(() => paced.close());
	const mail = paced.byChannel.email as Provider;
	assert.equal(mail.ratePerSecond?.(), 4);
	mail.shareRate?.(2);
	assert.equal(mail.ratePerSecond?.(), 2);
	const before = smtp.mails.length;
	for (let i = 0; i < 4; i++) assert.equal((await mail.send(message({ channel: "email" }))).ok, true);
	assert.equal(smtp.mails.length, before + 4);
	assert.deepEqual(clock.waits, [500, 500], "a burst of one second of the share (2), then one email per 1/2 s");
	assert.equal((email.ratePerSecond?.() ?? -1), 0, "unset: no limit");
});

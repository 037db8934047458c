/**
 * Delivery end to end with the real provider clients: one embedded node whose WhatsApp, RCS and SMS settings point at
 * local servers that speak the WhatsApp Cloud API, Google RBM and Twilio (test/fixtures/providers) and whose email
 * goes over SMTP to a local smtp-server. Loans uploaded as CSV fall back case by case, driven only by what the
 * providers answer and by their signed status callbacks arriving at our webhooks: WhatsApp; RCS after a WhatsApp
 * "failed" callback; SMS after a WhatsApp refusal and RCS's 404; email with the PDF after all three.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startTestNode, http, bearer, apiKey, freePort, type TestNode } from "../helpers/node.ts";
import { csvLine, waitForBatch } from "../helpers/ingest.ts";
import { startSmtp, type LocalSmtp } from "../helpers/smtp.ts";
import { startWhatsAppServer, type WhatsAppServer } from "../fixtures/providers/whatsapp.ts";
import { startRbmServer, type RbmServer } from "../fixtures/providers/rbm.ts";
import { startTwilioServer, type TwilioServer } from "../fixtures/providers/twilio.ts";
import type { RunView } from "../../lib/delivery/types.ts";
import type { CaseDetail, CaseView } from "../../services/notifier.service.ts";

const WA = { token: "wa-token-e2e", appSecret: "wa-app-secret-e2e", phoneNumberId: "109876543210", verifyToken: "wa-verify-e2e" };
const RBM = { agentId: "paperwork-e2e-agent", clientToken: "rbm-client-token-e2e", token: "rbm-static-token-e2e" };
const TW = { accountSid: `AC${"e2e0".repeat(8)}`, authToken: "twilio-auth-token-e2e", from: "+15005550006" };

const LOAN_HEADER = "loan_id,applicant_name,language,phone,email,address_line1,address_line2,city,state,postal_code,loan_amount,annual_interest_rate,tenure_months,disbursement_date,first_emi_date,processing_fee";
const loanRow = (id: string, phone: string, email: string): string => csvLine([id, "Asha Verma", "en", phone, email, "12 MG Road", "", "Pune", "Maharashtra", "411001", "120000", "11.5", "12", "2026-11-20", "2026-12-20", "1000"]);

let node: TestNode;
let wa: WhatsAppServer;
let rbm: RbmServer;
let tw: TwilioServer;
let smtp: LocalSmtp;
let client: { id: string; apiKey: string };

before(async () => {
	[wa, rbm, tw, smtp] = await Promise.all([
		startWhatsAppServer({ token: WA.token, appSecret: WA.appSecret, phoneNumberId: WA.phoneNumberId, callbackDelayMs: 20 }),
		startRbmServer({ agentId: RBM.agentId, clientToken: RBM.clientToken, staticTokens: [RBM.token], callbackDelayMs: 20 }),
		startTwilioServer({ accountSid: TW.accountSid, authToken: TW.authToken, callbackDelayMs: 20 }),
		startSmtp()
	]);
	const port = await freePort();
	node = await startTestNode({
		PORT: String(port),
		PUBLIC_URL: `http://127.0.0.1:${port}`,
		WHATSAPP_API_URL: wa.url,
		WHATSAPP_API_VERSION: wa.version,
		WHATSAPP_PHONE_NUMBER_ID: WA.phoneNumberId,
		WHATSAPP_TOKEN: WA.token,
		WHATSAPP_APP_SECRET: WA.appSecret,
		WHATSAPP_VERIFY_TOKEN: WA.verifyToken,
		RCS_API_URL: rbm.url,
		RCS_AGENT_ID: RBM.agentId,
		RCS_CLIENT_TOKEN: RBM.clientToken,
		RCS_TOKEN: RBM.token,
		TWILIO_API_URL: tw.url,
		TWILIO_ACCOUNT_SID: TW.accountSid,
		TWILIO_AUTH_TOKEN: TW.authToken,
		TWILIO_FROM: TW.from,
		SMTP_URL: smtp.url,
		DELIVERY_SWEEP_MS: "200",
		DELIVERY_TIMEOUT_S: "60",
		RENDER_CONCURRENCY: "2",
		SCHEDULER_CRON: "0 0 1 1 *"
	});
	wa.webhookUrl = `${node.url}/webhooks/whatsapp`;
	rbm.webhookUrl = `${node.url}/webhooks/rcs`;
	const res = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, {
		method: "POST",
		headers: bearer(node.adminToken),
		json: { name: "providers-e2e", delivery: { whatsapp: { templates: { en: { name: "welcome_letter", language: "en" } } } } }
	});
	assert.equal(res.status, 201, JSON.stringify(res.body));
	client = res.body;
});
after(async () => {
	await node?.close();
	await Promise.allSettled([wa?.close(), rbm?.close(), tw?.close(), smtp?.close()]);
});

async function waitRun(id: string): Promise<RunView> {
	const until = Date.now() + 120_000;
	for (;;) {
		const res = await http<RunView>(`${node.url}/dispatch/runs/${id}`, { headers: bearer(node.operatorToken) });
		assert.equal(res.status, 200);
		if (res.body.status !== "running") return res.body;
		assert.ok(Date.now() < until, `run ${id} did not finish: ${JSON.stringify(res.body)}`);
		await new Promise((r) => setTimeout(r, 150));
	}
}

test("webhook handshakes: Meta's GET challenge with our verify token, Google's RBM verification; a wrong token is refused with 403", async () => {
	const ok = await fetch(`${node.url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${WA.verifyToken}&hub.challenge=1158201444`);
	assert.equal(ok.status, 200);
	assert.equal(await ok.text(), "1158201444");
	assert.equal((await fetch(`${node.url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1`)).status, 403, "Meta's documented answer to a wrong verify token");
	const verified = await rbm.verifyWebhook();
	assert.equal(verified.status, 200, verified.body);
	assert.equal((await rbm.verifyWebhook("not-the-client-token")).status, 403);
});

test("loans fall back case by case over the real provider clients, moved only by the providers' answers and signed callbacks", async () => {
	const phones = { wa: "+919812300001", rcs: "+919812300002", sms: "+919812300003", email: "+919812300004" };
	wa.fail(phones.rcs, { kind: "undeliverable", code: 131026 });
	wa.fail(phones.sms, { kind: "reject", code: 131030, message: "Recipient phone number not in allowed list" });
	rbm.fail(phones.sms, { kind: "not-rcs" });
	wa.fail(phones.email, { kind: "reject", code: 131030 });
	rbm.fail(phones.email, { kind: "not-rcs" });
	tw.fail(phones.email, { kind: "undeliverable", code: 30003 });
	const csv = [LOAN_HEADER, loanRow("P-WA", phones.wa, "wa@example.com"), loanRow("P-RCS", phones.rcs, ""), loanRow("P-SMS", phones.sms, ""), loanRow("P-EMAIL", phones.email, "asha@example.com")].join("\n") + "\n";
	const up = await fetch(`${node.url}/uploads?kind=loan`, { method: "POST", headers: { ...apiKey(client.apiKey), "Content-Type": "text/csv" }, body: csv });
	assert.equal(up.status, 202, await up.clone().text());
	const batch = await waitForBatch(node.url, client.apiKey, ((await up.json()) as { batchId: string }).batchId);
	assert.equal(batch.status, "COMPLETED", JSON.stringify(batch));

	const started = await http<RunView>(`${node.url}/dispatch/runs`, { method: "POST", headers: bearer(node.operatorToken), json: { from: "2026-11-01", to: "2026-11-30", includePending: true, clientId: client.id } });
	assert.equal(started.status, 202, JSON.stringify(started.body));
	const run = await waitRun(started.body.id);
	assert.equal(run.status, "completed", JSON.stringify(run));
	assert.deepEqual(run.byChannel, { whatsapp: 1, rcs: 1, sms: 1, email: 1 });

	const list = await http<{ items: CaseView[] }>(`${node.url}/cases?runId=${run.id}`, { headers: apiKey(client.apiKey) });
	const byLoan = Object.fromEntries(list.body.items.map((c) => [c.loanId, c]));
	const detail = async (loan: string): Promise<CaseDetail> => (await http<CaseDetail>(`${node.url}/cases/${byLoan[loan].id}`, { headers: apiKey(client.apiKey) })).body;
	const trail = (d: CaseDetail) => d.attempts.map((x) => [x.channel, x.provider, x.status, x.failure?.code ?? ""]);

	const viaWa = await detail("P-WA");
	assert.equal(viaWa.status, "delivered");
	assert.deepEqual(trail(viaWa), [["whatsapp", "whatsapp-cloud", "delivered", ""]]);
	assert.deepEqual(viaWa.attempts[0].history.map((h) => h.status), ["queued", "sent", "delivered"]);
	assert.match(viaWa.attempts[0].providerMessageId ?? "", /^wamid\./);

	const viaRcs = await detail("P-RCS");
	assert.equal(viaRcs.status, "delivered");
	assert.deepEqual(trail(viaRcs), [["whatsapp", "whatsapp-cloud", "failed", "131026"], ["rcs", "google-rbm", "delivered", ""]]);

	const viaSms = await detail("P-SMS");
	assert.equal(viaSms.status, "delivered");
	assert.deepEqual(trail(viaSms), [["whatsapp", "whatsapp-cloud", "failed", "131030"], ["rcs", "google-rbm", "failed", "NOT_FOUND"], ["sms", "twilio", "delivered", ""]]);

	const viaEmail = await detail("P-EMAIL");
	assert.equal(viaEmail.status, "sent", "SMTP accepts; it reports no delivery");
	assert.deepEqual(
		trail(viaEmail).map((t) => t.slice(0, 3)),
		[
			["whatsapp", "whatsapp-cloud", "failed"],
			["rcs", "google-rbm", "failed"],
			["sms", "twilio", "failed"],
			["email", "smtp", "sent"]
		]
	);
	assert.equal(viaEmail.attempts[2].failure?.code, "30003");

	// what went out: a WhatsApp template with the PDF as its document header, one message per attempt
	await Promise.all([wa.settled(), rbm.settled(), tw.settled()]);
	const waToOk = wa.messages.filter((m) => m.to.endsWith("12300001"));
	assert.equal(waToOk.length, 1);
	const template = waToOk[0].body.template as { name: string; language: { code: string }; components: { type: string; parameters: { type: string; document: { link: string } }[] }[] };
	assert.equal(waToOk[0].type, "template");
	assert.equal(template.name, "welcome_letter");
	assert.equal(template.language.code, "en");
	const link = template.components.find((c) => c.type === "header")?.parameters[0].document.link ?? "";
	const pdf = await fetch(link);
	assert.equal(pdf.status, 200, link);
	assert.equal(Buffer.from(await pdf.arrayBuffer()).subarray(0, 5).toString(), "%PDF-");
	assert.equal(rbm.messages.length, 1, "RBM accepted only the RCS case's message; the 404s were refused");
	assert.equal(tw.messages.length, 2, "Twilio got the SMS case and the email case's SMS");
	const smsBody = tw.messages.find((m) => m.to.endsWith("12300003"))?.body ?? "";
	assert.match(smsBody, /https?:\/\/\S+/, "the SMS carries a link to the PDF");
	assert.ok(tw.messages.every((m) => m.statusCallback?.startsWith(`${node.url}/webhooks/twilio`)));
	// every signed callback was accepted by our webhooks
	for (const cb of [...wa.callbacks, ...rbm.callbacks, ...tw.callbacks]) assert.equal(cb.answer, 200, `${cb.url} answered ${cb.answer}`);
	assert.ok(wa.callbacks.length >= 3 && rbm.callbacks.length >= 1 && tw.callbacks.length >= 3);
	// the email: to the borrower, with the PDF attached
	const mail = smtp.mails.find((m) => m.to.includes("asha@example.com"));
	assert.ok(mail, "the email case's mail arrived");
	assert.match(mail.raw, /Content-Type: application\/pdf/i);
	assert.equal(smtp.mails.filter((m) => m.to.includes("wa@example.com")).length, 0, "a case delivered on WhatsApp sends no email");
});

test("a callback whose signature is wrong is refused with 401 and changes nothing; a replayed genuine one changes nothing either", async () => {
	const waCase = (await http<{ items: CaseView[] }>(`${node.url}/cases?loan_id=P-WA`, { headers: apiKey(client.apiKey) })).body.items[0];
	const before = (await http<CaseDetail>(`${node.url}/cases/${waCase.id}`, { headers: apiKey(client.apiKey) })).body;
	const message = wa.messages.find((m) => m.to.endsWith("12300001"));
	assert.ok(message);
	const forged = { object: "whatsapp_business_account", entry: [{ id: "1", changes: [{ field: "messages", value: { messaging_product: "whatsapp", metadata: { phone_number_id: WA.phoneNumberId }, statuses: [{ id: before.attempts[0].providerMessageId, status: "failed", timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: "919812300001", errors: [{ code: 131026, title: "forged" }] }] } }] }] };
	const res = await fetch(`${node.url}/webhooks/whatsapp`, { method: "POST", headers: { "Content-Type": "application/json", "X-Hub-Signature-256": "sha256=" + "0".repeat(64) }, body: JSON.stringify(forged) });
	assert.equal(res.status, 401);
	const unsigned = await fetch(`${node.url}/webhooks/twilio?attempt=${encodeURIComponent(before.attempts[0].id)}`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "MessageSid=SMx&MessageStatus=failed" });
	assert.equal(unsigned.status, 401);
	// a genuine, signed "failed" after "delivered": kept in the history, the case stays delivered
	wa.postWebhook(forged);
	await wa.settled();
	assert.equal(wa.callbacks.at(-1)?.answer, 200);
	const after = (await http<CaseDetail>(`${node.url}/cases/${waCase.id}`, { headers: apiKey(client.apiKey) })).body;
	assert.equal(after.status, "delivered");
	assert.deepEqual(after.attempts.map((a) => a.status), ["delivered"]);
	assert.equal(after.events.length, before.events.length + 1, "the late event is recorded, not applied");
});

test("an inbound WhatsApp message through the webhook is recorded for every notifier node (the service window across nodes)", async () => {
	const { deliveryStore } = await import("../../lib/delivery/store.ts");
	const ds = await deliveryStore(node.platform.store);
	const before = new Date(Date.now() - 1000);
	wa.inbound("+919876511234");
	await wa.settled();
	const at = await ds.lastInbound("whatsapp", "919876511234");
	assert.ok(at && at >= before, `recorded: ${String(at)}`);
	assert.equal(await ds.lastInbound("whatsapp", "919876599999"), null);
});

/**
 * Provider callbacks through the HTTP API: WhatsApp is configured (its API URL pointing at the local WhatsApp
 * server of test/fixtures/providers), a case goes out over HTTP, and the server's signed JSON status callbacks come
 * back to /api/v1/webhooks/whatsapp as Meta sends them (Content-Type: application/json). The gateway's JSON parser
 * must leave the signature checkable over the exact bytes: the case ends delivered; a tampered body is refused.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { startTestNode, type TestNode } from "../helpers/node.ts";
import { startWhatsAppServer, type WhatsAppServer } from "../fixtures/providers/whatsapp.ts";
import { QUEUES } from "../../config/queues.ts";
import { caseIdOf } from "../../lib/delivery/notifier.ts";
import { deliveryStore } from "../../lib/delivery/store.ts";
import type { AttemptDoc, CaseDoc } from "../../lib/delivery/types.ts";

const SECRET = "webhooks-app-secret";
let wa: WhatsAppServer;
let node: TestNode;

before(async () => {
	wa = await startWhatsAppServer({ token: "wa-token", appSecret: SECRET });
	node = await startTestNode(
		{
			WHATSAPP_API_URL: wa.url,
			WHATSAPP_API_VERSION: wa.version,
			WHATSAPP_PHONE_NUMBER_ID: wa.phoneNumberId,
			WHATSAPP_TOKEN: "wa-token",
			WHATSAPP_APP_SECRET: SECRET,
			WHATSAPP_VERIFY_TOKEN: "wa-verify",
			DELIVERY_SWEEP_MS: "60000"
		},
		["api", "clients", "notifier"]
	);
	wa.webhookUrl = `${node.url}/webhooks/whatsapp`;
});
after(async () => {
	await wa?.close();
	await node?.close();
});

test("WhatsApp's signed JSON callbacks through the api deliver the case; a tampered one is refused with 401", async () => {
	const ds = await deliveryStore(node.platform.store);
	const delivery = { plan: ["whatsapp"], whatsapp: { templates: { en: { name: "welcome_letter", language: "en" } } } };
	const clientId = ((await node.broker.call("clients.create", { name: "webhooks", delivery })) as { id: string }).id;
	const key = `documents/${clientId}/wh/letter.pdf`;
	await node.platform.objects.put(key, Buffer.from("%PDF-1.4\n%%EOF\n"), { contentType: "application/pdf" });
	const now = new Date();
	const caseId = caseIdOf(clientId, "L-WH-1", "welcome-letter");
	const c: CaseDoc = {
		_id: caseId,
		clientId,
		loanKey: "L-WH-1",
		documentType: "welcome-letter",
		template: "welcome-letter",
		recordId: "r1",
		dueDate: "2026-11-20",
		language: "en",
		recipient: { name: "Asha", phone: "+919876512345", language: "en" },
		status: "pending",
		runId: "run-wh",
		runIds: ["run-wh"],
		try: 1,
		createdAt: now,
		updatedAt: now
	};
	await ds.cases.insert(c);
	await node.platform.queues.publish(QUEUES.casesRendered, { caseId, clientId, documentId: "doc-wh", key, pages: 1, bytes: 16, template: "welcome-letter", language: "en" });
	const end = Date.now() + 20_000;
	let status = "";
	while (Date.now() < end) {
		status = String(((await ds.getCase<CaseDoc>(caseId)) as CaseDoc).status);
		if (status === "delivered") break;
		await new Promise((r) => setTimeout(r, 100));
	}
	await wa.settled();
	assert.deepEqual(
		wa.callbacks.map((x) => x.answer),
		[200, 200],
		"both status callbacks (sent, delivered) accepted"
	);
	assert.equal(status, "delivered");
	const attempt = (await ds.attempts.findById(`${caseId}.t1.whatsapp`)) as AttemptDoc;
	assert.deepEqual(
		attempt.history.map((h) => [h.status, h.source]),
		[
			["queued", "send"],
			["sent", "callback"],
			["delivered", "callback"]
		]
	);
	// the same bytes with one character changed no longer match their signature
	const body = wa.callbacks[0]?.body ?? "";
	const signature = `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`;
	const tampered = await fetch(`${node.url}/webhooks/whatsapp`, { method: "POST", headers: { "content-type": "application/json", "x-hub-signature-256": signature }, body: body.replace("sent", "read") });
	assert.equal(tampered.status, 401);
	const intact = await fetch(`${node.url}/webhooks/whatsapp`, { method: "POST", headers: { "content-type": "application/json", "x-hub-signature-256": signature }, body });
	assert.equal(intact.status, 200, "the exact bytes pass (a duplicate: acknowledged, changes nothing)");
	assert.equal(((await ds.getCase<CaseDoc>(caseId)) as CaseDoc).status, "delivered");
});

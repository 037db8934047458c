// The local provider servers behave as their documentation says where the delivery tests rely on it.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { test } from "node:test";
import jwt from "jsonwebtoken";
import { startRbmServer } from "../../../fixtures/providers/rbm.ts";
import { startTwilioServer } from "../../../fixtures/providers/twilio.ts";
import { startWhatsAppServer } from "../../../fixtures/providers/whatsapp.ts";
import { startGateway } from "./helpers.ts";

test("WhatsApp server: wrong token 401/190, a document outside the window fails with 131047, throttling carries Retry-After, 'silent' sends no callback", async (t) => {
	const gw = await startGateway({ whatsapp: { provider: "x", handle: () => ({ kind: "events", events: [] }) } });
	const wa = await startWhatsAppServer({ token: "tok", appSecret: "sec", webhookUrl: `${gw.url}/api/v1/webhooks/whatsapp` });
	t.after(async () => {
		await wa.close();
		await gw.close();
	});
	const send = (body: unknown, token = "tok") => fetch(`${wa.url}/${wa.version}/${wa.phoneNumberId}/messages`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
	const bad = await send({}, "nope");
	assert.deepEqual([bad.status, ((await bad.json()) as { error: { code: number } }).error.code], [401, 190]);
	const doc = await send({ messaging_product: "whatsapp", to: "919800000001", type: "document", document: { link: "https://x/f.pdf" } });
	assert.equal(doc.status, 200);
	await wa.settled();
	assert.match(wa.callbacks.at(-1)?.body ?? "", /"status":"failed".*"code":131047/);
	wa.fail("919800000002", { kind: "throttle", times: 1, retryAfterS: 7 });
	const tpl = { messaging_product: "whatsapp", to: "919800000002", type: "template", template: { name: "t", language: { code: "en" } } };
	const thr = await send(tpl);
	assert.deepEqual([thr.status, thr.headers.get("retry-after")], [429, "7"]);
	assert.equal((await send(tpl)).status, 200, "a counted rule is used up");
	await wa.settled();
	const before = wa.callbacks.length;
	wa.fail("919800000003", { kind: "silent" });
	assert.equal((await send({ ...tpl, to: "919800000003" })).status, 200);
	await wa.settled();
	assert.equal(wa.callbacks.length, before);
});

test("RBM token endpoint refuses an assertion signed by another key or for another audience", async (t) => {
	const key = generateKeyPairSync("rsa", { modulusLength: 2048 });
	const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
	const rbm = await startRbmServer({ agentId: "a", clientToken: "c", serviceAccount: { clientEmail: "sa@x", publicKey: key.publicKey.export({ type: "spki", format: "pem" }).toString() } });
	t.after(() => rbm.close());
	const ask = (pem: string, aud = rbm.tokenUrl) =>
		fetch(rbm.tokenUrl, {
			method: "POST",
			headers: { "content-type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: jwt.sign({ iss: "sa@x", scope: "https://www.googleapis.com/auth/rcsbusinessmessaging", aud }, pem, { algorithm: "RS256", expiresIn: 3600 }) }).toString()
		});
	const pem = (k: typeof key) => k.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
	assert.equal((await ask(pem(other))).status, 400);
	assert.equal((await ask(pem(key), "https://elsewhere/token")).status, 400);
	const ok = await ask(pem(key));
	assert.equal(ok.status, 200);
	assert.equal(((await ok.json()) as { token_type: string }).token_type, "Bearer");
});

test("Twilio server: Basic auth checked (20003), invalid To refused (21211)", async (t) => {
	const tw = await startTwilioServer({ accountSid: "AC1", authToken: "tok" });
	t.after(() => tw.close());
	const post = (auth: string, to: string) =>
		fetch(`${tw.url}/2010-04-01/Accounts/AC1/Messages.json`, { method: "POST", headers: { authorization: `Basic ${Buffer.from(auth).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ To: to, From: "+15005550006", Body: "hi" }).toString() });
	const unauth = await post("AC1:wrong", "+919800000001");
	assert.deepEqual([unauth.status, ((await unauth.json()) as { code: number }).code], [401, 20003]);
	const bad = await post("AC1:tok", "12345");
	assert.deepEqual([bad.status, ((await bad.json()) as { code: number }).code], [400, 21211]);
	assert.equal((await post("AC1:tok", "+919800000001")).status, 201);
});

import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, beforeEach, test } from "node:test";
import { ConfigError } from "../../../../config/index.ts";
import { createProviders } from "../../../../lib/delivery/providers/index.ts";
import { rbmSignature } from "../../../../lib/delivery/providers/rcs.ts";
import type { Provider, ProviderSet } from "../../../../lib/delivery/provider.ts";
import { startRbmServer, type RbmServer } from "../../../fixtures/providers/rbm.ts";
import { configWith, fastClock, type Gateway, message, silent, startGateway } from "./helpers.ts";

const AGENT = "paperwork_agent";
const CLIENT_TOKEN = "SJENCPGJESMGUFPY";
const EMAIL = "rbm@paperwork-test.iam.gserviceaccount.com";
let rbm: RbmServer;
let gateway: Gateway;
let set: ProviderSet;
let provider: Provider;
let dir: string;
let keyFile: string;

before(async () => {
	const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
	dir = mkdtempSync(path.join(os.tmpdir(), "rbm-"));
	keyFile = path.join(dir, "service-account.json");
	rbm = await startRbmServer({ agentId: AGENT, clientToken: CLIENT_TOKEN, serviceAccount: { clientEmail: EMAIL, publicKey: publicKey.export({ type: "spki", format: "pem" }).toString() }, staticTokens: ["static-1"], events: ["DELIVERED", "READ"] });
	writeFileSync(
		keyFile,
		JSON.stringify({ type: "service_account", client_email: EMAIL, private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), private_key_id: "k1", token_uri: rbm.tokenUrl })
	);
	const handlers = {};
	gateway = await startGateway(handlers);
	rbm.webhookUrl = `${gateway.url}/api/v1/webhooks/rcs`;
	set = createProviders(configWith({ RCS_API_URL: rbm.url, RCS_AGENT_ID: AGENT, RCS_CLIENT_TOKEN: CLIENT_TOKEN, RCS_SERVICE_ACCOUNT_FILE: keyFile }), { logger: silent, clock: fastClock() });
	Object.assign(handlers, set.callbacks);
	provider = set.byChannel.rcs as Provider;
});

after(async () => {
	await set.close();
	await rbm.close();
	await gateway.close();
	rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
	rbm.clear();
	rbm.requests.length = 0;
	gateway.outcomes.length = 0;
});

test("a letter is a rich card with an open-URL suggestion, sent with a service account's OAuth token that is cached", async () => {
	const m = message({ channel: "rcs", language: "hi" });
	const r = await provider.send(m);
	assert.deepEqual(r, { ok: true, providerMessageId: m.attemptId, status: "sent" });
	assert.equal((await provider.send(message({ channel: "rcs" }))).ok, true);
	assert.equal(rbm.tokensIssued.length, 1, "one token for both sends");
	const send = rbm.requests.find((q) => q.path.includes("agentMessages"));
	assert.ok(send);
	assert.equal(send.path, "/v1/phones/+919876543210/agentMessages");
	assert.deepEqual(send.query, { messageId: m.attemptId, agentId: AGENT });
	assert.equal(send.headers.authorization, `Bearer ${rbm.tokensIssued[0]}`);
	const card = JSON.parse(send.body).contentMessage.richCard.standaloneCard.cardContent;
	assert.equal(card.title, m.text.subject);
	assert.equal(card.description, m.text.body);
	assert.equal(card.suggestions[0].action.openUrlAction.url, m.document.url);
	assert.equal(card.suggestions[0].action.text, "पत्र खोलें");
	await rbm.settled();
	const events = gateway.outcomes.flatMap((o) => (o.outcome.kind === "events" ? o.outcome.events : []));
	assert.deepEqual(
		events.filter((e) => e.attemptId === m.attemptId).map((e) => e.status),
		["delivered", "read"]
	);
	const file = message({ channel: "rcs", settings: { rcs: { content: "file", agentId: AGENT } } });
	assert.equal((await provider.send(file)).ok, true);
	assert.deepEqual(rbm.messages.at(-1)?.body, { contentMessage: { contentInfo: { fileUrl: file.document.url, forceRefresh: false } } });
});

test("a refused token is renewed once (401), and a messageId sent before (409) counts as sent, never twice", async () => {
	rbm.revokeTokens();
	const m = message({ channel: "rcs" });
	assert.equal((await provider.send(m)).ok, true);
	assert.equal(rbm.tokensIssued.length, 2);
	const again = await provider.send(m);
	assert.deepEqual(again, { ok: true, providerMessageId: m.attemptId, status: "sent" });
	assert.equal(rbm.messages.filter((x) => x.messageId === m.attemptId).length, 1);
});

test("404: the phone cannot receive RCS, a permanent failure at once; 429 and 500 retried; TTL revocation is a failed event", async () => {
	rbm.fail("+919876521111", { kind: "not-rcs" });
	const r = await provider.send(message({ phone: "+919876521111" }));
	assert.deepEqual(r.ok ? null : [r.permanent, r.code, r.httpStatus], [true, "NOT_FOUND", 404]);
	assert.equal(rbm.requests.filter((q) => q.path.includes("919876521111")).length, 1, "no retry of a 404");
	rbm.fail("+919876521112", { kind: "throttle", times: 1, retryAfterS: 1 });
	assert.equal((await provider.send(message({ phone: "+919876521112" }))).ok, true);
	rbm.fail("+919876521113", { kind: "error", times: 2 });
	assert.equal((await provider.send(message({ phone: "+919876521113" }))).ok, true);
	rbm.fail("+919876521114", { kind: "undeliverable" });
	const m = message({ phone: "+919876521114" });
	assert.equal((await provider.send(m)).ok, true);
	await rbm.settled();
	const events = gateway.outcomes.flatMap((o) => (o.outcome.kind === "events" ? o.outcome.events : []));
	assert.deepEqual(
		events.filter((e) => e.attemptId === m.attemptId).map((e) => [e.status, e.code]),
		[["failed", "TTL_EXPIRATION_REVOKED"]]
	);
});

test("webhook: the verification handshake echoes the secret for our client token only; events need X-Goog-Signature over the decoded data", async () => {
	const good = await rbm.verifyWebhook();
	assert.deepEqual([good.status, good.body], [200, good.secret]);
	const bad = await rbm.verifyWebhook("not-ours");
	assert.equal(bad.status, 403);

	const handler = set.callbacks.rcs;
	const event = Buffer.from(JSON.stringify({ senderPhoneNumber: "+919876543210", eventType: "DELIVERED", eventId: "e1", messageId: "att-7", sendTime: "2026-12-01T10:00:00.123Z", agentId: AGENT }));
	const body = Buffer.from(JSON.stringify({ message: { data: event.toString("base64"), messageId: "1", publishTime: "2026-12-01T10:00:01Z" }, subscription: "s" }));
	const call = (sig?: string) => handler.handle({ method: "POST", url: "http://x/api/v1/webhooks/rcs", headers: sig ? { "x-goog-signature": sig } : {}, query: {}, rawBody: body });
	assert.deepEqual(call(), { kind: "rejected", status: 401, reason: "missing X-Goog-Signature" });
	assert.equal(call(rbmSignature(CLIENT_TOKEN, body)).kind, "rejected", "a signature over the whole body is not Google's");
	assert.equal(call(rbmSignature("other", event)).kind, "rejected");
	const ok = call(rbmSignature(CLIENT_TOKEN, event));
	assert.deepEqual(ok, { kind: "events", events: [{ provider: "google-rbm", channel: "rcs", attemptId: "att-7", providerMessageId: "att-7", status: "delivered", at: new Date("2026-12-01T10:00:00.123Z") }] });

	rbm.postEvent({ eventType: "READ", messageId: "att-7" }, "forged");
	await rbm.settled();
	assert.equal(rbm.callbacks.at(-1)?.answer, 401);
});

test("a static RCS_TOKEN needs no token endpoint; a partial RCS configuration is a ConfigError naming what is missing", async () => {
	const s = createProviders(configWith({ RCS_API_URL: rbm.url, RCS_AGENT_ID: AGENT, RCS_CLIENT_TOKEN: CLIENT_TOKEN, RCS_TOKEN: "static-1" }), { logger: silent });
	const issued = rbm.tokensIssued.length;
	assert.equal((await (s.byChannel.rcs as Provider).send(message())).ok, true);
	assert.equal(rbm.tokensIssued.length, issued);
	await s.close();
	assert.throws(() => configWith({ RCS_AGENT_ID: AGENT, RCS_CLIENT_TOKEN: CLIENT_TOKEN }), (e: unknown) => e instanceof ConfigError && e.variable === "RCS_SERVICE_ACCOUNT_FILE");
	assert.throws(() => configWith({ RCS_TOKEN: "x" }), (e: unknown) => e instanceof ConfigError && e.variable === "RCS_AGENT_ID");
});

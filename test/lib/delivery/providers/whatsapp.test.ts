import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { createProviders } from "../../../../lib/delivery/providers/index.ts";
import { sharedServiceWindow, whatsAppSignature } from "../../../../lib/delivery/providers/whatsapp.ts";
import type { Provider, ProviderSet } from "../../../../lib/delivery/provider.ts";
import { startWhatsAppServer, type WhatsAppServer } from "../../../fixtures/providers/whatsapp.ts";
import { configWith, fastClock, type Gateway, message, silent, startGateway } from "./helpers.ts";

const TOKEN = "EAAG-test-token";
const SECRET = "app-secret-1";
const VERIFY = "verify-me";
let wa: WhatsAppServer;
let gateway: Gateway;
let set: ProviderSet;
let provider: Provider;
let clock: ReturnType<typeof fastClock>;
const alerts: string[] = [];

function build(env: Record<string, string> = {}): void {
	clock = fastClock();
	set = createProviders(
		configWith({
			WHATSAPP_API_URL: wa.url,
			WHATSAPP_API_VERSION: wa.version,
			WHATSAPP_PHONE_NUMBER_ID: wa.phoneNumberId,
			WHATSAPP_TOKEN: TOKEN,
			WHATSAPP_APP_SECRET: SECRET,
			WHATSAPP_VERIFY_TOKEN: VERIFY,
			PROVIDER_CIRCUIT_FAILURES: "2",
			PROVIDER_CIRCUIT_COOLDOWN_S: "5",
			...env
		}),
		{ logger: silent, clock, alerts: { raise: (kind, text) => alerts.push(`${kind}: ${text}`) } }
	);
	provider = set.byChannel.whatsapp as Provider;
}

before(async () => {
	wa = await startWhatsAppServer({ token: TOKEN, appSecret: SECRET, statuses: ["sent", "delivered", "read"] });
	build();
	gateway = await startGateway(set.callbacks);
	wa.webhookUrl = `${gateway.url}/api/v1/webhooks/whatsapp`;
});

after(async () => {
	await set.close();
	await wa.close();
	await gateway.close();
});

beforeEach(() => {
	wa.clear();
	wa.requests.length = 0;
	gateway.outcomes.length = 0;
});

test("a business-initiated letter is the client's template with the PDF as its document header, carrying our attempt ID", async () => {
	const m = message({ language: "hi" });
	const r = await provider.send(m);
	assert.equal(r.ok, true);
	assert.ok(r.ok && r.providerMessageId.startsWith("wamid."));
	assert.equal(wa.requests.length, 1);
	assert.equal(wa.requests[0].headers.authorization, `Bearer ${TOKEN}`);
	const body = JSON.parse(wa.requests[0].body);
	assert.equal(body.type, "template");
	assert.equal(body.to, "919876543210");
	assert.equal(body.biz_opaque_callback_data, m.attemptId);
	assert.deepEqual(body.template, {
		name: "welcome_letter",
		language: { code: "hi" },
		components: [{ type: "header", parameters: [{ type: "document", document: { link: m.document.url, filename: m.document.fileName } }] }]
	});
	await wa.settled();
	const events = gateway.outcomes.flatMap((o) => (o.outcome.kind === "events" ? o.outcome.events : []));
	assert.deepEqual(
		events.map((e) => [e.status, e.attemptId, e.providerMessageId]),
		["sent", "delivered", "read"].map((s) => [s, m.attemptId, r.ok ? r.providerMessageId : ""])
	);
});

test("no template for the letter's language and no open window: a permanent failure without a call", async () => {
	const r = await provider.send(message({ language: "gu" }));
	assert.deepEqual(r.ok ? null : [r.permanent, r.code], [true, "NO_TEMPLATE"]);
	assert.equal(wa.requests.length, 0);
});

test("inside the customer-service window (an inbound message seen in a callback) a plain document is sent", async () => {
	const phone = "+919876500001";
	wa.inbound(phone);
	await wa.settled();
	const inbound = gateway.outcomes.find((o) => o.outcome.kind === "events" && o.outcome.inbound?.length);
	assert.ok(inbound, "the inbound webhook was accepted");
	const m = message({ phone, language: "gu" });
	const r = await provider.send(m);
	assert.equal(r.ok, true);
	const body = JSON.parse(wa.requests.at(-1)?.body ?? "{}");
	assert.equal(body.type, "document");
	assert.deepEqual([body.document.link, body.document.filename, body.biz_opaque_callback_data], [m.document.url, m.document.fileName, m.attemptId]);
});

test("errors: a refusal is permanent; 130429 throttling with 429 or 400 is retried honouring Retry-After; 500 n times is retried", async () => {
	wa.fail("+919876500002", { kind: "reject", code: 131026 });
	const refused = await provider.send(message({ phone: "+919876500002" }));
	assert.deepEqual(refused.ok ? null : [refused.permanent, refused.code, refused.httpStatus], [true, "131026", 400]);

	wa.fail("+919876500003", { kind: "throttle", times: 1, retryAfterS: 2 });
	clock.waits.length = 0;
	assert.equal((await provider.send(message({ phone: "+919876500003" }))).ok, true);
	assert.deepEqual(clock.waits, [2000]);

	wa.fail("+919876500004", { kind: "throttle", times: 2, status: 400 });
	clock.waits.length = 0;
	assert.equal((await provider.send(message({ phone: "+919876500004" }))).ok, true);
	assert.deepEqual(clock.waits, [5, 10], "exponential backoff (full jitter drawn at its top here)");

	wa.fail("+919876500005", { kind: "error", times: 2 });
	assert.equal((await provider.send(message({ phone: "+919876500005" }))).ok, true);
	assert.equal(wa.requests.filter((r) => r.body.includes("919876500005")).length, 3);
});

test("a provider that keeps failing opens the circuit (no more calls, an alert), and a probe after the cool-down closes it", async () => {
	wa.fail("+919876500006", { kind: "error", times: 100 });
	for (let i = 0; i < 2; i++) {
		const r = await provider.send(message({ phone: "+919876500006" }));
		assert.deepEqual(r.ok ? null : [r.permanent, r.code], [false, "131000"]);
	}
	const open = provider.circuit();
	assert.deepEqual([open.state, open.since?.getTime(), open.lastFailure?.reason], ["open", clock.now(), "HTTP 500"], "open since now; why, without the answer's body");
	assert.ok(alerts.some((a) => a.startsWith("circuit_open: provider whatsapp-cloud")));
	const calls = wa.requests.length;
	const refused = await provider.send(message());
	assert.deepEqual(refused.ok ? null : [refused.permanent, refused.code], [false, "CIRCUIT_OPEN"]);
	assert.equal(wa.requests.length, calls, "nothing was sent while open");
	clock.advance(5000);
	assert.equal(provider.circuit().state, "half-open");
	wa.clear();
	assert.equal((await provider.send(message())).ok, true);
	const closed = provider.circuit();
	assert.deepEqual([closed.state, closed.failures, closed.since?.getTime()], ["closed", 0, clock.now()]);
});

test("callbacks: verification GET, bad or missing signature refused, failed status with code and title, duplicates and out-of-order parsed", async () => {
	const handler = set.callbacks.whatsapp;
	const get = (q: Record<string, string>) => handler.handle({ method: "GET", url: "http://x/api/v1/webhooks/whatsapp", headers: {}, query: q, rawBody: Buffer.alloc(0) });
	assert.deepEqual(get({ "hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444" }), { kind: "challenge", body: "1158201444", contentType: "text/plain" });
	assert.equal(get({ "hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1" }).kind, "rejected");

	const status = (s: string, ts: number, extra: Record<string, unknown> = {}) => ({ id: "wamid.X", status: s, timestamp: String(ts), recipient_id: "919876543210", biz_opaque_callback_data: "att-9", ...extra });
	const payload = {
		object: "whatsapp_business_account",
		entry: [
			{
				id: "1",
				changes: [
					{
						field: "messages",
						value: {
							statuses: [
								status("delivered", 1700000010),
								status("sent", 1700000005),
								status("delivered", 1700000010),
								status("failed", 1700000020, { errors: [{ code: 131026, title: "Message undeliverable", error_data: { details: "not on WhatsApp" } }] })
							]
						}
					}
				]
			}
		]
	};
	const raw = Buffer.from(JSON.stringify(payload));
	const post = (sig?: string) => handler.handle({ method: "POST", url: "http://x/api/v1/webhooks/whatsapp", headers: sig ? { "x-hub-signature-256": sig } : {}, query: {}, rawBody: raw });
	assert.deepEqual(post(), { kind: "rejected", status: 401, reason: "missing X-Hub-Signature-256" });
	assert.equal(post(whatsAppSignature("other-secret", raw)).kind, "rejected");
	assert.equal(post(whatsAppSignature(SECRET, Buffer.concat([raw, Buffer.from(" ")]))).kind, "rejected");
	const ok = post(whatsAppSignature(SECRET, raw));
	assert.equal(ok.kind, "events");
	if (ok.kind !== "events") return;
	assert.deepEqual(
		ok.events.map((e) => [e.status, e.at.toISOString(), e.attemptId, e.code]),
		[
			["delivered", "2023-11-14T22:13:30.000Z", "att-9", undefined],
			["sent", "2023-11-14T22:13:25.000Z", "att-9", undefined],
			["delivered", "2023-11-14T22:13:30.000Z", "att-9", undefined],
			["failed", "2023-11-14T22:13:40.000Z", "att-9", "131026"]
		]
	);
	assert.equal(ok.events[3].reason, "Message undeliverable: not on WhatsApp");

	// a callback the server signs with a wrong secret is refused by the gateway with 401
	wa.postWebhook(payload, whatsAppSignature("nope", raw));
	await wa.settled();
	assert.equal(wa.callbacks.at(-1)?.answer, 401);
});

test("two provider sets in one process (the api's webhook route and the notifier) share the service window", async () => {
	const other = createProviders(
		configWith({ WHATSAPP_API_URL: wa.url, WHATSAPP_API_VERSION: wa.version, WHATSAPP_PHONE_NUMBER_ID: wa.phoneNumberId, WHATSAPP_TOKEN: TOKEN, WHATSAPP_APP_SECRET: SECRET, WHATSAPP_VERIFY_TOKEN: VERIFY }),
		{ logger: silent }
	);
	const phone = "+919876500077";
	wa.inbound(phone);
	await wa.settled();
	assert.equal((await (other.byChannel.whatsapp as Provider).send(message({ phone, language: "gu" }))).ok, true);
	assert.equal(JSON.parse(wa.requests.at(-1)?.body ?? "{}").type, "document");
	await other.close();
});

test("a notifier in another process sees the service window another node recorded in the store (sharedServiceWindow)", async () => {
	const { SqliteStore } = await import("../../../../lib/store/sqlite.ts");
	const { DeliveryStore } = await import("../../../../lib/delivery/store.ts");
	const store = new SqliteStore({ file: ":memory:" });
	const ds = await DeliveryStore.open((c) => store.adapter(c));
	// its own memory window, which never saw the webhook: only the store can open it
	const elsewhere = createProviders(
		configWith({ WHATSAPP_API_URL: wa.url, WHATSAPP_API_VERSION: wa.version, WHATSAPP_PHONE_NUMBER_ID: wa.phoneNumberId, WHATSAPP_TOKEN: TOKEN, WHATSAPP_APP_SECRET: SECRET, WHATSAPP_VERIFY_TOKEN: VERIFY }),
		{ logger: silent, whatsappWindow: sharedServiceWindow((phone) => ds.lastInbound("whatsapp", phone)) }
	);
	try {
		const send = (phone: string) => (elsewhere.byChannel.whatsapp as Provider).send(message({ phone, language: "gu" }));
		const closed = await send("+919876500088");
		assert.deepEqual(closed.ok ? null : closed.code, "NO_TEMPLATE", "no inbound anywhere: no window");
		await ds.recordInbound("whatsapp", "919876500088", new Date());
		assert.equal((await send("+919876500088")).ok, true);
		assert.equal(JSON.parse(wa.requests.at(-1)?.body ?? "{}").type, "document");
		// a message older than 24 h opens nothing; an earlier one recorded late never moves the window back
		await ds.recordInbound("whatsapp", "919876500089", new Date(Date.now() - 25 * 3600_000));
		assert.deepEqual(((await send("+919876500089")) as { code?: string }).code, "NO_TEMPLATE");
		await ds.recordInbound("whatsapp", "919876500089", new Date());
		await ds.recordInbound("whatsapp", "919876500089", new Date(Date.now() - 26 * 3600_000));
		assert.equal((await send("+919876500089")).ok, true);
	} finally {
		await elsewhere.close();
		await store.close();
	}
});

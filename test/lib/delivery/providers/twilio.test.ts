import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { createProviders } from "../../../../lib/delivery/providers/index.ts";
import { twilioSignature } from "../../../../lib/delivery/providers/twilio.ts";
import type { Provider, ProviderSet } from "../../../../lib/delivery/provider.ts";
import { startTwilioServer, type TwilioServer } from "../../../fixtures/providers/twilio.ts";
import { configWith, fastClock, type Gateway, message, silent, startGateway } from "./helpers.ts";

const SID = "AC0123456789abcdef0123456789abcdef";
const AUTH = "twilio-auth-token";
let tw: TwilioServer;
let gateway: Gateway;
let set: ProviderSet;
let provider: Provider;

before(async () => {
	tw = await startTwilioServer({ accountSid: SID, authToken: AUTH });
	const handlers = {};
	gateway = await startGateway(handlers);
	set = createProviders(
		configWith({ PUBLIC_URL: gateway.url, TWILIO_API_URL: tw.url, TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: AUTH, TWILIO_FROM: "+15005550006" }),
		{ logger: silent, clock: fastClock() }
	);
	Object.assign(handlers, set.callbacks);
	provider = set.byChannel.sms as Provider;
});

after(async () => {
	await set.close();
	await tw.close();
	await gateway.close();
});

beforeEach(() => {
	tw.clear();
	tw.requests.length = 0;
	gateway.outcomes.length = 0;
});

test("an SMS is a form-encoded Messages POST with Basic auth and a StatusCallback naming our attempt; signed callbacks become events", async () => {
	const m = message({ channel: "sms" });
	const r = await provider.send(m);
	assert.ok(r.ok && r.providerMessageId.startsWith("SM") && r.status === "queued");
	const req = tw.requests[0];
	assert.equal(req.path, `/2010-04-01/Accounts/${SID}/Messages.json`);
	assert.equal(req.headers["content-type"], "application/x-www-form-urlencoded");
	assert.equal(req.headers.authorization, `Basic ${Buffer.from(`${SID}:${AUTH}`).toString("base64")}`);
	const form = Object.fromEntries(new URLSearchParams(req.body));
	assert.deepEqual(form, { To: "+919876543210", From: "+15005550006", Body: m.text.body, StatusCallback: `${gateway.url}/api/v1/webhooks/twilio?attempt=${m.attemptId}` });
	await tw.settled();
	assert.deepEqual(
		tw.callbacks.map((c) => c.answer),
		[200, 200]
	);
	const events = gateway.outcomes.flatMap((o) => (o.outcome.kind === "events" ? o.outcome.events : []));
	assert.deepEqual(
		events.map((e) => [e.status, e.attemptId, e.providerMessageId, e.channel]),
		[
			["sent", m.attemptId, r.ok ? r.providerMessageId : "", "sms"],
			["delivered", m.attemptId, r.ok ? r.providerMessageId : "", "sms"]
		]
	);
});

test("a Messaging Service SID is sent as MessagingServiceSid; undelivered comes back as failed with its ErrorCode", async () => {
	tw.fail("+919876511111", { kind: "undeliverable", code: 30003 });
	const m = message({ channel: "sms", phone: "+919876511111", settings: { sms: { from: "MG0123456789abcdef0123456789abcdef" } } });
	assert.equal((await provider.send(m)).ok, true);
	const form = Object.fromEntries(new URLSearchParams(tw.requests[0].body));
	assert.equal(form.MessagingServiceSid, "MG0123456789abcdef0123456789abcdef");
	assert.equal(form.From, undefined);
	await tw.settled();
	const events = gateway.outcomes.flatMap((o) => (o.outcome.kind === "events" ? o.outcome.events : []));
	assert.deepEqual(events.at(-1) && [events.at(-1)?.status, events.at(-1)?.code, events.at(-1)?.attemptId], ["failed", "30003", m.attemptId]);
});

test("error mapping: 21211 permanent, 429 with Retry-After retried, 500 after every retry transient", async () => {
	tw.fail("+919876511112", { kind: "reject", code: 21211 });
	const bad = await provider.send(message({ phone: "+919876511112" }));
	assert.deepEqual(bad.ok ? null : [bad.permanent, bad.code, bad.httpStatus], [true, "21211", 400]);
	tw.fail("+919876511113", { kind: "throttle", times: 1, retryAfterS: 1 });
	assert.equal((await provider.send(message({ phone: "+919876511113" }))).ok, true);
	tw.fail("+919876511114", { kind: "error", times: 10 });
	const down = await provider.send(message({ phone: "+919876511114" }));
	assert.deepEqual(down.ok ? null : [down.permanent, down.code], [false, "20500"]);
	assert.equal(tw.requests.filter((r) => r.body.includes("919876511114")).length, 4, "first try and 3 retries");
	const noPhone = await provider.send(message({ recipient: { name: "X", language: "en" } }));
	assert.deepEqual(noPhone.ok ? null : [noPhone.permanent, noPhone.code], [true, "NO_PHONE"]);
});

test("callbacks with a bad or missing X-Twilio-Signature, or signed for another URL, are refused", () => {
	const handler = set.callbacks.twilio;
	const url = `${gateway.url}/api/v1/webhooks/twilio?attempt=att-1`;
	const params = { MessageSid: "SM1", MessageStatus: "delivered", To: "+919876543210" };
	const raw = Buffer.from(new URLSearchParams(params).toString());
	const call = (sig: string | undefined, u = url) => handler.handle({ method: "POST", url: u, headers: sig ? { "x-twilio-signature": sig } : {}, query: { attempt: "att-1" }, rawBody: raw });
	assert.equal(call(undefined).kind, "rejected");
	assert.equal(call(twilioSignature("other", url, params)).kind, "rejected");
	assert.equal(call(twilioSignature(AUTH, url, params), `${url}x`).kind, "rejected");
	const ok = call(twilioSignature(AUTH, url, params));
	assert.equal(ok.kind === "events" && ok.events[0].status, "delivered");
});

test("the rate limit spaces calls (token bucket): 8 sends at 5/s wait for tokens", async () => {
	const clock = fastClock();
	const limited = createProviders(
		configWith({ PUBLIC_URL: gateway.url, TWILIO_API_URL: tw.url, TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: AUTH, TWILIO_FROM: "+15005550006", TWILIO_RATE_PER_S: "5" }),
		{ logger: silent, clock }
	);
	const p = limited.byChannel.sms as Provider;
	const results = await Promise.all(Array.from({ length: 8 }, () => p.send(message())));
	assert.ok(results.every((r) => r.ok));
	assert.deepEqual(clock.waits, [200, 200, 200], "a burst of 5, then one token every 200 ms");
	await limited.close();
	await tw.settled();
});

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createLogger } from "../../../../lib/log.ts";
import { createProviders } from "../../../../lib/delivery/providers/index.ts";
import { CircuitBreaker, parseRetryAfter, ResilientHttp, TokenBucket } from "../../../../lib/delivery/providers/resilience.ts";
import type { Provider } from "../../../../lib/delivery/provider.ts";
import { startWhatsAppServer } from "../../../fixtures/providers/whatsapp.ts";
import { startTwilioServer } from "../../../fixtures/providers/twilio.ts";
import { configWith, fastClock, message, silent } from "./helpers.ts";

test("Retry-After is read as seconds or as an HTTP date", () => {
	const now = Date.parse("2026-12-01T10:00:00Z");
	assert.equal(parseRetryAfter("120", now), 120_000);
	assert.equal(parseRetryAfter("Tue, 01 Dec 2026 10:00:30 GMT", now), 30_000);
	assert.equal(parseRetryAfter("Tue, 01 Dec 2026 09:00:00 GMT", now), 0);
	assert.equal(parseRetryAfter("soon", now), undefined);
	assert.equal(parseRetryAfter(null, now), undefined);
});

test("token bucket: a burst, then one token per 1/rate; rate 0 never waits", async () => {
	const clock = fastClock();
	const bucket = new TokenBucket(10, 2, clock);
	for (let i = 0; i < 4; i++) await bucket.take();
	assert.deepEqual(clock.waits, [100, 100]);
	const free = new TokenBucket(0, 1, clock);
	for (let i = 0; i < 100; i++) await free.take();
	assert.equal(clock.waits.length, 2);
});

test("token bucket: a new rate holds from the change on; tokens earned before it are kept within the new burst", async () => {
	const clock = fastClock();
	const bucket = new TokenBucket(10, 10, clock);
	for (let i = 0; i < 10; i++) await bucket.take();
	assert.deepEqual(clock.waits, []);
	bucket.setRate(5);
	assert.equal(bucket.ratePerSecond, 5);
	await bucket.take();
	await bucket.take();
	assert.deepEqual(clock.waits, [200, 200], "one token per 1/5 s once the rate is halved");
	clock.advance(10_000);
	for (let i = 0; i < 5; i++) await bucket.take();
	assert.equal(clock.waits.length, 2, "a burst of one second of the new rate");
	await bucket.take();
	assert.deepEqual(clock.waits.slice(2), [200]);
	const free = new TokenBucket(0, 1, clock);
	free.setRate(1);
	await free.take();
	await free.take();
	assert.deepEqual(clock.waits.slice(3), [1000], "a bucket that had no limit starts with one token");
});

test("a provider's rate limit is shared among the notifier nodes: each keeps to the rate divided by the nodes", async () => {
	const clock = fastClock();
	const limited = new ResilientHttp({ ...opts, ratePerSecond: 80, clock });
	assert.equal(limited.ratePerSecond(), 80);
	limited.shareRate(2);
	assert.equal(limited.ratePerSecond(), 40);
	limited.shareRate(3);
	assert.equal(limited.ratePerSecond(), 80 / 3);
	limited.shareRate(1000);
	assert.equal(limited.ratePerSecond(), 1, "never below one call a second");
	limited.shareRate(0);
	assert.equal(limited.ratePerSecond(), 80, "no node known: the whole rate");
	const unlimited = new ResilientHttp({ ...opts, ratePerSecond: 0, clock });
	unlimited.shareRate(4);
	assert.equal(unlimited.ratePerSecond(), 0, "no limit stays no limit");
});

test("circuit breaker: opens after N consecutive failures, lets one probe through when half-open, closes on success", () => {
	const clock = fastClock();
	const changes: string[] = [];
	const b = new CircuitBreaker({ failureThreshold: 3, coolDownMs: 1000, clock, onChange: (i) => changes.push(i.state) });
	b.failure();
	b.failure();
	b.success();
	b.failure();
	b.failure();
	assert.equal(b.info().state, "closed", "a success resets the count");
	b.failure();
	assert.equal(b.info().state, "open");
	assert.equal(b.tryPass(), false);
	clock.advance(1000);
	assert.equal(b.tryPass(), true, "the probe");
	assert.equal(b.tryPass(), false, "only one probe at a time");
	b.failure();
	assert.equal(b.info().state, "open", "a failed probe re-opens");
	clock.advance(1000);
	assert.equal(b.tryPass(), true);
	clock.advance(5);
	b.success();
	const info = b.info();
	assert.deepEqual([info.state, info.failures, info.since?.getTime()], ["closed", 0, clock.now()], "closed since the probe succeeded");
	assert.equal(info.lastFailure?.reason, "failed", "the last failure is still shown");
	assert.deepEqual(changes, ["open", "half-open", "open", "half-open", "closed"]);
	b.failure("HTTP 503");
	assert.deepEqual(b.info().lastFailure, { at: new Date(clock.now()), reason: "HTTP 503" });
});

async function flaky(answers: ((res: http.ServerResponse) => void)[]): Promise<{ url: string; calls: () => number; close(): Promise<void> }> {
	let n = 0;
	const server = http.createServer((req, res) => {
		req.resume();
		req.on("end", () => {
			const a = answers[Math.min(n, answers.length - 1)];
			n += 1;
			a(res);
		});
	});
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	return {
		url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
		calls: () => n,
		close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r())))
	};
}

const opts = { provider: "p", timeoutMs: 300, retries: 3, retryBaseMs: 100, retryBudgetMs: 10_000, ratePerSecond: 0, circuitFailures: 5, circuitCooldownMs: 1000, logger: silent };

test("retries: network errors are retried; a Retry-After beyond the time budget ends the call at once with the provider's answer", async (t) => {
	const clock = fastClock();
	const refused = new ResilientHttp({ ...opts, clock });
	const out = await refused.call({ method: "POST", url: "http://127.0.0.1:1/" });
	assert.equal(out.kind, "network");
	assert.equal(out.kind === "network" && out.tries, 4);
	assert.deepEqual(clock.waits, [100, 200, 400]);

	const s = await flaky([(res) => res.writeHead(429, { "retry-after": "60" }).end()]);
	t.after(() => s.close());
	const budget = new ResilientHttp({ ...opts, clock: fastClock() });
	const o = await budget.call({ method: "POST", url: s.url });
	assert.equal(o.kind === "answer" && o.answer.status, 429);
	assert.equal(s.calls(), 1);
});

test("a timed-out request is retried only where the provider is idempotent", async (t) => {
	const s = await flaky([() => undefined, (res) => res.writeHead(200).end("{}")]);
	t.after(() => s.close());
	const once = new ResilientHttp({ ...opts, clock: fastClock(), idempotent: false });
	const o = await once.call({ method: "POST", url: s.url });
	assert.deepEqual([o.kind, o.kind === "network" && o.maybeSent, s.calls()], ["network", true, 1]);
	const again = new ResilientHttp({ ...opts, clock: fastClock() });
	const o2 = await again.call({ method: "POST", url: s.url });
	assert.equal(o2.kind === "answer" && o2.answer.status, 200);
});

/** A server that reads each request whole, then destroys the connection without answering (or answers `then`). */
async function resetting(then?: (n: number, res: http.ServerResponse) => boolean): Promise<{ url: string; calls: () => number; close(): Promise<void> }> {
	let n = 0;
	const server = http.createServer((req, res) => {
		req.resume();
		req.on("end", () => {
			n += 1;
			if (then?.(n, res)) return;
			req.socket.destroy();
		});
	});
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	return {
		url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
		calls: () => n,
		close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r())))
	};
}

test("never twice: WhatsApp and Twilio do not repeat a request that reached the server (reset after it was read); the send ends unknown", async (t) => {
	const wa = await resetting();
	const tw = await resetting();
	t.after(async () => {
		await wa.close();
		await tw.close();
	});
	const set = createProviders(
		configWith({
			WHATSAPP_API_URL: wa.url,
			WHATSAPP_PHONE_NUMBER_ID: "1098",
			WHATSAPP_TOKEN: "t",
			WHATSAPP_APP_SECRET: "s",
			WHATSAPP_VERIFY_TOKEN: "v",
			TWILIO_API_URL: tw.url,
			TWILIO_ACCOUNT_SID: "AC1",
			TWILIO_AUTH_TOKEN: "a",
			TWILIO_FROM: "+15005550006",
			PROVIDER_RETRIES: "3"
		}),
		{ logger: silent, clock: fastClock() }
	);
	t.after(() => set.close());
	for (const [channel, server] of [["whatsapp", wa], ["sms", tw]] as const) {
		const r = await (set.byChannel[channel] as Provider).send(message({ channel }));
		assert.equal(server.calls(), 1, `${channel}: one request, never a second`);
		assert.equal(r.ok, false);
		assert.deepEqual(r.ok ? null : [r.code, r.permanent, r.unknown], ["NETWORK", false, true], `${channel}: ${JSON.stringify(r)}`);
		assert.match(r.ok ? "" : r.reason, /may have reached it/);
	}
});

test("RBM (idempotent by messageId) retries a request reset after it was read; every provider retries a refused connection", async (t) => {
	const rbm = await resetting((n, res) => {
		if (n < 2) return false;
		res.writeHead(200, { "content-type": "application/json" }).end("{}");
		return true;
	});
	t.after(() => rbm.close());
	const set = createProviders(configWith({ RCS_API_URL: rbm.url, RCS_AGENT_ID: "agent", RCS_CLIENT_TOKEN: "ct", RCS_TOKEN: "static" }), { logger: silent, clock: fastClock() });
	t.after(() => set.close());
	const r = await (set.byChannel.rcs as Provider).send(message({ channel: "rcs" }));
	assert.equal(r.ok, true, JSON.stringify(r));
	assert.equal(rbm.calls(), 2);

	// nothing listens on port 1: the connection is refused, nothing was sent, so even WhatsApp tries again
	const clock = fastClock();
	const refused = new ResilientHttp({ ...opts, clock, idempotent: false });
	const out = await refused.call({ method: "POST", url: "http://127.0.0.1:1/" });
	assert.deepEqual([out.kind, out.kind === "network" && out.maybeSent, out.kind === "network" && out.tries], ["network", false, 4]);
	assert.equal(refused.circuit().lastFailure?.reason, "ECONNREFUSED");
});

test("metrics count sends by outcome and show the circuit state; secrets and phone numbers never reach the logs", async (t) => {
	const TOKEN = "EAAG-super-secret-token";
	const wa = await startWhatsAppServer({ token: "other-token", appSecret: "s" });
	const tw = await startTwilioServer({ accountSid: "AC1", authToken: "tw-secret-auth" });
	t.after(async () => {
		await wa.close();
		await tw.close();
	});
	const lines: string[] = [];
	const logger = createLogger({
		level: "trace",
		format: "json",
		destination: new Writable({
			write(chunk, _enc, cb) {
				lines.push(String(chunk));
				cb();
			}
		})
	});
	const counted: string[] = [];
	const gauges: string[] = [];
	const metrics = {
		inc: (_n: string, l: Record<string, string>) => counted.push(`${l.provider}:${l.outcome}`),
		set: (_n: string, v: number, l: Record<string, string>) => gauges.push(`${l.provider}=${v}`)
	};
	const set = createProviders(
		configWith({
			WHATSAPP_API_URL: wa.url,
			WHATSAPP_PHONE_NUMBER_ID: wa.phoneNumberId,
			WHATSAPP_API_VERSION: wa.version,
			WHATSAPP_TOKEN: TOKEN,
			WHATSAPP_APP_SECRET: "app-secret-xyz",
			WHATSAPP_VERIFY_TOKEN: "verify-xyz",
			TWILIO_API_URL: tw.url,
			TWILIO_ACCOUNT_SID: "AC1",
			TWILIO_AUTH_TOKEN: "tw-secret-auth",
			TWILIO_FROM: "+15005550006",
			PROVIDER_CIRCUIT_FAILURES: "1"
		}),
		{ logger, metrics, clock: fastClock() }
	);
	const r = await (set.byChannel.whatsapp as Provider).send(message({ phone: "+919812345678" }));
	assert.deepEqual(r.ok ? null : [r.permanent, r.code, r.httpStatus], [true, "190", 401], "a wrong token is Graph error 190");
	assert.equal((await (set.byChannel.sms as Provider).send(message({ phone: "+919812345678" }))).ok, true);
	assert.deepEqual(counted, ["whatsapp-cloud:rejected", "twilio:sent"]);
	assert.deepEqual(gauges, ["whatsapp-cloud=0", "twilio=0", "whatsapp-cloud=2"], "an authentication failure counts against the circuit");
	const log = lines.join("");
	assert.ok(log.includes("circuit opened"));
	for (const secret of [TOKEN, "app-secret-xyz", "verify-xyz", "tw-secret-auth", "9812345678"]) assert.ok(!log.includes(secret), `${secret} is not logged`);
	assert.ok(log.includes("+91******5678"), "phones appear masked");
	await set.close();
});

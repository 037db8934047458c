/**
 * The fallback state machine on the embedded store with fake providers: WhatsApp -> RCS -> SMS -> email case by
 * case, a refusal moving on at once, a delivery timeout found by the sweep, duplicate and out-of-order events kept
 * but never moving a status backwards, a late "delivered" after a fallback, a notifier that died mid-send never
 * sending the attempt again (nor one whose WhatsApp request was read and its connection dropped), and an email
 * accepted as the end of the plan.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import { fieldExpr } from "../../../lib/store/query.ts";
import { DeliveryStore } from "../../../lib/delivery/store.ts";
import { Deliverer, attemptIdOf, caseIdOf, moves, usablePlan } from "../../../lib/delivery/notifier.ts";
import type { Channel, OutgoingMessage, Provider, SendResult } from "../../../lib/delivery/provider.ts";
import type { AlertKind, AttemptDoc, CaseDoc } from "../../../lib/delivery/types.ts";
import { createProviders } from "../../../lib/delivery/providers/index.ts";
import { configWith } from "./providers/helpers.ts";

const logger = pino({ level: "silent" });
let dir: string;
let sqlite: SqliteStore;
let store: DeliveryStore;
let clock = new Date("2026-12-01T10:00:00.000Z");
const alerts: { kind: AlertKind; text: string }[] = [];

/** A fake provider: answers per recipient phone from a script; records every send. */
class FakeProvider implements Provider {
	readonly name: string;
	readonly channel: Channel;
	readonly sent: OutgoingMessage[] = [];
	answer: (m: OutgoingMessage) => SendResult = (m) => ({ ok: true, providerMessageId: `pm-${m.attemptId}`, status: "queued" });
	hold?: Promise<void>;
	constructor(channel: Channel) {
		this.channel = channel;
		this.name = `fake-${channel}`;
	}
	async send(m: OutgoingMessage): Promise<SendResult> {
		this.sent.push(m);
		if (this.hold) await this.hold;
		return this.answer(m);
	}
	circuit() {
		return { state: "closed" as const, failures: 0 };
	}
}

const providers: Record<Channel, FakeProvider> = {
	whatsapp: new FakeProvider("whatsapp"),
	rcs: new FakeProvider("rcs"),
	sms: new FakeProvider("sms"),
	email: new FakeProvider("email"),
	courier: new FakeProvider("courier")
};
let deliverer: Deliverer;

before(async () => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), "paperwork-notifier-"));
	sqlite = new SqliteStore({ file: path.join(dir, "p.db"), logger });
	store = await DeliveryStore.open((c) => sqlite.adapter(c));
	deliverer = new Deliverer({
		store,
		logger,
		provider: (ch) => providers[ch],
		link: async (key) => `http://localhost/objects/${key}?sig=x`,
		read: async () => Buffer.from("%PDF"),
		settings: async () => undefined,
		alerts: { raise: (kind, text) => void alerts.push({ kind, text }), digest: async () => {}, close: async () => {} },
		timeoutMs: 60_000,
		now: () => clock
	});
});
after(async () => {
	await sqlite.close();
	fs.rmSync(dir, { recursive: true, force: true });
});

let n = 0;
/** A pending case with a stored document, as the scheduler and renderer leave it. */
async function newCase(phone: string | undefined, email: string | null = "b@example.com"): Promise<CaseDoc> {
	n++;
	const c: CaseDoc = {
		_id: caseIdOf("c1", `L-${n}`, "welcome-letter"),
		clientId: "c1",
		loanKey: `L-${n}`,
		documentType: "welcome-letter",
		template: "welcome-letter",
		recordId: `r${n}`,
		dueDate: "2026-11-30",
		language: "en",
		recipient: { name: "Asha", phone, email: email ?? undefined, language: "en" },
		status: "pending",
		runId: "run1",
		runIds: ["run1"],
		try: 1,
		createdAt: clock,
		updatedAt: clock
	};
	await store.cases.insert(c);
	return c;
}
const rendered = (c: CaseDoc) => ({ caseId: c._id, clientId: c.clientId, documentId: "doc1", key: `documents/c1/${c._id}/h.pdf`, pages: 4, bytes: 1000, template: "welcome-letter", language: "en" });
const getCase = async (id: string) => (await store.cases.findById(id)) as CaseDoc;
const attempts = async (caseId: string) => (await store.attempts.find({ query: { caseId }, sort: "createdAt" })) as AttemptDoc[];
const ev = (attemptId: string, status: "sent" | "delivered" | "read" | "failed", extra: Record<string, unknown> = {}) => ({ provider: "fake", channel: "whatsapp" as Channel, attemptId, status, at: clock, ...extra });

test("status order: never backwards, failed only before delivery, nothing after failed", () => {
	assert.equal(moves("queued", "sent"), true);
	assert.equal(moves("sent", "delivered"), true);
	assert.equal(moves("delivered", "sent"), false);
	assert.equal(moves("delivered", "failed"), false);
	assert.equal(moves("read", "delivered"), false);
	assert.equal(moves("failed", "delivered"), false);
	assert.equal(moves("sent", "sent"), false);
	assert.deepEqual(usablePlan(["whatsapp", "rcs", "sms", "email"], { email: "x@y" }), ["email"]);
	assert.deepEqual(usablePlan(["whatsapp", "email", "courier"], { phone: "+91" }), ["whatsapp"]);
});

test("delivered on WhatsApp: one attempt, sent then delivered; a duplicate and a late 'sent' are kept but move nothing", async () => {
	const c = await newCase("+919800000001");
	assert.equal(await deliverer.onRendered(rendered(c)), "started");
	const a = attemptIdOf(c._id, 1, "whatsapp");
	assert.equal(providers.whatsapp.sent.at(-1)?.attemptId, a);
	assert.match(providers.whatsapp.sent.at(-1)?.document.url ?? "", /^http:\/\/localhost\/objects\//);
	assert.equal((await getCase(c._id)).status, "sending");
	assert.deepEqual(await deliverer.applyEvents("fake", [ev(a, "sent"), ev(a, "delivered")]), ["applied", "applied"]);
	assert.deepEqual(await deliverer.applyEvents("fake", [ev(a, "delivered"), ev(a, "sent")]), ["duplicate", "duplicate"]);
	const [att] = await attempts(c._id);
	assert.equal(att.status, "delivered");
	assert.deepEqual(att.history.map((h) => h.status), ["queued", "sent", "delivered"]);
	assert.equal(att.providerMessageId?.startsWith("pm-"), true);
	assert.equal((await getCase(c._id)).status, "delivered");
	assert.equal(await store.events.count({ query: { caseId: c._id } }), 4, "every event kept");
	// the same rendered message again: nothing is sent twice
	const before_ = providers.whatsapp.sent.length;
	assert.equal(await deliverer.onRendered(rendered(c)), "ignored");
	assert.equal(providers.whatsapp.sent.length, before_);
});

test("'sent' and 'delivered' in two callbacks at once: each is written once, the second on the first's result, no version conflict", async () => {
	const c = await newCase("+919800000077");
	assert.equal(await deliverer.onRendered(rendered(c)), "started");
	const a = attemptIdOf(c._id, 1, "whatsapp");
	const adapter = store.attempts;
	const original = adapter.compareAndSetMany.bind(adapter);
	const outcomes: boolean[] = [];
	adapter.compareAndSetMany = async (ops) => {
		const out = await original(ops);
		outcomes.push(...out);
		return out;
	};
	try {
		// two HTTP callbacks read the attempt in the same turn, as a provider's "sent" and "delivered" often arrive
		assert.deepEqual(await Promise.all([deliverer.applyEvent("fake", ev(a, "sent")), deliverer.applyEvent("fake", ev(a, "delivered"))]), ["applied", "applied"]);
	} finally {
		adapter.compareAndSetMany = original;
	}
	assert.deepEqual(outcomes, [true, true], "two writes, neither refused on its version (a refused one is read and written again)");
	const [att] = await attempts(c._id);
	assert.deepEqual(att.history.map((h) => h.status), ["queued", "sent", "delivered"]);
	assert.equal(att.v, 3);
	assert.equal((await getCase(c._id)).status, "delivered");
});

test("out of order: 'delivered' before 'sent' ends delivered; 'read' after it moves on", async () => {
	const c = await newCase("+919800000002");
	await deliverer.onRendered(rendered(c));
	const a = attemptIdOf(c._id, 1, "whatsapp");
	assert.deepEqual(await deliverer.applyEvents("fake", [ev(a, "delivered"), ev(a, "sent"), ev(a, "read"), ev(a, "failed")]), ["applied", "duplicate", "applied", "duplicate"]);
	const [att] = await attempts(c._id);
	assert.equal(att.status, "read");
	assert.equal((await getCase(c._id)).status, "delivered");
});

test("fallback case by case: WhatsApp fails (event) -> RCS refused at once -> SMS fails -> email delivered", async () => {
	const c = await newCase("+919800000003");
	providers.rcs.answer = () => ({ ok: false, permanent: true, code: "NOT_FOUND", reason: "no RCS", httpStatus: 404 });
	try {
		await deliverer.onRendered(rendered(c));
		await deliverer.applyEvents("fake", [ev(attemptIdOf(c._id, 1, "whatsapp"), "failed", { code: "131026", reason: "undeliverable" })]);
		// RCS refused at once: SMS is already out, with the link in its text
		let cs = await getCase(c._id);
		assert.equal(cs.channel, "sms");
		assert.match(providers.sms.sent.at(-1)?.text.body ?? "", /http:\/\/localhost\/objects\//);
		await deliverer.applyEvents("fake", [ev(attemptIdOf(c._id, 1, "sms"), "failed", { code: "30003" })]);
		cs = await getCase(c._id);
		assert.equal(cs.channel, "email");
		await deliverer.applyEvents("fake", [ev(attemptIdOf(c._id, 1, "email"), "delivered")]);
		cs = await getCase(c._id);
		assert.equal(cs.status, "delivered");
		const list = await attempts(c._id);
		assert.deepEqual(list.map((x) => [x.channel, x.status]), [["whatsapp", "failed"], ["rcs", "failed"], ["sms", "failed"], ["email", "delivered"]]);
		assert.equal(list[1].failure?.code, "NOT_FOUND");
		assert.equal(list[0].failure?.code, "131026");
	} finally {
		providers.rcs.answer = (m) => ({ ok: true, providerMessageId: `pm-${m.attemptId}`, status: "queued" });
	}
});

test("a recipient without a phone goes straight to email; an accepted email ('sent', no delivery reports) ends the plan", async () => {
	const c = await newCase(undefined, "only@example.com");
	providers.email.answer = () => ({ ok: true, providerMessageId: "<m1@smtp>", status: "sent" });
	try {
		await deliverer.onRendered(rendered(c));
		const cs = await getCase(c._id);
		assert.deepEqual(cs.plan, ["email"]);
		assert.equal(cs.status, "sent");
		const [att] = await attempts(c._id);
		assert.equal(att.open, false);
	} finally {
		providers.email.answer = (m) => ({ ok: true, providerMessageId: `pm-${m.attemptId}`, status: "queued" });
	}
});

test("failed on every channel: the case is failed, an alert is raised; a recipient with no channel fails at once", async () => {
	const c = await newCase("+919800000004", null);
	const refuse = (): SendResult => ({ ok: false, permanent: false, code: "503", reason: "provider down" });
	for (const ch of ["whatsapp", "rcs", "sms"] as const) providers[ch].answer = refuse;
	try {
		const before_ = alerts.length;
		await deliverer.onRendered(rendered(c));
		const cs = await getCase(c._id);
		assert.equal(cs.status, "failed");
		assert.equal(cs.failure?.code, "503");
		assert.equal((await attempts(c._id)).length, 3);
		assert.equal(alerts.length, before_ + 1);
		assert.equal(alerts.at(-1)?.kind, "cases_failed");
	} finally {
		for (const ch of ["whatsapp", "rcs", "sms"] as const) providers[ch].answer = (m) => ({ ok: true, providerMessageId: `pm-${m.attemptId}`, status: "queued" });
	}
	const none = await newCase(undefined, null);
	await deliverer.onRendered(rendered(none));
	assert.equal((await getCase(none._id)).failure?.code, "NO_CHANNEL");
});

test("no 'delivered' in time: the sweep moves the case on once; a late 'delivered' still ends it delivered", async () => {
	const c = await newCase("+919800000005");
	await deliverer.onRendered(rendered(c));
	const a = attemptIdOf(c._id, 1, "whatsapp");
	await deliverer.applyEvents("fake", [ev(a, "sent")]);
	assert.deepEqual(await deliverer.sweep(), { timedOut: 0, resumed: 0, mended: 0 }, "not due yet");
	clock = new Date(clock.getTime() + 61_000);
	const swept = await deliverer.sweep();
	assert.equal(swept.timedOut >= 1, true);
	assert.equal((await getCase(c._id)).channel, "rcs");
	// a second sweep (another notifier) does nothing more for this attempt
	const rcsSends = providers.rcs.sent.length;
	await deliverer.sweep();
	assert.equal(providers.rcs.sent.length, rcsSends);
	const [wa] = await attempts(c._id);
	assert.equal(wa.open, false);
	assert.equal(wa.history.at(-1)?.code, "DELIVERY_TIMEOUT");
	// the WhatsApp message arrives after all: the case is delivered
	await deliverer.applyEvents("fake", [ev(a, "delivered")]);
	assert.equal((await getCase(c._id)).status, "delivered");
});

test("never twice: a notifier that dies during the provider call leaves the attempt 'calling'; nobody resends it, its callbacks still match, its timeout falls back", async () => {
	const c = await newCase("+919800000006");
	let release!: () => void;
	providers.whatsapp.hold = new Promise<void>((r) => (release = r));
	const first = deliverer.onRendered(rendered(c));
	// wait until the provider has the message (the attempt was written before the call)
	while (!providers.whatsapp.sent.some((m) => m.caseId === c._id)) await new Promise((r) => setTimeout(r, 5));
	const a = attemptIdOf(c._id, 1, "whatsapp");
	const stored = (await store.attempts.findById(a)) as AttemptDoc;
	assert.equal(stored.call, "calling", "attempt stored before the call, outcome unknown");
	// another notifier gets the same message meanwhile (redelivery after a crash): it sends nothing
	assert.equal(await deliverer.onRendered(rendered(c)), "resumed");
	assert.equal(providers.whatsapp.sent.filter((m) => m.caseId === c._id).length, 1);
	// the provider's callback matches the attempt by our attemptId even before its answer was written
	assert.deepEqual(await deliverer.applyEvents("fake", [ev(a, "sent")]), ["applied"]);
	providers.whatsapp.hold = undefined;
	release();
	await first;
	assert.equal(providers.whatsapp.sent.filter((m) => m.caseId === c._id).length, 1);
	assert.equal(((await store.attempts.findById(a)) as AttemptDoc).call, "answered");
});

test("a case that names an attempt never written (death between the two writes) gets it from the sweep, sent once", async () => {
	const c = await newCase("+919800000007");
	const a = attemptIdOf(c._id, 1, "whatsapp");
	await store.cases.updateById(c._id, { $set: { status: "sending", plan: ["whatsapp", "sms"], channelIndex: 0, channel: "whatsapp", attemptId: a, documentKey: "documents/x.pdf", updatedAt: new Date(clock.getTime() - 120_000) } });
	const sends = providers.whatsapp.sent.length;
	const r = await deliverer.sweep();
	assert.equal(r.resumed, 1);
	assert.equal(providers.whatsapp.sent.length, sends + 1);
	assert.equal(providers.whatsapp.sent.at(-1)?.attemptId, a);
	await deliverer.sweep();
	assert.equal(providers.whatsapp.sent.length, sends + 1, "never a second time");
});

test("a case left waiting on an attempt that ended (death between the attempt's write and the case's) is moved on by the sweep, once", async () => {
	const old = new Date(clock.getTime() - 120_000);
	// delivered: the attempt says so, the case never heard
	const d = await newCase("+919800000017");
	const da = attemptIdOf(d._id, 1, "whatsapp");
	await store.cases.updateById(d._id, { $set: { status: "sending", plan: ["whatsapp", "sms"], channelIndex: 0, channel: "whatsapp", attemptId: da, documentKey: "documents/x.pdf", updatedAt: old } });
	await store.attempts.insert({ _id: da, caseId: d._id, clientId: "c1", runId: "run1", try: 1, channel: "whatsapp", provider: "fake-whatsapp", status: "delivered", history: [], call: "answered", open: false, deadline: old, v: 3, createdAt: old, updatedAt: old });
	// failed: the case should have gone over to SMS
	const f = await newCase("+919800000018");
	const fa = attemptIdOf(f._id, 1, "whatsapp");
	await store.cases.updateById(f._id, { $set: { status: "sending", plan: ["whatsapp", "sms"], channelIndex: 0, channel: "whatsapp", attemptId: fa, documentKey: "documents/x.pdf", updatedAt: old } });
	await store.attempts.insert({ _id: fa, caseId: f._id, clientId: "c1", runId: "run1", try: 1, channel: "whatsapp", provider: "fake-whatsapp", status: "failed", failure: { code: "131026", reason: "undeliverable" }, history: [], call: "answered", open: false, deadline: old, v: 3, createdAt: old, updatedAt: old });
	// still open: its callbacks or its deadline decide, the sweep leaves it
	const o = await newCase("+919800000019");
	const oa = attemptIdOf(o._id, 1, "whatsapp");
	await store.cases.updateById(o._id, { $set: { status: "sending", plan: ["whatsapp"], channelIndex: 0, channel: "whatsapp", attemptId: oa, updatedAt: old } });
	await store.attempts.insert({ _id: oa, caseId: o._id, clientId: "c1", runId: "run1", try: 1, channel: "whatsapp", provider: "fake-whatsapp", status: "sent", history: [], call: "answered", open: true, deadline: new Date(clock.getTime() + 60_000), v: 2, createdAt: old, updatedAt: old });
	const sms = providers.sms.sent.length;
	const r = await deliverer.sweep();
	assert.equal(r.mended, 2);
	assert.equal((await getCase(d._id)).status, "delivered");
	const fc = await getCase(f._id);
	assert.equal(fc.status, "sending");
	assert.equal(fc.channel, "sms");
	assert.equal(providers.sms.sent.length, sms + 1);
	assert.equal(providers.sms.sent.at(-1)?.caseId, f._id);
	assert.equal((await getCase(o._id)).status, "sending");
	assert.equal((await getCase(o._id)).attemptId, oa);
	// the next sweep finds nothing to mend, and nothing is sent twice
	assert.equal((await deliverer.sweep()).mended, 0);
	assert.equal(providers.sms.sent.length, sms + 1);
});

test("the sweep's look for cases left in 'sending' is a range of an index, not a read of every case in flight", async () => {
	const { DatabaseSync } = await import("node:sqlite");
	const db = new DatabaseSync(path.join(dir, "p.db"), { readOnly: true });
	try {
		const sql = `EXPLAIN QUERY PLAN SELECT doc FROM "cases" WHERE ${fieldExpr("status")} = ? AND ${fieldExpr("updatedAt")} < ? ORDER BY ${fieldExpr("updatedAt")} LIMIT 500`;
		const plan = (db.prepare(sql).all("sending", "2026-12-01T10:00:00.000Z") as { detail: string }[]).map((r) => r.detail).join(" | ");
		assert.match(plan, /USING INDEX cases__cases_status_updated/, plan);
		assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
	} finally {
		db.close();
	}
});

test("an event for an unknown message is acknowledged and changes nothing; a provider message ID matches when the attempt ID is absent", async () => {
	assert.deepEqual(await deliverer.applyEvents("fake", [{ provider: "fake", channel: "sms", providerMessageId: "nope", status: "delivered", at: clock }]), ["unknown"]);
	const c = await newCase("+919800000008");
	await deliverer.onRendered(rendered(c));
	const att = (await attempts(c._id))[0];
	assert.deepEqual(await deliverer.applyEvents("fake", [{ provider: "fake", channel: "whatsapp", providerMessageId: att.providerMessageId, status: "delivered", at: clock }]), ["applied"]);
	assert.equal((await getCase(c._id)).status, "delivered");
});

test("cases in flight share their writes' transactions, and a message delivered twice at once still sends once", async () => {
	const cases = await Promise.all(Array.from({ length: 40 }, (_, i) => newCase(`+9198770${String(10000 + i)}`)));
	const adapter = store.attempts;
	const original = adapter.insertManyIfAbsent.bind(adapter);
	const calls: number[] = [];
	adapter.insertManyIfAbsent = async (docs) => {
		calls.push(docs.length);
		return original(docs);
	};
	const before = providers.whatsapp.sent.length;
	try {
		// every message twice, all at once (a redelivery racing the first delivery)
		await Promise.all([...cases, ...cases].map((c) => deliverer.onRendered(rendered(c))));
	} finally {
		adapter.insertManyIfAbsent = original;
	}
	const sent = providers.whatsapp.sent.slice(before).map((m) => m.caseId);
	assert.equal(sent.length, 40, "one send per case");
	assert.equal(new Set(sent).size, 40);
	assert.ok(calls.length < 10, `40 attempt inserts in a few store calls (${calls.join(", ")})`);
	for (const c of cases) assert.equal((await getCase(c._id)).status, "sending");
});

test("never twice over HTTP: WhatsApp reads the request and drops the connection; one request, the attempt stays open (outcome unknown), is never resent, and moves on by status", async (t) => {
	let requests = 0;
	const server = http.createServer((req) => {
		req.resume();
		req.on("end", () => {
			requests++;
			req.socket.destroy();
		});
	});
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	t.after(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
	const set = createProviders(
		configWith({ WHATSAPP_API_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, WHATSAPP_PHONE_NUMBER_ID: "1098", WHATSAPP_TOKEN: "t", WHATSAPP_APP_SECRET: "s", WHATSAPP_VERIFY_TOKEN: "v", PROVIDER_RETRIES: "3" }),
		{ logger }
	);
	t.after(() => set.close());
	const settings = { whatsapp: { templates: { en: { name: "welcome_letter", language: "en" } } } };
	const overHttp = new Deliverer({
		store,
		logger,
		provider: (ch) => (ch === "whatsapp" ? set.byChannel.whatsapp : providers[ch]),
		link: async (key) => `http://localhost/objects/${key}?sig=x`,
		read: async () => Buffer.from("%PDF"),
		settings: async () => settings,
		alerts: { raise: (kind, text) => void alerts.push({ kind, text }), digest: async () => {}, close: async () => {} },
		timeoutMs: 60_000,
		now: () => clock
	});
	const c = await newCase("+919800000009");
	assert.equal(await overHttp.onRendered(rendered(c)), "started");
	assert.equal(requests, 1, "one request; the reset after it was written is not retried");
	const a = attemptIdOf(c._id, 1, "whatsapp");
	let att = (await store.attempts.findById(a)) as AttemptDoc;
	assert.deepEqual([att.status, att.call, att.open], ["queued", "unknown", true], "not failed: the message may be out");
	assert.equal(att.history.at(-1)?.code, "NETWORK");
	assert.equal((await getCase(c._id)).channel, "whatsapp", "no fallback yet");
	// a redelivered message, and another notifier's sweep before the deadline, send nothing
	assert.equal(await overHttp.onRendered(rendered(c)), "resumed");
	await overHttp.sweep();
	assert.equal(requests, 1);
	// no callback by the deadline: the case moves to its next channel, WhatsApp is never called again
	clock = new Date(clock.getTime() + 61_000);
	await overHttp.sweep();
	assert.equal((await getCase(c._id)).channel, "rcs");
	assert.equal(requests, 1);
	// the WhatsApp message did arrive after all (its callback carries our attempt ID): the case is delivered
	await overHttp.applyEvents("whatsapp-cloud", [ev(a, "delivered")]);
	att = (await store.attempts.findById(a)) as AttemptDoc;
	assert.equal(att.status, "delivered");
	assert.equal((await getCase(c._id)).status, "delivered");
});

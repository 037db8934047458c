/**
 * The renderer service in its own broker (no transporter) with stub `clients` and `registry` services and a fake
 * PDF engine that records the HTML it is given: documents from registered records (kind checks, language from
 * the record), the client's charges in the document and its hash, timeouts as 504s, metrics, the queue path with
 * a recordId, the engine started on the first document and closed with the service, and the insert race
 * between two processes rendering the same document.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBroker, type Context, type ServiceSchema } from "moleculer";
import { pino } from "pino";
import { loadConfig } from "../../config/index.ts";
import { closePlatform, initPlatform, type Platform } from "../../lib/platform.ts";
import { notFound } from "../../lib/api/errors.ts";
import { RenderTimeoutError } from "../../lib/render/engine.ts";
import type { Engine, RenderOptions } from "../../lib/render/engine.ts";
import { liveEngines, setEngineFactory } from "../../lib/render/engines.ts";
import { DocumentMaker, type RegistryRecord } from "../../lib/render/documents.ts";
import { templates } from "../../lib/render/templates.ts";
import type { ChargesConfig } from "../../lib/render/charges.ts";
import { eventually } from "../fixtures/queue-helpers.ts";
import renderer, { type CaseRendered, type DocumentView, type RendererStats } from "../../services/renderer.service.ts";

const SLOW = "Timeout Tester";

/** A fake engine: records every HTML, returns a tiny PDF, and "times out" on documents naming SLOW. */
class FakeEngine implements Engine {
	readonly name = "chromium" as const;
	readonly htmls: string[] = [];
	closed = false;
	/** when set, renders wait for it (to line up concurrent renders) */
	hold?: Promise<void>;
	async render(html: string, options: RenderOptions = {}) {
		this.htmls.push(html);
		if (this.hold) await this.hold;
		if (html.includes(SLOW)) throw new RenderTimeoutError("chromium", options.timeoutMs ?? 0);
		return { pdf: Buffer.from(`%PDF-1.4\n% fake document ${this.htmls.length}\n%%EOF\n`), pages: 4 };
	}
	async close() {
		this.closed = true;
	}
}

const CLIENT = "client-one";
const OTHER = "client-two";

/** Registered records, as the registry returns them (canonical loan fields as strings). */
const RECORDS: Record<string, RegistryRecord & { clientId: string }> = {
	"rec-loan-1": {
		clientId: CLIENT,
		id: "rec-loan-1",
		kind: "loan",
		key: { loan_id: "LN-REC-1" },
		data: {
			loan_id: "LN-REC-1",
			applicant_name: "નિશા શાહ",
			language: "gu",
			phone: "+919876543210",
			email: "nisha@example.com",
			address_line1: "Flat 4, Shanti Kunj",
			address_line2: "Near City Mall",
			city: "Ahmedabad",
			state: "Gujarat",
			postal_code: "380015",
			loan_amount: "100000.00",
			annual_interest_rate: "12.5",
			tenure_months: "12",
			disbursement_date: "2026-01-15",
			first_emi_date: "2026-02-10",
			processing_fee: "1000.00"
		}
	},
	"rec-debt-1": {
		clientId: CLIENT,
		id: "rec-debt-1",
		kind: "debt",
		key: { contract_id: "C-1" },
		data: { contract_id: "C-1", debtor_name: "Maria Silva", debtor_cpf: "52998224725", amount: "1234.50", due_date: "2026-01-10", email: null, phone: null }
	}
};

const charges: Record<string, ChargesConfig | undefined> = {};

const stubs: ServiceSchema[] = [
	{
		name: "clients",
		actions: {
			settings: {
				handler(ctx: Context<{ id: string }>) {
					if (ctx.params.id !== CLIENT && ctx.params.id !== OTHER) throw notFound("client", ctx.params.id);
					const c = charges[ctx.params.id];
					return { _id: ctx.params.id, name: ctx.params.id, ...(c ? { charges: c } : {}) };
				}
			}
		}
	},
	{
		name: "registry",
		actions: {
			getRecord: {
				handler(ctx: Context<{ clientId: string; id: string }>) {
					const r = RECORDS[ctx.params.id];
					if (!r || r.clientId !== ctx.params.clientId) throw notFound("record", ctx.params.id);
					return { id: r.id, kind: r.kind, key: r.key, data: r.data };
				}
			}
		}
	}
];

let dataDir: string;
let platform: Platform;
let broker: ServiceBroker;
let engine: FakeEngine;
let made = 0;

before(async () => {
	dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "paperwork-renderer-"));
	platform = await initPlatform(loadConfig({ DATA_DIR: dataDir, QUEUE_RETRIES: "0", RENDER_CONCURRENCY: "2", RENDER_TIMEOUT_MS: "5000" }), pino({ level: "silent" }));
	engine = new FakeEngine();
	setEngineFactory(async () => {
		made++;
		return engine;
	});
	broker = new ServiceBroker({ logger: false, transporter: null, nodeID: `renderer-test-${process.pid}`, metrics: { enabled: true, reporter: [] } });
	broker.createService(renderer);
	for (const s of stubs) broker.createService(s);
	await broker.start();
});
after(async () => {
	if (broker.started) await broker.stop();
	await closePlatform();
	setEngineFactory();
	fs.rmSync(dataDir, { recursive: true, force: true });
});

const asClient = (clientId: string) => ({ meta: { auth: { kind: "client", clientId, keyId: "test-key" } } });

function render(params: Record<string, unknown>, clientId = CLIENT): Promise<DocumentView> {
	return broker.call("renderer.render", params, asClient(clientId));
}

function stats(): Promise<RendererStats> {
	return broker.call("renderer.stats");
}

async function rejectsWith(p: Promise<unknown>, code: number, type: string, message: RegExp): Promise<Error & { data?: unknown }> {
	let caught: (Error & { code?: number; type?: string; data?: unknown }) | undefined;
	await assert.rejects(p, (err: Error & { code?: number; type?: string }) => {
		caught = err;
		return true;
	});
	assert.equal(caught?.code, code, caught?.message);
	assert.equal(caught?.type, type);
	assert.match(caught?.message ?? "", message);
	return caught as Error & { data?: unknown };
}

test("no engine runs before the first document (a node that never renders never starts Chromium)", () => {
	assert.equal(made, 0);
	assert.deepEqual(liveEngines(), []);
});

test("a document from a registered loan: the record's fields, in the record's language", async () => {
	const doc = await render({ template: "welcome-letter", recordId: "rec-loan-1" });
	assert.equal(doc.language, "gu", "language defaults to the record's");
	assert.equal(doc.recordId, "rec-loan-1");
	assert.equal(doc.pages, 4);
	assert.equal(doc.reused, false);
	assert.deepEqual(liveEngines(), ["chromium"]);
	const html = engine.htmls.at(-1) ?? "";
	assert.ok(html.includes("નિશા શાહ"));
	assert.ok(html.includes("Flat 4, Shanti Kunj") && html.includes("Near City Mall") && html.includes("Ahmedabad, Gujarat 380015"), "address lines from the record");
	assert.ok(html.includes("₹1,00,000.00"), "loan amount formatted for gu");
	assert.ok(html.includes("12.5"), "the annual interest rate");
	// the stored document's key is the ad-hoc scope of the client
	const stored = await platform.store.adapter("documents").findById(doc.id);
	assert.match(String(stored?.key), new RegExp(`^documents/${CLIENT}/adhoc/[0-9a-f]{64}\\.pdf$`));
	// again: the stored one
	const again = await render({ template: "welcome-letter", recordId: "rec-loan-1" });
	assert.equal(again.id, doc.id);
	assert.equal(again.reused, true);
	// an explicit language wins over the record's: another document
	const en = await render({ template: "welcome-letter", recordId: "rec-loan-1", language: "en" });
	assert.equal(en.language, "en");
	assert.notEqual(en.id, doc.id);
	assert.ok((engine.htmls.at(-1) ?? "").includes("₹1,00,000.00"));
});

test("a record of another kind than the template prints is a 400; an unknown or foreign record a 404", async () => {
	const runs = engine.htmls.length;
	await rejectsWith(render({ template: "welcome-letter", recordId: "rec-debt-1" }), 400, "WRONG_RECORD_KIND", /prints loan records; record 'rec-debt-1' is a debt record/);
	await rejectsWith(render({ template: "welcome-letter", recordId: "rec-nope" }), 404, "NOT_FOUND", /rec-nope/);
	await rejectsWith(render({ template: "welcome-letter", recordId: "rec-loan-1" }, OTHER), 404, "NOT_FOUND", /rec-loan-1/);
	assert.equal(engine.htmls.length, runs, "nothing was rendered");
	// a debt record prints with the debt template, in its first language when the record has none
	const notice = await render({ template: "debt-notice", recordId: "rec-debt-1" });
	assert.equal(notice.language, "en");
	assert.ok((engine.htmls.at(-1) ?? "").includes("Maria Silva"));
});

test("bad input is a 400 with the typed error's code and details", async () => {
	const e1 = await rejectsWith(render({ template: "nope", language: "en", data: {} }), 400, "UNKNOWN_TEMPLATE", /unknown template 'nope'/);
	assert.deepEqual(e1.data, { template: "nope" });
	const e2 = await rejectsWith(render({ template: "welcome-letter", language: "ta", data: {} }), 400, "UNKNOWN_LANGUAGE", /no language 'ta'/);
	assert.deepEqual((e2.data as { available: string[] }).available, ["en", "hi", "mr", "gu"]);
	const e3 = await rejectsWith(render({ template: "welcome-letter", language: "en", data: { loan_id: "L1", applicant_name: "A B" } }), 400, "INVALID_DATA", /missing fields: address_line1/);
	assert.deepEqual((e3.data as { missing: string[] }).missing, ["address_line1", "city", "state", "postal_code", "loan_amount", "annual_interest_rate", "tenure_months", "disbursement_date", "first_emi_date"]);
	await rejectsWith(broker.call("renderer.render", { template: "welcome-letter", language: "en", data: {} }), 401, "UNAUTHORIZED", /X-API-Key/);
});

test("the client's charges configuration is printed and is part of the document's identity", async () => {
	const data = { ...RECORDS["rec-loan-1"]?.data, loan_id: "LN-CHARGES" };
	const plain = await render({ template: "welcome-letter", language: "en", data }, OTHER);
	assert.ok((engine.htmls.at(-1) ?? "").includes("Foreclosure charges"), "default charges when the client has none");
	charges[OTHER] = { currency: "INR", items: [{ key: "cheque_bounce", kind: "fixed", amount: "777", basis: "per_instance" }] };
	try {
		const custom = await render({ template: "welcome-letter", language: "en", data }, OTHER);
		assert.notEqual(custom.id, plain.id, "other charges: another document");
		assert.equal(custom.reused, false);
		const html = engine.htmls.at(-1) ?? "";
		assert.ok(html.includes("₹777.00"));
		assert.ok(!html.includes("Foreclosure charges"));
		assert.equal((await render({ template: "welcome-letter", language: "en", data }, OTHER)).reused, true);
		charges[OTHER] = { items: [{ key: "Bad Key", kind: "fixed", amount: "1" }] };
		await rejectsWith(render({ template: "welcome-letter", language: "en", data }, OTHER), 422, "INVALID_CHARGES_CONFIG", /charges\.items\[0\]\.key/);
	} finally {
		delete charges[OTHER];
	}
	assert.equal((await render({ template: "welcome-letter", language: "en", data }, OTHER)).id, plain.id, "back to the defaults: the first document again");
});

test("a timeout is a retryable 504 naming it; the next document renders", async () => {
	const data = { ...RECORDS["rec-loan-1"]?.data, applicant_name: SLOW };
	const err = await rejectsWith(render({ template: "welcome-letter", language: "en", data }), 504, "RENDER_TIMEOUT", /did not render within 5000 ms \(chromium\)/);
	assert.equal((err as Error & { retryable?: boolean }).retryable, true);
	const ok = await render({ template: "welcome-letter", language: "en", data: { ...data, applicant_name: "After Timeout" } });
	assert.equal(ok.reused, false);
	assert.equal((await stats()).failed.transient, 1);
});

test("metrics: documents per template and result, engine render times", async () => {
	const documents = broker.metrics.getMetric("paperwork_documents_total");
	const seconds = broker.metrics.getMetric("paperwork_render_seconds");
	assert.ok(documents && seconds);
	const s = await stats();
	const count = (result: string) => (documents.snapshot() as { labels: Record<string, string>; value?: number }[]).reduce((n, v) => n + (v.labels.result === result ? (v.value ?? 0) : 0), 0);
	assert.equal(count("rendered"), s.rendered);
	assert.equal(count("reused"), s.reused);
	assert.equal(count("failed"), s.failed.transient);
	assert.equal(count("rejected"), s.failed.permanent);
	const reusedLetters = documents.get({ template: "welcome-letter", result: "reused" }) as { value: number } | undefined;
	assert.equal(reusedLetters?.value, 3, "the repeat in the record test and two in the charges test");
	assert.equal(s.byTemplate["welcome-letter"]?.reused, 3);
	const observed = (seconds.snapshot() as { count?: number }[]).reduce((n, v) => n + (v.count ?? 0), 0);
	assert.equal(observed, s.engineRuns.chromium);
});

test("two processes rendering the same document at once: one is stored, both return it", async () => {
	const { store, objects } = platform;
	const ports = { store: store.adapter("documents"), objects, templates, engine: async () => engine, timeoutMs: 5000 };
	const lookups = {
		clientSettings: async () => null,
		getRecord: async (): Promise<RegistryRecord> => {
			throw new Error("not used");
		}
	};
	// two makers = two processes (their in-flight maps are separate); the engine holds both renders until both started
	const p1 = new DocumentMaker(ports);
	const p2 = new DocumentMaker(ports);
	let open = (): void => undefined;
	engine.hold = new Promise<void>((r) => (open = r));
	const req = { clientId: CLIENT, caseId: "case-race", template: "debt-notice", language: "en", data: { contract_id: "C-RACE", debtor_name: "Ana Costa", amount: "10.00", due_date: "2026-01-01" } };
	const runs = engine.htmls.length;
	const both = Promise.all([p1.produce(req, lookups), p2.produce(req, lookups)]);
	await eventually(() => assert.equal(engine.htmls.length, runs + 2));
	open();
	const [a, b] = await both;
	engine.hold = undefined;
	assert.equal(a.doc._id, b.doc._id);
	assert.deepEqual([a.reused, b.reused].sort(), [false, true]);
	assert.ok(a.rendered && b.rendered, "both rendered");
	assert.equal(await store.adapter("documents").count({ query: { clientId: CLIENT, caseId: "case-race" } }), 1);
	// identical requests in ONE process share one render
	const p3 = new DocumentMaker(ports);
	const req2 = { ...req, caseId: "case-shared" };
	const before_ = engine.htmls.length;
	const [c, d] = await Promise.all([p3.produce(req2, lookups), p3.produce(req2, lookups)]);
	assert.equal(engine.htmls.length, before_ + 1);
	assert.equal(c.doc._id, d.doc._id);
	assert.deepEqual([c.reused, d.reused].sort(), [false, true]);
});

test("a document whose PDF was deleted is rendered again under the same key", async () => {
	const doc = await render({ template: "welcome-letter", recordId: "rec-loan-1", language: "hi" });
	const stored = await platform.store.adapter("documents").findById(doc.id);
	await platform.objects.delete(String(stored?.key));
	const again = await render({ template: "welcome-letter", recordId: "rec-loan-1", language: "hi" });
	assert.equal(again.id, doc.id);
	assert.equal(again.reused, false);
	assert.ok(await platform.objects.stat(String(stored?.key)));
});

test("queue: a case naming a record is rendered from the registry and handed on", async () => {
	const { queues } = platform;
	const seen: CaseRendered[] = [];
	const consumer = await queues.consume<CaseRendered>("cases.rendered", async (p) => {
		seen.push(p);
	});
	try {
		await queues.publish("cases.dispatch", { caseId: "case-rec-1", clientId: CLIENT, template: "welcome-letter", recordId: "rec-loan-1" });
		await eventually(() => assert.equal(seen.length, 1));
		assert.equal(seen[0]?.language, "gu");
		assert.match(seen[0]?.key ?? "", new RegExp(`^documents/${CLIENT}/case-rec-1/[0-9a-f]{64}\\.pdf$`));
		assert.equal((await platform.store.adapter("documents").findById(seen[0]?.documentId ?? ""))?.caseId, "case-rec-1");
		// a case whose record is of the wrong kind is a permanent failure: dead-lettered with the reason
		await queues.publish("cases.dispatch", { caseId: "case-rec-2", clientId: CLIENT, template: "welcome-letter", recordId: "rec-debt-1" }, { key: "wrong-kind" });
		const dead = await eventually(async () => {
			const list = await queues.deadLetters.list("cases.dispatch");
			assert.equal(list.length, 1);
			return list;
		});
		assert.match(dead[0]?.error ?? "", /prints loan records/);
		// a case ID that cannot be part of an object key is refused
		await queues.publish("cases.dispatch", { caseId: "../etc", clientId: CLIENT, template: "welcome-letter", recordId: "rec-loan-1" }, { key: "bad-case-id" });
		await eventually(async () => assert.equal((await queues.deadLetters.list("cases.dispatch")).length, 2));
	} finally {
		await consumer.close();
	}
});

test("stopping the service closes the engine", async () => {
	await broker.stop();
	assert.equal(engine.closed, true);
	assert.deepEqual(liveEngines(), []);
	assert.equal(made, 1, "one engine for the whole run");
});

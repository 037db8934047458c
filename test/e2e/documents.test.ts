/**
 * End-to-end rendering through the HTTP API on the embedded default (api + clients + renderer, real Chromium):
 * a welcome letter per language, its PDF text, render-once, bad input (400s naming what is wrong), escaping,
 * access between clients, a render timeout (504, the tab replaced, later documents unaffected), and the queue
 * path (cases.dispatch in, cases.rendered out, bad cases dead-lettered).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startTestNode, http, bearer, apiKey, type TestNode } from "../helpers/node.ts";
import { AMOUNTS, LANGS, NAMES, loan, pdftotext, pdfinfoPages } from "../lib/render/fixtures.ts";
import { eventually } from "../fixtures/queue-helpers.ts";
import { createEngine } from "../../lib/render/engine.ts";
import { setEngineFactory, liveEngines } from "../../lib/render/engines.ts";
import type { Consumer } from "../../lib/queues/types.ts";
import type { CaseRendered, RendererStats } from "../../services/renderer.service.ts";

/** A name that makes the wrapped engine render with a 1 ms timeout: a real Chromium timeout on demand. */
const SLOW = "Timeout Tester";

let node: TestNode;
let a: { id: string; apiKey: string };
let b: { id: string; apiKey: string };

before(async () => {
	// the real engine, except that documents naming SLOW get 1 ms to render (so they time out for real)
	setEngineFactory(async (name, options) => {
		const real = await createEngine(name, options);
		return {
			name: real.name,
			render: (html, o) => real.render(html, html.includes(SLOW) ? { timeoutMs: 1 } : o),
			close: () => real.close()
		};
	});
	node = await startTestNode({ QUEUE_RETRIES: "3", RENDER_CONCURRENCY: "2" }, ["api", "clients", "renderer"]);
	a = await createClient("docs-a");
	b = await createClient("docs-b");
});
after(async () => {
	await node.close();
	setEngineFactory();
});

async function createClient(name: string): Promise<{ id: string; apiKey: string }> {
	const res = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name } });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	return res.body;
}

interface Doc {
	id: string;
	template: string;
	language: string;
	pages: number;
	bytes: number;
	url: string;
	createdAt: string;
	reused: boolean;
}
interface ErrorBody {
	error: { code: string; message: string; details?: { template?: string; language?: string; available?: string[]; missing?: string[]; invalid?: { field: string }[] } };
}

function post<T = Doc>(key: string, json: unknown) {
	return http<T>(`${node.url}/documents`, { method: "POST", headers: apiKey(key), json });
}

async function getPdf(key: string, id: string): Promise<{ res: Response; pdf: Buffer }> {
	const res = await fetch(`${node.url}/documents/${id}/pdf`, { headers: apiKey(key) });
	return { res, pdf: Buffer.from(await res.arrayBuffer()) };
}

function stats(): Promise<RendererStats> {
	return node.broker.call("renderer.stats");
}

for (const lang of LANGS) {
	test(`POST /documents renders a ${lang} welcome letter; its PDF carries the name and the amount formatted for ${lang}`, async () => {
		const res = await post(a.apiKey, { template: "welcome-letter", language: lang, data: loan(lang) });
		assert.equal(res.status, 201, JSON.stringify(res.body));
		assert.match(res.headers.get("location") ?? "", new RegExp(`/documents/${res.body.id}$`));
		const d = res.body;
		assert.equal(d.template, "welcome-letter");
		assert.equal(d.language, lang);
		assert.equal(d.reused, false);
		assert.ok(d.pages >= 3, `pages ${d.pages}`);
		assert.ok(!Number.isNaN(Date.parse(d.createdAt)));
		const { res: pdfRes, pdf } = await getPdf(a.apiKey, d.id);
		assert.equal(pdfRes.status, 200);
		assert.equal(pdfRes.headers.get("content-type"), "application/pdf");
		assert.equal(pdfRes.headers.get("content-length"), String(d.bytes));
		assert.match(pdfRes.headers.get("content-disposition") ?? "", new RegExp(`^inline; filename="welcome-letter-${lang}-${d.id}\\.pdf"$`));
		assert.equal(pdf.length, d.bytes);
		assert.equal(pdf.subarray(0, 5).toString("latin1"), "%PDF-");
		assert.equal(await pdfinfoPages(pdf), d.pages);
		const text = await pdftotext(pdf);
		assert.ok(text.includes(NAMES[lang]), `the PDF text lacks the name ${NAMES[lang]}`);
		assert.ok(text.includes(AMOUNTS[lang]), `the PDF text lacks the amount ${AMOUNTS[lang]}`);
	});
}

test("the same request is rendered once: concurrent and later repeats return the same stored document", async () => {
	const before_ = await stats();
	const body = { template: "welcome-letter", language: "en", data: loan("en", { loan_id: "LN-ONCE-1" }) };
	const [r1, r2] = await Promise.all([post(a.apiKey, body), post(a.apiKey, body)]);
	const r3 = await post(a.apiKey, body);
	for (const r of [r1, r2, r3]) assert.equal(r.status, 201, JSON.stringify(r.body));
	assert.equal(r2.body.id, r1.body.id);
	assert.equal(r3.body.id, r1.body.id);
	assert.deepEqual([r1.body.reused, r2.body.reused].sort(), [false, true]);
	assert.equal(r3.body.reused, true);
	assert.equal(r3.body.bytes, r1.body.bytes);
	const after_ = await stats();
	assert.equal((after_.engineRuns.chromium ?? 0) - (before_.engineRuns.chromium ?? 0), 1, "Chromium ran once for three identical requests");
	assert.equal(after_.reused - before_.reused, 2);
	// other data is another document
	const other = await post(a.apiKey, { ...body, data: loan("en", { loan_id: "LN-ONCE-2" }) });
	assert.equal(other.status, 201);
	assert.notEqual(other.body.id, r1.body.id);
	assert.equal(other.body.reused, false);
});

test("GET /documents/:id gives the metadata and a signed link that serves the PDF", async () => {
	const created = await post(a.apiKey, { template: "welcome-letter", language: "en", data: loan("en", { loan_id: "LN-LINK" }) });
	assert.equal(created.status, 201);
	const res = await http<Doc>(`${node.url}/documents/${created.body.id}`, { headers: apiKey(a.apiKey) });
	assert.equal(res.status, 200);
	assert.equal(res.body.id, created.body.id);
	assert.equal(res.body.pages, created.body.pages);
	assert.equal(res.body.bytes, created.body.bytes);
	const link = new URL(res.body.url);
	assert.match(link.pathname, new RegExp(`/objects/documents/${a.id}/adhoc/[0-9a-f]{64}\\.pdf$`));
	assert.ok(Number(link.searchParams.get("expires")) > Date.now() / 1000 + 3600, "the link lives for DOCUMENT_LINK_TTL_S");
	assert.ok(link.searchParams.get("signature"));
	// the link works without credentials (replace the configured public origin with the test server's)
	const viaLink = await fetch(`${new URL(node.url).origin}${link.pathname}${link.search}`);
	assert.equal(viaLink.status, 200);
	assert.equal(Buffer.from(await viaLink.arrayBuffer()).length, created.body.bytes);
	// a tampered link is refused
	link.searchParams.set("signature", "0".repeat(64));
	assert.equal((await fetch(`${new URL(node.url).origin}${link.pathname}${link.search}`)).status, 403);
});

test("an unknown template or language is a 400 naming it", async () => {
	const t = await post<ErrorBody>(a.apiKey, { template: "no-such-letter", language: "en", data: loan("en") });
	assert.equal(t.status, 400);
	assert.equal(t.body.error.code, "UNKNOWN_TEMPLATE");
	assert.match(t.body.error.message, /no-such-letter/);
	const l = await post<ErrorBody>(a.apiKey, { template: "welcome-letter", language: "fr", data: loan("en") });
	assert.equal(l.status, 400);
	assert.equal(l.body.error.code, "UNKNOWN_LANGUAGE");
	assert.match(l.body.error.message, /'fr'/);
	assert.deepEqual(l.body.error.details?.available, ["en", "hi", "mr", "gu"]);
});

test("a welcome letter from exactly the canonical loan fields ingestion registers", async () => {
	const data = {
		loan_id: "LN-CANONICAL-1",
		applicant_name: "Meera Iyer",
		language: "en",
		phone: "+919876543210",
		email: "meera@example.com",
		address_line1: "7 Lake View Road",
		address_line2: "Besant Nagar",
		city: "Chennai",
		state: "Tamil Nadu",
		postal_code: "600090",
		loan_amount: "250000.00",
		annual_interest_rate: "11.25",
		tenure_months: 24,
		disbursement_date: "2026-03-02",
		first_emi_date: "2026-04-05",
		processing_fee: "2500.00"
	};
	const res = await post(a.apiKey, { template: "welcome-letter", data });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	const text = await pdftotext((await getPdf(a.apiKey, res.body.id)).pdf);
	for (const s of ["Meera Iyer", "7 Lake View Road", "Besant Nagar", "Chennai, Tamil Nadu 600090", "LN-CANONICAL-1", "11.25"]) assert.ok(text.includes(s), s);
});

test("data missing fields is a 400 listing them, checked before rendering; bad values are listed too", async () => {
	const before_ = await stats();
	const data = loan("en");
	delete data.applicant_name;
	delete data.first_emi_date;
	const res = await post<ErrorBody>(a.apiKey, { template: "welcome-letter", language: "en", data: { ...data, tenure_months: "twelve" } });
	assert.equal(res.status, 400);
	assert.equal(res.body.error.code, "INVALID_DATA");
	assert.deepEqual(res.body.error.details?.missing, ["applicant_name", "first_emi_date"]);
	assert.deepEqual(res.body.error.details?.invalid?.map((f) => f.field), ["tenure_months"]);
	assert.match(res.body.error.message, /applicant_name, first_emi_date/);
	const after_ = await stats();
	assert.equal(after_.engineRuns.chromium, before_.engineRuns.chromium, "nothing was rendered");
});

test("a request needs exactly one of data or recordId, and a template", async () => {
	assert.equal((await post<ErrorBody>(a.apiKey, { template: "welcome-letter", language: "en" })).status, 400);
	assert.equal((await post<ErrorBody>(a.apiKey, { template: "welcome-letter", language: "en", data: loan("en"), recordId: "r1" })).status, 400);
	const noTemplate = await post<ErrorBody>(a.apiKey, { language: "en", data: loan("en") });
	assert.equal(noTemplate.status, 400);
	assert.equal(noTemplate.body.error.code, "VALIDATION_ERROR");
});

test("markup in the data is printed as text, never run", async () => {
	const name = "Priya <script>alert(1)</script> Rao";
	const res = await post(a.apiKey, { template: "welcome-letter", language: "en", data: loan("en", { loan_id: "LN-XSS", applicant_name: name }) });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	const text = await pdftotext((await getPdf(a.apiKey, res.body.id)).pdf);
	assert.ok(text.includes(name), "the name, tags included, is printed literally");
});

test("a client reads only its own documents; an operator reads any client's", async () => {
	const mine = await post(a.apiKey, { template: "welcome-letter", language: "en", data: loan("en", { loan_id: "LN-PRIVATE" }) });
	assert.equal(mine.status, 201);
	const meta = await http<ErrorBody>(`${node.url}/documents/${mine.body.id}`, { headers: apiKey(b.apiKey) });
	assert.equal(meta.status, 404);
	assert.equal(meta.body.error.code, "NOT_FOUND");
	assert.equal((await getPdf(b.apiKey, mine.body.id)).res.status, 404);
	assert.equal((await http(`${node.url}/documents/doc_nope`, { headers: apiKey(a.apiKey) })).status, 404);
	assert.equal((await http(`${node.url}/documents/${mine.body.id}`)).status, 401);
	const asOperator = await http<{ id: string; clientId: string }>(`${node.url}/documents/${mine.body.id}`, { headers: bearer(node.operatorToken) });
	assert.equal(asOperator.status, 200);
	assert.equal(asOperator.body.clientId, a.id);
	assert.equal((await http(`${node.url}/documents/${mine.body.id}?clientId=${b.id}`, { headers: bearer(node.operatorToken) })).status, 404, "scoped to another client");
	assert.equal((await http(`${node.url}/documents/${mine.body.id}/pdf`, { headers: bearer(node.operatorToken) })).status, 200);
	// the same data sent by another client is that client's own document
	const theirs = await post(b.apiKey, { template: "welcome-letter", language: "en", data: loan("en", { loan_id: "LN-PRIVATE" }) });
	assert.equal(theirs.status, 201);
	assert.notEqual(theirs.body.id, mine.body.id);
	assert.equal(theirs.body.reused, false);
});

test("a document that times out is a 504 naming the timeout; its tab is replaced and other documents render", async () => {
	const data = loan("en", { loan_id: "LN-SLOW", applicant_name: SLOW });
	const res = await post<ErrorBody>(a.apiKey, { template: "welcome-letter", language: "en", data });
	assert.equal(res.status, 504);
	assert.equal(res.body.error.code, "RENDER_TIMEOUT");
	assert.match(res.body.error.message, /timed out.*within 1 ms/);
	await assert.rejects(
		node.broker.call("renderer.render", { template: "welcome-letter", language: "en", data }, { meta: { auth: { kind: "client", clientId: a.id, keyId: "k" } } }),
		(err: Error & { code?: number; type?: string }) => {
			assert.equal(err.code, 504);
			assert.equal(err.type, "RENDER_TIMEOUT");
			assert.match(err.message, /timed out.*within 1 ms/);
			return true;
		}
	);
	// concurrent with another timeout, a normal document still renders
	const [slow, ok] = await Promise.all([
		post<ErrorBody>(a.apiKey, { template: "welcome-letter", language: "hi", data: { ...data, language: "hi" } }),
		post(a.apiKey, { template: "welcome-letter", language: "en", data: loan("en", { loan_id: "LN-AFTER-TIMEOUT" }) })
	]);
	assert.equal(slow.status, 504);
	assert.equal(ok.status, 201, JSON.stringify(ok.body));
	assert.ok(ok.body.pages >= 3);
	assert.ok((await stats()).failed.transient >= 3);
});

test("queue: a cases.dispatch message is rendered and handed on as cases.rendered; a repeat reuses the document", async () => {
	const { queues, objects } = node.platform;
	const seen: { payload: CaseRendered; messageId: string }[] = [];
	const consumer: Consumer = await queues.consume<CaseRendered>("cases.rendered", async (payload, info) => {
		seen.push({ payload, messageId: info.messageId });
	});
	try {
		const before_ = await stats();
		const c = { caseId: "case-e2e-1", clientId: a.id, template: "welcome-letter", language: "mr", data: loan("mr", { loan_id: "LN-CASE-1" }) };
		await queues.publish("cases.dispatch", c, { key: "dispatch-1" });
		await eventually(() => assert.equal(seen.length, 1), 30_000);
		const [first] = seen;
		assert.equal(first?.messageId, "case-e2e-1:rendered");
		const out = first?.payload as CaseRendered;
		assert.equal(out.caseId, "case-e2e-1");
		assert.equal(out.clientId, a.id);
		assert.equal(out.template, "welcome-letter");
		assert.equal(out.language, "mr");
		assert.ok(out.pages >= 3);
		assert.match(out.key, new RegExp(`^documents/${a.id}/case-e2e-1/[0-9a-f]{64}\\.pdf$`));
		const info = await objects.stat(out.key);
		assert.equal(info?.size, out.bytes);
		assert.equal(info?.contentType, "application/pdf");
		// the case's document is the client's: readable over HTTP
		const meta = await http<Doc>(`${node.url}/documents/${out.documentId}`, { headers: apiKey(a.apiKey) });
		assert.equal(meta.status, 200);
		assert.equal(meta.body.pages, out.pages);

		// at-least-once delivery: the same case again is not rendered again
		await queues.publish("cases.dispatch", c, { key: "dispatch-1-again" });
		await eventually(() => assert.equal(seen.length, 2), 30_000);
		assert.equal(seen[1]?.payload.documentId, out.documentId);
		const after_ = await stats();
		assert.equal((after_.engineRuns.chromium ?? 0) - (before_.engineRuns.chromium ?? 0), 1);

		// the same data in another case is that case's document (its own key)
		await queues.publish("cases.dispatch", { ...c, caseId: "case-e2e-2" }, { key: "dispatch-2" });
		await eventually(() => assert.equal(seen.length, 3), 30_000);
		assert.notEqual(seen[2]?.payload.documentId, out.documentId);
		assert.match(seen[2]?.payload.key ?? "", /\/case-e2e-2\//);
	} finally {
		await consumer.close();
	}
});

test("queue: a case with bad input is dead-lettered at once (no retries) with the reason", async () => {
	const { queues } = node.platform;
	await queues.publish("cases.dispatch", { caseId: "case-bad-1", clientId: a.id, template: "no-such-letter", language: "en", data: loan("en") }, { key: "bad-1" });
	await queues.publish("cases.dispatch", { caseId: "case-bad-2", clientId: a.id, template: "welcome-letter", language: "en", data: { loan_id: "x" } }, { key: "bad-2" });
	await queues.publish("cases.dispatch", { clientId: a.id, template: "welcome-letter" }, { key: "bad-3" });
	const dead = await eventually(async () => {
		const list = await queues.deadLetters.list("cases.dispatch");
		assert.equal(list.length, 3);
		return list;
	}, 30_000);
	const byId = new Map(dead.map((d) => [d.messageId, d.error]));
	assert.match(byId.get("bad-1") ?? "", /unknown template 'no-such-letter'/);
	assert.match(byId.get("bad-2") ?? "", /missing fields: applicant_name/);
	assert.match(byId.get("bad-3") ?? "", /lacks caseId/);
	assert.deepEqual(dead.map((d) => d.attempts), [1, 1, 1], "bad input is not retried");
});

test("one Chromium for the process, started by the first document", () => {
	assert.deepEqual(liveEngines(), ["chromium"]);
});

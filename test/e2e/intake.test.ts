/**
 * Document intake end to end through the HTTP API on the embedded default: the generated corpus (born-digital
 * invoices in English, Hindi and Portuguese, their 300 dpi scans, hostile files) uploaded and fetched by link, read
 * by the reader (text layer, OCR), fields asserted exactly; search, stats, corrections, client isolation and the
 * signed webhook with retries.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { createHmac } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { startTestNode, http, bearer, apiKey, freePort, tempDir, metricSamples, type TestNode } from "../helpers/node.ts";
import { buildCorpus, INVOICES, IDS, textPdf, type Corpus } from "../helpers/intake-corpus.ts";
import { getPlatform } from "../../lib/platform.ts";

interface DocBody {
	id: string;
	status: string;
	type: string | null;
	source: string;
	file: { name: string; mime: string; pages: number; encryption?: string };
	pages: { n: number; source: string; confidence?: number; chars: number }[];
	fields: Record<string, { value: string | number | null; source: string; confidence: number; corrected?: string }>;
	template: string | null;
	checks: { code: string; field?: string }[];
	corrections: { field: string; old: { value: unknown } | null; value: unknown; by: string; at: string }[];
	error: { code: string; message: string } | null;
	error_?: unknown;
}
type ErrorBody = { error: { code: string; message: string; details?: { reason?: string; id?: string } } };

let node: TestNode;
let corpus: Corpus;
let corpusDir: string;
let hook: Server;
let hookPort = 0;
let files: Server;
let filesPort = 0;
const hooks: { event: string; signature: string; body: string }[] = [];
let failNextHooks = 0;
let metricsPort = 0;
const SECRET = "intake-webhook-secret-0123456789";

before(async () => {
	corpusDir = tempDir("paperwork-intake-corpus-");
	corpus = await buildCorpus(corpusDir, { scans: ["saffron-en", "ganga-hi", "horizonte-pt"] });
	hookPort = await freePort();
	hook = createServer((req, res) => {
		let body = "";
		req.on("data", (d: Buffer) => (body += d.toString()));
		req.on("end", () => {
			if (failNextHooks > 0) {
				failNextHooks--;
				res.writeHead(500).end();
				return;
			}
			hooks.push({ event: String(req.headers["x-paperwork-event"]), signature: String(req.headers["x-paperwork-signature"]), body });
			res.writeHead(204).end();
		});
	});
	await new Promise<void>((r) => hook.listen(hookPort, "127.0.0.1", r));
	// a local "document server" for links: /doc/<name> serves a corpus file, /redirect/<name> redirects to it
	filesPort = await freePort();
	files = createServer((req, res) => {
		const [, kind, name] = (req.url ?? "").split("/");
		const file = Object.values({ ...corpus.pdf, ...corpus.hostile }).find((f) => path.basename(f) === name);
		if (kind === "redirect" && file) {
			res.writeHead(302, { Location: `/doc/${name}` }).end();
			return;
		}
		if (kind === "doc" && file) {
			res.writeHead(200, { "Content-Type": "application/pdf" }).end(readFileSync(file));
			return;
		}
		res.writeHead(404).end();
	});
	await new Promise<void>((r) => files.listen(filesPort, "127.0.0.1", r));
	metricsPort = await freePort();
	node = await startTestNode({ METRICS_PORT: String(metricsPort), INBOX_POLL_MS: "0", QUEUE_RETRY_DELAY_MS: "50", INTAKE_ALLOW_PRIVATE_URLS: "true", INTAKE_OCR_CONCURRENCY: "2" });
});

after(async () => {
	await node?.close();
	await new Promise<void>((r) => hook.close(() => r()));
	await new Promise<void>((r) => files.close(() => r()));
	rmSync(corpusDir, { recursive: true, force: true });
});

async function newClient(name: string, settings: Record<string, unknown> = {}): Promise<{ id: string; key: string }> {
	const res = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name, ...settings } });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	return { id: res.body.id, key: res.body.apiKey };
}

async function send(key: string, file: string, query = "", headers: Record<string, string> = { "Content-Type": "application/octet-stream" }) {
	return http<{ id: string; status: string } & ErrorBody>(`${node.url}/intake${query}`, { method: "POST", headers: { ...apiKey(key), "X-Filename": path.basename(file), ...headers }, body: readFileSync(file) });
}

async function waitForDoc(key: string, id: string, timeoutMs = 120_000): Promise<DocBody> {
	const until = Date.now() + timeoutMs;
	let last: DocBody | undefined;
	while (Date.now() < until) {
		const res = await http<DocBody>(`${node.url}/intake/${id}`, { headers: apiKey(key) });
		assert.equal(res.status, 200, JSON.stringify(res.body));
		last = res.body;
		if (!["PENDING", "PROCESSING"].includes(last.status)) return last;
		await new Promise((r) => setTimeout(r, 150));
	}
	assert.fail(`document ${id} was not read in ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

const values = (d: DocBody, names: string[]) => Object.fromEntries(names.filter((n) => d.fields[n] !== undefined).map((n) => [n, d.fields[n].value]));

test("hostile files are refused before the answer with the reason, and nothing is stored", async () => {
	const c = await newClient("intake-hostile");
	const cases: [string, number, string][] = [
		[corpus.hostile.truncated, 400, "corrupt"],
		[corpus.hostile.userPassword, 400, "password-protected"],
		[corpus.hostile.empty, 400, "empty"],
		[corpus.hostile.big, 413, "too_large"],
		[corpus.hostile.manyPages, 400, "too_many_pages"],
		[corpus.hostile.wideImage, 400, "image_too_large"]
	];
	for (const [file, status, reason] of cases) {
		const res = await send(c.key, file);
		assert.equal(res.status, status, `${path.basename(file)}: ${JSON.stringify(res.body)}`);
		assert.equal(res.body.error.details?.reason, reason, path.basename(file));
	}
	const text = await http<ErrorBody>(`${node.url}/intake`, { method: "POST", headers: { ...apiKey(c.key), "Content-Type": "text/plain" }, body: "just some text, not a document" });
	assert.equal(text.status, 415);
	assert.equal(text.body.error.details?.reason, "unsupported_type");
	const list = await http<{ total: number }>(`${node.url}/intake`, { headers: apiKey(c.key) });
	assert.equal(list.body.total, 0);
	// a PNG named .pdf is a PNG: its bytes decide
	const png = await send(c.key, corpus.hostile.pngAsPdf);
	assert.equal(png.status, 202, JSON.stringify(png.body));
	const d = await waitForDoc(c.key, png.body.id);
	assert.equal(d.file.mime, "image/png");
	assert.equal(d.status, "FAILED", "a blank image has no text");
	assert.equal(d.error?.code, "unreadable");
});

test("born-digital invoices (English with an issuer template, Hindi, Portuguese): every field exact, from the text layer", async () => {
	const c = await newClient("intake-digital", { webhook: { url: `http://127.0.0.1:${hookPort}/hook`, secret: SECRET } });
	const ids: Record<string, string> = {};
	for (const inv of INVOICES) {
		const res = await send(c.key, corpus.pdf[inv.name], "?reference=ref-" + inv.name);
		assert.equal(res.status, 202, JSON.stringify(res.body));
		assert.equal(res.body.status, "PENDING");
		ids[inv.name] = res.body.id;
	}
	for (const inv of INVOICES) {
		const d = await waitForDoc(c.key, ids[inv.name]);
		assert.equal(d.status, inv.status, `${inv.name}: ${JSON.stringify(d.checks)}`);
		assert.equal(d.type, "invoice");
		assert.equal(d.template, inv.template ?? null, inv.name);
		assert.deepEqual(d.pages.map((p) => p.source), ["layer"], inv.name);
		assert.deepEqual(values(d, Object.keys(inv.fields)), inv.fields, inv.name);
		assert.deepEqual(d.checks.map((k) => k.code).sort(), (inv.checks ?? []).sort(), inv.name);
		for (const [name, f] of Object.entries(d.fields)) assert.ok(["template", "generic"].includes(f.source) && f.confidence >= 0 && f.confidence <= 1, `${inv.name}.${name}`);
		if (inv.template) assert.equal(d.fields.invoice_number.source, "template");
		else assert.equal(d.fields.invoice_number.source, "generic");
	}
	// metrics: documents received and read, pages by source
	// a reader counts a document just after storing it finished (its temp files removed in between): wait a moment
	const sum = async (name: string, label: string) => {
		let n = 0;
		for (let i = 0; i < 50; i++) {
			n = (await metricSamples(metricsPort, name)).filter((m) => m.labels.includes(label)).reduce((a, m) => a + m.value, 0);
			if (n > 0) break;
			await new Promise((r) => setTimeout(r, 100));
		}
		return n;
	};
	assert.ok((await sum("paperwork_intake_received_total", 'source="upload"')) >= 4);
	assert.ok((await sum("paperwork_intake_finished_total", 'status="NEEDS_REVIEW"')) >= 1);
	assert.ok((await sum("paperwork_intake_pages_total", 'source="layer"')) >= 4);
	// born-digital PDFs in memory: their text layers from the pdf-text workers (scripts/setup.sh builds them)
	assert.ok((await sum("paperwork_intake_text_layers_total", 'reader="pdf-text"')) >= 3);

	// the original as stored, and the text
	const file = await fetch(`${node.url}/intake/${ids["saffron-en"]}/file`, { headers: apiKey(c.key) });
	assert.equal(file.status, 200);
	assert.equal(file.headers.get("content-type"), "application/pdf");
	assert.deepEqual(Buffer.from(await file.arrayBuffer()), readFileSync(corpus.pdf["saffron-en"]));
	const text = await http<string>(`${node.url}/intake/${ids["ganga-hi"]}/text`, { headers: apiKey(c.key) });
	assert.equal(text.status, 200);
	assert.match(text.body, /GT-0098/);
	assert.match(text.body, /गंगा ट्रेडर्स/);

	// the same file again from the same client: 409 with the earlier document
	const again = await send(c.key, corpus.pdf["saffron-en"]);
	assert.equal(again.status, 409);
	assert.equal(again.body.error.details?.id, ids["saffron-en"]);

	// search: full text, filters and ranges, newest first; another client sees nothing of it
	const q = async (query: string, key = c.key) => {
		const r = await http<{ total: number; items: DocBody[] }>(`${node.url}/intake?${query}`, { headers: apiKey(key) });
		assert.equal(r.status, 200, JSON.stringify(r.body));
		return r.body.items.map((i) => Object.entries(ids).find(([, id]) => id === i.id)?.[0]);
	};
	assert.deepEqual(await q(""), [...INVOICES.map((i) => i.name)].reverse(), "newest first");
	assert.deepEqual(await q("q=cotton fabric"), ["saffron-en"]);
	assert.deepEqual(await q("q=beatriz"), ["horizonte-pt"]);
	assert.deepEqual(await q(`taxId=${IDS.sharma}`), ["ganga-hi"]);
	assert.deepEqual(await q(`taxId=${IDS.horizonte.slice(0, 2)}.${IDS.horizonte.slice(2, 5)}.${IDS.horizonte.slice(5, 8)}/${IDS.horizonte.slice(8, 12)}-${IDS.horizonte.slice(12)}`), ["horizonte-pt"]);
	assert.deepEqual(await q("seller=saffron textiles pvt ltd"), ["saffron-en"]);
	assert.deepEqual(await q("status=NEEDS_REVIEW"), ["lotus-mismatch"]);
	assert.deepEqual(await q("minTotal=10000&maxTotal=50000"), ["lotus-mismatch", "saffron-en"]);
	assert.deepEqual(await q("minTotal=100000"), ["ganga-hi"]);
	assert.deepEqual(await q("type=invoice&q=invoice&limit=2"), ["lotus-mismatch", "ganga-hi"]);
	const today = new Date().toISOString().slice(0, 10);
	assert.equal((await q(`from=${today}&to=${today}`)).length, 4);
	assert.equal((await q("to=2000-01-01")).length, 0);
	const other = await newClient("intake-other");
	assert.deepEqual(await q("", other.key), []);
	assert.equal((await http(`${node.url}/intake/${ids["saffron-en"]}`, { headers: apiKey(other.key) })).status, 404);
	assert.equal((await http(`${node.url}/intake/${ids["saffron-en"]}/file`, { headers: apiKey(other.key) })).status, 404);

	// stats
	const stats = await http<{ total: number; byStatus: Record<string, number>; pages: Record<string, number> }>(`${node.url}/intake/stats`, { headers: apiKey(c.key) });
	assert.equal(stats.status, 200);
	assert.equal(stats.body.total, 4);
	assert.deepEqual(stats.body.byStatus, { PENDING: 0, PROCESSING: 0, COMPLETED: 3, NEEDS_REVIEW: 1, FAILED: 0 });
	assert.deepEqual(stats.body.pages, { layer: 4, ocr: 0, none: 0 });
	// a client sees only its own stats; an operator every client's, or one client's with ?clientId=
	assert.equal((await http<{ total: number }>(`${node.url}/intake/stats?clientId=${c.id}`, { headers: apiKey(other.key) })).body.total, 0);
	const one = await http<{ total: number; byStatus: Record<string, number> }>(`${node.url}/intake/stats?clientId=${c.id}`, { headers: bearer(node.operatorToken) });
	assert.equal(one.status, 200);
	assert.deepEqual(one.body, stats.body);
	const all = await http<{ total: number }>(`${node.url}/intake/stats`, { headers: bearer(node.operatorToken) });
	assert.equal(all.status, 200);
	assert.ok(all.body.total > stats.body.total, `the operator sees the other clients' documents too: ${all.body.total}`);

	// a person corrects the document that needs review: old values kept, then COMPLETED
	const lotus = ids["lotus-mismatch"];
	const patched = await http<DocBody>(`${node.url}/intake/${lotus}`, { method: "PATCH", headers: apiKey(c.key), json: { fields: { total: 10500, buyer_tax_id: "33AAGCK1357N1ZX" } } });
	assert.equal(patched.status, 200, JSON.stringify(patched.body));
	assert.equal(patched.body.status, "COMPLETED");
	assert.deepEqual(patched.body.fields.total, { value: 10500, source: "manual", confidence: 1 });
	assert.deepEqual(patched.body.corrections.map((k) => [k.field, k.old?.value, k.value]), [["total", 10600, 10500], ["buyer_tax_id", IDS.badBuyer, "33AAGCK1357N1ZX"]]);
	assert.match(patched.body.corrections[0].by, new RegExp(`^client:${c.id}`));
	assert.ok(!Number.isNaN(Date.parse(patched.body.corrections[0].at)));
	assert.equal((await http(`${node.url}/intake/${ids["saffron-en"]}`, { method: "PATCH", headers: apiKey(other.key), json: { fields: { total: 1 } } })).status, 404);

	// the webhook: one signed event per finished document, and intake.completed after the correction
	const until = Date.now() + 20_000;
	while (hooks.filter((h) => JSON.parse(h.body).document.id === lotus).length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
	const mine = hooks.filter((h) => Object.values(ids).includes(JSON.parse(h.body).document.id));
	for (const h of mine) assert.equal(h.signature, `sha256=${createHmac("sha256", SECRET).update(h.body).digest("hex")}`);
	const events = mine.map((h) => `${h.event}:${Object.entries(ids).find(([, id]) => id === JSON.parse(h.body).document.id)?.[0]}`).sort();
	assert.deepEqual(events, ["intake.completed:ganga-hi", "intake.completed:horizonte-pt", "intake.completed:lotus-mismatch", "intake.completed:saffron-en", "intake.needs_review:lotus-mismatch"]);
});

test("scans at 300 dpi are OCRed page by page (source ocr, confidence) with the client's languages; tax-ID OCR confusions corrected only where the checksum passes", async () => {
	// an Indian client reads English and Hindi, a Brazilian one English and Portuguese
	const c = await newClient("intake-scans-in", { intake: { languages: "eng+hin" } });
	const br = await newClient("intake-scans-br", { intake: { languages: "eng+por" } });
	const ids: Record<string, [string, string]> = {};
	for (const name of ["saffron-en", "horizonte-pt", "ganga-hi"]) {
		const key = name === "horizonte-pt" ? br.key : c.key;
		const res = await send(key, corpus.scan[name], "?type=invoice");
		assert.equal(res.status, 202, JSON.stringify(res.body));
		ids[name] = [key, res.body.id];
	}
	for (const inv of INVOICES.filter((i) => ids[i.name])) {
		const [key, id] = ids[inv.name];
		const d = await waitForDoc(key, id);
		assert.equal(d.file.mime, "image/png");
		assert.equal(d.pages.length, 1);
		assert.equal(d.pages[0].source, "ocr");
		assert.ok((d.pages[0].confidence ?? 0) > 70, `${inv.name} confidence ${d.pages[0].confidence}`);
		const expected = Object.fromEntries(inv.scanFields.map((f) => [f, inv.fields[f]]));
		assert.deepEqual(values(d, inv.scanFields), expected, inv.name);
		if (inv.name === "ganga-hi") {
			assert.equal(d.fields.buyer_tax_id.corrected, `O${IDS.sharma.slice(1)}`, "O read for 0, corrected by the checksum");
			assert.equal(d.fields.seller_tax_id, undefined, "\"OP\" for \"09\" is not an O/0 confusion: no GSTIN");
		}
	}
	const stats = await http<{ pages: Record<string, number>; meanOcrConfidence: number }>(`${node.url}/intake/stats`, { headers: apiKey(c.key) });
	assert.deepEqual(stats.body.pages, { layer: 0, ocr: 2, none: 0 });
	assert.ok(stats.body.meanOcrConfidence > 70);
});

test("multipart uploads and owner-encrypted PDFs are read normally", async () => {
	const c = await newClient("intake-multipart");
	const form = new FormData();
	form.set("file", new Blob([readFileSync(corpus.hostile.ownerOnly)], { type: "application/pdf" }), "owner-only.pdf");
	const res = await http<{ id: string; status: string }>(`${node.url}/intake?type=invoice&reference=PO-77`, { method: "POST", headers: apiKey(c.key), body: form });
	assert.equal(res.status, 202, JSON.stringify(res.body));
	const d = await waitForDoc(c.key, res.body.id);
	assert.equal(d.file.encryption, "owner");
	assert.equal(d.file.name, "owner-only.pdf");
	assert.equal(d.pages[0].source, "layer");
	assert.equal(d.fields.invoice_number.value, "BLF-2211");
	assert.equal(d.status, "NEEDS_REVIEW");
});

test("links: fetched over http with the same checks, redirects followed; errors are 400 with the reason", async () => {
	const c = await newClient("intake-links");
	const post = (json: unknown) => http<{ id: string; status: string } & ErrorBody>(`${node.url}/intake`, { method: "POST", headers: apiKey(c.key), json });
	const ok = await post({ url: `http://127.0.0.1:${filesPort}/redirect/horizonte-pt.pdf`, type: "invoice", reference: "link-1" });
	assert.equal(ok.status, 202, JSON.stringify(ok.body));
	const d = await waitForDoc(c.key, ok.body.id);
	assert.equal(d.source, "link");
	assert.equal(d.status, "COMPLETED");
	assert.equal(d.fields.total.value, 1456.78);
	const bad = await post({ url: `http://127.0.0.1:${filesPort}/doc/truncated.pdf` });
	assert.equal(bad.status, 400);
	assert.equal(bad.body.error.details?.reason, "corrupt");
	const missing = await post({ url: `http://127.0.0.1:${filesPort}/doc/nothing.pdf` });
	assert.equal(missing.status, 400);
	assert.equal(missing.body.error.details?.reason, "url_status");
	const ftp = await post({ url: "ftp://127.0.0.1/x.pdf" });
	assert.equal(ftp.status, 400);
	assert.equal(ftp.body.error.details?.reason, "bad_url");
	assert.equal((await post({ nourl: 1 })).status, 400);
});

test("type: only invoice, application, statement, id or other is taken (else 400 naming them); left out, the text decides", async () => {
	const c = await newClient("intake-types");
	const post = (body: Buffer, query: string) => http<{ id: string; status: string } & { error: { code: string; details?: { field?: string; message?: string }[] } }>(`${node.url}/intake${query}`, { method: "POST", headers: { ...apiKey(c.key), "Content-Type": "application/pdf" }, body });
	const statement = textPdf(["Example Bank Ltd", "Statement of Account", "Opening balance 10,000.00", "Closing balance 12,345.67"]);
	for (const bad of ["receipt", "document", "Invoice"]) {
		const res = await post(statement, `?type=${bad}`);
		assert.equal(res.status, 400, bad);
		assert.equal(res.body.error.code, "VALIDATION_ERROR");
		assert.equal(res.body.error.details?.[0].field, "type");
		assert.equal(res.body.error.details?.[0].message, "type must be one of invoice, application, statement, id, other, or left out to have it detected from the text");
	}
	const json = await http<{ error: { code: string } }>(`${node.url}/intake`, { method: "POST", headers: apiKey(c.key), json: { url: `http://127.0.0.1:${filesPort}/doc/horizonte-pt.pdf`, type: "nota" } });
	assert.equal(json.status, 400, "a link's type is checked the same way");
	assert.equal((await http<{ total: number }>(`${node.url}/intake`, { headers: apiKey(c.key) })).body.total, 0, "nothing stored");

	const detected = await waitForDoc(c.key, (await post(statement, "")).body.id);
	assert.equal(detected.type, "statement");
	const application = await post(textPdf(["Loan application form", "Applicant: Test Applicant One", "Amount requested: 50,000.00"]), "");
	assert.equal((await waitForDoc(c.key, application.body.id)).type, "application");
	const other = await post(textPdf(["Dear Sir,", "the papers you asked for are attached."]), "");
	assert.equal((await waitForDoc(c.key, other.body.id)).type, "other");
	// the client's type wins over the text
	const given = await post(textPdf(["Example Bank Ltd", "Statement of Account", "Closing balance 1.00", "for October"]), "?type=id");
	assert.equal(given.status, 202, JSON.stringify(given.body));
	assert.equal((await waitForDoc(c.key, given.body.id)).type, "id");
});

test("a webhook that fails is retried with backoff; every attempt is kept", async () => {
	const c = await newClient("intake-retry", { webhook: { url: `http://127.0.0.1:${hookPort}/hook`, secret: SECRET } });
	failNextHooks = 2;
	const res = await send(c.key, corpus.pdf["horizonte-pt"]);
	assert.equal(res.status, 202);
	await waitForDoc(c.key, res.body.id);
	const until = Date.now() + 20_000;
	while (!hooks.some((h) => JSON.parse(h.body).document.id === res.body.id) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
	assert.ok(hooks.some((h) => JSON.parse(h.body).document.id === res.body.id && h.event === "intake.completed"));
	const deliveries = getPlatform().store.adapter("intake_deliveries");
	const attempts = await deliveries.find({ query: { deliveryId: `${res.body.id}:COMPLETED` }, sort: "at" });
	assert.deepEqual(attempts.map((a) => [a.status, a.ok]), [[500, false], [500, false], [204, true]]);

	// the attempts through the API (newest first); another client sees none of them
	type Attempts = { total: number; items: { deliveryId: string; event: string; status: number | null; ok: boolean; error: string | null }[] };
	const listed = await http<Attempts>(`${node.url}/intake/${res.body.id}/deliveries`, { headers: apiKey(c.key) });
	assert.equal(listed.status, 200);
	assert.deepEqual(listed.body.items.map((a) => [a.status, a.ok, a.event]), [[204, true, "intake.completed"], [500, false, "intake.completed"], [500, false, "intake.completed"]]);
	assert.equal(listed.body.items[1]?.error, "answered 500");
	const stranger = await newClient("intake-retry-other");
	assert.equal((await http(`${node.url}/intake/${res.body.id}/deliveries`, { headers: apiKey(stranger.key) })).status, 404);

	// an operator sends the event again (audited); the client cannot
	assert.equal((await http(`${node.url}/intake/${res.body.id}/redeliver`, { method: "POST", headers: apiKey(c.key) })).status, 403);
	const before = hooks.filter((h) => JSON.parse(h.body).document.id === res.body.id).length;
	const again = await http<{ queued: boolean; event: string; deliveryId: string }>(`${node.url}/intake/${res.body.id}/redeliver`, { method: "POST", headers: bearer(node.operatorToken) });
	assert.equal(again.status, 202, JSON.stringify(again.body));
	assert.deepEqual(again.body, { queued: true, event: "intake.completed", deliveryId: `${res.body.id}:COMPLETED` });
	const until2 = Date.now() + 20_000;
	while (hooks.filter((h) => JSON.parse(h.body).document.id === res.body.id).length <= before && Date.now() < until2) await new Promise((r) => setTimeout(r, 100));
	assert.equal(hooks.filter((h) => JSON.parse(h.body).document.id === res.body.id).length, before + 1, "delivered once more");
	assert.equal((await http<Attempts>(`${node.url}/intake/${res.body.id}/deliveries`, { headers: apiKey(c.key) })).body.total, 4);
	const audited = await http<{ items: { action: string; target: string }[] }>(`${node.url}/audit?limit=20`, { headers: bearer(node.operatorToken) });
	assert.ok(audited.body.items.some((a) => a.action === "intake.redeliver" && a.target === `intake:${res.body.id}`));
	// a client without a webhook: nothing to redeliver to
	const plain = await newClient("intake-no-hook");
	const done = await send(plain.key, corpus.pdf["saffron-en"]);
	await waitForDoc(plain.key, done.body.id);
	assert.equal((await http(`${node.url}/intake/${done.body.id}/redeliver`, { method: "POST", headers: bearer(node.operatorToken) })).status, 409);
});

test("PDFs and images dropped in the S3 inbox go to intake; a refused one goes to rejected/ with the reason", async () => {
	const c = await newClient("intake-inbox");
	const { objects } = getPlatform();
	await objects.put(`inbox/${c.id}/march/saffron.pdf`, readFileSync(corpus.pdf["saffron-en"]));
	await objects.put(`inbox/${c.id}/cut.pdf`, readFileSync(corpus.hostile.truncated));
	const scan = await http<{ taken: number }>(`${node.url}/inbox/scan`, { method: "POST", headers: bearer(node.operatorToken) });
	assert.equal(scan.status, 200, JSON.stringify(scan.body));
	assert.equal(scan.body.taken, 1);
	const list = await http<{ total: number; items: DocBody[] }>(`${node.url}/intake`, { headers: apiKey(c.key) });
	assert.equal(list.body.total, 1);
	assert.equal(list.body.items[0].source, "inbox");
	assert.equal(list.body.items[0].file.name, "march_saffron.pdf");
	const d = await waitForDoc(c.key, list.body.items[0].id);
	assert.equal(d.status, "COMPLETED");
	assert.equal(d.fields.invoice_number.value, "ST/2026/0415");
	assert.equal(await objects.stat(`inbox/${c.id}/march/saffron.pdf`), null, "taken out of the inbox");
	const rejected = await objects.stat(`rejected/inbox/${c.id}/cut.pdf`);
	assert.match(rejected?.metadata.reason ?? "", /corrupt/);
	// a second scan takes nothing again
	assert.equal((await http<{ taken: number }>(`${node.url}/inbox/scan`, { method: "POST", headers: bearer(node.operatorToken) })).body.taken, 0);
});

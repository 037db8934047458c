/**
 * The WeasyPrint engine: long-lived /usr/bin/python3 workers, checked with poppler (pdfinfo, pdftotext).
 * WeasyPrint and poppler are installed by the project's setup: when missing the tests fail, they do not skip.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { WeasyPrintEngine } from "../../../lib/render/weasyprint.ts";
import { createEngine, EngineClosedError, RenderError, RenderTimeoutError } from "../../../lib/render/engine.ts";
import { toHtml } from "../../../lib/render/templates.ts";
import { LANGS, loan, NAMES, AMOUNTS, FOOTER, pdfinfoPages, pdftotext } from "./fixtures.ts";

let engine: WeasyPrintEngine;
const notice = (extra: Record<string, unknown> = {}): string =>
	toHtml("debt-notice", "en", { contract_id: "C-42", debtor_name: "Maria Silva", amount: "1500", due_date: "2026-03-31", ...extra });

before(async () => {
	engine = new WeasyPrintEngine({ workers: 2, timeoutMs: 60_000 });
	await engine.warmUp();
});

after(async () => {
	await engine.close();
});

test("the welcome letter in en, hi, mr, gu: 4 pages, header, 'page X of Y' footer, name and amount", async () => {
	await Promise.all(
		LANGS.map(async (lang) => {
			const { pdf, pages } = await engine.render(toHtml("welcome-letter", lang, loan(lang)));
			assert.equal(pdf.subarray(0, 5).toString("latin1"), "%PDF-");
			assert.equal(pages, await pdfinfoPages(pdf), `${lang}: the worker counts pages like pdfinfo`);
			assert.ok(pages >= 3, `${lang}: letter + 60-row schedule + charges span at least 3 pages (got ${pages})`);
			const text = await pdftotext(pdf);
			for (let p = 1; p <= pages; p++) assert.ok(text.includes(FOOTER[lang](p, pages)), `${lang}: footer of page ${p}`);
			assert.ok(text.split("LN2026000123").length - 1 >= pages, `${lang}: header on every page`);
			// WeasyPrint's Indic extraction is the weaker of the two (DESIGN: 58-82 % of words); the names were
			// picked because they come out intact (see fixtures.ts), and amounts are digits and ₹.
			assert.ok(text.includes(NAMES[lang]), `${lang}: applicant's name`);
			assert.ok(text.includes(AMOUNTS[lang]), `${lang}: loan amount as the language writes it`);
		})
	);
});

test("data prints literally: <script> and {{x}} appear as text in the PDF", async () => {
	const text = await pdftotext((await engine.render(notice({ debtor_name: "<script>alert(1)</script>", contract_id: "{{x}}" }))).pdf);
	assert.ok(text.includes("<script>alert(1)</script>"));
	assert.ok(text.includes("{{x}}"));
});

test("every network request from a document is refused (only data: URLs load)", async () => {
	let hits = 0;
	const server = http.createServer((_req, res) => {
		hits++;
		res.end("x");
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;
	try {
		const url = `http://127.0.0.1:${port}`;
		const html = `<!DOCTYPE html><html><head><link rel="stylesheet" href="${url}/a.css"><style>@import "${url}/b.css"; p { background: url(${url}/bg.png); }</style></head>
<body><p>hello</p><img src="${url}/i.png"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></body></html>`;
		const { pdf } = await engine.render(html);
		assert.ok((await pdftotext(pdf)).includes("hello"));
		assert.equal(hits, 0, "no request reached the server");
	} finally {
		server.close();
	}
});

test("a document that times out gives RenderTimeoutError, its worker is replaced, the next render works", async () => {
	const before = engine.pids;
	// The 4-page letter takes WeasyPrint over a second: 100 ms cannot be met.
	await assert.rejects(engine.render(toHtml("welcome-letter", "en", loan("en")), { timeoutMs: 100 }), (e: unknown) => e instanceof RenderTimeoutError && e.engine === "weasyprint" && e.timeoutMs === 100);
	const { pages } = await engine.render(notice());
	assert.equal(pages, 1);
	assert.equal(engine.pids.length, 2, "the pool is back to full size");
	assert.equal(engine.pids.filter((p) => !before.includes(p)).length, 1, "exactly one worker was replaced");
});

test("a killed worker is replaced and the next documents render", async () => {
	await engine.warmUp();
	const [victim] = engine.pids;
	process.kill(victim, "SIGKILL");
	const results = await Promise.all([engine.render(notice()), engine.render(notice()), engine.render(notice())]);
	assert.deepEqual(results.map((r) => r.pages), [1, 1, 1]);
	assert.ok(!engine.pids.includes(victim));
});

test("workers are recycled after N documents; closed engines refuse work", async () => {
	const small = new WeasyPrintEngine({ workers: 1, recycleAfter: 2 });
	try {
		await small.warmUp();
		const first = small.pids[0];
		for (let i = 0; i < 3; i++) assert.equal((await small.render(notice())).pages, 1);
		assert.notEqual(small.pids[0], first, "a fresh worker after 2 documents");
	} finally {
		await small.close();
	}
	assert.deepEqual(small.pids, []);
	await assert.rejects(small.render(notice()), EngineClosedError);
});

test("a missing interpreter fails documents with a clear error; the factory builds engines by name", async () => {
	const broken = await createEngine("weasyprint", { weasyprint: { python: "/nonexistent/python3", workers: 1 } });
	try {
		assert.equal(broken.name, "weasyprint");
		await assert.rejects(broken.render("<p>x</p>"), (e: unknown) => e instanceof RenderError && /nonexistent/.test(e.message));
	} finally {
		await broken.close();
	}
});

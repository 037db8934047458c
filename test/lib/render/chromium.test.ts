/**
 * The Chromium engine against the real /usr/bin/chromium, checked with poppler (pdfinfo, pdftotext).
 * These tools are installed by the project's setup: when they are missing the tests fail, they do not skip.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { ChromiumEngine } from "../../../lib/render/chromium.ts";
import { createEngine, EngineClosedError, RenderError, RenderTimeoutError } from "../../../lib/render/engine.ts";
import { toHtml } from "../../../lib/render/templates.ts";
import { LANGS, loan, NAMES, AMOUNTS, FOOTER, pdfinfoPages, pdftotext } from "./fixtures.ts";

let engine: ChromiumEngine;

before(async () => {
	engine = new ChromiumEngine({ tabs: 2, timeoutMs: 30_000 });
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
			assert.equal(pages, await pdfinfoPages(pdf), `${lang}: the engine counts pages like pdfinfo`);
			assert.ok(pages >= 3, `${lang}: letter + 60-row schedule + charges span at least 3 pages (got ${pages})`);
			const text = await pdftotext(pdf);
			// Every page carries the footer "page X of Y" (translated) and the header with the loan account.
			for (let p = 1; p <= pages; p++) assert.ok(text.includes(FOOTER[lang](p, pages)), `${lang}: footer of page ${p}`);
			assert.equal(text.split("LN2026000123").length - 1 >= pages, true, `${lang}: header on every page`);
			// Indic text extraction is imperfect; the names were picked because they extract intact (see fixtures.ts).
			assert.ok(text.includes(NAMES[lang]), `${lang}: applicant's name`);
			assert.ok(text.includes(AMOUNTS[lang]), `${lang}: loan amount as the language writes it`);
		})
	);
});

test("tagged PDFs also work (an option), and text stays extractable untagged (the default)", async () => {
	const tagged = new ChromiumEngine({ tabs: 1, tagged: true });
	try {
		const html = toHtml("debt-notice", "en", { contract_id: "C-1", debtor_name: "Maria Silva", amount: "10", due_date: "2026-03-31" });
		const a = await tagged.render(html);
		const b = await engine.render(html);
		assert.match(a.pdf.toString("latin1"), /\/StructTreeRoot/);
		assert.doesNotMatch(b.pdf.toString("latin1"), /\/StructTreeRoot/);
		assert.ok((await pdftotext(b.pdf)).includes("Maria Silva"));
	} finally {
		await tagged.close();
	}
});

test("data prints literally: <script> and {{x}} appear as text in the PDF", async () => {
	const html = toHtml("welcome-letter", "en", loan("en", { applicant_name: "<script>alert(1)</script>", address_line1: "{{x}}", address_line2: "{{applicant_name}}" }));
	const text = await pdftotext((await engine.render(html)).pdf);
	assert.ok(text.includes("<script>alert(1)</script>"));
	assert.ok(text.includes("{{x}}"));
	assert.ok(text.includes("{{applicant_name}}"));
});

test("every network request from a page is blocked (only data: URLs load)", async () => {
	let hits = 0;
	const server = http.createServer((_req, res) => {
		hits++;
		res.end("x");
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;
	try {
		const url = `http://127.0.0.1:${port}`;
		const html = `<!DOCTYPE html><html><head><link rel="stylesheet" href="${url}/a.css"><style>@import "${url}/b.css"; @font-face { font-family: X; src: url(${url}/f.woff2); } p { font-family: X; background: url(${url}/bg.png); }</style></head>
<body><p>hello</p><img src="${url}/i.png"><iframe src="${url}/frame"></iframe><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></body></html>`;
		const { pdf } = await engine.render(html);
		assert.ok((await pdftotext(pdf)).includes("hello"));
		assert.equal(hits, 0, "no request reached the server");
	} finally {
		server.close();
	}
});

test("a killed browser is replaced and the next documents render", async () => {
	const html = toHtml("welcome-letter", "hi", loan("hi"));
	const first = engine.pid;
	assert.ok(first, "the browser runs");
	const inFlight = engine.render(html);
	process.kill(first, "SIGKILL");
	// A document in flight when the browser died is retried once on the new browser.
	const a = await inFlight;
	assert.ok(a.pages >= 3);
	const b = await engine.render(html);
	assert.ok(b.pages >= 3);
	assert.ok(engine.pid && engine.pid !== first, "a new browser process");
	assert.ok(engine.stats.crashes >= 1);
});

test("a page that times out gives RenderTimeoutError; other documents and the next render are unaffected", async () => {
	// Scripts are off by default; this engine turns them on to make a page that never finishes loading.
	const js = new ChromiumEngine({ tabs: 2, javaScript: true, timeoutMs: 20_000 });
	try {
		const hang = js.render("<html><body><p>x</p><script>for (;;) {}</script></body></html>", { timeoutMs: 1500 });
		const good = js.render(toHtml("welcome-letter", "gu", loan("gu")));
		await assert.rejects(hang, (e: unknown) => e instanceof RenderTimeoutError && e.timeoutMs === 1500 && e.engine === "chromium");
		assert.ok((await good).pages >= 3, "the document in the other tab finished");
		const next = await js.render(toHtml("welcome-letter", "en", loan("en")));
		assert.ok(next.pages >= 3);
		assert.equal(js.stats.timeouts, 1);
		assert.equal(js.stats.launches, 1, "a timeout replaces the tab, not the browser");
	} finally {
		await js.close();
	}
});

test("the browser is recycled after N documents, waiting for in-flight pages", async () => {
	const small = new ChromiumEngine({ tabs: 2, recycleAfter: 2 });
	try {
		const html = toHtml("debt-notice", "en", { contract_id: "C-9", debtor_name: "Asha", amount: "5", due_date: "2026-01-01" });
		const results = await Promise.all(Array.from({ length: 5 }, () => small.render(html)));
		assert.deepEqual(results.map((r) => r.pages), [1, 1, 1, 1, 1]);
		// Pages already running when the limit is reached finish on the old browser, so 5 documents over
		// 2 tabs take 2 or 3 browsers; never 1.
		assert.ok(small.stats.launches >= 2, `launches: ${small.stats.launches}`);
		assert.ok(small.stats.recycles >= 1);
		assert.equal(small.stats.crashes, 0, "recycling is not a crash");
	} finally {
		await small.close();
	}
	await assert.rejects(small.render("<p>x</p>"), EngineClosedError);
});

test("a browser that cannot start fails the document with a clear error; the factory builds engines by name", async () => {
	const broken = await createEngine("chromium", { chromium: { executablePath: "/nonexistent/chromium" } });
	try {
		assert.equal(broken.name, "chromium");
		await assert.rejects(broken.render("<p>x</p>"), (e: unknown) => e instanceof RenderError && /cannot start chromium/.test(e.message));
	} finally {
		await broken.close();
	}
	await assert.rejects(createEngine("prince" as "chromium"), /unknown PDF engine/);
});

/**
 * The console's delivery, intake and billing screens in a real browser (Debian's Chromium via puppeteer-core) against
 * a node started by the test: a dispatch run started from the console and followed live; its cases filtered in the
 * URL and exported as CSV; a case's attempts on a timeline with why the fallback fired; a resend that reuses the
 * stored PDF (a new try, audited); a record linking to its cases; an intake document's pages, text, fields and a
 * correction (audited); a billing run's halted loan resumed (audited); the overview's queue rates, oldest waiting
 * message and dependencies' last change. Every screen passes axe-core with no serious
 * violation and has no console error or failed request; screenshots go to test-output/console/.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { startTestNode, http, bearer, apiKey, tempDir, type TestNode } from "../helpers/node.ts";
import { waitForBatch } from "../helpers/ingest.ts";
import { launchBrowser, newPage, signIn, screen, textOf, setValue, clickButton, downloadsTo, type ConsoleBrowser, type El } from "../helpers/browser.ts";
import { createOperator } from "../../lib/operators/accounts.ts";
import type { CaseDetail, CaseView } from "../../services/notifier.service.ts";

declare const document: { querySelector(selector: string): El | null; querySelectorAll(selector: string): El[] };

const ADMIN = { email: "admin@example.com", password: "admin password 1" };
const OPERATOR = { email: "ops@example.com", password: "operator password 1" };
const LOAN_HEADER = "loan_id,applicant_name,language,phone,email,address_line1,address_line2,city,state,postal_code,loan_amount,annual_interest_rate,tenure_months,disbursement_date,first_emi_date,processing_fee";

let node: TestNode;
let base: string;
let chromium: ConsoleBrowser;
let client: { id: string; apiKey: string };
let downloads: string;

before(async () => {
	node = await startTestNode({ SANDBOX_CALLBACK_DELAY_MS: "10", DELIVERY_SWEEP_MS: "200", DELIVERY_TIMEOUT_S: "60", SCHEDULER_CRON: "0 0 1 1 *", INBOX_POLL_MS: "0", QUEUE_RETRY_DELAY_MS: "50" });
	base = node.url.replace("/api/v1", "");
	const ops = node.platform.store.adapter("operators");
	await createOperator(ops, { ...ADMIN, role: "admin" });
	await createOperator(ops, { ...OPERATOR, role: "operator" });
	const made = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name: "console-delivery-co", billing: { statementDay: 10 } } });
	assert.equal(made.status, 201, JSON.stringify(made.body));
	client = made.body;
	// one loan delivered on WhatsApp, one whose WhatsApp fails (the sandbox fails phones ending in 0000) and goes to RCS
	const csv = [LOAN_HEADER, "LN-CON-OK,Asha Rao,en,+919876500001,asha@example.com,12 MG Road,,Pune,MH,411001,100000,12.5,12,2026-11-20,2026-12-20,1000", "LN-CON-FB,Ravi Rao,en,+919876500000,,12 MG Road,,Pune,MH,411001,100000,12.5,12,2026-11-21,2026-12-21,1000"].join("\n");
	const up = await http<{ batchId: string }>(`${node.url}/uploads?kind=loan`, { method: "POST", headers: { ...apiKey(client.apiKey), "Content-Type": "text/csv" }, body: `${csv}\n` });
	assert.equal(up.status, 202, JSON.stringify(up.body));
	assert.equal((await waitForBatch(node.url, client.apiKey, up.body.batchId)).counts.valid, 2);
	chromium = await launchBrowser();
	downloads = tempDir("paperwork-console-downloads-");
});

after(async () => {
	await chromium?.close();
	await node?.close();
	if (downloads) rmSync(downloads, { recursive: true, force: true });
});

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
	const end = Date.now() + ms;
	for (;;) {
		const v = await fn();
		if (v !== undefined) return v;
		assert.ok(Date.now() < end, `timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 100));
	}
}

const caseOf = async (id: string) => (await http<CaseDetail>(`${node.url}/cases/${encodeURIComponent(id)}`, { headers: bearer(node.operatorToken) })).body;

test("a dispatch run started from the console is followed live; its cases filter in the URL and export; a case shows why it fell back and is resent with its stored PDF", async () => {
	const { page, problems } = await newPage(chromium.browser);
	await signIn(page, base, OPERATOR);
	await page.goto(`${base}/console/runs`, { waitUntil: "networkidle0" });
	await setValue(page, "section[aria-labelledby=h-start] input[type=date]", "2026-11-01");
	await setValue(page, "section[aria-labelledby=h-start] .field:nth-of-type(2) input", "2026-11-30");
	await page.select("section[aria-labelledby=h-start] select", client.id);
	await screen(page, "dispatch-runs", problems);
	await clickButton(page, "Start run");
	await page.waitForSelector("[data-testid=run-status]");
	assert.match(page.url(), /\/console\/runs\/run_/);
	const runId = decodeURIComponent(page.url().split("/runs/")[1]);
	await page.waitForFunction(() => document.querySelector("[data-testid=run-status]")?.textContent === "completed", { timeout: 90_000 });
	const counts = await page.$$eval("[data-count]", (cells) => Object.fromEntries(cells.map((c) => [c.getAttribute("data-count"), Number(c.textContent)])));
	const api = await http<{ byStatus: Record<string, number> }>(`${node.url}/dispatch/runs/${runId}`, { headers: bearer(node.operatorToken) });
	assert.deepEqual(counts, api.body.byStatus);
	assert.equal(counts.delivered, 2);
	await screen(page, "dispatch-run", problems);
	const audit = await http<{ items: { actor: string; action: string; target: string }[] }>(`${node.url}/audit?action=dispatch.run`, { headers: bearer(node.adminToken) });
	assert.deepEqual(audit.body.items.map((e) => [e.actor, e.target]), [[OPERATOR.email, `dispatch-run:${runId}`]]);

	// the run's cases, then one channel: the filters live in the URL and survive a reload
	await page.$$eval("caption a", (as) => (as[0] as unknown as El).click());
	await page.waitForFunction(() => document.querySelectorAll("[data-testid=cases] tbody tr").length === 2);
	assert.match(page.url(), new RegExp(`/console/cases\\?runId=${runId}$`));
	await page.select("form[aria-label=filters] .field:nth-of-type(3) select", "rcs");
	await page.waitForFunction(() => document.querySelectorAll("[data-testid=cases] tbody tr").length === 1);
	await page.reload({ waitUntil: "networkidle0" });
	await page.waitForFunction(() => document.querySelectorAll("[data-testid=cases] tbody tr").length === 1);
	assert.match(page.url(), /channel=rcs/);
	await downloadsTo(page, downloads);
	await clickButton(page, "Export CSV");
	const csv = await until("the CSV download", async () => {
		const f = readdirSync(downloads).find((n) => n === "cases.csv");
		return f ? readFileSync(`${downloads}/${f}`, "utf8") : undefined;
	});
	const lines = csv.trim().split("\n");
	assert.equal(lines.length, 2, csv);
	assert.match(lines[1], /LN-CON-FB/);
	assert.match(lines[1], /,rcs,/);
	await screen(page, "cases", problems);

	// the case: WhatsApp failed, then RCS delivered, and the timeline says why it fell back
	await page.click("[data-testid=cases] tbody tr a");
	await page.waitForSelector("[data-testid=timeline] li");
	const caseId = decodeURIComponent(page.url().split("/cases/")[1]);
	const first = await caseOf(caseId);
	assert.deepEqual(first.attempts.map((a) => [a.channel, a.status]), [["whatsapp", "failed"], ["rcs", "delivered"]]);
	assert.equal(await page.$$eval("[data-testid=timeline] > li", (l) => l.length), 2);
	const fallback = await textOf(page, "[data-testid=fallback]");
	assert.match(fallback, /Fell back to rcs: whatsapp failed: 131026/);
	await screen(page, "case", problems);

	// resend: a new try on the plan with the same stored document, and the audit log says who
	await clickButton(page, "Resend");
	await page.waitForFunction(() => /Resent as try 2/.test(document.querySelector("[role=status]")?.textContent ?? ""));
	const resent = await until("the resent case delivered", async () => {
		const c = await caseOf(caseId);
		return c.try === 2 && c.status === "delivered" ? c : undefined;
	});
	assert.equal(resent.documentId, first.documentId, "the stored PDF is reused");
	assert.deepEqual(resent.attempts.map((a) => [a.try, a.channel, a.status]), [[1, "whatsapp", "failed"], [1, "rcs", "delivered"], [2, "whatsapp", "failed"], [2, "rcs", "delivered"]]);
	const outbox = await http<{ items: { attemptId: string }[] }>(`${node.url}/sandbox/outbox?caseId=${encodeURIComponent(caseId)}`, { headers: bearer(node.operatorToken) });
	assert.equal(outbox.body.items.length, 4, "each attempt sent once");
	const resends = await http<{ items: { actor: string; items: string[] }[] }>(`${node.url}/audit?action=case.resend`, { headers: bearer(node.adminToken) });
	assert.deepEqual(resends.body.items.map((e) => [e.actor, e.items]), [[OPERATOR.email, [caseId]]]);
	await page.waitForFunction(() => document.querySelectorAll("[data-testid=timeline] > li").length === 4, { timeout: 20_000 });
	assert.match(await textOf(page, "[data-testid=timeline]"), /Try 2 started by run/);
	await screen(page, "case-resent", problems);
	// a client cannot resend; an unknown case is 404
	assert.equal((await http(`${node.url}/cases/${encodeURIComponent(caseId)}/resend`, { method: "POST", headers: apiKey(client.apiKey), json: {} })).status, 403);
	assert.equal((await http(`${node.url}/cases/nope/resend`, { method: "POST", headers: bearer(node.operatorToken), json: {} })).status, 404);
	await page.close();
});

test("a record found by loan_id links to its delivery cases", async () => {
	const cases = await until("the cases", async () => {
		const r = await http<{ items: CaseView[] }>(`${node.url}/cases?loan_id=LN-CON-OK`, { headers: apiKey(client.apiKey) });
		return r.body.items.length ? r.body.items : undefined;
	});
	const { page, problems } = await newPage(chromium.browser);
	await signIn(page, base, OPERATOR);
	await page.goto(`${base}/console/search?by=loan_id&value=LN-CON-OK`, { waitUntil: "networkidle0" });
	await page.click("table a");
	await page.waitForSelector("[data-testid=record-cases] a");
	await screen(page, "record-cases", problems);
	await page.click("[data-testid=record-cases] a");
	await page.waitForSelector("[data-testid=case-status]");
	assert.equal(decodeURIComponent(page.url().split("/cases/")[1]), cases[0].id);
	await page.close();
});

test("an intake document shows its pages, text and fields; an operator's correction is saved and audited", async () => {
	// a born-digital PDF to read: the welcome letter the node rendered for a loan
	const c = await until("a case with its document", async () => {
		const r = await http<{ items: CaseView[] }>(`${node.url}/cases?loan_id=LN-CON-OK`, { headers: apiKey(client.apiKey) });
		return r.body.items.find((x) => x.documentId);
	});
	const pdf = await fetch(`${node.url}/documents/${c.documentId}/pdf`, { headers: apiKey(client.apiKey) });
	assert.equal(pdf.status, 200);
	const sent = await http<{ id: string }>(`${node.url}/intake?reference=console-test`, { method: "POST", headers: { ...apiKey(client.apiKey), "Content-Type": "application/pdf" }, body: Buffer.from(await pdf.arrayBuffer()) });
	assert.equal(sent.status, 202, JSON.stringify(sent.body));
	const id = sent.body.id;
	const read = await until("the document read", async () => {
		const r = await http<{ status: string }>(`${node.url}/intake/${id}`, { headers: apiKey(client.apiKey) });
		return ["COMPLETED", "NEEDS_REVIEW", "FAILED"].includes(r.body.status) ? r.body : undefined;
	});
	assert.notEqual(read.status, "FAILED", JSON.stringify(read));

	const { page, problems } = await newPage(chromium.browser);
	await signIn(page, base, OPERATOR);
	await page.goto(`${base}/console/intake?clientId=${client.id}`, { waitUntil: "networkidle0" });
	await page.waitForSelector("[data-testid=intake] tbody tr a");
	await screen(page, "intake", problems);
	await page.click("[data-testid=intake] tbody tr a");
	await page.waitForSelector("[data-testid=intake-pages] tbody tr");
	assert.match(await textOf(page, "[data-testid=intake-pages] tbody"), /text layer/);
	await page.waitForFunction(() => /LN-CON-OK/.test(document.querySelector("[data-testid=intake-text]")?.textContent ?? ""));
	// correct a field (a new one: which fields a welcome letter yields is the reader's business)
	await page.type("input[name=extra-name]", "loan_reference");
	await page.type("input[name=extra-value]", "LN-CON-OK");
	await clickButton(page, "Save corrections");
	await page.waitForFunction(() => /Saved 1 field/.test(document.querySelector("[role=status]")?.textContent ?? ""));
	const doc = await http<{ status: string; fields: Record<string, { value: unknown; source: string }>; corrections: { by: string }[] }>(`${node.url}/intake/${id}`, { headers: apiKey(client.apiKey) });
	assert.equal(doc.body.status, "COMPLETED");
	assert.deepEqual(doc.body.fields.loan_reference, { value: "LN-CON-OK", source: "manual", confidence: 1 });
	assert.match(doc.body.corrections.at(-1)?.by ?? "", /^operator:/);
	const audit = await http<{ items: { actor: string; items: string[]; clientId: string }[] }>(`${node.url}/audit?action=intake.correct`, { headers: bearer(node.adminToken) });
	assert.deepEqual(audit.body.items.map((e) => [e.actor, e.items, e.clientId]), [[OPERATOR.email, [id], client.id]]);
	await page.waitForSelector("input[name=field-loan_reference]");
	// its webhook deliveries: this client has no webhook, so none (the API's list, GET /intake/:id/deliveries)
	await page.waitForFunction(() => /None: the client has no webhook/.test(document.querySelector("section[aria-labelledby=h-deliveries]")?.textContent ?? ""));
	await screen(page, "intake-document", problems);
	await page.close();
});

test("a billing run started from the console; its halted loan is resumed there; both audited", async () => {
	const loans = [LOAN_HEADER, "BL-1,Borrower One,en,9876543001,b1@example.com,1 MG Road,,Pune,MH,411001,12000,0,12,2025-11-20,2025-12-05,0"].join("\n");
	const up = await http<{ batchId: string }>(`${node.url}/uploads?kind=loan`, { method: "POST", headers: { ...apiKey(client.apiKey), "Content-Type": "text/csv" }, body: `${loans}\n` });
	assert.equal((await waitForBatch(node.url, client.apiKey, up.body.batchId)).status, "COMPLETED");
	const { page, problems } = await newPage(chromium.browser);
	await signIn(page, base, OPERATOR);
	// started from the console: a cycle without PDFs
	await page.goto(`${base}/console/billing`, { waitUntil: "networkidle0" });
	await page.select("section[aria-labelledby=h-start-billing] select", client.id);
	await setValue(page, "section[aria-labelledby=h-start-billing] input[type=date]", "2026-11-10");
	await page.click("section[aria-labelledby=h-start-billing] input[type=checkbox]");
	await clickButton(page, "Start billing run");
	await page.waitForSelector("[data-testid=billing-status]");
	const runId = decodeURIComponent(page.url().split("/billing/")[1]);
	await page.waitForFunction(() => document.querySelector("[data-testid=billing-status]")?.textContent !== "running", { timeout: 60_000 });
	const started = await http<{ items: { actor: string; target: string }[] }>(`${node.url}/audit?action=billing.run`, { headers: bearer(node.adminToken) });
	assert.deepEqual(started.body.items.map((e) => [e.actor, e.target]), [[OPERATOR.email, `billing-run:${runId}`]]);
	// a loan enrolled, then gone from the register before its passbook step: it halts there
	await node.platform.store.adapter("billing_items").insert({ _id: `${client.id}:2026-11-10:GONE`, runId, clientId: client.id, loanId: "GONE", cycleTo: "2026-11-10", step: "passbook", status: "halted", attempts: 0, results: { duplicates: { refundsOpened: 0 } }, halted: { step: "passbook", reason: "loan not in the register", input: {}, at: new Date() }, updatedAt: new Date() });

	await page.goto(`${base}/console/billing`, { waitUntil: "networkidle0" });
	await page.waitForSelector("[data-testid=billing-runs] tbody tr a");
	await screen(page, "billing-runs", problems);
	await page.click("[data-testid=billing-runs] tbody tr a");
	await page.waitForSelector("input[aria-label='select GONE']");
	assert.match(await textOf(page, "section[aria-labelledby=h-halted] tbody"), /passbook\s+loan not in the register/);
	await screen(page, "billing-run", problems);
	await page.click("input[aria-label='select GONE']");
	await clickButton(page, "Resume selected");
	await page.waitForFunction(() => /Resumed 1/.test(document.querySelector("[role=status]")?.textContent ?? ""));
	const audit = await http<{ items: { actor: string; items: string[]; count: number }[] }>(`${node.url}/audit?action=billing.resume`, { headers: bearer(node.adminToken) });
	assert.deepEqual(audit.body.items.map((e) => [e.actor, e.items, e.count]), [[OPERATOR.email, ["GONE"], 1]]);
	assert.deepEqual(problems, []);
	await page.close();
});

test("the overview shows queue in and out rates, the oldest waiting message, when each dependency last changed, the last runs and intake documents", async () => {
	const { page, problems } = await newPage(chromium.browser);
	await signIn(page, base, ADMIN);
	await page.waitForSelector("section[aria-labelledby=h-queues] tbody tr");
	// rates need two readings of the counters (the overview polls every 5 s)
	await page.waitForFunction(() => /\/s$/.test(document.querySelector("tr[data-queue='cases.rendered'] [data-rate=in]")?.textContent ?? ""), { timeout: 20_000 });
	const row = await textOf(page, "tr[data-queue='cases.rendered']");
	assert.match(row, /\d+\.\d\/s\s+\d+\.\d\/s\s+none/, row);
	assert.match(await textOf(page, "[data-testid=changed-store]"), /none seen since this node's first check/);
	await page.waitForSelector("section[aria-labelledby=h-runs] tbody tr a");
	await page.waitForSelector("section[aria-labelledby=h-intake] tbody tr a");
	await screen(page, "overview-rates", problems);
	await page.close();
});

test("an intake document's webhook deliveries are listed, and Send again delivers its event once more under the same ID", async () => {
	const got: string[] = [];
	const hook = createServer((req, res) => {
		req.resume();
		req.on("end", () => {
			got.push(String(req.headers["x-paperwork-delivery"]));
			res.writeHead(204).end();
		});
	});
	await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
	try {
		const port = (hook.address() as AddressInfo).port;
		const hooked = (await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name: "console-hooked", webhook: { url: `http://127.0.0.1:${port}/hook`, secret: "console-hook-secret" } } })).body;
		const c = await until("a case with its document", async () => {
			const r = await http<{ items: CaseView[] }>(`${node.url}/cases?loan_id=LN-CON-OK`, { headers: apiKey(client.apiKey) });
			return r.body.items.find((x) => x.documentId);
		});
		const pdf = Buffer.from(await (await fetch(`${node.url}/documents/${c.documentId}/pdf`, { headers: apiKey(client.apiKey) })).arrayBuffer());
		const sent = await http<{ id: string }>(`${node.url}/intake`, { method: "POST", headers: { ...apiKey(hooked.apiKey), "Content-Type": "application/pdf" }, body: pdf });
		assert.equal(sent.status, 202, JSON.stringify(sent.body));
		const id = sent.body.id;
		await until("the event delivered", async () => (got.length >= 1 ? true : undefined));

		const { page, problems } = await newPage(chromium.browser);
		await signIn(page, base, OPERATOR);
		await page.goto(`${base}/console/intake/${id}`, { waitUntil: "networkidle0" });
		await page.waitForFunction(() => /delivered \(204\)/.test(document.querySelector("[data-testid=intake-deliveries] tbody")?.textContent ?? ""));
		// the client by its name, not its ID
		await page.waitForFunction(() => /console-hooked/.test(document.querySelector("dl")?.textContent ?? ""));
		await clickButton(page, "Send again");
		await page.waitForFunction(() => /queued to be sent again/.test(document.querySelector("section[aria-labelledby=h-deliveries] [role=status]")?.textContent ?? ""));
		await until("the event delivered again", async () => (got.length >= 2 ? true : undefined));
		assert.deepEqual(got, [`${id}:COMPLETED`, `${id}:COMPLETED`], "the same delivery ID, twice");
		await page.waitForFunction(() => (document.querySelector("[data-testid=intake-deliveries] tbody")?.textContent?.match(/delivered \(204\)/g) ?? []).length === 2);
		await screen(page, "intake-deliveries", problems);
		await page.close();
	} finally {
		await new Promise((r) => hook.close(r));
	}
});

/**
 * The operator console in a real browser: Debian's Chromium driven by puppeteer-core, against a node started by the
 * test. Sign-in (a wrong password refused, a throttled account), a batch followed live from PROCESSING to COMPLETED
 * without a reload, the rejection CSV equal to the API's, search by loan_id to the record and its PDF preview, a dead
 * letter replayed from the console and processed (and audited), purge for admins only, a key revoked from the console
 * refused at once; no console errors or failed requests, and axe-core finds no serious violation on any screen.
 * Screenshots of every screen go to test-output/console/ (ignored by git).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { startTestNode, http, bearer, apiKey, ROOT, type TestNode } from "../helpers/node.ts";
import { newPage as openPage, signIn as signInAt, screen, textOf, SHOTS } from "../helpers/browser.ts";
import { debtCsv, debtRow, waitForBatch, type BatchBody } from "../helpers/ingest.ts";
import { createOperator } from "../../lib/operators/accounts.ts";
import { QUEUES } from "../../config/queues.ts";
import type { Consumer, DeliveryInfo } from "../../lib/queues/types.ts";

/** The few browser globals the page functions below use (the project compiles without the DOM library). */
interface El {
	textContent: string | null;
	innerText: string;
	value: string;
	href: string;
	src: string;
	getAttribute(name: string): string | null;
	click(): void;
}
declare const document: { querySelector(selector: string): El | null };
declare const sessionStorage: { getItem(key: string): string | null };
declare const location: { pathname: string; search: string };

const ADMIN = { email: "admin@example.com", password: "admin password 1" };
const OPERATOR = { email: "ops@example.com", password: "operator password 1" };

let node: TestNode;
let base: string;
let browser: Browser;
let profile: string;
let client: { id: string; apiKey: string; keyId: string };

/** what the test's own consumers saw */
const processed: unknown[] = [];
let failReports = true;
const testConsumers: Consumer[] = [];
/** the registry's chunk handler waits on this while the test watches a batch that is PROCESSING */
let gate: { promise: Promise<void>; open(): void } = openGate();

function openGate() {
	let open!: () => void;
	const promise = new Promise<void>((r) => (open = r));
	return { promise, open };
}

type QueueSvc = { $queueConsumers?: Consumer[]; schema: { queues: Record<string, { handler(this: unknown, p: unknown, i: DeliveryInfo): Promise<void> }> } };

before(async () => {
	if (!existsSync(path.join(ROOT, "console/dist/index.html"))) {
		const built = spawnSync(path.join(ROOT, "node_modules/.bin/vite"), ["build", "--config", "console/vite.config.ts", "--logLevel", "warn"], { cwd: ROOT, encoding: "utf8" });
		assert.equal(built.status, 0, built.stderr);
	}
	mkdirSync(SHOTS, { recursive: true });
	node = await startTestNode({ QUEUE_RETRIES: "0" });
	base = node.url.replace("/api/v1", "");
	const ops = node.platform.store.adapter("operators");
	await createOperator(ops, { ...ADMIN, role: "admin" });
	await createOperator(ops, { ...OPERATOR, role: "operator" });
	const made = await http<{ id: string; apiKey: string; keyId: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name: "console-co" } });
	client = made.body;

	// batches.report: the batches service's consumer makes way for one that fails the test's message until told not to
	const batchesSvc = node.broker.getLocalService("batches") as unknown as QueueSvc;
	for (const c of batchesSvc.$queueConsumers?.filter((c) => c.queue === QUEUES.batchesReport) ?? []) await c.close();
	testConsumers.push(
		await node.platform.queues.consume(
			QUEUES.batchesReport,
			async (payload: unknown) => {
				if ((payload as { test?: string }).test !== "console-dlq") return;
				if (failReports) throw new Error("forced failure for the console test");
				processed.push(payload);
			},
			{ retries: 0 }
		)
	);
	// chunks.staged: the registry's own handler, behind a gate the test opens
	const registry = node.broker.getLocalService("registry") as unknown as QueueSvc;
	for (const c of registry.$queueConsumers ?? []) await c.close();
	const register = registry.schema.queues[QUEUES.chunksStaged].handler;
	testConsumers.push(
		await node.platform.queues.consume(QUEUES.chunksStaged, async (payload: unknown, info: DeliveryInfo) => {
			await gate.promise;
			await register.call(registry, payload, info);
		})
	);

	profile = mkdtempSync(path.join(os.tmpdir(), "paperwork-chromium-"));
	browser = await puppeteer.launch({
		executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
		args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", `--user-data-dir=${profile}`]
	});
});

after(async () => {
	gate.open();
	await browser?.close();
	for (const c of testConsumers) await c.close();
	await node?.close();
	if (profile) rmSync(profile, { recursive: true, force: true });
});

// the shared browser helpers (test/helpers/browser.ts), bound to this file's browser and node
const newPage = () => openPage(browser);
const signIn = (page: Page, who: { email: string; password: string }) => signInAt(page, base, who);

test("sign-in: a wrong password is refused, a throttled account is told to wait; the right one enters", async () => {
	const { page } = await newPage();
	await page.goto(`${base}/console/batches?status=FAILED`, { waitUntil: "networkidle0" });
	assert.match(page.url(), /\/console\/login\?next=/);
	await page.screenshot({ path: path.join(SHOTS, "sign-in.png") });
	await page.type("input[name=email]", OPERATOR.email);
	await page.type("input[name=password]", "wrong password");
	await page.click("button[type=submit]");
	await page.waitForSelector("[role=alert]");
	assert.match(await textOf(page, "[role=alert]"), /wrong/);
	// throttle a different account (five failures), then its right password waits too
	const victim = "victim@example.com";
	await createOperator(node.platform.store.adapter("operators"), { email: victim, password: "victim password 1", role: "operator" });
	for (let i = 0; i < 5; i++) await http(`${node.url}/auth/login`, { method: "POST", json: { email: victim, password: "nope" } });
	await page.$eval("input[name=email]", (e) => ((e as El).value = ""));
	await page.type("input[name=email]", victim);
	await page.$eval("input[name=password]", (e) => ((e as El).value = ""));
	await page.type("input[name=password]", "victim password 1");
	await page.click("button[type=submit]");
	await page.waitForFunction(() => /Too many failed sign-ins/.test(document.querySelector("[role=alert]")?.textContent ?? ""));
	await page.screenshot({ path: path.join(SHOTS, "sign-in-throttled.png") });
	// the right credentials go to the screen asked for
	await page.$eval("input[name=email]", (e) => ((e as El).value = ""));
	await page.type("input[name=email]", OPERATOR.email);
	await page.$eval("input[name=password]", (e) => ((e as El).value = ""));
	await page.type("input[name=password]", OPERATOR.password);
	await page.click("button[type=submit]");
	await page.waitForSelector("header nav");
	assert.match(page.url(), /\/console\/batches\?status=FAILED$/);
	await page.close();
});

test("a batch is followed live from PROCESSING to COMPLETED without a reload; its rejections CSV equals the API's", async () => {
	gate = openGate();
	const { page, problems } = await newPage();
	await signIn(page, ADMIN);
	const csv = debtCsv([debtRow(1), debtRow(2, { debtor_cpf: "123" }), debtRow(3, { amount: "abc" }), debtRow(4)]);
	const up = await http<{ batchId: string }>(`${node.url}/uploads?kind=debt`, { method: "POST", headers: { ...apiKey(client.apiKey), "Content-Type": "text/csv", "X-Filename": "live.csv" }, body: csv });
	assert.equal(up.status, 202);
	const id = up.body.batchId;
	for (let i = 0; i < 200; i++) {
		const b = await http<BatchBody>(`${node.url}/batches/${id}`, { headers: apiKey(client.apiKey) });
		if (b.body.status === "PROCESSING") break;
		await new Promise((r) => setTimeout(r, 50));
	}
	let navigations = 0;
	await page.goto(`${base}/console/batches/${id}`, { waitUntil: "networkidle2" });
	page.on("framenavigated", () => navigations++);
	await page.waitForFunction(() => document.querySelector("[data-testid=batch-status]")?.textContent === "PROCESSING");
	assert.match(await textOf(page, "[data-testid=batch-updated]"), /live: updated \d+ s ago/);
	await page.screenshot({ path: path.join(SHOTS, "batch-processing.png"), fullPage: true });
	gate.open();
	await page.waitForFunction(() => document.querySelector("[data-testid=batch-status]")?.textContent === "COMPLETED", { timeout: 30_000 });
	assert.equal(navigations, 0, "no reload");
	const api = await waitForBatch(node.url, client.apiKey, id);
	const shown = await page.$$eval("[data-count]", (cells) => Object.fromEntries(cells.map((c) => [c.getAttribute("data-count"), Number(c.textContent)])));
	assert.deepEqual(shown, api.counts);
	// rejections grouped by code, and the CSV
	await page.waitForSelector("[data-code-count]");
	const grouped = await page.$$eval("[data-code-count]", (els) => els.reduce((n, e) => n + Number(e.textContent), 0));
	assert.equal(grouped, api.counts.rejected);
	const buttons = await page.$$("button");
	for (const b of buttons) if ((await b.evaluate((e) => e.textContent)) === "Download rejections CSV") await b.click();
	await page.waitForSelector("[data-testid=csv-link]");
	const fromConsole = await page.$eval("[data-testid=csv-link]", async (a) => (await fetch((a as El).href)).text());
	const fromApi = await (await fetch(`${node.url}/batches/${id}/rejections?format=csv`, { headers: apiKey(client.apiKey) })).text();
	assert.equal(fromConsole, fromApi);
	await screen(page, "batch-completed", problems);
	// the list with filters in the URL survives a reload
	await page.goto(`${base}/console/batches?clientId=${client.id}&status=COMPLETED&sort=-createdAt`, { waitUntil: "networkidle0" });
	await page.reload({ waitUntil: "networkidle0" });
	assert.equal(await page.$eval("select", (s) => (s as El).value), client.id);
	assert.ok((await page.content()).includes("live.csv"));
	await screen(page, "batches", problems);
	// a file name from the search screen lists the batches of that file (part of its name, any case), filter in the URL
	await page.goto(`${base}/console/search`, { waitUntil: "networkidle0" });
	await page.select("form[role=search] select", "file");
	await page.type("input[name=value]", "LIVE.C");
	await page.click("form[role=search] button[type=submit]");
	await page.waitForFunction(() => location.pathname.endsWith("/batches") && new URLSearchParams(location.search).get("file") === "LIVE.C");
	await page.waitForFunction(() => document.querySelector("table tbody")?.textContent?.includes("live.csv"));
	const files = await page.$$eval("table tbody tr td:first-child", (tds) => tds.map((t) => t.textContent ?? ""));
	assert.ok(files.length > 0 && files.every((f) => f.toLowerCase().includes("live.c")), JSON.stringify(files));
	assert.equal(await page.$eval("input[type=search]", (i) => (i as El).value), "LIVE.C");
	await page.close();
});

test("search by loan_id reaches the record and its document's PDF preview", async () => {
	const header = "loan_id,applicant_name,language,phone,email,address_line1,address_line2,city,state,postal_code,loan_amount,annual_interest_rate,tenure_months,disbursement_date,first_emi_date,processing_fee";
	const row = "LN-CONSOLE-1,Asha Rao,en,+919876543210,asha@example.com,12 MG Road,,Pune,MH,411001,100000,12.5,12,2025-01-10,2025-02-10,1000";
	const up = await http<{ batchId: string }>(`${node.url}/uploads?kind=loan`, { method: "POST", headers: { ...apiKey(client.apiKey), "Content-Type": "text/csv" }, body: `${header}\n${row}\n` });
	assert.equal(up.status, 202, JSON.stringify(up.body));
	const done = await waitForBatch(node.url, client.apiKey, up.body.batchId);
	assert.equal(done.counts.valid, 1, JSON.stringify(done));
	const rec = await http<{ items: { id: string }[] }>(`${node.url}/records?loan_id=LN-CONSOLE-1`, { headers: apiKey(client.apiKey) });
	const doc = await http<{ id: string }>(`${node.url}/documents`, { method: "POST", headers: apiKey(client.apiKey), json: { template: "welcome-letter", recordId: rec.body.items[0].id } });
	assert.equal(doc.status, 201, JSON.stringify(doc.body));

	const { page, problems } = await newPage();
	await signIn(page, OPERATOR);
	await page.goto(`${base}/console/search`, { waitUntil: "networkidle0" });
	await page.select("form[role=search] select", "loan_id");
	await page.type("input[name=value]", "LN-CONSOLE-1");
	await page.click("form[role=search] button[type=submit]");
	await page.waitForSelector("table a");
	await screen(page, "search", problems);
	await page.click("table a");
	await page.waitForSelector("[data-testid=record-key]");
	assert.match(await textOf(page, "[data-testid=record-key]"), /LN-CONSOLE-1/);
	await page.waitForSelector("section[aria-labelledby=h-docs] li button");
	await page.click("section[aria-labelledby=h-docs] li button");
	await page.waitForSelector("[data-testid=pdf-preview]");
	const head = await page.$eval("[data-testid=pdf-preview]", async (f) => {
		const blob = await (await fetch((f as El).src)).blob();
		return { type: blob.type, magic: new TextDecoder().decode(await blob.slice(0, 5).arrayBuffer()) };
	});
	assert.deepEqual(head, { type: "application/pdf", magic: "%PDF-" });
	await new Promise((r) => setTimeout(r, 500));
	await screen(page, "record", problems);
	await page.close();
});

test("a dead letter is replayed from the console and processed, and the audit log shows it; only an admin can purge", async () => {
	await node.platform.queues.publish(QUEUES.batchesReport, { test: "console-dlq", n: 1 }, { key: "console-dlq-1" });
	await node.platform.queues.publish(QUEUES.batchesReport, { test: "console-dlq", n: 2 }, { key: "console-dlq-2" });
	for (let i = 0; i < 100 && (await node.platform.queues.stats(QUEUES.batchesReport)).dead < 2; i++) await new Promise((r) => setTimeout(r, 50));
	failReports = false;

	const { page, problems } = await newPage();
	await signIn(page, OPERATOR);
	await page.goto(`${base}/console/dead-letters?queue=${QUEUES.batchesReport}`, { waitUntil: "networkidle0" });
	await page.waitForSelector("tbody input[type=checkbox]");
	assert.ok((await page.content()).includes("forced failure for the console test"));
	const hasPurge = await page.$$eval("button", (bs) => bs.some((b) => b.textContent === "Purge all"));
	assert.equal(hasPurge, false, "an operator sees no purge");
	await screen(page, "dead-letters", problems);
	await page.click("tbody input[type=checkbox]");
	const replay = (await page.$$("button")).find(async (b) => (await b.evaluate((e) => e.textContent))?.startsWith("Replay selected"));
	assert.ok(replay);
	await page.$$eval("button", (bs) => bs.find((b) => b.textContent?.startsWith("Replay selected"))?.click());
	await page.waitForFunction(() => /Replay selected: 1 done/.test(document.querySelector("[role=status]")?.textContent ?? ""));
	for (let i = 0; i < 100 && processed.length < 1; i++) await new Promise((r) => setTimeout(r, 50));
	assert.equal(processed.length, 1, "the replayed message was processed");
	// the operator's token cannot purge
	const opToken = await page.evaluate(() => (JSON.parse(sessionStorage.getItem("paperwork.session") ?? "{}") as { accessToken: string }).accessToken);
	assert.equal((await http(`${node.url}/queues/${QUEUES.batchesReport}/dead-letters`, { method: "DELETE", headers: bearer(opToken) })).status, 403);
	await page.goto(`${base}/console/audit?action=dlq.replay`, { waitUntil: "networkidle0" });
	await page.waitForSelector("[data-testid=audit] tbody tr");
	const row = await textOf(page, "[data-testid=audit] tbody tr");
	assert.match(row, /ops@example\.com/);
	assert.match(row, /queue:batches\.report/);
	await screen(page, "audit", problems);
	await page.close();

	// an admin purges the one left
	const admin = await newPage();
	await signIn(admin.page, ADMIN);
	await admin.page.goto(`${base}/console/dead-letters?queue=${QUEUES.batchesReport}`, { waitUntil: "networkidle0" });
	await admin.page.waitForSelector("tbody input[type=checkbox]");
	await admin.page.$$eval("button", (bs) => bs.find((b) => b.textContent === "Purge all")?.click());
	await admin.page.waitForFunction(() => /Purge: 1 done/.test(document.querySelector("[role=status]")?.textContent ?? ""));
	assert.equal((await node.platform.queues.stats(QUEUES.batchesReport)).dead, 0);
	const audit = await http<{ items: { actor: string; count: number }[] }>(`${node.url}/audit?action=dlq.purge`, { headers: bearer(node.adminToken) });
	assert.deepEqual(audit.body.items.map((e) => [e.actor, e.count]), [[ADMIN.email, 1]]);
	assert.deepEqual(admin.problems, []);
	await admin.page.close();
});

test("a key revoked from the console gets 401 at once; overview, clients and operators screens pass", async () => {
	const { page, problems } = await newPage();
	await signIn(page, ADMIN);
	await page.waitForSelector("section[aria-labelledby=h-queues] tbody tr");
	await screen(page, "overview", problems);
	await page.goto(`${base}/console/clients`, { waitUntil: "networkidle0" });
	await screen(page, "clients", problems);
	assert.equal((await http(`${node.url}/batches`, { headers: apiKey(client.apiKey) })).status, 200);
	await page.goto(`${base}/console/clients/${client.id}`, { waitUntil: "networkidle0" });
	await page.waitForSelector("section[aria-labelledby=h-keys] tbody tr");
	await screen(page, "client", problems);
	await page.$$eval("button", (bs, k) => bs.find((b) => b.textContent === `Revoke ${k}`)?.click(), client.keyId);
	await page.waitForFunction(() => /revoked/.test(document.querySelector("[role=status]")?.textContent ?? ""));
	assert.equal((await http(`${node.url}/batches`, { headers: apiKey(client.apiKey) })).status, 401);
	await page.goto(`${base}/console/operators`, { waitUntil: "networkidle0" });
	await page.waitForSelector("tbody tr");
	await screen(page, "operators", problems);
	// a deep link reloads into its screen; an unknown one says so
	await page.goto(`${base}/console/audit?action=key.revoke`, { waitUntil: "networkidle0" });
	await page.waitForSelector("[data-testid=audit] tbody tr");
	assert.match(await textOf(page, "[data-testid=audit] tbody tr"), /key\.revoke/);
	const missing = await fetch(`${base}/console/assets/missing.js`);
	assert.equal(missing.status, 404);
	const csp = (await fetch(`${base}/console/`)).headers.get("content-security-policy") ?? "";
	assert.match(csp, /script-src 'self'/);
	assert.doesNotMatch(csp, /unsafe-inline/);
	await page.close();
});

test("the API reference at /api/docs renders Swagger UI from this server without errors", async () => {
	const { page, problems } = await newPage();
	await page.goto(`${base}/api/docs`, { waitUntil: "networkidle0" });
	await page.waitForSelector(".swagger-ui .opblock", { timeout: 30_000 });
	const ops = await page.$$eval(".swagger-ui .opblock", (els) => els.length);
	assert.ok(ops >= 30, `every route is listed (${ops})`);
	await page.screenshot({ path: path.join(SHOTS, "api-docs.png") });
	assert.deepEqual(problems, []);
	await page.close();
});

/**
 * Delivery end to end through the HTTP API on the embedded default (one process, SQLite, in-process queues, real
 * Chromium, the sandbox provider): loans uploaded as CSV become cases of an operator's run, rendered and delivered
 * (WhatsApp; RCS after a WhatsApp failure; SMS after both), each attempt traceable; a second run renders nothing and
 * creates no second case; clients see only their own cases; the sandbox outbox; callbacks with a bad signature
 * change nothing; a courier sheet with one bad row applies nothing, a good one applies once.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import ExcelJS from "exceljs";
import { startTestNode, http, bearer, apiKey, freePort, metricSamples, type TestNode } from "../helpers/node.ts";
import { csvLine } from "../helpers/ingest.ts";
import { waitForBatch } from "../helpers/ingest.ts";
import type { RunView } from "../../lib/delivery/types.ts";
import type { CaseDetail, CaseView } from "../../services/notifier.service.ts";
import type { RendererStats } from "../../services/renderer.service.ts";

let node: TestNode;
let a: { id: string; apiKey: string };
let b: { id: string; apiKey: string };
let metricsPort = 0;

const LOAN_HEADER = "loan_id,applicant_name,language,phone,email,address_line1,address_line2,city,state,postal_code,loan_amount,annual_interest_rate,tenure_months,disbursement_date,first_emi_date,processing_fee";

function loanRow(id: string, phone: string, email = "", language = "en"): string {
	return csvLine([id, "Asha Verma", language, phone, email, "12 MG Road", "", "Pune", "Maharashtra", "411001", "120000", "11.5", "12", "2026-11-20", "2026-12-20", "1000"]);
}

before(async () => {
	metricsPort = await freePort();
	node = await startTestNode({ METRICS_PORT: String(metricsPort), SANDBOX_CALLBACK_DELAY_MS: "10", DELIVERY_SWEEP_MS: "200", DELIVERY_TIMEOUT_S: "60", RENDER_CONCURRENCY: "2", SCHEDULER_CRON: "0 0 1 1 *" });
	a = await createClient("delivery-a");
	b = await createClient("delivery-b");
});
after(async () => {
	await node?.close();
});

async function createClient(name: string): Promise<{ id: string; apiKey: string }> {
	const res = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name } });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	return res.body;
}

async function upload(key: string, csv: string): Promise<void> {
	const res = await fetch(`${node.url}/uploads?kind=loan`, { method: "POST", headers: { ...apiKey(key), "Content-Type": "text/csv" }, body: csv });
	assert.equal(res.status, 202, await res.clone().text());
	const { batchId } = (await res.json()) as { batchId: string };
	const batch = await waitForBatch(node.url, key, batchId);
	assert.equal(batch.status, "COMPLETED", JSON.stringify(batch));
}

async function startRun(body: Record<string, unknown>): Promise<RunView> {
	const res = await http<RunView>(`${node.url}/dispatch/runs`, { method: "POST", headers: bearer(node.operatorToken), json: body });
	assert.equal(res.status, 202, JSON.stringify(res.body));
	return res.body;
}

async function waitRun(id: string, timeoutMs = 90_000): Promise<RunView> {
	const until = Date.now() + timeoutMs;
	let last: RunView | undefined;
	while (Date.now() < until) {
		const res = await http<RunView>(`${node.url}/dispatch/runs/${id}`, { headers: bearer(node.operatorToken) });
		assert.equal(res.status, 200);
		last = res.body;
		if (last.status !== "running") return last;
		await new Promise((r) => setTimeout(r, 150));
	}
	assert.fail(`run ${id} did not finish: ${JSON.stringify(last)}`);
}

const listCases = async (key: string, q = "") => (await http<{ items: CaseView[]; total: number }>(`${node.url}/cases${q}`, { headers: apiKey(key) })).body;
const caseOf = async (key: string, id: string) => http<CaseDetail>(`${node.url}/cases/${id}`, { headers: apiKey(key) });
const stats = async () => (await node.broker.call("renderer.stats")) as RendererStats;

test("loans uploaded as CSV become delivered cases: WhatsApp, RCS after a WhatsApp failure, SMS after both", async () => {
	await upload(a.apiKey, [LOAN_HEADER, loanRow("L-OK-1", "+919876500001", "ok1@example.com"), loanRow("L-WA-FAIL", "+919876500000"), loanRow("L-RCS-FAIL", "+919876511111", "", "hi")].join("\n") + "\n");
	await upload(b.apiKey, [LOAN_HEADER, loanRow("L-B-1", "+919876500002")].join("\n") + "\n");
	const started = await startRun({ from: "2026-11-01", to: "2026-11-30", includePending: true, clientId: a.id });
	assert.equal(started.status, "running");
	const run = await waitRun(started.id);
	assert.equal(run.status, "completed", JSON.stringify(run));
	assert.deepEqual(run.picked, { created: 3, existing: 0, retried: 0 });
	assert.equal(run.byStatus.delivered, 3);
	assert.deepEqual(run.byChannel, { whatsapp: 1, rcs: 1, sms: 1 });

	const mine = await listCases(a.apiKey);
	assert.equal(mine.total, 3);
	const byLoan = Object.fromEntries(mine.items.map((c) => [c.loanId, c]));
	assert.equal(byLoan["L-OK-1"].channel, "whatsapp");
	assert.equal(byLoan["L-WA-FAIL"].channel, "rcs");
	assert.equal(byLoan["L-RCS-FAIL"].channel, "sms");
	// a case with its attempts and every status event
	const detail = await caseOf(a.apiKey, byLoan["L-RCS-FAIL"].id);
	assert.equal(detail.status, 200);
	assert.deepEqual(detail.body.attempts.map((x) => [x.channel, x.status, x.provider]), [["whatsapp", "failed", "sandbox"], ["rcs", "failed", "sandbox"], ["sms", "delivered", "sandbox"]]);
	assert.equal(detail.body.attempts[0].failure?.code, "131026");
	assert.equal(detail.body.attempts[1].failure?.code, "NOT_FOUND");
	assert.deepEqual(detail.body.attempts[2].history.map((h) => h.status), ["queued", "sent", "delivered"]);
	assert.ok(detail.body.events.length >= 4);
	// filters
	assert.equal((await listCases(a.apiKey, "?channel=rcs")).total, 1);
	assert.equal((await listCases(a.apiKey, "?loan_id=L-OK-1")).items[0].id, byLoan["L-OK-1"].id);
	assert.equal((await listCases(a.apiKey, `?runId=${run.id}&status=delivered`)).total, 3);
	assert.equal((await listCases(a.apiKey, "?status=failed")).total, 0);
	assert.equal((await http(`${node.url}/cases?from=yesterday`, { headers: apiKey(a.apiKey) })).status, 400);
	// sorted on the server
	assert.deepEqual((await listCases(a.apiKey, "?sort=channel")).items.map((c) => c.channel), ["rcs", "sms", "whatsapp"]);
	assert.deepEqual((await listCases(a.apiKey, "?sort=-channel")).items.map((c) => c.channel), ["whatsapp", "sms", "rcs"]);
	assert.equal((await http(`${node.url}/cases?sort=recipient`, { headers: apiKey(a.apiKey) })).status, 400);
	// another client sees none of them
	assert.equal((await caseOf(b.apiKey, byLoan["L-OK-1"].id)).status, 404);
	assert.equal((await listCases(b.apiKey)).total, 0, "client b's loan was outside this run's client");
	// the sandbox outbox (operators): the SMS carries a time-limited link to the PDF, which opens
	const out = await http<{ items: { channel: string; body: string; to: string; attemptId: string }[] }>(`${node.url}/sandbox/outbox?caseId=${byLoan["L-RCS-FAIL"].id}`, { headers: bearer(node.operatorToken) });
	assert.equal(out.status, 200);
	const sms = out.body.items.find((i) => i.channel === "sms");
	assert.ok(sms);
	const link = /https?:\/\/\S+/.exec(sms.body)?.[0];
	assert.ok(link, sms.body);
	const pdf = await fetch(link.replace(/^http:\/\/localhost:\d+/, `http://127.0.0.1:${node.httpPort}`));
	assert.equal(pdf.status, 200);
	assert.equal((await pdf.arrayBuffer()).byteLength > 1000, true);
	assert.equal((await http(`${node.url}/sandbox/outbox`, { headers: apiKey(a.apiKey) })).status, 403);
	// one outbox entry per attempt: nothing was sent twice
	const all = await http<{ items: { attemptId: string }[] }>(`${node.url}/sandbox/outbox?limit=1000`, { headers: bearer(node.operatorToken) });
	const ids = all.body.items.map((i) => i.attemptId);
	assert.equal(new Set(ids).size, ids.length);
});

test("metrics: attempts by channel, provider and outcome, finished cases, callbacks, send-to-delivered latency, runs", async () => {
	const attempts = await metricSamples(metricsPort, "paperwork_delivery_attempts_total");
	// Moleculer adds namespace and nodeID labels first
	const value = (labels: string) => attempts.find((m) => m.labels.endsWith(labels))?.value ?? 0;
	assert.ok(value('channel="whatsapp",provider="sandbox",outcome="accepted"') >= 3);
	assert.ok(value('channel="rcs",provider="sandbox",outcome="refused"') >= 1);
	const finished = await metricSamples(metricsPort, "paperwork_cases_finished_total");
	assert.ok(finished.some((m) => m.labels.endsWith('status="delivered",channel="sms"') && m.value >= 1));
	assert.ok((await metricSamples(metricsPort, "paperwork_delivery_callbacks_total")).some((m) => m.labels.includes('result="applied"')));
	assert.ok((await metricSamples(metricsPort, "paperwork_delivery_seconds_bucket")).some((m) => m.labels.endsWith('channel="whatsapp",le="+Inf"') && m.value >= 1));
	assert.ok((await metricSamples(metricsPort, "paperwork_dispatch_runs_total")).some((m) => m.labels.includes('kind="manual"')));
});

test("a second run over the same window renders nothing and creates no second case", async () => {
	const before_ = await stats();
	const run = await waitRun((await startRun({ from: "2026-11-01", to: "2026-11-30", includePending: true })).id);
	assert.equal(run.status, "completed");
	// client a's three loans have cases; client b's loan is new to this run (all clients)
	assert.deepEqual(run.picked, { created: 1, existing: 3, retried: 0 });
	const after_ = await stats();
	assert.equal(after_.rendered - before_.rendered, 1, "only the new case was rendered");
	assert.equal((await listCases(a.apiKey)).total, 3);
	assert.equal((await listCases(b.apiKey)).total, 1);
	const runs = await http<{ items: RunView[]; total: number }>(`${node.url}/dispatch/runs`, { headers: bearer(node.operatorToken) });
	assert.equal(runs.body.items[0].id, run.id);
	assert.equal(runs.body.total, runs.body.items.length);
	// sorted on the server: oldest first, one a page
	const oldest = await http<{ items: RunView[]; total: number }>(`${node.url}/dispatch/runs?sort=startedAt&limit=1`, { headers: bearer(node.operatorToken) });
	assert.equal(oldest.body.items.length, 1);
	assert.equal(oldest.body.items[0].id, runs.body.items.at(-1)?.id);
	assert.equal(oldest.body.total, runs.body.total);
	assert.equal((await http(`${node.url}/dispatch/runs?sort=cases`, { headers: bearer(node.operatorToken) })).status, 400);
	assert.equal((await http(`${node.url}/dispatch/runs`, { method: "POST", headers: bearer(node.operatorToken), json: { from: "2026-11-31", to: "2026-11-01" } })).status, 400);
	assert.equal((await http(`${node.url}/dispatch/runs`, { method: "POST", headers: apiKey(a.apiKey), json: { from: "2026-11-01", to: "2026-11-30" } })).status, 403);
});

test("the scheduled slot runs once however often it is claimed", async () => {
	const at = new Date("2026-11-25T03:30:00.000Z");
	const [x, y] = await Promise.all([node.broker.call("scheduler.tick", { at }), node.broker.call("scheduler.tick", { at })]);
	assert.equal([x, y].filter(Boolean).length, 1);
});

test("webhooks: a callback with a bad signature is refused and changes nothing; an unconfigured provider is a 404", async () => {
	const c = (await listCases(a.apiKey, "?loan_id=L-OK-1")).items[0];
	const detail = (await caseOf(a.apiKey, c.id)).body;
	const attemptId = detail.attempts[0].id;
	const body = JSON.stringify({ events: [{ provider: "sandbox", channel: "whatsapp", attemptId, status: "failed", at: new Date().toISOString() }] });
	const res = await http<{ error: { code: string } }>(`${node.url}/webhooks/sandbox`, { method: "POST", headers: { "Content-Type": "application/json", "X-Sandbox-Signature": "00".repeat(32) }, body });
	assert.equal(res.status, 401);
	assert.equal(res.body.error.code, "CALLBACK_REJECTED");
	assert.equal((await caseOf(a.apiKey, c.id)).body.status, "delivered");
	assert.equal((await caseOf(a.apiKey, c.id)).body.events.length, detail.events.length);
	assert.equal((await http(`${node.url}/webhooks/nowhere`, { method: "POST", body: "{}" })).status, 404);
	// the GET form (a verification handshake) reaches the handler with the query as sent
	const challenge = await http(`${node.url}/webhooks/sandbox?hub.mode=subscribe&hub.verify_token=sandbox&hub.challenge=4242`);
	assert.equal(challenge.status, 200);
	assert.equal(challenge.body, "4242");
	assert.equal((await http(`${node.url}/webhooks/sandbox?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=42`)).status, 403);
	assert.equal((await http(`${node.url}/webhooks/nowhere?hub.challenge=42`)).status, 404);
});

async function sheet(rows: (string | Date)[][]): Promise<Buffer> {
	const wb = new ExcelJS.Workbook();
	const ws = wb.addWorksheet("courier");
	for (const r of rows) ws.addRow(r);
	return Buffer.from(await wb.xlsx.writeBuffer());
}
const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const postSheet = (key: string, buf: Buffer) => http<{ rows?: number; applied?: number; unchanged?: number; error?: { code: string; details: { errors: { line: number; reason: string }[] } } }>(`${node.url}/courier/uploads`, { method: "POST", headers: { ...apiKey(key), "Content-Type": XLSX }, body: buf });

test("courier: one bad row applies nothing and lists every bad row; a good sheet applies once", async () => {
	const header = ["loan_id", "courier", "tracking_number", "dispatched_on", "delivered_on"];
	const bad = await sheet([header, ["L-OK-1", "BlueDart", "BD100", "2026-11-22", ""], ["L-NOPE", "BlueDart", "BD101", "2026-11-22", ""], ["L-WA-FAIL", "BlueDart", "", "2026-13-01", ""], ["L-OK-1", "DTDC", "D1", "2026-11-22", ""]]);
	const r1 = await postSheet(a.apiKey, bad);
	assert.equal(r1.status, 422, JSON.stringify(r1.body));
	assert.deepEqual(r1.body.error?.details.errors.map((e) => e.line), [3, 4, 5]);
	assert.match(r1.body.error?.details.errors[0].reason ?? "", /L-NOPE has no case of yours/);
	assert.match(r1.body.error?.details.errors[1].reason ?? "", /tracking_number is required.*dispatched_on/);
	assert.match(r1.body.error?.details.errors[2].reason ?? "", /already on line 2/);
	const okCase = (await listCases(a.apiKey, "?loan_id=L-OK-1")).items[0];
	assert.equal((await caseOf(a.apiKey, okCase.id)).body.attempts.some((x) => x.channel === "courier"), false, "nothing applied");
	// client b cannot touch client a's loans
	const foreign = await postSheet(b.apiKey, await sheet([header, ["L-OK-1", "BlueDart", "BD100", "2026-11-22", ""]]));
	assert.equal(foreign.status, 422);
	// a good sheet: one dispatched, one delivered; the same sheet again changes nothing
	const good = await sheet([header, ["L-OK-1", "BlueDart", "BD100", "2026-11-22", "2026-11-24"], ["L-WA-FAIL", "DTDC", "D77", "2026-11-23", ""]]);
	const r2 = await postSheet(a.apiKey, good);
	assert.equal(r2.status, 200, JSON.stringify(r2.body));
	assert.deepEqual([r2.body.rows, r2.body.applied], [2, 2]);
	const r3 = await postSheet(a.apiKey, good);
	assert.deepEqual([r3.body.rows, r3.body.applied, r3.body.unchanged], [2, 0, 2]);
	const d = (await caseOf(a.apiKey, okCase.id)).body;
	const courier = d.attempts.filter((x) => x.channel === "courier");
	assert.equal(courier.length, 1);
	assert.equal(courier[0].status, "delivered");
	assert.equal(courier[0].courier?.trackingNumber, "BD100");
	assert.equal((await postSheet(a.apiKey, Buffer.from("not a workbook"))).status, 422);
});

test("operators: REPL commands for runs, a case's history, the sandbox outbox, a replay and a run over a window; a client's plan is checked", async () => {
	const { replCommands } = await import("../../lib/repl-commands.ts");
	const run = async (command: string, args: Record<string, string | undefined> = {}) => {
		const lines: string[] = [];
		const cmd = replCommands((l) => lines.push(l)).find((c) => c.command.split(" ")[0] === command);
		assert.ok(cmd, command);
		await cmd.action(node.broker, args);
		return lines.join("\n");
	};
	assert.match(await run("runs"), /completed +2026-11-01\.\.2026-11-30/);
	const c = (await listCases(a.apiKey, "?loan_id=L-RCS-FAIL")).items[0];
	const history = await run("case", { id: c.id });
	assert.match(history, /loan L-RCS-FAIL\): delivered/);
	assert.match(history, /whatsapp +sandbox +failed/);
	assert.match(history, /sms +sandbox +delivered/);
	assert.match(await run("outbox", { caseId: c.id }), /sms +delivered/);
	assert.match(await run("replay"), /replay run run_\w+ started/);
	const replay = (await http<{ items: RunView[] }>(`${node.url}/dispatch/runs`, { headers: bearer(node.operatorToken) })).body.items[0];
	const done = await waitRun(replay.id);
	assert.deepEqual(done.picked, { created: 0, existing: 0, retried: 0 }, "nothing failed, nothing new is created by a replay");
	// run <from> <to> [clientId]: an operator's run over a window, pending and failed cases included
	const started = await run("run", { from: "2026-11-01", to: "2026-11-30", clientId: b.id });
	const runId = /^run (run_\w+) started \(2026-11-01\.\.2026-11-30\); follow it with: runs$/.exec(started)?.[1];
	assert.ok(runId, started);
	const byRepl = await waitRun(runId);
	assert.deepEqual([byRepl.kind, byRepl.status, byRepl.clientId, byRepl.includePending], ["manual", "completed", b.id, true]);
	assert.deepEqual(byRepl.picked, { created: 0, existing: 1, retried: 0 }, "client b's loan already has its case");
	assert.match(await run("runs"), new RegExp(`${runId} +manual +completed +2026-11-01\\.\\.2026-11-30`));
	const bad = await http<{ error: { message: string } }>(`${node.url}/clients/${a.id}`, { method: "PATCH", headers: bearer(node.adminToken), json: { delivery: { plan: ["whatsapp", "pigeon"] } } });
	assert.equal(bad.status, 400);
	assert.match(bad.body.error.message, /pigeon/);
	const good = await http<{ delivery?: { plan: string[] } }>(`${node.url}/clients/${a.id}`, { method: "PATCH", headers: bearer(node.adminToken), json: { delivery: { plan: ["sms", "email"] } } });
	assert.equal(good.status, 200, JSON.stringify(good.body));
	assert.deepEqual(good.body.delivery?.plan, ["sms", "email"]);
});

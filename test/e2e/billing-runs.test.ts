/**
 * Billing runs end to end on the embedded default: loans and a year of repayments uploaded as CSV, a run for one
 * cycle through every step to the SMS with the amount due (sandbox provider), a run with the statement PDF sent on
 * the client's plan, a second start of the same cycle that bills nobody twice, a loan that halts and is resumed, and
 * many loans halted at one step: listed by reason and mailed to operators once.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startTestNode, http, bearer, apiKey, type TestNode } from "../helpers/node.ts";
import { waitForBatch } from "../helpers/ingest.ts";
import { cycleEndingBy } from "../../lib/billing/statement.ts";
import { isoDateIn } from "../../lib/validate/dates.ts";
import { startSmtp, type LocalSmtp } from "../helpers/smtp.ts";
import type { BillingItemDoc } from "../../lib/billing/runs.ts";

let node: TestNode;
let smtp: LocalSmtp;
before(async () => {
	smtp = await startSmtp();
	node = await startTestNode({ INBOX_POLL_MS: "0", QUEUE_RETRY_DELAY_MS: "50", QUEUE_RETRIES: "1", SANDBOX_CALLBACK_DELAY_MS: "0", SMTP_URL: smtp.url, ALERT_EMAILS: "ops@lender.example" });
});
after(async () => {
	await node.close();
	await smtp.close();
});

const HEAD = "loan_id,applicant_name,language,phone,email,address_line1,address_line2,city,state,postal_code,loan_amount,annual_interest_rate,tenure_months,disbursement_date,first_emi_date,processing_fee";
const loans = (prefix: string, n: number): string =>
	[HEAD, ...Array.from({ length: n }, (_, i) => `${prefix}${i},Borrower ${i},${["en", "hi", "mr", "gu"][i % 4]},98765${String(43000 + i).padStart(5, "0")},b${i}@example.com,${i} MG Road,,Pune,Maharashtra,411001,12000,0,12,2025-11-20,2025-12-05,0`)].join("\n");
/** every loan pays 1,000 on the 5th from December to October; loan 0 pays nothing in October */
const repayments = (prefix: string, n: number): string => {
	const rows = ["payment_ref,loan_id,amount,paid_at,method,payer_ref"];
	for (let i = 0; i < n; i++) {
		for (let m = 0; m < 11; m++) {
			if (i === 0 && m === 10) continue;
			const month = ((11 + m) % 12) + 1;
			rows.push(`UPI-${prefix}${i}-${m},${prefix}${i},1000.00,${m === 0 ? 2025 : 2026}-${String(month).padStart(2, "0")}-05 10:00,upi,`);
		}
	}
	return rows.join("\n");
};

async function client(name: string, settings: Record<string, unknown> = {}): Promise<{ id: string; key: string }> {
	const res = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name, ...settings } });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	return { id: res.body.id, key: res.body.apiKey };
}
async function upload(key: string, kind: string, csv: string): Promise<void> {
	const res = await http<{ batchId: string }>(`${node.url}/uploads?kind=${kind}`, { method: "POST", headers: { ...apiKey(key), "Content-Type": "text/csv" }, body: csv });
	assert.equal(res.status, 202, JSON.stringify(res.body));
	const b = await waitForBatch(node.url, key, res.body.batchId);
	assert.deepEqual([b.status, b.counts.rejected], ["COMPLETED", 0], JSON.stringify(b));
}
interface RunView {
	id: string;
	status: string;
	cycle: { from: string; to: string };
	counts: { loans: number; done: number; active: number; halted: number; steps: Record<string, { active: number; halted: number; passed: number }> };
}
async function runToEnd(clientId: string, body: Record<string, unknown>): Promise<RunView> {
	const start = await http<RunView>(`${node.url}/billing/runs`, { method: "POST", headers: bearer(node.operatorToken), json: { clientId, ...body } });
	assert.equal(start.status, 202, JSON.stringify(start.body));
	const end = Date.now() + 60_000;
	for (;;) {
		const r = await http<RunView>(`${node.url}/billing/runs/${start.body.id}`, { headers: bearer(node.operatorToken) });
		if (r.body.status !== "running") return r.body;
		assert.ok(Date.now() < end, `run did not finish: ${JSON.stringify(r.body)}`);
		await new Promise((res) => setTimeout(res, 100));
	}
}
async function outbox(caseId: string): Promise<{ channel: string; body: string; document: { url: string } }[]> {
	const r = await http<{ items: { channel: string; body: string; document: { url: string } }[] }>(`${node.url}/sandbox/outbox?caseId=${caseId}`, { headers: bearer(node.operatorToken) });
	return r.body.items;
}
async function waitFor<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
	const end = Date.now() + 20_000;
	for (;;) {
		const v = await fn();
		if (v !== undefined) return v;
		assert.ok(Date.now() < end, `timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 100));
	}
}

test("a run without PDFs: every loan goes through every step to one SMS with its amount due, and a second start bills nobody twice", async () => {
	const c = await client("lender-runs", { billing: { statementDay: 10 } });
	await upload(c.key, "loan", loans("R", 6));
	await upload(c.key, "repayment", repayments("R", 6));
	const run = await runToEnd(c.id, { cycleTo: "2026-11-10", pdf: false });
	assert.equal(run.status, "completed", JSON.stringify(run));
	assert.deepEqual(run.cycle, { from: "2026-10-11", to: "2026-11-10" });
	assert.deepEqual([run.counts.loans, run.counts.done, run.counts.halted], [6, 6, 0]);
	assert.equal(run.counts.steps.deliver.passed, 6);

	// the passbooks as of the run, through the search port: nobody has paid November's instalment (due on the 5th) by
	// the 10th, so all are overdue, R0 (who missed October too) the most; found by name, by arrears; a client's own
	type Found = { total: number; items: { client: string; loan_id: string; status: string; arrears: number; cycle_to: string }[] };
	const found = (query: string, headers: Record<string, string> = apiKey(c.key)) => http<Found>(`${node.url}/passbooks${query}`, { headers });
	const overdue = await found("?status=overdue");
	assert.equal(overdue.status, 200, JSON.stringify(overdue.body));
	assert.equal(overdue.body.total, 6);
	assert.deepEqual(overdue.body.items.map((x) => [x.loan_id, x.arrears]).slice(0, 2), [["R0", 2020], ["R1", 1000]], "most arrears first");
	assert.ok(overdue.body.items.every((x) => x.status === "overdue" && x.cycle_to === "2026-11-10"));
	assert.equal((await found("?status=current")).body.total, 0);
	assert.deepEqual((await found(`?q=${encodeURIComponent("borrower 3")}`)).body.items.map((x) => x.loan_id), ["R3"]);
	assert.deepEqual((await found("?minArrears=1500")).body.items.map((x) => x.loan_id), ["R0"]);
	const stranger = await client("lender-runs-stranger");
	assert.equal((await found("", apiKey(stranger.key))).body.total, 0);
	const asOperator = await found(`?clientId=${c.id}&minArrears=1500`, bearer(node.operatorToken));
	assert.deepEqual(asOperator.body.items.map((x) => [x.client, x.loan_id]), [[c.id, "R0"]]);

	// loan R0 missed October: 1,000 overdue, 2 % of it on 5 November, and November's (the last) instalment unpaid:
	// 2,020, due a week after the statement as no instalment is left
	const cases = await http<{ items: { id: string; documentType: string; status: string; loan_id?: string; loanKey?: string }[] }>(`${node.url}/cases?loan_id=R0`, { headers: apiKey(c.key) });
	const sms = cases.body.items.find((x) => x.documentType === "statement-sms:2026-11-10");
	assert.ok(sms, JSON.stringify(cases.body));
	const sent = await waitFor("the SMS", async () => (await outbox(sms.id)).find((o) => o.channel === "sms"));
	assert.equal(sent.body, "Dear Borrower 0, your loan R0 statement: ₹2,020.00 due by 17 November 2026.");
	assert.ok(!sent.body.includes("http"), "no link without a PDF");
	await waitFor("delivered", async () => ((await http<{ status: string }>(`${node.url}/cases/${sms.id}`, { headers: apiKey(c.key) })).body.status === "delivered" ? true : undefined));

	const again = await runToEnd(c.id, { cycleTo: "2026-11-10", pdf: false });
	assert.equal(again.id, run.id, "the same cycle is the same run");
	await new Promise((r) => setTimeout(r, 300));
	assert.equal((await outbox(sms.id)).length, 1, "no second SMS");
});

test("a run with PDFs: the statement is rendered once, sent by the client's plan, and the SMS carries its link", async () => {
	const c = await client("lender-runs-pdf", { delivery: { plan: ["whatsapp", "sms", "email"] }, billing: { statementDay: 10 } });
	await upload(c.key, "loan", loans("D", 2));
	await upload(c.key, "repayment", repayments("D", 2));
	const run = await runToEnd(c.id, { cycleTo: "2026-11-10" });
	assert.deepEqual([run.status, run.counts.done], ["completed", 2], JSON.stringify(run));
	const cases = await http<{ items: { id: string; documentType: string }[] }>(`${node.url}/cases?loan_id=D1`, { headers: apiKey(c.key) });
	const doc = cases.body.items.find((x) => x.documentType === "loan-statement:2026-11-10");
	const sms = cases.body.items.find((x) => x.documentType === "statement-sms:2026-11-10");
	assert.ok(doc && sms, JSON.stringify(cases.body));
	const wa = await waitFor("the WhatsApp statement", async () => (await outbox(doc.id)).find((o) => o.channel === "whatsapp"));
	assert.match(wa.document.url, /^http/);
	const text = await waitFor("the SMS", async () => (await outbox(sms.id)).find((o) => o.channel === "sms"));
	// D1 reads Hindi; its last instalment (5 November) is unpaid and none is left: due a week after the statement
	assert.match(text.body, /17 नवंबर 2026 तक ₹1,000\.00 देय है। विवरण: http/);
	// the link as the gateway signs it (PUBLIC_URL is the test node's port-0 default): ask this node for it
	const link = new URL(wa.document.url);
	const pdf = await fetch(`${new URL(node.url).origin}${link.pathname}${link.search}`);
	assert.equal(pdf.status, 200);
	assert.equal(Buffer.from(await pdf.arrayBuffer()).subarray(0, 5).toString("latin1"), "%PDF-");
});

test("a statement that failed on every channel is tried again by a later dispatch run, with its stored PDF; one already delivered is not", async () => {
	// the sandbox fails WhatsApp for a phone ending in 0000; the statement PDF goes out on the plan without SMS: WhatsApp alone
	const c = await client("lender-runs-retry", { delivery: { plan: ["whatsapp", "sms"] }, billing: { statementDay: 10 } });
	await upload(c.key, "loan", loans("F", 1).replace("9876543000", "9876540000"));
	await upload(c.key, "repayment", repayments("F", 1));
	const run = await runToEnd(c.id, { cycleTo: "2026-11-10" });
	assert.deepEqual([run.status, run.counts.done], ["completed", 1], JSON.stringify(run));
	const cases = await http<{ items: { id: string; documentType: string }[] }>(`${node.url}/cases?loan_id=F0`, { headers: apiKey(c.key) });
	const doc = cases.body.items.find((x) => x.documentType === "loan-statement:2026-11-10");
	const sms = cases.body.items.find((x) => x.documentType === "statement-sms:2026-11-10");
	assert.ok(doc && sms, JSON.stringify(cases.body));
	type Detail = { status: string; try: number; attempts: { channel: string; status: string }[] };
	const detail = async (id: string) => (await http<Detail>(`${node.url}/cases/${id}`, { headers: apiKey(c.key) })).body;
	await waitFor("the statement failed", async () => ((await detail(doc.id)).status === "failed" ? true : undefined));
	await waitFor("the SMS delivered", async () => ((await detail(sms.id)).status === "delivered" ? true : undefined));
	const first = await outbox(doc.id);
	assert.equal(first.length, 1);

	// the next day's dispatch run over the statement date, retrying
	const retry = await http<{ id: string }>(`${node.url}/dispatch/runs`, { method: "POST", headers: bearer(node.operatorToken), json: { from: "2026-11-10", to: "2026-11-10", includePending: true, clientId: c.id } });
	assert.equal(retry.status, 202, JSON.stringify(retry.body));
	const sent = await waitFor("the second WhatsApp", async () => {
		const out = await outbox(doc.id);
		return out.length === 2 ? out : undefined;
	});
	assert.deepEqual(sent.map((o) => o.channel), ["whatsapp", "whatsapp"]);
	assert.equal(new URL(sent[1].document.url).pathname, new URL(first[0].document.url).pathname, "the stored PDF, not rendered again");
	const after_ = await waitFor("the retry ended", async () => {
		const d = await detail(doc.id);
		return d.status === "failed" && d.attempts.length === 2 ? d : undefined;
	});
	assert.equal(after_.try, 2);
	await new Promise((r) => setTimeout(r, 300));
	assert.equal((await outbox(sms.id)).length, 1, "the delivered SMS is not sent again");
});

test("a loan that fails a step halts there with the reason, and a resume runs it from that step", async () => {
	const c = await client("lender-runs-halt", { billing: { statementDay: 10 } });
	await upload(c.key, "loan", loans("H", 2));
	const run = await runToEnd(c.id, { cycleTo: "2026-11-10", pdf: false });
	assert.equal(run.counts.done, 2);
	// a loan enrolled, then removed from the register before its passbook step
	const items = node.platform.store.adapter("billing_items");
	await items.insert({ _id: `${c.id}:2026-11-10:GONE`, runId: run.id, clientId: c.id, loanId: "GONE", cycleTo: "2026-11-10", step: "passbook", status: "halted", attempts: 0, results: { duplicates: { refundsOpened: 0 } }, halted: { step: "passbook", reason: "test", input: {}, at: new Date() }, updatedAt: new Date() });
	const resumed = await http<{ resumed: number }>(`${node.url}/billing/runs/${run.id}/resume`, { method: "POST", headers: bearer(node.operatorToken), json: { step: "passbook" } });
	assert.equal(resumed.body.resumed, 1);
	const halted = await waitFor("the loan to halt again", async () => {
		const h = await http<{ total: number; items: { loanId: string; step: string; reason: string; input: Record<string, unknown> }[] }>(`${node.url}/billing/runs/${run.id}/halted?step=passbook`, { headers: bearer(node.operatorToken) });
		const item = h.body.items.find((i) => i.loanId === "GONE" && /no longer registered/.test(i.reason));
		return item;
	});
	assert.deepEqual(halted.input, { loanId: "GONE", cycleTo: "2026-11-10", duplicates: { refundsOpened: 0 } });
	const view = await http<RunView>(`${node.url}/billing/runs/${run.id}`, { headers: bearer(node.operatorToken) });
	assert.equal(view.body.status, "completed_with_halts");
	assert.equal(view.body.counts.steps.passbook.halted, 1);
	const clientCannot = await http(`${node.url}/billing/runs`, { method: "POST", headers: apiKey(c.key), json: { clientId: c.id } });
	assert.ok([401, 403].includes(clientCannot.status));
});

test("many loans halted at one step: listed by step and reason, and operators get one billing_halted mail", async () => {
	const c = await client("lender-runs-many-halts", { billing: { statementDay: 10 } });
	await upload(c.key, "loan", loans("M", 2));
	const run = await runToEnd(c.id, { cycleTo: "2026-11-10", pdf: false });
	assert.equal(run.counts.done, 2);
	// twelve loans enrolled, then removed from the register before their passbook step
	const items = node.platform.store.adapter("billing_items");
	for (let i = 0; i < 12; i++) {
		await items.insert({ _id: `${c.id}:2026-11-10:GONE${i}`, runId: run.id, clientId: c.id, loanId: `GONE${i}`, cycleTo: "2026-11-10", step: "passbook", status: "halted", attempts: 0, results: {}, halted: { step: "passbook", reason: "test", input: {}, at: new Date() }, updatedAt: new Date() });
	}
	const halted = (query: string) => http<{ total: number; items: { loanId: string; reason: string }[] }>(`${node.url}/billing/runs/${run.id}/halted${query}`, { headers: bearer(node.operatorToken) });
	const resume = () => http<{ resumed: number }>(`${node.url}/billing/runs/${run.id}/resume`, { method: "POST", headers: bearer(node.operatorToken), json: { step: "passbook" } });
	assert.equal((await resume()).body.resumed, 12);
	await waitFor("the loans to halt again", async () => ((await halted("?reason=no%20longer")).body.total === 12 ? true : undefined));
	// the reason filter: a case-insensitive part of it, with the step or without
	const byReason = await halted("?step=passbook&reason=NO%20LONGER%20REGISTERED&limit=5");
	assert.deepEqual([byReason.status, byReason.body.total, byReason.body.items.length], [200, 12, 5]);
	assert.ok(byReason.body.items.every((i) => /loan GONE\d+ is no longer registered/.test(i.reason)));
	assert.equal((await halted("?reason=GONE7")).body.total, 1);
	assert.equal((await halted("?reason=does%20not%20balance")).body.total, 0);
	assert.equal((await halted("?step=validate&reason=no%20longer")).body.total, 0);

	const subject = /^Subject: \[Paperwork\] many loans of a billing run halted at one step/m;
	const unfolded = (raw: string) => raw.replace(/=\r?\n/g, "");
	const mailsOf = () => smtp.mails.filter((m) => subject.test(m.raw) && unfolded(m.raw).includes(run.id));
	const mail = await waitFor("the billing_halted mail", async () => mailsOf()[0]);
	assert.deepEqual(mail.to, ["ops@lender.example"]);
	assert.match(unfolded(mail.raw), /12 loans halted at passbook/);
	// halted again after another resume: the run alerted for this step already
	assert.equal((await resume()).body.resumed, 12);
	await waitFor("the loans to halt once more", async () => ((await halted("?reason=no%20longer")).body.total === 12 ? true : undefined));
	await new Promise((r) => setTimeout(r, 300));
	assert.equal(mailsOf().length, 1);
});

test("a real step failing for some loans halts them; once fixed, a resume finishes them without repeating an earlier step or a side effect", async () => {
	const c = await client("lender-runs-renderer-down", { delivery: { plan: ["whatsapp"] }, billing: { statementDay: 10 } });
	await upload(c.key, "loan", loans("F", 4));
	// F1 (Hindi) also paid October twice under two references: a suspected duplicate, its refund requested once
	await upload(c.key, "repayment", `${repayments("F", 4)}\nUPI-F1-again,F1,1000.00,2026-10-05 10:04,upi,`);
	const refunds = async () => (await http<{ total: number }>(`${node.url}/refunds?loan_id=F1`, { headers: apiKey(c.key) })).body.total;
	await waitFor("F1's refund request", async () => ((await refunds()) === 1 ? true : undefined));

	// the renderer cannot render Hindi statements (its Devanagari font is missing): every try of F1's render fails
	const renderer = node.broker.getLocalService("renderer") as unknown as { produce: (req: { language?: string; data?: { loan_id?: string } }, ...rest: unknown[]) => Promise<unknown> };
	const produce = renderer.produce;
	const rendered: string[] = [];
	let fontMissing = true;
	renderer.produce = async (req, ...rest) => {
		rendered.push(String(req.data?.loan_id));
		if (fontMissing && req.language === "hi") throw new Error("Devanagari font missing");
		return produce(req, ...rest);
	};
	try {
		const run = await runToEnd(c.id, { cycleTo: "2026-11-10" });
		assert.deepEqual([run.status, run.counts.done, run.counts.halted, run.counts.steps.render.halted], ["completed_with_halts", 3, 1, 1], JSON.stringify(run));
		const halted = await http<{ items: { loanId: string; step: string; reason: string; input: Record<string, unknown> }[] }>(`${node.url}/billing/runs/${run.id}/halted?step=render`, { headers: bearer(node.operatorToken) });
		assert.deepEqual(halted.body.items.map((i) => [i.loanId, i.step]), [["F1", "render"]]);
		assert.match(halted.body.items[0].reason, /Devanagari font missing/);
		assert.ok(halted.body.items[0].input.statement, "the input holds what the earlier steps computed");
		const items = node.platform.store.adapter("billing_items");
		const before = (await items.findById(`${c.id}:2026-11-10:F1`)) as BillingItemDoc;
		assert.deepEqual(Object.keys(before.results).sort(), ["duplicates", "passbook", "statement", "validate"]);
		assert.deepEqual(rendered.filter((l) => l === "F1").length, 2, "F1 tried on each of its tries");
		const casesOf = async (loan: string) => (await http<{ items: { id: string; documentType: string }[] }>(`${node.url}/cases?loan_id=${loan}`, { headers: apiKey(c.key) })).body.items;
		assert.deepEqual(await casesOf("F1"), [], "nothing sent for a halted loan");

		// fixed; an operator resumes the halted loans at render
		fontMissing = false;
		rendered.length = 0;
		const resumed = await http<{ resumed: number }>(`${node.url}/billing/runs/${run.id}/resume`, { method: "POST", headers: bearer(node.operatorToken), json: { step: "render" } });
		assert.equal(resumed.body.resumed, 1);
		const end = await waitFor("the run to complete", async () => {
			const v = (await http<RunView>(`${node.url}/billing/runs/${run.id}`, { headers: bearer(node.operatorToken) })).body;
			return v.status === "completed" ? v : undefined;
		});
		assert.deepEqual([end.counts.done, end.counts.halted], [4, 0]);
		assert.deepEqual(rendered, ["F1"], "only the resumed loan rendered, once");
		const after = (await items.findById(`${c.id}:2026-11-10:F1`)) as BillingItemDoc;
		for (const step of ["duplicates", "passbook", "statement", "validate"] as const) assert.deepEqual(after.results[step], before.results[step], `${step} not run again`);
		assert.equal(await refunds(), 1, "no second refund request");

		// every loan: one statement SMS and one statement on WhatsApp, each sent once
		for (const loan of ["F0", "F1", "F2", "F3"]) {
			const cases = await casesOf(loan);
			assert.deepEqual(cases.map((x) => x.documentType).sort(), ["loan-statement:2026-11-10", "statement-sms:2026-11-10"], loan);
			for (const k of cases) await waitFor(`${loan}'s ${k.documentType}`, async () => ((await outbox(k.id)).length > 0 ? true : undefined));
		}
		await new Promise((r) => setTimeout(r, 300));
		for (const loan of ["F0", "F1", "F2", "F3"]) {
			for (const k of await casesOf(loan)) assert.equal((await outbox(k.id)).length, 1, `${loan}'s ${k.documentType} sent once`);
		}
	} finally {
		renderer.produce = produce;
	}
});

test("a cycle off the client's statement day, or overlapping a run's cycle, is refused with the reason: the issue's 10 then 11 November bills nobody twice", async () => {
	const c = await client("lender-runs-overlap", { billing: { statementDay: 10 } });
	await upload(c.key, "loan", loans("O", 2));
	const run = await runToEnd(c.id, { cycleTo: "2026-11-10", pdf: false });
	assert.equal(run.counts.done, 2);
	const start = (body: Record<string, unknown>) => http<{ error: { code: string; message: string; details: unknown } }>(`${node.url}/billing/runs`, { method: "POST", headers: bearer(node.operatorToken), json: { clientId: c.id, pdf: false, ...body } });
	const offDay = await start({ cycleTo: "2026-11-11" });
	assert.equal(offDay.status, 400, JSON.stringify(offDay.body));
	assert.match(offDay.body.error.message, /not a statement date of this client.*2026-11-10 or 2026-12-10/);
	// the client's statement day moves to the 11th: the cycle ending 11 November overlaps the run of the 10th
	await http(`${node.url}/clients/${c.id}`, { method: "PATCH", headers: bearer(node.adminToken), json: { billing: { statementDay: 11 } } });
	const overlap = await start({ cycleTo: "2026-11-11" });
	assert.equal(overlap.status, 409, JSON.stringify(overlap.body));
	assert.equal(overlap.body.error.code, "CONFLICT");
	assert.match(overlap.body.error.message, /overlaps billing run/);
	assert.deepEqual(overlap.body.error.details, { runId: run.id, cycle: { from: "2026-10-11", to: "2026-11-10" } });
	const runs = await http<{ total: number }>(`${node.url}/billing/runs?clientId=${c.id}`, { headers: bearer(node.operatorToken) });
	assert.equal(runs.body.total, 1);
	const cases = await http<{ items: { documentType: string }[] }>(`${node.url}/cases?loan_id=O0`, { headers: apiKey(c.key) });
	assert.deepEqual(cases.body.items.map((x) => x.documentType), ["statement-sms:2026-11-10"], "texted once");
});

test("a client's statement day sets the cycle a run bills by default; a day out of 1-31 is refused", async () => {
	const c = await client("lender-runs-day");
	const bad = await http(`${node.url}/clients/${c.id}`, { method: "PATCH", headers: bearer(node.adminToken), json: { billing: { statementDay: 0 } } });
	assert.equal(bad.status, 400);
	const ok = await http<{ billing: { statementDay: number } }>(`${node.url}/clients/${c.id}`, { method: "PATCH", headers: bearer(node.adminToken), json: { billing: { statementDay: 10 } } });
	assert.deepEqual(ok.body.billing, { statementDay: 10 });
	const run = await runToEnd(c.id, {});
	assert.deepEqual(run.cycle, cycleEndingBy(isoDateIn(new Date(), "Asia/Kolkata"), 10));
	assert.equal(run.counts.loans, 0);
});

test("billing starts a client's run by itself once its cycle has ended, once however often it looks", async () => {
	const c = await client("lender-runs-scheduled", { billing: { statementDay: 5 } });
	await upload(c.key, "loan", loans("S", 1));
	const svc = node.broker.getLocalService("billing") as unknown as { startDueRuns(now?: Date): Promise<string[]> };
	const at = new Date("2026-11-06T06:00:00Z");
	const first = await svc.startDueRuns(at);
	const runs = await http<{ items: { id: string; clientId: string; cycle: { from: string; to: string } }[] }>(`${node.url}/billing/runs?clientId=${c.id}`, { headers: bearer(node.operatorToken) });
	assert.equal(runs.body.items.length, 1);
	assert.deepEqual(runs.body.items[0].cycle, { from: "2026-10-06", to: "2026-11-05" });
	assert.ok(first.includes(runs.body.items[0].id));
	const second = await svc.startDueRuns(at);
	assert.ok(!second.includes(runs.body.items[0].id), "the same cycle is not started again");
	assert.equal((await http<{ total: number }>(`${node.url}/billing/runs?clientId=${c.id}`, { headers: bearer(node.operatorToken) })).body.total, 1);
});

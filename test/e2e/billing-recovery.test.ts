/**
 * Billing runs that lose their messages on the embedded default (the in-process queue forgets them when the
 * process stops): a run whose deliver messages were lost and a run whose statement cases never reached the notifier
 * both finish once a new node starts on the same data, and later a run stalled on a live node is handed on by the
 * periodic sweep once its lease has passed. Every borrower gets exactly one statement SMS: no loan billed or texted
 * twice.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { startTestNode, http, bearer, apiKey, tempDir, losePublishes, type TestNode } from "../helpers/node.ts";
import { waitForBatch } from "../helpers/ingest.ts";
import { deliveryStore } from "../../lib/delivery/store.ts";
import type { CaseDoc } from "../../lib/delivery/types.ts";
import { RUN_LEASE_MS, type SweepOutcome } from "../../lib/billing/run-control.ts";

const dataDir = tempDir();
const env = { DATA_DIR: dataDir, INBOX_POLL_MS: "0", QUEUE_RETRY_DELAY_MS: "50", QUEUE_RETRIES: "1", SANDBOX_CALLBACK_DELAY_MS: "0", BILLING_SCHEDULE_MS: "0" };
let node: TestNode | undefined;
/** queues whose messages are lost, as a process that stops loses them */
const lost = new Set<string>();

async function start(): Promise<TestNode> {
	return losePublishes(await startTestNode(env), lost);
}

before(async () => {
	node = await start();
});
after(async () => {
	await node?.close();
	rmSync(dataDir, { recursive: true, force: true });
});

const HEAD = "loan_id,applicant_name,language,phone,email,address_line1,address_line2,city,state,postal_code,loan_amount,annual_interest_rate,tenure_months,disbursement_date,first_emi_date,processing_fee";
const loans = (prefix: string, n: number): string =>
	[HEAD, ...Array.from({ length: n }, (_, i) => `${prefix}${i},Borrower ${i},en,98765${String(44000 + i).padStart(5, "0")},,${i} MG Road,,Pune,Maharashtra,411001,12000,0,12,2025-11-20,2025-12-05,0`)].join("\n");

interface RunView {
	id: string;
	status: string;
	counts: { loans: number; done: number; active: number; halted: number; steps: Record<string, { active: number; halted: number; passed: number }> };
}

function live(): TestNode {
	assert.ok(node, "a node is running");
	return node;
}
async function client(name: string, loanCount: number, prefix: string): Promise<{ id: string; key: string }> {
	const n = live();
	const res = await http<{ id: string; apiKey: string }>(`${n.url}/clients`, { method: "POST", headers: bearer(n.adminToken), json: { name, billing: { statementDay: 10 }, delivery: { plan: ["sms"] } } });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	const up = await http<{ batchId: string }>(`${n.url}/uploads?kind=loan`, { method: "POST", headers: { ...apiKey(res.body.apiKey), "Content-Type": "text/csv" }, body: loans(prefix, loanCount) });
	assert.equal(up.status, 202, JSON.stringify(up.body));
	assert.equal((await waitForBatch(n.url, res.body.apiKey, up.body.batchId)).status, "COMPLETED");
	return { id: res.body.id, key: res.body.apiKey };
}
async function startRun(clientId: string): Promise<string> {
	const n = live();
	const res = await http<RunView>(`${n.url}/billing/runs`, { method: "POST", headers: bearer(n.operatorToken), json: { clientId, cycleTo: "2026-11-10", pdf: false } });
	assert.equal(res.status, 202, JSON.stringify(res.body));
	return res.body.id;
}
async function run(id: string): Promise<RunView> {
	const n = live();
	return (await http<RunView>(`${n.url}/billing/runs/${encodeURIComponent(id)}`, { headers: bearer(n.operatorToken) })).body;
}
async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
	const end = Date.now() + timeoutMs;
	for (;;) {
		const v = await fn();
		if (v) return v;
		assert.ok(Date.now() < end, `timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 100));
	}
}
async function statementCases(clientId: string): Promise<CaseDoc[]> {
	const ds = await deliveryStore(live().platform.store);
	return (await ds.cases.find({ query: { clientId, documentType: "statement-sms:2026-11-10" }, limit: 100 })) as CaseDoc[];
}
/** every loan has one statement SMS case, sent exactly once (waits for the sends, then a little longer for any second one) */
async function textedOnce(clientId: string, loanCount: number): Promise<void> {
	const ds = await deliveryStore(live().platform.store);
	const cases = await until("every statement SMS sent", async () => {
		const c = await statementCases(clientId);
		return c.length === loanCount && c.every((x) => x.status !== "pending" && x.status !== "sending") ? c : undefined;
	});
	assert.equal(new Set(cases.map((c) => c.loanKey)).size, loanCount, "one case per loan");
	await new Promise((r) => setTimeout(r, 300));
	const outbox = (await ds.outbox.find({ query: { caseId: { $in: cases.map((c) => c._id) } }, limit: 1000 })) as unknown as { caseId: string; channel: string }[];
	const perCase = new Map<string, number>();
	for (const o of outbox) perCase.set(o.caseId, (perCase.get(o.caseId) ?? 0) + 1);
	assert.equal(perCase.size, loanCount, "every borrower texted");
	assert.deepEqual([...perCase.values()].filter((n) => n !== 1), [], "nobody texted twice");
}
const billing = () => live().broker.getLocalService("billing") as unknown as { sweepRuns(atStartup: boolean, now?: Date): Promise<SweepOutcome> };

test("runs whose messages were lost with the node finish after a new node starts, each borrower texted once", async () => {
	// run X: its loans' deliver messages are lost; it stays running with every loan waiting at deliver
	const x = await client("recovery-x", 6, "X");
	lost.add("billing.step.deliver");
	const runX = await startRun(x.id);
	await until("X's loans at deliver", async () => (await run(runX)).counts.steps.deliver.active === 6);
	lost.delete("billing.step.deliver");

	// run Y: its loans are billed, but their statement cases never reach the notifier
	const y = await client("recovery-y", 5, "Y");
	lost.add("cases.rendered");
	const runY = await startRun(y.id);
	await until("Y billed", async () => (await run(runY)).counts.done === 5);
	await until("Y's cases pending", async () => (await statementCases(y.id)).filter((c) => c.status === "pending").length === 5);
	lost.delete("cases.rendered");

	// a sweep on the live node leaves them: they made progress within the lease
	assert.deepEqual((await billing().sweepRuns(false)).runs, []);
	await new Promise((r) => setTimeout(r, 300));
	assert.equal((await run(runX)).status, "running");
	assert.equal((await statementCases(x.id)).length, 0);

	// the node stops (its in-process queue and whatever it held are gone) and a new one starts on the same data
	await live().close();
	node = undefined;
	node = await start();
	const done = await until("X to complete", async () => {
		const v = await run(runX);
		return v.status !== "running" ? v : undefined;
	});
	assert.deepEqual([done.status, done.counts.done, done.counts.halted], ["completed", 6, 0], JSON.stringify(done));
	await textedOnce(x.id, 6);
	await textedOnce(y.id, 5);
	assert.deepEqual((await run(runY)).counts.done, 5);
});

test("a run stalled on a live node is handed on by the sweep once its lease has passed, each borrower texted once", async () => {
	const z = await client("recovery-z", 4, "Z");
	lost.add("billing.step.deliver");
	const runZ = await startRun(z.id);
	await until("Z's loans at deliver", async () => (await run(runZ)).counts.steps.deliver.active === 4);
	lost.delete("billing.step.deliver");
	assert.ok(!(await billing().sweepRuns(false)).runs.includes(runZ), "not before its lease");
	const swept = await billing().sweepRuns(false, new Date(Date.now() + RUN_LEASE_MS + 60_000));
	assert.ok(swept.runs.includes(runZ));
	const done = await until("Z to complete", async () => {
		const v = await run(runZ);
		return v.status !== "running" ? v : undefined;
	});
	assert.deepEqual([done.status, done.counts.done], ["completed", 4]);
	await textedOnce(z.id, 4);
	// a sweep again, later still: the run is done and nothing goes out twice
	await billing().sweepRuns(false, new Date(Date.now() + 3 * RUN_LEASE_MS));
	await textedOnce(z.id, 4);
});

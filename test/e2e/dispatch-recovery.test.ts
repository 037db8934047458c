/**
 * Dispatch runs that lose their messages on the embedded default (the in-process queue forgets them when the process
 * stops): a run whose cases never reached the renderer and a run whose rendered cases never reached the notifier both
 * finish once a new node starts on the same data. Every borrower gets exactly one letter, and no PDF is stored twice.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { startTestNode, http, bearer, apiKey, tempDir, losePublishes, type TestNode } from "../helpers/node.ts";
import { csvLine, waitForBatch } from "../helpers/ingest.ts";
import { QUEUES } from "../../config/queues.ts";
import { deliveryStore } from "../../lib/delivery/store.ts";
import type { CaseDoc, RunView } from "../../lib/delivery/types.ts";

const dataDir = tempDir();
const env = { DATA_DIR: dataDir, INBOX_POLL_MS: "0", SANDBOX_CALLBACK_DELAY_MS: "0", DELIVERY_SWEEP_MS: "200", RENDER_CONCURRENCY: "2", SCHEDULER_CRON: "0 0 1 1 *", BILLING_SCHEDULE_MS: "0" };
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

function live(): TestNode {
	assert.ok(node, "a node is running");
	return node;
}

const HEAD = "loan_id,applicant_name,language,phone,email,address_line1,address_line2,city,state,postal_code,loan_amount,annual_interest_rate,tenure_months,disbursement_date,first_emi_date,processing_fee";
const loans = (prefix: string, n: number): string =>
	[HEAD, ...Array.from({ length: n }, (_, i) => csvLine([`${prefix}${i}`, `Borrower ${i}`, "en", `+9198765${String(43000 + i).padStart(5, "0")}`, "", `${i} MG Road`, "", "Pune", "Maharashtra", "411001", "120000", "11.5", "12", "2026-11-20", "2026-12-20", "1000"]))].join("\n") + "\n";

async function client(name: string, prefix: string, count: number): Promise<{ id: string; key: string }> {
	const n = live();
	const res = await http<{ id: string; apiKey: string }>(`${n.url}/clients`, { method: "POST", headers: bearer(n.adminToken), json: { name, delivery: { plan: ["sms"] } } });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	const up = await http<{ batchId: string }>(`${n.url}/uploads?kind=loan`, { method: "POST", headers: { ...apiKey(res.body.apiKey), "Content-Type": "text/csv" }, body: loans(prefix, count) });
	assert.equal(up.status, 202, JSON.stringify(up.body));
	assert.equal((await waitForBatch(n.url, res.body.apiKey, up.body.batchId)).status, "COMPLETED");
	return { id: res.body.id, key: res.body.apiKey };
}

async function startRun(clientId: string): Promise<RunView> {
	const n = live();
	const res = await http<RunView>(`${n.url}/dispatch/runs`, { method: "POST", headers: bearer(n.operatorToken), json: { from: "2026-11-01", to: "2026-11-30", clientId } });
	assert.equal(res.status, 202, JSON.stringify(res.body));
	return res.body;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
	const end = Date.now() + timeoutMs;
	for (;;) {
		const v = await fn();
		if (v) return v;
		assert.ok(Date.now() < end, `timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 150));
	}
}

const casesOf = async (runId: string): Promise<CaseDoc[]> => (await (await deliveryStore(live().platform.store)).cases.find({ query: { runId }, limit: 100 })) as CaseDoc[];

test("runs whose messages died with the process finish on the next start: one letter per borrower, each PDF stored once", async () => {
	// run 1: its cases never reach the renderer; run 2: rendered, but never reach the notifier
	const one = await client("dispatch-recovery-1", "RA-", 3);
	const two = await client("dispatch-recovery-2", "RB-", 2);
	lost.add(QUEUES.casesDispatch);
	const r1 = await startRun(one.id);
	await until("run 1 picked", async () => (await casesOf(r1.id)).length === 3);
	lost.clear();
	lost.add(QUEUES.casesRendered);
	const r2 = await startRun(two.id);
	const stats = async () => (await live().broker.call("renderer.stats")) as { rendered: number };
	await until("run 2 rendered", async () => (await stats()).rendered >= 2);
	await new Promise((r) => setTimeout(r, 500));
	const before = [...(await casesOf(r1.id)), ...(await casesOf(r2.id))];
	assert.deepEqual(
		before.map((c) => c.status),
		["pending", "pending", "pending", "pending", "pending"],
		"nothing moved: the messages were lost"
	);

	// the process stops (its in-process queue with it) and a new one starts on the same data
	await live().close();
	lost.clear();
	node = await start();
	for (const run of [r1, r2]) {
		const done = await until(`run ${run.id} completed`, async () => {
			const v = (await http<RunView>(`${live().url}/dispatch/runs/${run.id}`, { headers: bearer(live().operatorToken) })).body;
			return v.status === "completed" ? v : undefined;
		});
		assert.equal(done.status, "completed");
	}
	const after = [...(await casesOf(r1.id)), ...(await casesOf(r2.id))];
	assert.deepEqual(
		after.map((c) => c.status),
		["delivered", "delivered", "delivered", "delivered", "delivered"]
	);
	// one SMS per borrower in the sandbox outbox, and one stored PDF per case
	const outbox = (await http<{ items: { caseId: string }[]; total: number }>(`${live().url}/sandbox/outbox?limit=100`, { headers: bearer(live().operatorToken) })).body;
	const perCase = new Map<string, number>();
	for (const m of outbox.items) perCase.set(m.caseId, (perCase.get(m.caseId) ?? 0) + 1);
	assert.deepEqual(
		after.map((c) => perCase.get(c._id)),
		[1, 1, 1, 1, 1],
		"one message per case"
	);
	assert.equal(new Set(after.map((c) => c.documentKey)).size, 5, "every case has its own stored PDF");
	const docs = await live().platform.store.adapter("documents").count({});
	assert.equal(docs, 5, "no PDF rendered twice into a second document");
});

/**
 * Billing across processes on RabbitMQ: the billing worker runs in its own process, this process runs `clients` and
 * the notifier (sandbox provider) and holds the loans and repayments. A billing worker killed with SIGKILL in the
 * middle of a run and another one started afterwards: every loan is billed (none lost, the run's counts exact) and
 * every borrower gets exactly one statement SMS (no case made twice, no message sent twice).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { AMQP_URL, spawnNode, startTestNode, tempDir, deleteNamespaceQueues, type TestNode } from "../helpers/node.ts";
import { recordsStore } from "../../lib/ingest/context.ts";
import { deliveryStore, type DeliveryStore } from "../../lib/delivery/store.ts";
import type { CaseDoc } from "../../lib/delivery/types.ts";

const namespace = `bl-${randomUUID().slice(0, 8)}`;
const N = 3000;
const CYCLE_TO = "2026-11-10";
let common: Record<string, string>;
let node: TestNode;
let ds: DeliveryStore;
const children: Awaited<ReturnType<typeof spawnNode>>[] = [];

before(async () => {
	common = {
		TRANSPORTER: AMQP_URL,
		NAMESPACE: namespace,
		JWT_SECRET: "billing-it-secret-billing-it-secret",
		DATA_DIR: tempDir(),
		QUEUE_RETRY_DELAY_MS: "200",
		SANDBOX_CALLBACK_DELAY_MS: "0",
		BILLING_SCHEDULE_MS: "0"
	};
	node = await startTestNode(common, ["clients", "notifier"]);
	ds = await deliveryStore(node.platform.store);
});

after(async () => {
	for (const c of children) {
		if (c.child.exitCode === null && c.child.signalCode === null) await c.stop();
	}
	await node?.close();
	await deleteNamespaceQueues(namespace);
});

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 180_000): Promise<T> {
	const end = Date.now() + timeoutMs;
	while (Date.now() < end) {
		const v = await fn();
		if (v) return v;
		await new Promise((r) => setTimeout(r, 100));
	}
	assert.fail(`timed out waiting for ${what}`);
}

/** N loans, each with a year of monthly repayments, registered as the registry would (records collection). */
async function registerLoans(clientId: string): Promise<void> {
	const records = await recordsStore();
	const now = new Date();
	const base = { client: clientId, searchText: "", batchId: "it", line: 0, batchOutcome: "inserted", version: 1, registeredAt: now };
	const loans = Array.from({ length: N }, (_, i) => ({
		...base,
		kind: "loan",
		key: `K${i}`,
		data: { loan_id: `K${i}`, applicant_name: `Borrower ${i}`, language: "en", phone: `+9198765${String(10000 + i).padStart(5, "0")}`, loan_amount: "12000", annual_interest_rate: "0", tenure_months: 12, disbursement_date: "2025-11-20", first_emi_date: "2025-12-05", processing_fee: "0" }
	}));
	await records.bulkUpsert(loans, { key: ["client", "kind", "key"] });
	const pays = [];
	for (let i = 0; i < N; i++) {
		for (let m = 0; m < 11; m++) {
			const month = ((11 + m) % 12) + 1;
			const ref = `UPI-K${i}-${m}`;
			pays.push({ ...base, kind: "repayment", key: ref, data: { payment_ref: ref, loan_id: `K${i}`, amount: "1000.00", paid_at: `${m === 0 ? 2025 : 2026}-${String(month).padStart(2, "0")}-05T04:30:00Z`, method: "upi" } });
		}
	}
	await records.bulkUpsert(pays, { key: ["client", "kind", "key"] });
}

interface RunView {
	id: string;
	status: string;
	counts: { loans: number; done: number; active: number; halted: number; steps: Record<string, { active: number; halted: number; passed: number }> };
}

test("a billing worker killed with SIGKILL mid-run loses no loan and sends no statement twice", async () => {
	const clientId = ((await node.broker.call("clients.create", { name: "billing-it", billing: { statementDay: 10 } })) as { id: string }).id;
	await registerLoans(clientId);
	const first = await spawnNode({ ...common, SERVICES: "billing", NODE_ID: `billing1-${namespace}` });
	children.push(first);
	await node.broker.waitForServices(["billing"], 30_000);
	const started = (await node.broker.call("billing.startRun", { clientId, cycleTo: CYCLE_TO, pdf: false })) as RunView;
	assert.equal(started.counts.loans, N);
	const items = node.platform.store.adapter("billing_items");
	// kill it once some loans are billed and others are not
	await until("the first loans billed", async () => (await items.count({ query: { runId: started.id, status: "done" } })) > 0, 120_000);
	first.child.kill("SIGKILL");
	await new Promise<void>((r) => (first.child.exitCode !== null || first.child.signalCode !== null ? r() : first.child.once("exit", () => r())));
	const doneAtKill = await items.count({ query: { runId: started.id, status: "done" } });
	assert.ok(doneAtKill < N, `killed mid-run (${doneAtKill} of ${N} billed)`);

	const second = await spawnNode({ ...common, SERVICES: "billing", NODE_ID: `billing2-${namespace}` });
	children.push(second);
	const run = await until("the run to complete", async () => {
		// the dead node stays in the registry until its heartbeat times out: a call routed to it fails meanwhile
		const v = (await node.broker.call("billing.getRun", { id: started.id }).catch(() => undefined)) as RunView | undefined;
		return v && v.status !== "running" ? v : undefined;
	});
	assert.equal(run.status, "completed", JSON.stringify(run));
	assert.deepEqual([run.counts.loans, run.counts.done, run.counts.active, run.counts.halted], [N, N, 0, 0], "no loan lost, counts exact");
	assert.equal(run.counts.steps.deliver.passed, N);

	// one statement SMS case per loan, and each sent once
	const type = `statement-sms:${CYCLE_TO}`;
	const cases = (await ds.cases.find({ query: { clientId, documentType: type }, limit: N * 2 })) as CaseDoc[];
	assert.equal(cases.length, N, "one case per loan");
	assert.equal(new Set(cases.map((c) => c.loanKey)).size, N);
	const ids = cases.map((c) => c._id);
	await until("every SMS sent", async () => (await ds.cases.count({ query: { _id: { $in: ids }, status: { $in: ["delivered", "sent"] } } })) === N, 120_000);
	const outbox = (await ds.outbox.find({ query: { caseId: { $in: ids } }, limit: N * 3 })) as unknown as { caseId: string; channel: string }[];
	const perCase = new Map<string, number>();
	for (const o of outbox) perCase.set(o.caseId, (perCase.get(o.caseId) ?? 0) + 1);
	assert.equal(perCase.size, N, "every borrower got the statement SMS");
	assert.deepEqual([...perCase].filter(([, n]) => n > 1), [], "no statement sent twice");
	assert.ok(outbox.every((o) => o.channel === "sms"));
	await second.stop();
});

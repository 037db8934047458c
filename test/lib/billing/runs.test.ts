/**
 * The billing run engine on the embedded store: a step moves the items at it, a failure is retried and halts on the
 * last try (or at once for a HaltError) with the step, reason and input, a chunk handled twice does nothing twice,
 * and the run's counts follow the items.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import type { StoreAdapter } from "../../../lib/store/types.ts";
import { HaltError, ITEM_INDEXES, haltChunk, itemId, itemsAfter, nextStep, runChunk, runCounts, type BillingItemDoc, type BillingRunDoc, type Flow, type StepFn } from "../../../lib/billing/runs.ts";

let dir: string;
let store: SqliteStore;
let items: StoreAdapter;
const run: BillingRunDoc = { _id: "run-1", clientId: "c1", cycle: { from: "2026-02-11", to: "2026-03-10" }, pdf: false, startedBy: "test", loans: 4, createdAt: new Date(), updatedAt: new Date() };

before(async () => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), "billing-runs-"));
	store = new SqliteStore({ file: path.join(dir, "p.db") });
	items = store.adapter("billing_items");
	await items.connect();
	await items.ensureIndexes(ITEM_INDEXES);
	for (const loan of ["L1", "L2", "L3", "L4"]) {
		await items.insert({ _id: itemId("c1", "2026-03-10", loan), runId: run._id, clientId: "c1", loanId: loan, cycleTo: "2026-03-10", step: "duplicates", status: "active", attempts: 0, results: {}, updatedAt: new Date() });
	}
});
after(async () => {
	await store.close();
	fs.rmSync(dir, { recursive: true, force: true });
});

const ids = ["L1", "L2", "L3", "L4"].map((l) => itemId("c1", "2026-03-10", l));
const get = async (loan: string) => (await items.findById(itemId("c1", "2026-03-10", loan))) as BillingItemDoc;

test("a step moves its items on, retries a failure, halts on the last try, and never runs twice for an item", async () => {
	assert.equal(nextStep("duplicates"), "passbook");
	assert.equal(nextStep("deliver"), null);
	const calls: string[] = [];
	const fn: StepFn = async (item) => {
		calls.push(item.loanId);
		if (item.loanId === "L2") throw new Error("store timeout");
		if (item.loanId === "L3") throw new HaltError("the statement does not balance");
		return { refundsOpened: 0 };
	};
	const first = await runChunk(items, run, "duplicates", ids, fn, false);
	assert.deepEqual([first.advanced.length, first.retry.length, first.halted.length], [2, 1, 1]);
	assert.equal((await get("L1")).step, "passbook");
	assert.deepEqual((await get("L1")).results.duplicates, { refundsOpened: 0 });
	assert.equal((await get("L2")).attempts, 1);
	assert.equal((await get("L2")).lastError, "store timeout");
	const l3 = await get("L3");
	assert.equal(l3.status, "halted");
	assert.equal(l3.halted?.step, "duplicates");
	assert.match(l3.halted?.reason ?? "", /does not balance/);
	assert.deepEqual(l3.halted?.input, { loanId: "L3", cycleTo: "2026-03-10" });

	// the same chunk again (a retry of the message): only L2 is still at the step
	calls.length = 0;
	const again = await runChunk(items, run, "duplicates", ids, fn, true);
	assert.deepEqual(calls, ["L2"]);
	assert.equal(again.skipped, 3);
	assert.deepEqual(again.halted, [itemId("c1", "2026-03-10", "L2")]);
	assert.equal((await get("L2")).attempts, 2);

	const { status, counts } = await runCounts(items, run);
	assert.equal(status, "running");
	assert.deepEqual([counts.active, counts.halted, counts.done], [2, 2, 0]);
	assert.deepEqual(counts.steps.duplicates, { active: 0, halted: 2, passed: 2 });
	assert.deepEqual(counts.steps.passbook, { active: 2, halted: 0, passed: 0 });
});

test("the last step finishes an item, and a run with halted loans completes with halts", async () => {
	const ok: StepFn = async () => ({ ok: true });
	for (const step of ["passbook", "statement", "validate", "render", "deliver"] as const) await runChunk(items, run, step, ids, ok, false);
	assert.equal((await get("L1")).status, "done");
	assert.deepEqual(Object.keys((await get("L4")).results).sort(), ["deliver", "duplicates", "passbook", "render", "statement", "validate"]);
	const { status, counts } = await runCounts(items, run);
	assert.equal(status, "completed_with_halts");
	assert.deepEqual([counts.done, counts.halted, counts.active], [2, 2, 0]);
	assert.equal(counts.steps.deliver.passed, 2);
});

test("a chunk goes on through the inline steps in one handler, with what it computed carried along, and a chunk-wide step applies to all at once", async () => {
	const run2: BillingRunDoc = { ...run, _id: "run-2", loans: 4 };
	const loans = ["M1", "M2", "M3", "M4"];
	const mids = loans.map((l) => itemId("c1", "2026-04-10", l));
	for (const loan of loans) {
		await items.insert({ _id: itemId("c1", "2026-04-10", loan), runId: run2._id, clientId: "c1", loanId: loan, cycleTo: "2026-04-10", step: "duplicates", status: "active", attempts: 0, results: {}, updatedAt: new Date() });
	}
	const built: string[] = [];
	const delivered: string[][] = [];
	let flushed = 0;
	type C = { passbooks: Map<string, number> };
	const flow: Flow<C> = {
		prepare: async () => ({ passbooks: new Map() }),
		inline: (step) => step !== "deliver",
		apply: {
			duplicates: async () => ({ refundsOpened: 0 }),
			passbook: async (item, _r, c) => {
				built.push(item.loanId);
				c.passbooks.set(item.loanId, 100);
				return { balance: 100 };
			},
			statement: async (item, _r, c) => {
				if (item.loanId === "M2") throw new Error("store busy");
				return { due: c.passbooks.get(item.loanId) };
			},
			validate: async (item) => {
				if (item.loanId === "M3") throw new HaltError("the statement does not balance");
				assert.deepEqual(item.results.statement, { due: 100 }, "a later step sees the earlier results of the same handler");
				return { ok: true };
			},
			render: async () => ({ skipped: "pdf off" }),
			deliver: async () => {
				throw new Error("deliver is chunk-wide here");
			}
		},
		applyMany: {
			deliver: async (chunk) => {
				delivered.push(chunk.map((i) => i.loanId));
				return new Map(chunk.map((i) => [i._id, { caseIds: [`case-${i.loanId}`] }]));
			}
		},
		flush: async () => {
			flushed++;
		}
	};
	const out = await runChunk(items, run2, "duplicates", mids, flow, false);
	assert.deepEqual(built.sort(), loans, "one passbook per loan");
	assert.deepEqual(out.retry, [], "a failure at a step reached inline is for that step's queue, not a retry of this chunk");
	assert.deepEqual(out.haltedAt, { validate: 1 });
	const get2 = async (loan: string) => (await items.findById(itemId("c1", "2026-04-10", loan))) as BillingItemDoc;
	assert.deepEqual([(await get2("M1")).step, (await get2("M1")).status], ["deliver", "active"]);
	assert.deepEqual(Object.keys((await get2("M1")).results).sort(), ["duplicates", "passbook", "render", "statement", "validate"]);
	assert.deepEqual([(await get2("M2")).step, (await get2("M2")).status, (await get2("M2")).attempts, (await get2("M2")).lastError], ["statement", "active", 1, "store busy"]);
	const m3 = await get2("M3");
	assert.deepEqual([m3.step, m3.status, m3.halted?.step], ["validate", "halted", "validate"]);
	assert.deepEqual(m3.halted?.input, { loanId: "M3", cycleTo: "2026-04-10", duplicates: { refundsOpened: 0 }, passbook: { balance: 100 }, statement: { due: 100 } });
	assert.equal(flushed, 1);
	const later = await itemsAfter(items, "duplicates", mids);
	assert.deepEqual(Object.fromEntries(later), { statement: [mids[1]], deliver: [mids[0], mids[3]] });

	// the deliver chunk: applied to all its items in one call; the same chunk again does nothing
	const done = await runChunk(items, run2, "deliver", later.get("deliver") ?? [], flow, false);
	assert.deepEqual(delivered, [["M1", "M4"]]);
	assert.equal(done.advanced.length, 2);
	assert.deepEqual((await get2("M4")).results.deliver, { caseIds: ["case-M4"] });
	assert.equal((await get2("M4")).status, "done");
	const again = await runChunk(items, run2, "deliver", later.get("deliver") ?? [], flow, false);
	assert.deepEqual([again.skipped, delivered.length], [2, 1]);
});

test("a chunk whose last try fails as a whole halts its loans still at the step, with the reason and their input", async () => {
	const run3: BillingRunDoc = { ...run, _id: "run-3", loans: 3 };
	const loans = ["N1", "N2", "N3"];
	const nids = loans.map((l) => itemId("c1", "2026-05-10", l));
	for (const loan of loans) {
		await items.insert({ _id: itemId("c1", "2026-05-10", loan), runId: run3._id, clientId: "c1", loanId: loan, cycleTo: "2026-05-10", step: "statement", status: "active", attempts: 1, results: { duplicates: { refundsOpened: 0 }, passbook: { balance: 1 } }, updatedAt: new Date() });
	}
	// N3 was moved on by an earlier try
	await items.updateById(nids[2], { $set: { step: "validate" } });
	// the search port is down: the chunk's flush throws, nothing of it is written
	const flow: Flow<Record<string, never>> = {
		prepare: async () => ({}),
		inline: () => false,
		apply: { duplicates: async () => ({}), passbook: async () => ({}), statement: async () => ({ due: 1 }), validate: async () => ({}), render: async () => ({}), deliver: async () => ({}) },
		flush: async () => {
			throw new Error("search port unreachable");
		}
	};
	await assert.rejects(runChunk(items, run3, "statement", nids, flow, true), /search port unreachable/);
	const halted = await haltChunk(items, "statement", nids, "the statement step failed on its last try: search port unreachable");
	assert.deepEqual(halted, [nids[0], nids[1]]);
	const n1 = (await items.findById(nids[0])) as BillingItemDoc;
	assert.deepEqual([n1.status, n1.step, n1.attempts, n1.halted?.step, n1.halted?.reason], ["halted", "statement", 2, "statement", "the statement step failed on its last try: search port unreachable"]);
	assert.deepEqual(n1.halted?.input, { loanId: "N1", cycleTo: "2026-05-10", duplicates: { refundsOpened: 0 }, passbook: { balance: 1 } });
	assert.deepEqual([((await items.findById(nids[2])) as BillingItemDoc).status], ["active"], "a loan at another step is not touched");
	assert.deepEqual(await haltChunk(items, "statement", nids, "again"), [], "halted once");
});

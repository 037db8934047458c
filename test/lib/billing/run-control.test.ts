/**
 * Starting, alerting and sweeping billing runs on the embedded store (lib/billing/run-control.ts): a cycle must end
 * on the client's statement day and overlap no other run's (one run a client and month, whatever starts it at
 * once); a step's halts alert once however stale the run each handler read; a run that stopped moving has its
 * work handed on again once per lease (by one of several sweeps), and a run with nothing left is no longer looked at.
 */
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import type { StoreAdapter } from "../../../lib/store/types.ts";
import type { ClientDoc } from "../../../lib/clients.ts";
import { ITEM_INDEXES, RUN_INDEXES, itemId, runChunk, type BillingItemDoc, type BillingRunDoc, type BillingStep } from "../../../lib/billing/runs.ts";
import { RUN_LEASE_MS, noteProgress, requestedCycle, resumeHalted, runIdOf, runLeaseMs, shouldAlertHalts, startRun, sweepRuns, type RunPorts } from "../../../lib/billing/run-control.ts";

let dir: string;
let store: SqliteStore;
let runs: StoreAdapter;
let items: StoreAdapter;
let records: StoreAdapter;
let sent: { step: BillingStep; runId: string; ids: string[] }[] = [];
let pendingCases: { handed: number; pending: number } = { handed: 0, pending: 0 };
let ports: RunPorts;

before(async () => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), "billing-run-control-"));
	store = new SqliteStore({ file: path.join(dir, "p.db") });
	runs = store.adapter("billing_runs");
	items = store.adapter("billing_items");
	records = store.adapter("records");
	for (const a of [runs, items, records]) await a.connect();
	await runs.ensureIndexes(RUN_INDEXES);
	await items.ensureIndexes(ITEM_INDEXES);
	ports = {
		runs,
		items,
		records: async () => records,
		enqueue: async (step, runId, chunks) => {
			for (const ids of chunks) sent.push({ step, runId, ids });
		},
		rehandCases: async () => pendingCases
	};
});
after(async () => {
	await store.close();
	fs.rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
	sent = [];
	pendingCases = { handed: 0, pending: 0 };
});

async function loans(client: string, n: number): Promise<void> {
	for (let i = 0; i < n; i++) await records.insert({ _id: `${client}-L${i}`, client, kind: "loan", key: `L${i}`, data: { loan_id: `L${i}`, first_emi_date: "2025-12-05" } });
}
const clientDoc = (statementDay?: number): ClientDoc => ({ _id: "c", name: "c", ...(statementDay ? { billing: { statementDay } } : {}) }) as unknown as ClientDoc;
const sentIds = () => sent.flatMap((s) => s.ids).sort();

test("a cycle ends on the client's statement day: another cycleTo is refused with the dates that are", () => {
	assert.deepEqual(requestedCycle(clientDoc(10), "2026-12-02", "2026-11-10"), { from: "2026-10-11", to: "2026-11-10" });
	assert.deepEqual(requestedCycle(clientDoc(10), "2026-12-02"), { from: "2026-10-11", to: "2026-11-10" });
	assert.throws(
		() => requestedCycle(clientDoc(10), "2026-12-02", "2026-11-11"),
		(err: Error & { code?: number; data?: { before: string; after: string }[] }) => {
			assert.equal(err.code, 400);
			assert.match(err.message, /not a statement date.*day 10.*2026-11-10 or 2026-12-10/);
			assert.deepEqual([err.data?.[0].before, err.data?.[0].after], ["2026-11-10", "2026-12-10"]);
			return true;
		}
	);
	// day 31 is the month's last day; a client without a statement day closes its cycles on the 1st
	assert.deepEqual(requestedCycle(clientDoc(31), "2026-12-02", "2026-02-28"), { from: "2026-02-01", to: "2026-02-28" });
	assert.throws(() => requestedCycle(clientDoc(), "2026-12-02", "2026-11-10"), /day 1 /);
	assert.deepEqual(requestedCycle(clientDoc(), "2026-12-02", "2026-11-01", "2026-10-15"), { from: "2026-10-15", to: "2026-11-01" });
	assert.throws(() => requestedCycle(clientDoc(10), "2026-12-02", "2026-12-10"), /in the future/);
});

test("a client is billed once a month: an overlapping cycle or a second cycle of the month is refused, the next month is a new run", async () => {
	await loans("c1", 3);
	const first = await startRun(ports, "c1", { from: "2026-10-11", to: "2026-11-10" }, false, "test");
	assert.deepEqual([first.created, first.run._id, first.run.loans], [true, runIdOf("c1", "2026-11-10"), 3]);
	assert.deepEqual(sentIds(), ["L0", "L1", "L2"].map((l) => itemId("c1", "2026-11-10", l)));

	// the case: a day later, every borrower would be billed and texted again
	await assert.rejects(startRun(ports, "c1", { from: "2026-10-12", to: "2026-11-11" }, false, "test"), (err: Error & { code?: number; data?: { runId: string } }) => {
		assert.equal(err.code, 409);
		assert.equal(err.data?.runId, first.run._id);
		assert.match(err.message, /overlaps billing run .* \(cycle 2026-10-11\.\.2026-11-10\).*cycleFrom 2026-11-11/);
		return true;
	});
	// no overlap, but the month has its run (a statement day moved mid-month)
	await assert.rejects(startRun(ports, "c1", { from: "2026-11-11", to: "2026-11-20" }, false, "test"), (err: Error & { code?: number }) => err.code === 409 && /statement month 2026-11/.test(err.message));
	// a cycleFrom reaching back into the previous run's cycle
	await assert.rejects(startRun(ports, "c1", { from: "2026-11-01", to: "2026-12-10" }, false, "test"), (err: Error & { code?: number }) => err.code === 409);
	assert.equal(await items.count({ query: { clientId: "c1" } }), 3, "nobody enrolled twice");

	const again = await startRun(ports, "c1", { from: "2026-10-11", to: "2026-11-10" }, false, "test");
	assert.deepEqual([again.created, again.run._id], [false, first.run._id], "the same cycle is the same run");
	const next = await startRun(ports, "c1", { from: "2026-11-11", to: "2026-12-10" }, false, "test");
	assert.deepEqual([next.created, next.run._id], [true, runIdOf("c1", "2026-12-10")]);
	assert.equal(await runs.count({ query: { clientId: "c1" } }), 2);
});

test("started at once: the same cycle makes one run, overlapping cycles of two months at most one", async () => {
	await loans("c2", 2);
	const same = await Promise.all([1, 2, 3].map(() => startRun(ports, "c2", { from: "2026-10-11", to: "2026-11-10" }, false, "test")));
	assert.equal(new Set(same.map((s) => s.run._id)).size, 1);
	assert.equal(same.filter((s) => s.created).length, 1);
	assert.equal(await items.count({ query: { clientId: "c2" } }), 2);

	await loans("c3", 2);
	for (let round = 0; round < 5; round++) {
		const client = `c3-${round}`;
		await loans(client, 1);
		const outcomes = await Promise.allSettled([
			startRun(ports, client, { from: "2026-10-11", to: "2026-11-10" }, false, "test"),
			startRun(ports, client, { from: "2026-10-01", to: "2026-12-10" }, false, "test")
		]);
		const stored = (await runs.find({ query: { clientId: client } })) as BillingRunDoc[];
		assert.ok(stored.length <= 1, `round ${round}: ${JSON.stringify(stored.map((r) => r.cycle))}`);
		assert.equal(outcomes.filter((o) => o.status === "fulfilled").length, stored.length);
		for (const o of outcomes) if (o.status === "rejected") assert.equal((o.reason as { code?: number }).code, 409);
	}
});

test("a step's halts alert once, whatever stale copies of the run the handlers read, and a step's alert never undoes another's", async () => {
	const stale: BillingRunDoc = { _id: "alert-run", clientId: "c4", cycle: { from: "2026-10-11", to: "2026-11-10" }, pdf: false, startedBy: "test", loans: 20, createdAt: new Date(), updatedAt: new Date() };
	await runs.insert({ ...stale });
	for (const step of ["render", "deliver"] as const) {
		for (let i = 0; i < 10; i++) await items.insert({ _id: `alert-${step}-${i}`, runId: stale._id, clientId: "c4", loanId: `${step}-${i}`, cycleTo: "2026-11-10", step, status: "halted", attempts: 1, results: {}, updatedAt: new Date() });
	}
	const calls = await Promise.all((["render", "deliver", "render", "deliver", "render", "deliver"] as const).map((s) => shouldAlertHalts(ports, stale, s)));
	assert.deepEqual(calls.map((c) => c.alert), [true, true, false, false, false, false]);
	// later handlers with the copy read before any alert
	assert.equal((await shouldAlertHalts(ports, stale, "render")).alert, false, "render alerted once");
	assert.equal((await shouldAlertHalts(ports, stale, "deliver")).alert, false, "deliver alerted once");
	const stored = (await runs.findById(stale._id)) as BillingRunDoc;
	assert.deepEqual(Object.keys(stored.alertedAt ?? {}).sort(), ["deliver", "render"]);
});

test("a run that stopped moving is handed on again once per lease, by one of several sweeps; a live one is left alone", async () => {
	await loans("c5", 3);
	const t0 = new Date();
	const { run } = await startRun(ports, "c5", { from: "2026-10-11", to: "2026-11-10" }, false, "test");
	const ids = ["L0", "L1", "L2"].map((l) => itemId("c5", "2026-11-10", l));
	// the messages were lost: L0 went through duplicates (its hand-on lost too), L1 and L2 never started
	await runChunk(items, run, "duplicates", [ids[0]], async () => ({ refundsOpened: 0 }), false);
	const at = (ms: number) => new Date(t0.getTime() + ms);
	// this run's part of a sweep (the earlier tests' runs are in the same store)
	const sweep = async (now: Date) => (await sweepRuns(ports, { leaseMs: RUN_LEASE_MS, now })).runs.filter((id) => id === run._id);
	const mine = () => sent.filter((s) => s.runId === run._id).map((s) => [s.step, s.ids]);
	sent = [];

	assert.deepEqual(await sweep(at(60_000)), [], "progress a minute ago: not stalled");
	assert.deepEqual(mine(), []);

	// past the lease: two nodes sweep at once, one hands the run on
	const [a, b] = await Promise.all([sweep(at(RUN_LEASE_MS + 60_000)), sweep(at(RUN_LEASE_MS + 60_000))]);
	assert.deepEqual([...a, ...b], [run._id]);
	assert.deepEqual(mine(), [
		["duplicates", [ids[1], ids[2]]],
		["passbook", [ids[0]]]
	]);
	// the hand-on is progress: not again until another lease has passed
	sent = [];
	assert.deepEqual(await sweep(at(RUN_LEASE_MS + 120_000)), []);
	// a handler at work on the run keeps it alive (one write per PROGRESS_EVERY_MS)
	await noteProgress(ports, (await runs.findById(run._id)) as BillingRunDoc, at(2 * RUN_LEASE_MS));
	assert.deepEqual(await sweep(at(2 * RUN_LEASE_MS + 60_000)), []);
	assert.deepEqual(await sweep(at(3 * RUN_LEASE_MS + 60_000)), [run._id]);
	assert.equal(mine().length, 2);

	// the copies handed on meet the originals: each item's step runs once
	const calls: string[] = [];
	const step = async (item: BillingItemDoc) => {
		calls.push(item.loanId);
		return { refundsOpened: 0 };
	};
	await runChunk(items, run, "duplicates", [ids[1], ids[2]], step, false);
	await runChunk(items, run, "duplicates", [ids[1], ids[2]], step, false);
	assert.deepEqual(calls, ["L1", "L2"]);
});

test("a run with nothing left is closed after a sweep, with pending statement cases it stays open, and a resume reopens it", async () => {
	await loans("c6", 2);
	const { run } = await startRun(ports, "c6", { from: "2026-10-11", to: "2026-11-10" }, false, "test");
	await items.updateMany({ runId: run._id }, { $set: { status: "done", step: "deliver" } });
	const later = new Date(Date.now() + RUN_LEASE_MS + 60_000);
	pendingCases = { handed: 2, pending: 2 };
	const withCases = await sweepRuns(ports, { leaseMs: RUN_LEASE_MS, now: later });
	assert.deepEqual([withCases.runs.includes(run._id), withCases.cases >= 2], [true, true]);
	assert.notEqual(((await runs.findById(run._id)) as BillingRunDoc).open, false, "its cases are still pending");

	pendingCases = { handed: 0, pending: 0 };
	const end = await sweepRuns(ports, { leaseMs: RUN_LEASE_MS, now: new Date(later.getTime() + RUN_LEASE_MS + 60_000) });
	assert.ok(end.closed >= 1);
	assert.equal(((await runs.findById(run._id)) as BillingRunDoc).open, false);
	// a closed run is no longer looked at, even at start-up
	sent = [];
	const startup = await sweepRuns(ports, { leaseMs: RUN_LEASE_MS, all: true });
	assert.ok(!startup.runs.includes(run._id));

	// one of its loans halted: a resume reopens the run, so a lost message is found again
	await items.updateById(itemId("c6", "2026-11-10", "L1"), { $set: { status: "halted", step: "render", halted: { step: "render", reason: "renderer down", input: {}, at: new Date() } } });
	assert.equal(await resumeHalted(ports, run), 1);
	assert.equal(((await runs.findById(run._id)) as BillingRunDoc).open, true);
	sent = [];
	const lost = await sweepRuns(ports, { leaseMs: RUN_LEASE_MS, all: true });
	assert.ok(lost.runs.includes(run._id), "start-up on the in-process queue: every open run, however fresh");
	assert.deepEqual(sent.filter((s) => s.runId === run._id).map((s) => [s.step, s.ids]), [["render", [itemId("c6", "2026-11-10", "L1")]]]);
});

test("the lease outlasts the queue's longest retry delay", () => {
	assert.equal(runLeaseMs({ retries: 5, retryDelayMs: 1000 }), RUN_LEASE_MS);
	assert.equal(runLeaseMs({ retries: 6, retryDelayMs: 1000 }), 2 * 1000 * 4 ** 5);
	assert.equal(runLeaseMs({ retries: 0, retryDelayMs: 1000 }), RUN_LEASE_MS);
});

/**
 * Billing reads what may be millions of rows a page at a time: the loans a repayment batch touched (the duplicate
 * check after a repayment batch), and the items a run hands on to a step's queue.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import { StoreSearch } from "../../../lib/search/store.ts";
import { openRecords } from "../../../lib/ingest/register.ts";
import { loansOfBatch } from "../../../lib/billing/loans.ts";
import { handOn } from "../../../lib/billing/run-control.ts";
import { ITEMS, ITEM_INDEXES, RUNS, type BillingItemDoc, type BillingRunDoc } from "../../../lib/billing/runs.ts";

test("loansOfBatch reads a batch page by page and returns each loan once, sorted; other batches, clients and kinds are left out", async () => {
	const store = new SqliteStore({ file: ":memory:" });
	try {
		const records = await openRecords(store, new StoreSearch(store));
		const rep = (i: number, over: Record<string, unknown> = {}) => ({ client: "c1", kind: "repayment", key: `UPI-${i}`, batchId: "b1", line: i + 2, version: 1, data: { loan_id: `L${i % 7}`, amount: "10.00" }, ...over });
		await records.insertMany([
			...Array.from({ length: 25 }, (_v, i) => rep(i)),
			rep(100, { batchId: "b2", data: { loan_id: "L-other-batch" } }),
			rep(101, { client: "c2", data: { loan_id: "L-other-client" } }),
			rep(102, { kind: "loan", key: "L-a-loan", data: { loan_id: "L-a-loan" } })
		]);
		const all = ["L0", "L1", "L2", "L3", "L4", "L5", "L6"];
		// pages of 10 (3 pages), of 25 (a full page, then an empty one), and of the default size (one page)
		assert.deepEqual(await loansOfBatch(records, "c1", "b1", 10), all);
		assert.deepEqual(await loansOfBatch(records, "c1", "b1", 25), all);
		assert.deepEqual(await loansOfBatch(records, "c1", "b1"), all);
		assert.deepEqual(await loansOfBatch(records, "c1", "nothing"), []);
	} finally {
		await store.close();
	}
});

test("handOn enqueues a step's active items in loanId order, a page at a time, and counts them", async () => {
	const store = new SqliteStore({ file: ":memory:" });
	try {
		const items = store.adapter(ITEMS);
		await items.ensureIndexes(ITEM_INDEXES);
		const item = (n: number, over: Partial<BillingItemDoc> = {}) => ({ _id: `i${n}`, runId: "r1", clientId: "c1", cycleTo: "2026-11-10", loanId: `L${String(n).padStart(3, "0")}`, step: "passbook", status: "active", ...over });
		// 23 active at passbook, given in reverse; others done, halted, at another step or of another run
		await items.insertMany([
			...Array.from({ length: 23 }, (_v, i) => item(22 - i)),
			item(50, { status: "done" }),
			item(51, { status: "halted" }),
			item(52, { step: "statement" }),
			item(53, { runId: "r2" })
		]);
		const enqueued: string[][] = [];
		const ports = { runs: store.adapter(RUNS), items, records: async () => items, enqueue: async (_step: string, _run: string, chunks: string[][]) => void enqueued.push(...chunks) };
		const run = { _id: "r1" } as BillingRunDoc;
		assert.equal(await handOn(ports, run, "passbook", undefined, 10), 23);
		assert.deepEqual(enqueued.map((c) => c.length), [10, 10, 3], "a page of 10 at a time");
		assert.deepEqual(enqueued.flat(), Array.from({ length: 23 }, (_v, i) => `i${i}`), "every active item once, in loanId order");
		enqueued.length = 0;
		assert.equal(await handOn(ports, run, "passbook", ["i3", "i7", "i50"], 2), 2, "of these IDs, the active ones");
		assert.deepEqual(enqueued.flat(), ["i3", "i7"]);
	} finally {
		await store.close();
	}
});

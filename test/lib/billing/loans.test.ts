/**
 * The loans a repayment batch touched (billing's duplicate check after a repayment batch): read a page at a time in
 * _id order, every page's loans kept once, only the batch's own repayments of its own client.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import { StoreSearch } from "../../../lib/search/store.ts";
import { openRecords } from "../../../lib/ingest/register.ts";
import { loansOfBatch } from "../../../lib/billing/loans.ts";

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

/**
 * The registry's drain of one batch on the embedded store: consecutive staged chunks registered together (up to
 * GROUP_ROWS rows), a key repeated in a later chunk of the same group rejected against the right chunk, counts exact
 * per chunk and in the completed batch, and a group registered twice (a crash after the write) counted once.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import { FsObjectStore } from "../../../lib/objects/fs.ts";
import { StoreSearch } from "../../../lib/search/store.ts";
import { BatchStore, chunkId, type BatchDoc, type ChunkDoc } from "../../../lib/ingest/batches.ts";
import { drainBatch, GROUP_ROWS, openRecords, registerChunks, stagedSearchText, type RegistryDeps } from "../../../lib/ingest/register.ts";
import { stagedKey } from "../../../lib/ingest/stage.ts";
import { fieldExpr } from "../../../lib/store/query.ts";
import type { ValidRecord } from "../../../lib/etl/parse-chunk.ts";

let dir: string;
let store: SqliteStore;
let deps: RegistryDeps;
const groups: number[][] = [];

before(async () => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), "pw-register-"));
	store = new SqliteStore({ file: path.join(dir, "paperwork.db"), ownFiles: { records: path.join(dir, "records.db") } });
	const search = new StoreSearch(store);
	const base = {
		objects: new FsObjectStore({ dir: path.join(dir, "objects"), linkSecret: "s", publicUrl: "http://localhost" }),
		store: await BatchStore.open((c) => store.adapter(c)),
		records: await openRecords(store, search),
		search
	};
	deps = {
		...base,
		register: (batch: BatchDoc, chunks: ChunkDoc[]) => {
			groups.push(chunks.map((c) => c.index));
			return registerChunks(base, batch, chunks);
		}
	};
});
after(async () => {
	await store.close();
	fs.rmSync(dir, { recursive: true, force: true });
});

function row(line: number, contract: string, amount = "10.00"): ValidRecord {
	return { line, key: contract, record: { contract_id: contract, debtor_name: `Devedor ${line}`, debtor_cpf: "52998224725", amount, due_date: "2024-01-10", email: null, phone: null } as unknown as ValidRecord["record"] };
}

/** A PROCESSING batch whose chunks are staged with these rows (and `rows` as each chunk's size). */
async function stagedBatch(chunks: { rows: ValidRecord[]; size?: number }[]): Promise<BatchDoc> {
	const batch = await deps.store.create({ clientId: "cl1", kind: "debt", source: "upload", status: "PROCESSING", chunkTotal: chunks.length, header: { text: "h", delimiter: "," } });
	for (const [index, c] of chunks.entries()) {
		await deps.objects.put(stagedKey(batch, index), JSON.stringify(c.rows.map((v) => ({ ...v, searchText: stagedSearchText(v) }))), { contentType: "application/json" });
		await deps.store.chunks.insert({ _id: chunkId(batch._id, index), batchId: batch._id, index, status: "STAGED", key: `chunks/${index}`, firstLine: 2, rows: c.size ?? c.rows.length, etl: { received: c.rows.length, rejected: 0, skipped: 0, valid: c.rows.length, ms: 1 } });
	}
	return batch;
}

test("staged chunks register as one group; a key repeated in a later chunk is that chunk's duplicate; counts are exact", async () => {
	groups.length = 0;
	const batch = await stagedBatch([{ rows: [row(2, "A"), row(3, "B")] }, { rows: [row(4, "C"), row(5, "A", "99.00")] }, { rows: [row(6, "D")] }]);
	const out = await drainBatch(deps, batch._id);
	assert.deepEqual(groups, [[0, 1, 2]]);
	assert.equal(out.registered, 3);
	assert.deepEqual(
		(await deps.store.chunksOf(batch._id)).map((c) => [c.index, c.status, c.registry?.inserted, c.registry?.duplicates]),
		[[0, "REGISTERED", 2, 0], [1, "REGISTERED", 1, 1], [2, "REGISTERED", 1, 0]]
	);
	const rejections = await deps.store.rejections.find({ query: { batchId: batch._id } });
	assert.deepEqual(rejections.map((r) => [r.chunk, r.line, r.code]), [[1, 5, "duplicate_key"]]);
	const kept = await deps.records.findOne({ client: "cl1", key: "A" });
	assert.equal((kept?.data as { amount: string } | undefined)?.amount, "10.00", "the earlier row is kept");
	const done = await deps.store.get(batch._id);
	assert.equal(done?.status, "COMPLETED");
	assert.deepEqual([done?.counts?.inserted, done?.counts?.updated, done?.counts?.unchanged], [4, 0, 0]);
});

test("groups stop at GROUP_ROWS rows and at the first chunk not staged yet", async () => {
	groups.length = 0;
	const big = Math.ceil(GROUP_ROWS / 2);
	const batch = await stagedBatch([{ rows: [row(2, "E1")], size: big }, { rows: [row(3, "E2")], size: big }, { rows: [row(4, "E3")], size: big }, { rows: [row(5, "E4")] }]);
	await deps.store.chunks.updateMany({ _id: chunkId(batch._id, 3) }, { $set: { status: "READY" } });
	const first = await drainBatch(deps, batch._id);
	assert.deepEqual(groups, [[0, 1], [2]]);
	assert.equal(first.completed, null, "waits for chunk 3");
	await deps.store.chunks.updateMany({ _id: chunkId(batch._id, 3) }, { $set: { status: "STAGED" } });
	const second = await drainBatch(deps, batch._id);
	assert.deepEqual(groups, [[0, 1], [2], [3]]);
	assert.equal(second.completed?.inserted, 4);
});

test("a group registered again after a crash counts each row once, with the outcome it had", async () => {
	const batch = await stagedBatch([{ rows: [row(2, "F1"), row(3, "F2")] }, { rows: [row(4, "F1", "5.00")] }]);
	const chunks = await deps.store.chunksOf(batch._id);
	const once = await registerChunks(deps, batch, chunks);
	const twice = await registerChunks(deps, batch, chunks);
	assert.deepEqual(twice, once.map((r, i) => ({ ...r, ms: twice[i].ms })));
	assert.deepEqual(once.map((r) => [r.inserted, r.duplicates]), [[2, 0], [0, 1]]);
});

test("the keys an operator looks records up by across clients (CPF, phone, email, batch, loan) are answered by an index, not a scan", async () => {
	const { DatabaseSync } = await import("node:sqlite");
	const db = new DatabaseSync(path.join(dir, "records.db"), { readOnly: true });
	try {
		for (const field of ["data.debtor_cpf", "data.phone", "data.email", "batchId", "data.loan_id"]) {
			const plan = (db.prepare(`EXPLAIN QUERY PLAN SELECT doc FROM "records" WHERE ${fieldExpr(field)} = ?`).all("x") as { detail: string }[]).map((r) => r.detail).join(" | ");
			assert.match(plan, /USING INDEX/, `${field}: ${plan}`);
		}
		// a batch read a page at a time in _id order (billing's duplicate check): a range of the index, no sort
		const page = (db.prepare(`EXPLAIN QUERY PLAN SELECT doc FROM "records" WHERE ${fieldExpr("batchId")} = ? AND _id > ? AND ${fieldExpr("client")} = ? ORDER BY _id LIMIT 5000`).all("b", "x", "c") as { detail: string }[]).map((r) => r.detail).join(" | ");
		assert.match(page, /USING INDEX records__batch_records/, page);
		assert.doesNotMatch(page, /TEMP B-TREE/, page);
	} finally {
		db.close();
	}
});

/**
 * SQLite-specific behaviour of the embedded store: the file and its pragmas, several processes writing
 * the same file (exact counter totals), expression indexes actually used, invalid names refused.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import { SAFETY_NET_PAGES } from "../../../lib/store/sqlite-checkpoints.ts";
import { createStore } from "../../../lib/store/index.ts";
import { loadConfig } from "../../../config/index.ts";

const run = promisify(execFile);
const worker = fileURLToPath(new URL("./fixtures/counter-worker.ts", import.meta.url));

describe("SqliteStore", () => {
	let dir: string;
	before(() => {
		dir = fs.mkdtempSync(path.join(os.tmpdir(), "pw-sqlite-"));
	});
	after(() => {
		fs.rmSync(dir, { recursive: true, force: true });
	});

	it("createStore without MONGO_URL opens ${DATA_DIR}/paperwork.db, creating the folder, in WAL mode", async () => {
		const dataDir = path.join(dir, "nested", "data");
		const store = createStore(loadConfig({ DATA_DIR: dataDir }), pino({ level: "silent" }));
		try {
			assert.equal(store.kind, "sqlite");
			await store.adapter("x").insert({ a: 1 });
			assert.ok(fs.existsSync(path.join(dataDir, "paperwork.db")));
			const db = (store as SqliteStore).db;
			assert.equal((db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode, "wal");
			assert.equal((db.prepare("PRAGMA synchronous").get() as { synchronous: number }).synchronous, 1, "NORMAL");
			assert.ok((db.prepare("PRAGMA busy_timeout").get() as { timeout: number }).timeout > 0);
		} finally {
			await store.close();
		}
		assert.equal(await store.ping(), false, "a closed store does not answer");
	});

	it("the records live in DATA_DIR/records.db: a long write transaction there does not hold up the other collections", async () => {
		const dataDir = path.join(dir, "own-files");
		const config = loadConfig({ DATA_DIR: dataDir });
		const writer = createStore(config, pino({ level: "silent" })) as SqliteStore;
		const other = new SqliteStore({ file: path.join(dataDir, "paperwork.db"), ownFiles: { records: path.join(dataDir, "records.db") }, busyTimeoutMs: 50 });
		try {
			await writer.adapter("records").insert({ _id: "r1", key: "K1" });
			await other.adapter("batches").insert({ _id: "b0" });
			assert.ok(fs.existsSync(path.join(dataDir, "records.db")));
			assert.equal(await other.adapter("records").count(), 1, "another connection reads the records from their file");
			// the writer holds the records file's write lock, as the registry does while it registers a group
			writer.fileOf("records").db.exec("BEGIN IMMEDIATE");
			try {
				await other.adapter("batches").insert({ _id: "b1" });
				assert.equal(await other.adapter("batches").count(), 2, "batch writes go on");
				await assert.rejects(other.adapter("records").insert({ _id: "r2" }), /locked|busy/i, "records writes wait for the lock");
			} finally {
				writer.fileOf("records").db.exec("ROLLBACK");
			}
			assert.equal(await writer.ping(), true);
		} finally {
			await other.close();
			await writer.close();
		}
	});

	it("bulkUpsert on a unique key inserts first, and a call that mostly updates gives the same exact outcomes", async () => {
		const store = new SqliteStore({ file: path.join(dir, "insert-first.db") });
		try {
			const a = store.adapter("rows");
			await a.ensureIndexes([{ fields: ["c", "k"], unique: true }]);
			const docs = (v: (i: number) => number) => Array.from({ length: 300 }, (_, i) => ({ c: "x", k: `K${i}`, v: v(i) }));
			const first = await a.bulkUpsert(docs(() => 1), { key: ["c", "k"], keepPrevious: true });
			assert.deepEqual([first.inserted, first.updated, first.unchanged], [300, 0, 0]);
			// a later key twice in one call is compared with the first, as without the fast path
			const again = await a.bulkUpsert([...docs((i) => (i < 200 ? 2 : 1)), { c: "x", k: "NEW", v: 1 }, { c: "x", k: "NEW", v: 2 }], { key: ["c", "k"], keepPrevious: true });
			assert.deepEqual([again.inserted, again.updated, again.unchanged], [1, 201, 100]);
			assert.deepEqual(again.outcomes.slice(-2).map((o) => o.outcome), ["inserted", "updated"]);
			const k5 = await a.findOne({ k: "K5" });
			assert.deepEqual([k5?.v, k5?.version, (k5?.previous as { v: number }).v], [2, 2, 1]);
			assert.equal(await a.count(), 301);
		} finally {
			await store.close();
		}
	});

	it("two processes incrementing one counter and upserting the same key end with exact totals", async () => {
		const file = path.join(dir, "shared.db");
		const store = new SqliteStore({ file });
		const counters = store.adapter("counters");
		await counters.insert({ _id: "c", n: 0 });
		await store.adapter("rows").ensureIndexes([{ fields: ["k"], unique: true }]);
		await store.close();
		const times = 400;
		await Promise.all(
			["p1", "p2"].map((tag) => run(process.execPath, [worker, file, "c", String(times), tag], { timeout: 120_000 }))
		);
		const check = new SqliteStore({ file });
		try {
			const doc = await check.adapter("counters").findById("c");
			assert.equal(doc?.n, 2 * times);
			assert.deepEqual(doc?.by, { p1: times, p2: times });
			const rows = check.adapter("rows");
			assert.equal(await rows.count({ query: { k: "shared" } }), 1, "the unique key held across processes");
			assert.equal(await rows.count(), 1 + 2 * (times / 50));
		} finally {
			await check.close();
		}
	});

	it("queries on declared fields use the expression index", async () => {
		const store = new SqliteStore({ file: path.join(dir, "plan.db") });
		try {
			const a = store.adapter("debts");
			await a.ensureIndexes([{ fields: ["client", "contract.id"], unique: true }, { fields: ["-due"], name: "by_due" }]);
			const plan = (sql: string) => (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all("x", "y") as { detail: string }[]).map((r) => r.detail).join(" | ");
			assert.match(plan(`SELECT doc FROM debts WHERE json_extract(doc, '$.client') = ? AND json_extract(doc, '$.contract.id') = ?`), /USING INDEX debts__client_contract_id/);
			assert.match(plan(`SELECT doc FROM debts WHERE json_extract(doc, '$.due') > ? AND json_extract(doc, '$.due') < ?`), /USING INDEX debts__by_due/);
			const names = (store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'debts'").all() as { name: string }[]).map((r) => r.name);
			assert.ok(names.includes("debts__client_contract_id") && names.includes("debts__by_due"));
		} finally {
			await store.close();
		}
	});

	it("refuses collection and field names it cannot quote safely", async () => {
		const store = new SqliteStore({ file: ":memory:" });
		try {
			assert.throws(() => store.adapter("bad name; drop"), /invalid collection name/);
			assert.throws(() => store.adapter("sqlite_master"), /invalid collection name/);
			await assert.rejects(store.adapter("ok").find({ query: { "a'b": 1 } }), /invalid field name/);
			await assert.rejects(store.adapter("ok").find({ sort: "x) DESC; --" }), /invalid field name/);
		} finally {
			await store.close();
		}
	});

	it("together: batch calls on several collections commit in one transaction; a call that fails rolls it all back", async () => {
		const file = path.join(dir, "together.db");
		const store = new SqliteStore({ file });
		const other = new SqliteStore({ file });
		try {
			const a = store.adapter("ta");
			const b = store.adapter("tb");
			await a.insert({ _id: "a1", n: 0 });
			await b.insert({ _id: "taken" });
			let seenInside = -1;
			let calls: Promise<unknown>[] = [];
			assert.ok(a.together, "SQLite adapters group writes");
			a.together(() => {
				calls = [a.compareAndSetMany([{ id: "a1", expect: { n: 0 }, update: { $set: { n: 1 } } }]), b.insertMany([{ _id: "b1" }]), b.insertManyIfAbsent([{ _id: "b2" }, { _id: "taken" }])];
				// another connection sees none of it before the one commit
				seenInside = Number((other.db.prepare("SELECT count(*) AS n FROM tb").get() as { n: number }).n);
			});
			const [cas, one, absent] = await Promise.all(calls);
			assert.equal(seenInside, 1, "nothing of the group visible to another connection before its commit");
			assert.deepEqual(cas, [true]);
			assert.equal((one as unknown[]).length, 1);
			assert.deepEqual(absent, [true, false]);
			assert.deepEqual((await other.adapter("tb").find({ sort: "_id" })).map((d) => d._id), ["b1", "b2", "taken"]);
			assert.equal((await other.adapter("ta").findById("a1"))?.n, 1);

			// a duplicate _id fails its call after its first document was written: the whole group rolls back
			let failing: Promise<unknown>[] = [];
			assert.throws(() =>
				a.together?.(() => {
					failing = [a.compareAndSetMany([{ id: "a1", expect: { n: 1 }, update: { $set: { n: 2 } } }]), b.insertMany([{ _id: "b3" }, { _id: "taken" }]), b.insertMany([{ _id: "b4" }])];
				})
			);
			const settled = await Promise.allSettled(failing);
			assert.equal(settled[1]?.status, "rejected");
			assert.deepEqual((await other.adapter("tb").find({ sort: "_id" })).map((d) => d._id), ["b1", "b2", "taken"], "nothing of the failed group committed, b3 included");
			assert.equal((await other.adapter("ta").findById("a1"))?.n, 1);
			// a transaction after the group is a transaction of its own again
			await b.insertMany([{ _id: "b5" }]);
			assert.equal(await other.adapter("tb").count(), 4);
		} finally {
			await other.close();
			await store.close();
		}
	});

	it("rolls back a failed bulkUpsert transaction as a whole", async () => {
		const store = new SqliteStore({ file: ":memory:" });
		try {
			const a = store.adapter("t");
			await a.ensureIndexes([{ fields: ["k"], unique: true }]);
			await a.insert({ _id: "taken", k: "other" });
			await assert.rejects(a.bulkUpsert([{ k: "a" }, { _id: "taken", k: "b" }], { key: ["k"] }), /duplicate key/);
			assert.equal(await a.count(), 1, "the first document of the failed chunk was not kept");
		} finally {
			await store.close();
		}
	});

	it("with background checkpoints, a worker thread copies the WAL into the database file; commits on this thread do not", async () => {
		const file = path.join(dir, "ckpt.db");
		const store = new SqliteStore({ file, backgroundCheckpoints: true });
		try {
			assert.equal((store.db.prepare("PRAGMA wal_autocheckpoint").get() as { wal_autocheckpoint: number }).wal_autocheckpoint, SAFETY_NET_PAGES, "this connection only checkpoints past the safety net");
			const a = store.adapter("blobs");
			// ~16 MB in 20 transactions: 2,000 pages, past SQLite's default of 1,000 but far below the safety net
			const filler = "x".repeat(8000);
			for (let t = 0; t < 20; t++) await a.insertMany(Array.from({ length: 100 }, (_v, i) => ({ _id: `b${t}-${i}`, filler })));
			const deadline = Date.now() + 10_000;
			while (fs.statSync(file).size < 10_000_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
			assert.ok(fs.statSync(file).size >= 10_000_000, `the pages reached the database file: ${fs.statSync(file).size} bytes`);
			assert.equal(await a.count(), 2000);
		} finally {
			await store.close();
		}
	});
});

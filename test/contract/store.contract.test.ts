/**
 * The store contract: one suite run against every StoreFactory — SQLite and PostgreSQL (a database of its own on
 * the server behind TEST_DATABASE_URL) always, MongoDB when MONGO_URL is set — plus a service-level check that moleculer-db's DbService works on our adapter through dbMixin.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import type { Doc, StoreAdapter, StoreFactory } from "../../lib/store/types.ts";
import { SqliteStore } from "../../lib/store/sqlite.ts";
import { MongoStore } from "../../lib/store/mongo.ts";
import { MIGRATIONS, PostgresStore } from "../../lib/store/postgres.ts";
import { createTestDatabase } from "../helpers/postgres.ts";
import { DuplicateKeyError, isDuplicateKeyError } from "../../lib/store/errors.ts";
import { pino } from "pino";
import { dbMixin, type DbMixinService } from "../../mixins/db.mixin.ts";
import { closePlatform, initPlatform } from "../../lib/platform.ts";
import { loadConfig } from "../../config/index.ts";

interface Harness {
	factory: StoreFactory;
	cleanup(): Promise<void>;
}

let seq = 0;
/** A collection name unique to this run, so suites never see each other's data. */
function uniqueName(prefix: string): string {
	return `${prefix}_${process.pid}_${Date.now().toString(36)}_${seq++}`;
}

function ids(docs: Doc[]): string[] {
	return docs.map((d) => String(d.name)).sort();
}

export function storeContract(label: string, make: () => Promise<Harness>, skip?: string): void {
	describe(`store contract: ${label}`, { skip }, () => {
		let h: Harness;
		before(async () => {
			h = await make();
		});
		after(async () => {
			await h?.cleanup();
		});
		const fresh = async (): Promise<StoreAdapter> => {
			const a = h.factory.adapter(uniqueName("t"));
			await a.connect();
			return a;
		};

		it("pings", async () => {
			assert.equal(await h.factory.ping(), true);
		});

		it("inserts with generated time-sortable ids, or the given _id, and finds by id", async () => {
			const a = await fresh();
			const x = await a.insert({ name: "x" });
			const y = await a.insert({ name: "y" });
			assert.match(x._id, /^[0-9a-f]{24}$/);
			assert.ok(y._id > x._id, "later id sorts after the earlier one");
			const z = await a.insert({ _id: "given-1", name: "z" });
			assert.equal(z._id, "given-1");
			assert.deepEqual(await a.findById("given-1"), { _id: "given-1", name: "z" });
			assert.equal(await a.findById("missing"), null);
			assert.deepEqual(ids(await a.findByIds([x._id, "given-1", "missing"])), ["x", "z"]);
			assert.equal((await a.findOne({ name: "y" }))?._id, y._id);
			assert.equal(await a.findOne({ name: "nobody" }), null);
			const many = await a.insertMany([{ name: "m1" }, { name: "m2" }]);
			assert.equal(many.length, 2);
			assert.ok(many.every((d) => typeof d._id === "string"));
			assert.equal(await a.count(), 5);
		});

		it("rejects a duplicate _id with DuplicateKeyError (code 11000)", async () => {
			const a = await fresh();
			await a.insert({ _id: "same", name: "a" });
			await assert.rejects(a.insert({ _id: "same", name: "b" }), (err: unknown) => err instanceof DuplicateKeyError && isDuplicateKeyError(err));
		});

		describe("queries", () => {
			let a: StoreAdapter;
			before(async () => {
				a = await fresh();
				await a.insertMany([
					{ name: "a", n: 1, s: "red", flag: true, nested: { k: "x", v: 10 }, maybe: null, at: new Date("2026-01-01T00:00:00.000Z") },
					{ name: "b", n: 2, s: "green", flag: false, nested: { k: "y", v: 20 }, at: new Date("2026-02-01T00:00:00.000Z") },
					{ name: "c", n: 3, s: "blue", flag: true, nested: { k: "x", v: 30 }, maybe: "here", at: new Date("2026-03-01T00:00:00.000Z") },
					{ name: "d", n: 4, s: "O'Brien \"quoted\"; DROP TABLE x", nested: { k: "z", v: 40 } }
				]);
			});
			const q = async (query: Record<string, unknown>) => ids(await a.find({ query }));

			it("equality, on dotted paths, on booleans, and with values that look like SQL", async () => {
				assert.deepEqual(await q({ s: "red" }), ["a"]);
				assert.deepEqual(await q({ "nested.k": "x" }), ["a", "c"]);
				assert.deepEqual(await q({ "nested.k": "x", n: 3 }), ["c"]);
				assert.deepEqual(await q({ flag: true }), ["a", "c"]);
				assert.deepEqual(await q({ flag: false }), ["b"]);
				assert.deepEqual(await q({ s: "O'Brien \"quoted\"; DROP TABLE x" }), ["d"]);
				assert.deepEqual(await q({ n: { $eq: 2 } }), ["b"]);
				assert.deepEqual(await q({}), ["a", "b", "c", "d"]);
			});

			it("equality with null matches null and missing fields; $exists tells them apart", async () => {
				assert.deepEqual(await q({ maybe: null }), ["a", "b", "d"]);
				assert.deepEqual(await q({ maybe: { $exists: true } }), ["a", "c"]);
				assert.deepEqual(await q({ maybe: { $exists: false } }), ["b", "d"]);
				assert.deepEqual(await q({ "nested.v": { $exists: true } }), ["a", "b", "c", "d"]);
			});

			it("$in and $nin (with null meaning missing too)", async () => {
				assert.deepEqual(await q({ s: { $in: ["red", "blue", "nope"] } }), ["a", "c"]);
				assert.deepEqual(await q({ s: { $in: [] } }), []);
				assert.deepEqual(await q({ maybe: { $in: ["here", null] } }), ["a", "b", "c", "d"]);
				assert.deepEqual(await q({ s: { $nin: ["red", "blue"] } }), ["b", "d"]);
				assert.deepEqual(await q({ maybe: { $nin: ["here"] } }), ["a", "b", "d"]);
				assert.deepEqual(await q({ maybe: { $nin: [null] } }), ["c"]);
			});

			it("$gt $gte $lt $lte on numbers, dotted paths and Dates", async () => {
				assert.deepEqual(await q({ n: { $gt: 2 } }), ["c", "d"]);
				assert.deepEqual(await q({ n: { $gte: 2 } }), ["b", "c", "d"]);
				assert.deepEqual(await q({ n: { $lt: 2 } }), ["a"]);
				assert.deepEqual(await q({ n: { $lte: 2 } }), ["a", "b"]);
				assert.deepEqual(await q({ n: { $gt: 1, $lt: 4 } }), ["b", "c"]);
				assert.deepEqual(await q({ "nested.v": { $gte: 30 } }), ["c", "d"]);
				assert.deepEqual(await q({ at: { $gte: new Date("2026-02-01T00:00:00.000Z") } }), ["b", "c"]);
				assert.deepEqual(await q({ at: { $lt: new Date("2026-02-01T00:00:00.000Z") } }), ["a"]);
				assert.deepEqual(await q({ at: new Date("2026-03-01T00:00:00.000Z") }), ["c"]);
			});

			it("$ne matches missing fields too", async () => {
				assert.deepEqual(await q({ s: { $ne: "red" } }), ["b", "c", "d"]);
				assert.deepEqual(await q({ maybe: { $ne: "here" } }), ["a", "b", "d"]);
				assert.deepEqual(await q({ maybe: { $ne: null } }), ["c"]);
			});

			it("$and and $or, nested", async () => {
				assert.deepEqual(await q({ $or: [{ s: "red" }, { n: 4 }] }), ["a", "d"]);
				assert.deepEqual(await q({ $and: [{ n: { $gt: 1 } }, { n: { $lt: 4 } }] }), ["b", "c"]);
				assert.deepEqual(await q({ flag: true, $or: [{ n: 1 }, { $and: [{ "nested.k": "x" }, { n: 3 }] }] }), ["a", "c"]);
			});

			it("rejects unsupported operators", async () => {
				await assert.rejects(a.find({ query: { n: { $regex: "x" } } }), /\$regex/);
			});

			it("sorts (string and array forms, descending, several keys), limits and offsets", async () => {
				const names = (docs: Doc[]) => docs.map((d) => d.name);
				assert.deepEqual(names(await a.find({ sort: "-n" })), ["d", "c", "b", "a"]);
				assert.deepEqual(names(await a.find({ sort: ["nested.k", "-n"] })), ["c", "a", "b", "d"]);
				assert.deepEqual(names(await a.find({ sort: "-nested.k n" })), ["d", "b", "a", "c"]);
				assert.deepEqual(names(await a.find({ sort: "n", limit: 2 })), ["a", "b"]);
				assert.deepEqual(names(await a.find({ sort: "n", limit: 2, offset: 1 })), ["b", "c"]);
				assert.deepEqual(names(await a.find({ sort: "n", offset: 3 })), ["d"]);
				assert.deepEqual(names(await a.find({ sort: "-at", query: { at: { $exists: true } } })), ["c", "b", "a"]);
				assert.deepEqual(names(await a.find({ sort: "-_id" })), ["d", "c", "b", "a"], "ids sort by creation");
			});

			it("counts with a query and with a search", async () => {
				assert.equal(await a.count(), 4);
				assert.equal(await a.count({ query: { flag: true } }), 2);
				assert.equal(await a.count({ search: "RE", searchFields: ["s"] }), 2);
			});

			it("moleculer-db search: case-insensitive substring over searchFields, combined with the query", async () => {
				assert.deepEqual(ids(await a.find({ search: "RE", searchFields: "s" })), ["a", "b"]);
				assert.deepEqual(ids(await a.find({ search: "re", searchFields: ["s", "name"], query: { n: { $gt: 1 } } })), ["b"]);
				assert.deepEqual(ids(await a.find({ search: "o'brien", searchFields: "s" })), ["d"]);
				assert.deepEqual(ids(await a.find({ search: "BLU" })), ["c"], "without searchFields: any top-level value");
			});
		});

		it("search folds case beyond ASCII", async () => {
			const a = await fresh();
			await a.insertMany([{ name: "e", city: "ÉCOLE Zürich" }, { name: "f", city: "Paris" }]);
			assert.deepEqual(ids(await a.find({ search: "école zü", searchFields: "city" })), ["e"]);
		});

		it("updates: $set, $inc, $unset on dotted paths; a plain object is $set", async () => {
			const a = await fresh();
			const d = await a.insert({ name: "u", n: 1, nested: { a: 1, b: 2 }, gone: "x" });
			const u1 = await a.updateById(d._id, { $set: { "nested.a": 5, "deep.new.path": "y", when: new Date("2026-05-05T05:05:05.005Z") }, $inc: { n: 2, "nested.b": -1, fresh: 3 }, $unset: { gone: 1 } });
			assert.deepEqual(u1, { _id: d._id, name: "u", n: 3, nested: { a: 5, b: 1 }, deep: { new: { path: "y" } }, when: new Date("2026-05-05T05:05:05.005Z"), fresh: 3 });
			const u2 = await a.updateById(d._id, { name: "renamed", "nested.c": [1, { x: true }] });
			assert.equal(u2?.name, "renamed");
			assert.deepEqual((u2?.nested as Record<string, unknown>).c, [1, { x: true }]);
			assert.equal(u2?.n, 3, "plain object leaves other fields");
			assert.equal(await a.updateById("missing", { $set: { x: 1 } }), null);
		});

		it("updateMany returns the number of matched documents", async () => {
			const a = await fresh();
			await a.insertMany([{ name: "1", g: "a", n: 1 }, { name: "2", g: "a", n: 2 }, { name: "3", g: "b", n: 3 }]);
			assert.equal(await a.updateMany({ g: "a" }, { $inc: { n: 10 }, $set: { seen: true } }), 2);
			assert.deepEqual((await a.find({ sort: "name" })).map((d) => [d.n, d.seen]), [[11, true], [12, true], [3, undefined]]);
			assert.equal(await a.updateMany({ g: "zzz" }, { $set: { x: 1 } }), 0);
		});

		it("removes by id, by query, and clears", async () => {
			const a = await fresh();
			const [x] = await a.insertMany([{ name: "x", g: 1 }, { name: "y", g: 2 }, { name: "z", g: 2 }, { name: "w", g: 3 }]);
			assert.equal((await a.removeById(x._id))?.name, "x");
			assert.equal(await a.removeById(x._id), null);
			assert.equal(await a.removeMany({ g: 2 }), 2);
			assert.equal(await a.clear(), 1);
			assert.equal(await a.count(), 0);
		});

		it("increment adds atomically, sets other fields, returns the document after; null when absent", async () => {
			const a = await fresh();
			const d = await a.insert({ name: "counter", ok: 0 });
			const r = await a.increment(d._id, { ok: 2, "stats.failed": 1 }, { status: "running" });
			assert.deepEqual(r, { _id: d._id, name: "counter", ok: 2, stats: { failed: 1 }, status: "running" });
			await Promise.all(Array.from({ length: 50 }, () => a.increment(d._id, { ok: 1 })));
			assert.equal((await a.findById(d._id))?.ok, 52);
			assert.equal(await a.increment("missing", { ok: 1 }), null);
		});

		it("unique indexes: violations raise DuplicateKeyError on insert and update; ensureIndexes is idempotent", async () => {
			const a = await fresh();
			const idx = [{ fields: ["client", "ref"], unique: true }, { fields: ["-createdAt"] }];
			await a.ensureIndexes(idx);
			await a.ensureIndexes(idx);
			await a.insert({ client: "c1", ref: "1" });
			const other = await a.insert({ client: "c1", ref: "2" });
			await a.insert({ client: "c2", ref: "1" });
			await assert.rejects(a.insert({ client: "c1", ref: "1" }), (e: unknown) => e instanceof DuplicateKeyError && (e as DuplicateKeyError).code === 11000);
			await assert.rejects(a.updateById(other._id, { $set: { ref: "1" } }), DuplicateKeyError);
			assert.equal(await a.count(), 3);
		});

		it("Dates come back as Dates, nested and in arrays", async () => {
			const a = await fresh();
			const when = new Date("2026-11-30T23:59:59.123Z");
			const d = await a.insert({ name: "dated", when, nested: { list: [when, "2026-11-30"] }, notADate: "2026-11-30T23:59:59Z" });
			const back = await a.findById(d._id);
			assert.ok(back?.when instanceof Date);
			assert.equal((back?.when as Date).getTime(), when.getTime());
			const list = (back?.nested as { list: unknown[] }).list;
			assert.ok(list[0] instanceof Date);
			assert.equal(list[1], "2026-11-30");
			assert.equal(back?.notADate, "2026-11-30T23:59:59Z", "a timestamp without milliseconds stays a string");
			assert.ok((await a.find({}))[0].when instanceof Date);
		});

		describe("bulkUpsert", () => {
			const key = ["client", "ref"];
			const debt = (ref: number, amount: number, extra: Record<string, unknown> = {}) => ({ client: "acme", ref: `R${ref}`, amount, due: new Date(Date.UTC(2026, 0, 1 + (ref % 28))), ...extra });

			it("inserts, updates changed, keeps unchanged; versions and previous values", async () => {
				const a = await fresh();
				await a.ensureIndexes([{ fields: key, unique: true }]);
				const r1 = await a.bulkUpsert([debt(1, 100), debt(2, 200), debt(3, 300)], { key, keepPrevious: true });
				assert.deepEqual([r1.inserted, r1.updated, r1.unchanged], [3, 0, 0]);
				assert.deepEqual(r1.outcomes.map((o) => o.outcome), ["inserted", "inserted", "inserted"]);
				const r2 = await a.bulkUpsert([debt(1, 100), debt(2, 250), debt(4, 400)], { key, keepPrevious: true });
				assert.deepEqual([r2.inserted, r2.updated, r2.unchanged], [1, 1, 1]);
				assert.deepEqual(r2.outcomes.map((o) => o.outcome), ["unchanged", "updated", "inserted"]);
				assert.equal(r2.outcomes[0]._id, r1.outcomes[0]._id);
				assert.equal(r2.outcomes[1]._id, r1.outcomes[1]._id, "an update keeps the _id");
				const two = await a.findOne({ ref: "R2" });
				assert.equal(two?.amount, 250);
				assert.equal(two?.version, 2);
				assert.deepEqual(two?.previous, { client: "acme", ref: "R2", amount: 200, due: debt(2, 0).due });
				assert.equal((await a.findOne({ ref: "R1" }))?.version, 1);
				assert.equal(await a.count(), 4);
				const r3 = await a.bulkUpsert([debt(2, 275)], { key, keepPrevious: true });
				assert.equal(r3.updated, 1);
				const again = await a.findOne({ ref: "R2" });
				assert.equal(again?.version, 3);
				assert.equal((again?.previous as Record<string, unknown>).amount, 250);
				assert.equal((again?.previous as Record<string, unknown>).previous, undefined, "previous does not nest");
			});

			it("without keepPrevious: no previous, version still counts", async () => {
				const a = await fresh();
				await a.ensureIndexes([{ fields: key, unique: true }]);
				await a.bulkUpsert([debt(1, 1)], { key });
				await a.bulkUpsert([debt(1, 2)], { key });
				const d = await a.findOne({ ref: "R1" });
				assert.equal(d?.version, 2);
				assert.equal(d?.previous, undefined);
			});

			it("ignoreFields do not make a document changed", async () => {
				const a = await fresh();
				await a.ensureIndexes([{ fields: key, unique: true }]);
				await a.bulkUpsert([debt(1, 1, { batch: "b1", at: new Date(1) })], { key, ignoreFields: ["batch", "at"] });
				const r = await a.bulkUpsert([debt(1, 1, { batch: "b2", at: new Date(2) })], { key, ignoreFields: ["batch", "at"] });
				assert.equal(r.unchanged, 1);
				assert.equal((await a.findOne({ ref: "R1" }))?.batch, "b1", "an unchanged document is not rewritten");
				const r2 = await a.bulkUpsert([debt(1, 9, { batch: "b3" })], { key, ignoreFields: ["batch", "at"], keepPrevious: true });
				assert.equal(r2.updated, 1);
				const d = await a.findOne({ ref: "R1" });
				assert.equal(d?.batch, "b3");
				assert.equal((d?.previous as Record<string, unknown>).batch, undefined, "previous holds compared fields only");
			});

			it("alwaysSet fields are written on unchanged documents without counting as a change; outcomeField records each write", async () => {
				const a = await fresh();
				await a.ensureIndexes([{ fields: key, unique: true }]);
				const opts = { key, alwaysSet: ["batch", "line"], outcomeField: "lastOutcome", keepPrevious: true };
				await a.bulkUpsert([debt(1, 1, { batch: "b1", line: 2 })], opts);
				assert.equal((await a.findOne({ ref: "R1" }))?.lastOutcome, "inserted");
				const r = await a.bulkUpsert([debt(1, 1, { batch: "b2", line: 7 })], opts);
				assert.deepEqual([r.unchanged, r.updated], [1, 0]);
				const d = await a.findOne({ ref: "R1" });
				assert.deepEqual([d?.batch, d?.line, d?.version, d?.lastOutcome], ["b2", 7, 1, "unchanged"]);
				const same = await a.bulkUpsert([debt(1, 1, { batch: "b2", line: 7 })], opts);
				assert.equal(same.unchanged, 1);
				const r2 = await a.bulkUpsert([debt(1, 5, { batch: "b3", line: 1 })], opts);
				assert.equal(r2.updated, 1);
				const u = await a.findOne({ ref: "R1" });
				assert.deepEqual([u?.batch, u?.version, u?.lastOutcome], ["b3", 2, "updated"]);
				assert.equal((u?.previous as Record<string, unknown>).batch, undefined, "provenance is not part of previous");
			});

			it("skip() sees the stored document (and is not asked about new keys) and leaves it untouched, reported as skipped", async () => {
				const a = await fresh();
				await a.ensureIndexes([{ fields: key, unique: true }]);
				await a.bulkUpsert([debt(1, 1, { batch: "b1", line: 3 })], { key });
				const seen: (number | null)[] = [];
				const r = await a.bulkUpsert([debt(1, 99, { batch: "b1", line: 9 }), debt(2, 2, { batch: "b1", line: 10 })], {
					key,
					skip: (stored, incoming) => {
						seen.push(Number(stored.line));
						return stored.batch === incoming.batch && Number(stored.line) < Number(incoming.line);
					}
				});
				assert.deepEqual(seen, [3]);
				assert.deepEqual([r.skipped, r.inserted], [1, 1]);
				assert.deepEqual(r.outcomes.map((o) => o.outcome), ["skipped", "inserted"]);
				assert.equal((await a.findOne({ ref: "R1" }))?.amount, 1);
			});

			it("a key twice in one call: the later wins, counted against the earlier", async () => {
				const a = await fresh();
				await a.ensureIndexes([{ fields: key, unique: true }]);
				const r = await a.bulkUpsert([debt(1, 1), debt(1, 1), debt(1, 2), debt(2, 5)], { key, keepPrevious: true });
				assert.deepEqual(r.outcomes.map((o) => o.outcome), ["inserted", "unchanged", "updated", "inserted"]);
				assert.deepEqual([r.inserted, r.updated, r.unchanged], [2, 1, 1]);
				assert.equal(r.outcomes[0]._id, r.outcomes[2]._id);
				const d = await a.findOne({ ref: "R1" });
				assert.equal(d?.amount, 2);
				assert.equal(d?.version, 2);
				assert.equal((d?.previous as Record<string, unknown>).amount, 1);
				assert.equal(await a.count(), 2);
			});

			it("handles more documents than one transaction and a missing key field", async () => {
				const a = await fresh();
				await a.ensureIndexes([{ fields: key, unique: true }]);
				const docs = Array.from({ length: 12_001 }, (_, i) => debt(i, i));
				const r = await a.bulkUpsert(docs, { key });
				assert.equal(r.inserted, 12_001);
				assert.equal(r.outcomes.length, 12_001);
				assert.equal(await a.count(), 12_001);
				const r2 = await a.bulkUpsert(docs.map((d, i) => (i % 3 === 0 ? { ...d, amount: -1 } : d)), { key });
				assert.deepEqual([r2.inserted, r2.updated, r2.unchanged], [0, 4001, 8000]);
				await assert.rejects(a.bulkUpsert([{ client: "acme" }], { key }), /key field 'ref'/);
			});

			it("key on _id", async () => {
				const a = await fresh();
				const r = await a.bulkUpsert([{ _id: "k1", v: 1 }, { _id: "k2", v: 2 }], { key: ["_id"] });
				assert.equal(r.inserted, 2);
				const r2 = await a.bulkUpsert([{ _id: "k1", v: 1 }, { _id: "k2", v: 3 }], { key: ["_id"] });
				assert.deepEqual([r2.updated, r2.unchanged], [1, 1]);
				assert.equal((await a.findById("k2"))?.v, 3);
			});
		});

		it("moleculer-db id transforms", async () => {
			const a = await fresh();
			assert.deepEqual(a.beforeSaveTransformID({ id: "abc", x: 1 }, "id"), { _id: "abc", x: 1 });
			assert.deepEqual(a.beforeSaveTransformID({ x: 1 }, "_id"), { x: 1 });
			assert.deepEqual(a.afterRetrieveTransformID({ _id: "abc", x: 1 }, "id"), { id: "abc", x: 1 });
			assert.deepEqual(a.entityToObject({ _id: "abc", x: 1 }), { _id: "abc", x: 1 });
		});

		describe("compareAndSetMany and insertManyIfAbsent", () => {
			it("applies each compare-and-set only where the document still matches, in order per document", async () => {
				const a = await fresh();
				await a.insertMany([
					{ _id: "c1", status: "pending", v: 0 },
					{ _id: "c2", status: "sending", v: 3 },
					{ _id: "c3", status: "pending", v: 0 }
				]);
				const out = await a.compareAndSetMany([
					{ id: "c1", expect: { status: "pending" }, update: { $set: { status: "sending" }, $inc: { v: 1 } } },
					// c2 does not match: unchanged
					{ id: "c2", expect: { status: "pending" }, update: { $set: { status: "failed" } } },
					// the second op on c1 sees the first one's result and matches it
					{ id: "c1", expect: { status: "sending", v: 1 }, update: { $set: { status: "delivered" }, $unset: { v: "" } } },
					// a third op on c1 expecting the state before the first one no longer matches
					{ id: "c1", expect: { status: "pending" }, update: { $set: { status: "lost" } } },
					{ id: "missing", expect: {}, update: { $set: { x: 1 } } },
					{ id: "c3", expect: { status: { $in: ["pending", "sending"] } }, update: { $set: { status: "sent", at: new Date("2026-12-01T00:00:00.000Z") } } }
				]);
				assert.deepEqual(out, [true, false, true, false, false, true]);
				assert.deepEqual(await a.findById("c1"), { _id: "c1", status: "delivered" });
				assert.deepEqual(await a.findById("c2"), { _id: "c2", status: "sending", v: 3 });
				assert.deepEqual(await a.findById("c3"), { _id: "c3", status: "sent", v: 0, at: new Date("2026-12-01T00:00:00.000Z") });
				assert.deepEqual(await a.compareAndSetMany([]), []);
			});

			it("two batches racing over the same documents: each document changes once", async () => {
				const a = await fresh();
				const n = 40;
				await a.insertMany(Array.from({ length: n }, (_, i) => ({ _id: `r${String(i).padStart(2, "0")}`, status: "pending" })));
				const batch = (who: string, reverse: boolean) => {
					const ops = Array.from({ length: n }, (_, i) => ({ id: `r${String(i).padStart(2, "0")}`, expect: { status: "pending" }, update: { $set: { status: "taken", by: who } } }));
					return a.compareAndSetMany(reverse ? ops.reverse() : ops);
				};
				const [x, y] = await Promise.all([batch("x", false), batch("y", true)]);
				for (let i = 0; i < n; i++) assert.equal(Number(x[i]) + Number(y[n - 1 - i]), 1, `document ${i} taken by exactly one batch`);
				assert.equal(await a.count({ query: { status: "taken" } }), n);
			});

			it("inserts only the documents whose key is free and says which", async () => {
				const a = await fresh();
				await a.insert({ _id: "a1", name: "stored" });
				const out = await a.insertManyIfAbsent([{ _id: "a0", name: "new" }, { _id: "a1", name: "clash" }, { _id: "a2", name: "first" }, { _id: "a2", name: "second" }]);
				assert.deepEqual(out, [true, false, true, false]);
				assert.equal((await a.findById("a1"))?.name, "stored");
				assert.equal((await a.findById("a2"))?.name, "first");
				assert.equal(await a.count(), 3);
				assert.deepEqual(await a.insertManyIfAbsent([]), []);
			});

			it("insertManyIfAbsent also leaves alone a document whose other unique key is taken", async () => {
				const a = await fresh();
				await a.ensureIndexes([{ fields: ["k"], unique: true, name: "k_unique" }]);
				await a.insert({ _id: "u1", k: "same" });
				assert.deepEqual(await a.insertManyIfAbsent([{ _id: "u2", k: "same" }, { _id: "u3", k: "other" }]), [false, true]);
				assert.equal(await a.count(), 2);
			});
		});
	});
}

storeContract("sqlite", async () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pw-store-"));
	const factory = new SqliteStore({ file: path.join(dir, "paperwork.db") });
	return {
		factory,
		async cleanup() {
			await factory.close();
			fs.rmSync(dir, { recursive: true, force: true });
		}
	};
});

storeContract("postgres", async () => {
	const db = await createTestDatabase();
	const factory = new PostgresStore({ url: db.url });
	return {
		factory,
		async cleanup() {
			await factory.close();
			await db.drop();
		}
	};
});

describe("postgres store: start-up", () => {
	it("migrates once when several nodes start at once, records the versions, and is idempotent", async () => {
		const db = await createTestDatabase();
		const stores = Array.from({ length: 4 }, () => new PostgresStore({ url: db.url, poolSize: 2 }));
		try {
			await Promise.all(stores.map((s) => s.open()));
			// every node creates the same table and indexes at once
			await Promise.all(stores.map((s) => s.adapter("same").ensureIndexes([{ fields: ["k"], unique: true }])));
			assert.deepEqual(await stores[0].appliedVersions(), MIGRATIONS.map((m) => m.version));
			const again = new PostgresStore({ url: db.url });
			await again.open();
			assert.deepEqual(await again.appliedVersions(), MIGRATIONS.map((m) => m.version));
			await again.close();
		} finally {
			await Promise.all(stores.map((s) => s.close()));
			await db.drop();
		}
	});

	it("retries while the server is not reachable, then fails with the connection error", async () => {
		const store = new PostgresStore({ url: "postgres://postgres@127.0.0.1:1/none", connectTimeoutMs: 1200 });
		const started = Date.now();
		await assert.rejects(store.open(), (err: unknown) => (err as { code?: string }).code === "ECONNREFUSED");
		assert.ok(Date.now() - started >= 500, "it retried before giving up");
		await store.close();
	});

	it("two stores upserting overlapping keys at once end with one document per key and counts that add up", async () => {
		const db = await createTestDatabase();
		const a = new PostgresStore({ url: db.url, poolSize: 2 });
		const b = new PostgresStore({ url: db.url, poolSize: 2 });
		try {
			const key = ["client", "ref"];
			const [ca, cb] = [a.adapter("race"), b.adapter("race")];
			await ca.ensureIndexes([{ fields: key, unique: true }]);
			await cb.ensureIndexes([{ fields: key, unique: true }]);
			const docs = (from: number, n: number, amount: number) => Array.from({ length: n }, (_, i) => ({ client: "c", ref: `R${from + i}`, amount }));
			// 0..2999 from A, 1500..4499 from B: 1,500 keys written by both, with different amounts
			const [ra, rb] = await Promise.all([ca.bulkUpsert(docs(0, 3000, 1), { key, rowsPerTransaction: 500 }), cb.bulkUpsert(docs(1500, 3000, 2), { key, rowsPerTransaction: 500 })]);
			assert.equal(await ca.count(), 4500);
			assert.equal(ra.inserted + rb.inserted, 4500, "each key inserted exactly once");
			assert.equal(ra.updated + rb.updated, 1500, "each shared key replaced exactly once by the later writer");
			assert.equal(ra.unchanged + rb.unchanged + ra.skipped + rb.skipped, 0);
			assert.equal((await ca.find({ query: { version: 2 } })).length, 1500);
		} finally {
			await a.close();
			await b.close();
			await db.drop();
		}
	});
});

const mongoUrl = process.env.MONGO_URL;
storeContract(
	"mongo",
	async () => {
		const db = `paperwork_test_${process.pid}_${Date.now().toString(36)}`;
		const factory = new MongoStore({ url: mongoUrl ?? "", db });
		return {
			factory,
			async cleanup() {
				await factory.db.dropDatabase();
				await factory.close();
			}
		};
	},
	mongoUrl ? undefined : "MONGO_URL is not set: no MongoDB server to run the contract against"
);

describe("dbMixin on a Moleculer broker (platform on SQLite)", () => {
	let dir: string;
	let broker: ServiceBroker;

	before(async () => {
		dir = fs.mkdtempSync(path.join(os.tmpdir(), "pw-dbmixin-"));
		// services are created before the platform exists: the mixin must resolve its adapter later
		broker = new ServiceBroker({ transporter: null, logger: false });
		broker.createService({
			name: "notes",
			mixins: [dbMixin("notes", { indexes: [{ fields: ["code"], unique: true }], crudActions: true })],
			actions: {
				bump: {
					params: { id: "string" },
					handler(this: DbMixinService, ctx) {
						return this.adapter.increment((ctx.params as { id: string }).id, { hits: 1 });
					}
				}
			}
		});
		const platform = await initPlatform(loadConfig({ DATA_DIR: dir }), pino({ level: "silent" }));
		assert.equal(platform.store.kind, "sqlite");
		await broker.start();
	});
	after(async () => {
		await broker.stop();
		await closePlatform();
		fs.rmSync(dir, { recursive: true, force: true });
	});

	it("answers create, get, find, list, count, update, remove and reaches this.adapter", async () => {
		const created = (await broker.call("notes.create", { code: "n1", title: "first", hits: 0 })) as Doc;
		assert.match(created._id, /^[0-9a-f]{24}$/);
		await broker.call("notes.create", { code: "n2", title: "second", hits: 0 });
		assert.deepEqual(await broker.call("notes.get", { id: created._id }), created);
		const found = (await broker.call("notes.find", { query: { code: "n2" } })) as Doc[];
		assert.deepEqual(found.map((d) => d.title), ["second"]);
		const sorted = (await broker.call("notes.find", { sort: "-code", limit: 1 })) as Doc[];
		assert.equal(sorted[0].code, "n2");
		const list = (await broker.call("notes.list", { page: 1, pageSize: 1, sort: "code" })) as { rows: Doc[]; total: number; totalPages: number };
		assert.equal(list.total, 2);
		assert.equal(list.totalPages, 2);
		assert.equal(list.rows[0].code, "n1");
		assert.equal(await broker.call("notes.count", { search: "SEC", searchFields: "title" }), 1);
		const updated = (await broker.call("notes.update", { id: created._id, title: "changed" })) as Doc;
		assert.equal(updated.title, "changed");
		assert.equal(((await broker.call("notes.bump", { id: created._id })) as Doc).hits, 1);
		await assert.rejects(broker.call("notes.create", { code: "n1" }), DuplicateKeyError, "the declared unique index exists");
		assert.ok(fs.existsSync(path.join(dir, "paperwork.db")), "the platform's store is ${DATA_DIR}/paperwork.db");
		await broker.call("notes.remove", { id: created._id });
		await assert.rejects(broker.call("notes.get", { id: created._id }), /not found/i);
	});
});

/**
 * The distributed store: MongoDB through the current official driver (7.x), same contract as SQLite.
 * `_id` is a string (time-sortable, generated here when absent). Queries are MongoDB's own, so the subset
 * the services use works natively; moleculer-db's `search` becomes case-insensitive regexes.
 * bulkUpsert fetches the existing documents of a chunk by key, decides insert/update/unchanged in memory,
 * then writes the chunk with one unordered bulkWrite; an insert that loses a race with another process
 * (duplicate key) is retried as an update.
 */
import { MongoClient, type AnyBulkWriteOperation, type Collection, type Db, type Filter, type UpdateFilter } from "mongodb";
import type { Logger } from "pino";
import type { BulkUpsertOptions, BulkUpsertResult, CompareAndSetOp, Doc, FindOptions, IndexSpec, NewDoc, Query, StoreAdapter, StoreFactory, Update } from "./types.ts";
import { AdapterBase } from "./adapter-base.ts";
import { DuplicateKeyError, isDuplicateKeyError } from "./errors.ts";
import { getPath, keyOf, normaliseUpdate, parseSearchFields, parseSort, planWrite, upsertPlan, type UpsertPlan } from "./docs.ts";
import { newId } from "./ids.ts";

/** Documents per bulkUpsert round trip (fetch by key + bulkWrite). */
const CHUNK = 1000;

function escapeRegex(s: string): string {
	return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function mapError(collection: string, err: unknown): unknown {
	if (isDuplicateKeyError(err) && !(err instanceof DuplicateKeyError)) {
		return new DuplicateKeyError(collection, (err as Error).message, { cause: err });
	}
	return err;
}

/** A stable string for a key tuple (Dates by ISO string). */
function keyString(values: unknown[]): string {
	return JSON.stringify(values.map((v) => (v instanceof Date ? { $date: v.toISOString() } : v)));
}

export interface MongoStoreOptions {
	url: string;
	db: string;
	logger?: Logger;
}

/** The MongoDB StoreFactory: one MongoClient per process, one adapter per collection. */
export class MongoStore implements StoreFactory {
	readonly kind = "mongo" as const;
	readonly client: MongoClient;
	readonly db: Db;
	private readonly adapters = new Map<string, MongoAdapter>();

	constructor(options: MongoStoreOptions) {
		this.client = new MongoClient(options.url, { ignoreUndefined: true });
		this.db = this.client.db(options.db);
		options.logger?.debug({ db: options.db }, "mongo store created");
	}

	adapter(collection: string): StoreAdapter {
		let a = this.adapters.get(collection);
		if (!a) {
			a = new MongoAdapter(this, collection);
			this.adapters.set(collection, a);
		}
		return a;
	}

	async ping(): Promise<boolean> {
		try {
			const res = await this.db.command({ ping: 1 });
			return res.ok === 1;
		} catch {
			return false;
		}
	}

	async close(): Promise<void> {
		this.adapters.clear();
		await this.client.close();
	}
}

/** One MongoDB collection; implements moleculer-db's adapter contract and ours. */
export class MongoAdapter extends AdapterBase implements StoreAdapter {
	readonly store: MongoStore;
	readonly collection: string;
	readonly coll: Collection<Doc>;

	constructor(store: MongoStore, collection: string) {
		super();
		this.store = store;
		this.collection = collection;
		this.coll = store.db.collection<Doc>(collection);
	}

	init(): void {
		// the collection is fixed when the factory creates the adapter
	}

	async connect(): Promise<void> {
		await this.store.client.connect();
	}

	async disconnect(): Promise<void> {
		// the client belongs to the factory; closed by MongoStore.close()
	}

	/** The filter for a query plus moleculer-db's search. */
	private filter(options: FindOptions): Filter<Doc> {
		const parts: Filter<Doc>[] = [];
		if (options.query && Object.keys(options.query).length) parts.push(options.query as Filter<Doc>);
		if (typeof options.search === "string" && options.search !== "") {
			const regex = escapeRegex(options.search);
			const fields = parseSearchFields(options.searchFields);
			if (fields.length) {
				parts.push({ $or: fields.map((f) => ({ [f]: { $regex: regex, $options: "i" } })) } as Filter<Doc>);
			} else {
				parts.push({
					$expr: {
						$anyElementTrue: {
							$map: {
								input: { $objectToArray: "$$ROOT" },
								in: { $regexMatch: { input: { $convert: { input: "$$this.v", to: "string", onError: "", onNull: "" } }, regex, options: "i" } }
							}
						}
					}
				} as Filter<Doc>);
			}
		}
		if (parts.length === 0) return {};
		return parts.length === 1 ? parts[0] : { $and: parts };
	}

	async find(options: FindOptions = {}): Promise<Doc[]> {
		let cursor = this.coll.find(this.filter(options));
		const sort = parseSort(options.sort);
		if (sort.length) cursor = cursor.sort(Object.fromEntries(sort));
		if (typeof options.offset === "number" && options.offset > 0) cursor = cursor.skip(options.offset);
		if (typeof options.limit === "number" && options.limit > 0) cursor = cursor.limit(options.limit);
		return cursor.toArray() as Promise<Doc[]>;
	}

	async findOne(query: Query): Promise<Doc | null> {
		return (await this.coll.findOne(query as Filter<Doc>)) as Doc | null;
	}

	async findById(id: string): Promise<Doc | null> {
		return (await this.coll.findOne({ _id: String(id) } as Filter<Doc>)) as Doc | null;
	}

	async findByIds(ids: string[]): Promise<Doc[]> {
		return (await this.coll.find({ _id: { $in: ids.map(String) } } as Filter<Doc>).toArray()) as Doc[];
	}

	async count(options: FindOptions = {}): Promise<number> {
		return this.coll.countDocuments(this.filter(options));
	}

	async insert(doc: NewDoc): Promise<Doc> {
		const stored = { ...doc, _id: doc._id === undefined || doc._id === null ? newId() : String(doc._id) } as Doc;
		try {
			await this.coll.insertOne(stored);
		} catch (err) {
			throw mapError(this.collection, err);
		}
		return stored;
	}

	async insertMany(docs: NewDoc[]): Promise<Doc[]> {
		if (docs.length === 0) return [];
		const stored = docs.map((d) => ({ ...d, _id: d._id === undefined || d._id === null ? newId() : String(d._id) }) as Doc);
		try {
			await this.coll.insertMany(stored, { ordered: true });
		} catch (err) {
			throw mapError(this.collection, err);
		}
		return stored;
	}

	/** Our update forms as a MongoDB update document (null when it changes nothing). */
	private static mongoUpdate(update: Update | Record<string, unknown>): UpdateFilter<Doc> | null {
		const u = normaliseUpdate(update);
		const out: Record<string, Record<string, unknown>> = {};
		if (Object.keys(u.$set).length) out.$set = u.$set;
		if (Object.keys(u.$inc).length) out.$inc = u.$inc;
		const unset = Object.keys(u.$unset).filter((k) => k !== "_id");
		if (unset.length) out.$unset = Object.fromEntries(unset.map((k) => [k, ""]));
		return Object.keys(out).length ? (out as UpdateFilter<Doc>) : null;
	}

	async updateMany(query: Query, update: Update | Record<string, unknown>): Promise<number> {
		const u = MongoAdapter.mongoUpdate(update);
		if (!u) return this.count({ query });
		try {
			const res = await this.coll.updateMany(query as Filter<Doc>, u);
			return res.matchedCount;
		} catch (err) {
			throw mapError(this.collection, err);
		}
	}

	async updateById(id: string, update: Update | Record<string, unknown>): Promise<Doc | null> {
		const u = MongoAdapter.mongoUpdate(update);
		if (!u) return this.findById(id);
		try {
			return (await this.coll.findOneAndUpdate({ _id: String(id) } as Filter<Doc>, u, { returnDocument: "after" })) as Doc | null;
		} catch (err) {
			throw mapError(this.collection, err);
		}
	}

	async removeMany(query: Query): Promise<number> {
		return (await this.coll.deleteMany(query as Filter<Doc>)).deletedCount;
	}

	async removeById(id: string): Promise<Doc | null> {
		return (await this.coll.findOneAndDelete({ _id: String(id) } as Filter<Doc>)) as Doc | null;
	}

	async clear(): Promise<number> {
		return (await this.coll.deleteMany({})).deletedCount;
	}

	async bulkUpsert(docs: NewDoc[], options: BulkUpsertOptions): Promise<BulkUpsertResult> {
		if (!options.key?.length) throw new Error("bulkUpsert needs options.key");
		const result: BulkUpsertResult = { inserted: 0, updated: 0, unchanged: 0, skipped: 0, outcomes: new Array(docs.length) };
		const plan = upsertPlan(options);
		for (let start = 0; start < docs.length; start += CHUNK) {
			const idx: number[] = [];
			for (let i = start; i < Math.min(docs.length, start + CHUNK); i++) idx.push(i);
			await this.upsertChunk(docs, idx, options, plan, result, 3);
		}
		return result;
	}

	/** Upserts docs[i] for i in `idx` (one fetch, one bulkWrite); retries inserts that lost a race. */
	private async upsertChunk(docs: NewDoc[], idx: number[], options: BulkUpsertOptions, plan: UpsertPlan, result: BulkUpsertResult, triesLeft: number): Promise<void> {
		const keys = idx.map((i) => keyOf(docs[i], options.key, i));
		const filter: Filter<Doc> =
			options.key.length === 1
				? ({ [options.key[0]]: { $in: keys.map((k) => k[0]) } } as Filter<Doc>)
				: ({ $or: keys.map((k) => Object.fromEntries(options.key.map((f, j) => [f, k[j]]))) } as Filter<Doc>);
		const current = new Map<string, Doc>();
		for (const d of (await this.coll.find(filter).toArray()) as Doc[]) {
			current.set(keyString(options.key.map((f) => getPath(d, f))), d);
		}
		// one pending write per key; a later document with the same key rewrites it
		const pending = new Map<string, { kind: "insert" | "replace"; doc: Doc; indices: number[] }>();
		idx.forEach((i, n) => {
			const ks = keyString(keys[n]);
			const existing = current.get(ks) ?? null;
			const step = planWrite(plan, existing, docs[i], i);
			result[step.outcome]++;
			result.outcomes[i] = { _id: step.doc?._id ?? existing?._id ?? null, outcome: step.outcome };
			if (!step.doc) return;
			current.set(ks, step.doc);
			const p = pending.get(ks);
			if (p) {
				p.doc = step.doc;
				p.indices.push(i);
			} else pending.set(ks, { kind: existing ? "replace" : "insert", doc: step.doc, indices: [i] });
		});
		if (pending.size === 0) return;
		const writes = [...pending.values()];
		const ops: AnyBulkWriteOperation<Doc>[] = writes.map((w) =>
			w.kind === "insert" ? { insertOne: { document: w.doc } } : { replaceOne: { filter: { _id: w.doc._id } as Filter<Doc>, replacement: w.doc } }
		);
		try {
			await this.coll.bulkWrite(ops, { ordered: false });
		} catch (err) {
			const writeErrors = (err as { writeErrors?: { index: number; code: number }[] | { index: number; code: number } }).writeErrors;
			const list = writeErrors ? (Array.isArray(writeErrors) ? writeErrors : [writeErrors]) : [];
			const lost = list.filter((e) => e.code === 11000 && writes[e.index]?.kind === "insert");
			if (triesLeft <= 1 || list.length === 0 || lost.length !== list.length) throw mapError(this.collection, err);
			// another writer inserted these keys first: undo their counts and redo them as updates
			const retry: number[] = [];
			for (const e of lost) {
				for (const i of writes[e.index].indices) {
					result[result.outcomes[i].outcome]--;
					retry.push(i);
				}
			}
			retry.sort((a, b) => a - b);
			await this.upsertChunk(docs, retry, options, plan, result, triesLeft - 1);
		}
	}

	async ensureIndexes(indexes: IndexSpec[]): Promise<void> {
		if (indexes.length === 0) return;
		await this.coll.createIndexes(
			indexes.map((spec) => ({
				key: Object.fromEntries(spec.fields.map((f) => (f.startsWith("-") ? [f.slice(1), -1] : [f, 1]))),
				unique: spec.unique ?? false,
				...(spec.name ? { name: spec.name } : {})
			}))
		);
	}

	async ping(): Promise<boolean> {
		return this.store.ping();
	}

	/**
	 * MongoDB has no multi-document transaction without a replica set: each op is its own atomic updateOne. Ops on
	 * different documents run together; ops on the same document run one after another in their order.
	 */
	async compareAndSetMany(ops: CompareAndSetOp[]): Promise<boolean[]> {
		const out = new Array<boolean>(ops.length);
		const byId = new Map<string, number[]>();
		ops.forEach((op, i) => byId.set(String(op.id), [...(byId.get(String(op.id)) ?? []), i]));
		await Promise.all(
			[...byId.values()].map(async (indices) => {
				for (const i of indices) {
					const op = ops[i];
					const filter = { ...op.expect, _id: String(op.id) } as Filter<Doc>;
					const u = MongoAdapter.mongoUpdate(op.update);
					try {
						out[i] = u ? (await this.coll.updateOne(filter, u)).matchedCount === 1 : (await this.coll.countDocuments(filter, { limit: 1 })) === 1;
					} catch (err) {
						throw mapError(this.collection, err);
					}
				}
			})
		);
		return out;
	}

	/** insertMany unordered: documents whose key is taken fail alone (E11000) and are reported false. */
	async insertManyIfAbsent(docs: NewDoc[]): Promise<boolean[]> {
		if (docs.length === 0) return [];
		const stored = docs.map((d) => ({ ...d, _id: d._id === undefined || d._id === null ? newId() : String(d._id) }) as Doc);
		const out = stored.map(() => true);
		try {
			await this.coll.insertMany(stored, { ordered: false });
		} catch (err) {
			const writeErrors = (err as { writeErrors?: { index: number; code: number }[] | { index: number; code: number } }).writeErrors;
			const list = writeErrors ? (Array.isArray(writeErrors) ? writeErrors : [writeErrors]) : [];
			if (list.length === 0 || list.some((e) => e.code !== 11000)) throw mapError(this.collection, err);
			for (const e of list) out[e.index] = false;
		}
		return out;
	}
}

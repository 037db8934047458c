/**
 * The PostgreSQL store: the `pg` driver with one pool per process, same contract as SQLite and MongoDB.
 * One table per collection, `(_id TEXT PRIMARY KEY, doc JSONB)`, the document as JSONB (including `_id`);
 * declared indexes become expression indexes on `(doc #> '{path}')` (unique ones enforce business keys), the
 * exact expressions the query translator (pgquery.ts) writes, so the planner uses them.
 *
 * Start-up (`open`, also run by the first adapter that connects): connects, retrying with backoff while the
 * server is not up yet (bounded, each retry logged), then applies the schema migrations under an advisory lock,
 * so several nodes starting at once apply each version once; applied versions are rows of `pw_schema_migrations`.
 * Tables and indexes are created under an advisory transaction lock too (CREATE ... IF NOT EXISTS alone races).
 *
 * Writes: updates and increments are one `UPDATE ... WHERE ... RETURNING` each (atomic). bulkUpsert works in
 * chunks: one SELECT fetches the stored documents of the chunk's keys (with their row version, xmin; skipped while
 * the keys are mostly new and a unique index on them catches the taken ones), the
 * outcomes are decided in memory (docs.ts planWrite, shared with the other adapters), then one
 * `INSERT ... SELECT FROM jsonb_array_elements(...) ON CONFLICT DO NOTHING RETURNING` writes the new keys and one
 * `UPDATE ... FROM jsonb_array_elements(...) WHERE xmin = <the version read> RETURNING` (compare-and-set) the
 * changed ones. A key another process inserted or changed in between is not written: it is read again and
 * decided again (up to 5 times), so concurrent upserts of overlapping keys end with one document per key and
 * counts that add up.
 *
 * Dates: stored as ISO strings (Date.toJSON) and revived on reading, as in SQLite (docs.ts reviveInPlace).
 */
import pg from "pg";
import type { Logger } from "pino";
import type { BulkUpsertOptions, BulkUpsertResult, CompareAndSetOp, Doc, FindOptions, IndexSpec, NewDoc, Query, StoreAdapter, StoreFactory, Update } from "./types.ts";
import { DuplicateKeyError } from "./errors.ts";
import { AdapterBase } from "./adapter-base.ts";
import { getPath, keyOf, planWrite, reviveInPlace, upsertPlan, type UpsertPlan } from "./docs.ts";
import { newId } from "./ids.ts";
import { redactUrl } from "../log.ts";
import { pgField, pgLimit, pgOrderBy, pgOrderColumn, pgSearch, pgUpdate, pgWhere, type PgParams } from "./pgquery.ts";

/** Documents per bulkUpsert/insertMany statement. */
const CHUNK = 2000;
/** Tries of one bulkUpsert chunk against concurrent writers before it gives up. */
const UPSERT_TRIES = 5;

const COLLECTION_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,62}$/;

/**
 * The schema versions, applied in order once per database. Version 1: `pw_set`, a jsonb_set that creates the
 * missing parents of a dotted path ($set/$inc on "a.b.c"). Version 2: pg_trgm for the search port's name
 * similarity (a trusted extension: the database owner may create it).
 */
export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
	{
		version: 1,
		name: "pw_set",
		sql: `CREATE OR REPLACE FUNCTION pw_set(target jsonb, path text[], val jsonb) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
	IF target IS NULL OR jsonb_typeof(target) NOT IN ('object', 'array') THEN target := '{}'::jsonb; END IF;
	IF cardinality(path) = 1 THEN RETURN jsonb_set(target, path, val, true); END IF;
	RETURN jsonb_set(target, path[1:1], pw_set(target #> path[1:1], path[2:], val), true);
END
$fn$`
	},
	{ version: 2, name: "pg_trgm", sql: "CREATE EXTENSION IF NOT EXISTS pg_trgm" }
];

/** The advisory lock key under which the schema is migrated and tables/indexes are created. */
const SCHEMA_LOCK = 0x70617065; // "pape"

/** Errors that mean "the server is not there (yet)": retried at start-up. */
function isUnreachable(err: unknown): boolean {
	const code = (err as { code?: string }).code;
	return code === "ECONNREFUSED" || code === "ECONNRESET" || code === "ETIMEDOUT" || code === "EHOSTUNREACH" || code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "57P03";
}

/** A quoted SQL identifier ("name", inner quotes doubled). */
export function quoteIdent(name: string): string {
	return `"${name.replace(/"/g, "\"\"")}"`;
}

/** Maps PostgreSQL unique violations (23505) to DuplicateKeyError; other errors pass through. */
function mapError(collection: string, err: unknown): unknown {
	const e = err as { code?: string; detail?: string; message?: string };
	if (e?.code === "23505") return new DuplicateKeyError(collection, e.detail ?? e.message ?? "unique constraint", { cause: err });
	return err;
}

function revived(doc: Record<string, unknown>): Doc {
	return reviveInPlace(doc) as Doc;
}

/** A stable string for a key tuple (Dates as their ISO strings, as they are stored). */
function keyString(values: unknown[]): string {
	return JSON.stringify(values);
}

export interface PostgresStoreOptions {
	/** postgres:// or postgresql:// URL */
	url: string;
	logger?: Logger;
	/** connections in the pool (default 10) */
	poolSize?: number;
	/** how long start-up keeps retrying an unreachable server (default 60 s) */
	connectTimeoutMs?: number;
}

/** The PostgreSQL StoreFactory: one pool per process, one adapter per collection. */
export class PostgresStore implements StoreFactory {
	readonly kind = "postgres" as const;
	readonly pool: pg.Pool;
	readonly url: string;
	private readonly logger?: Logger;
	private readonly connectTimeoutMs: number;
	private readonly adapters = new Map<string, PostgresAdapter>();
	private opening: Promise<void> | undefined;
	private closed = false;

	constructor(options: PostgresStoreOptions) {
		this.url = options.url;
		this.logger = options.logger;
		this.connectTimeoutMs = options.connectTimeoutMs ?? 60000;
		this.pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 10, connectionTimeoutMillis: 10000 });
		// an idle client losing its connection must not crash the process; the pool replaces it
		this.pool.on("error", (err) => this.logger?.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, "postgres: idle connection lost"));
		this.logger?.debug({ url: redactUrl(options.url) }, "postgres store created");
	}

	/** Connects (retrying with backoff while the server is not up, bounded) and migrates the schema; once per store. */
	open(): Promise<void> {
		this.opening ??= this.connectAndMigrate().catch((err: unknown) => {
			this.opening = undefined;
			throw err;
		});
		return this.opening;
	}

	private async connectAndMigrate(): Promise<void> {
		const started = Date.now();
		let delay = 250;
		for (let attempt = 1; ; attempt++) {
			try {
				const client = await this.pool.connect();
				try {
					await this.migrate(client);
				} finally {
					client.release();
				}
				this.logger?.info({ url: redactUrl(this.url), attempt }, "postgres store ready");
				return;
			} catch (err) {
				if (this.closed || !isUnreachable(err) || Date.now() - started + delay > this.connectTimeoutMs) throw err;
				this.logger?.warn({ url: redactUrl(this.url), attempt, retryInMs: delay, code: (err as { code?: string }).code }, "postgres not reachable yet; retrying");
				await new Promise((r) => setTimeout(r, delay));
				delay = Math.min(delay * 2, 5000);
			}
		}
	}

	/** Applies the missing MIGRATIONS under the schema advisory lock, recording each version. */
	private async migrate(client: pg.PoolClient): Promise<void> {
		await client.query("SELECT pg_advisory_lock($1)", [SCHEMA_LOCK]);
		try {
			await client.query("CREATE TABLE IF NOT EXISTS pw_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
			const applied = new Set((await client.query<{ version: number }>("SELECT version FROM pw_schema_migrations")).rows.map((r) => r.version));
			for (const m of MIGRATIONS) {
				if (applied.has(m.version)) continue;
				await client.query("BEGIN");
				try {
					await client.query(m.sql);
					await client.query("INSERT INTO pw_schema_migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
					await client.query("COMMIT");
				} catch (err) {
					await client.query("ROLLBACK");
					throw err;
				}
				this.logger?.info({ version: m.version, name: m.name }, "postgres schema migrated");
			}
		} finally {
			await client.query("SELECT pg_advisory_unlock($1)", [SCHEMA_LOCK]);
		}
	}

	/** Runs DDL in a transaction holding the schema lock (CREATE ... IF NOT EXISTS races between nodes otherwise). */
	async ddl(sql: string): Promise<void> {
		await this.open();
		const client = await this.pool.connect();
		try {
			await client.query("BEGIN");
			try {
				await client.query("SELECT pg_advisory_xact_lock($1)", [SCHEMA_LOCK]);
				await client.query(sql);
				await client.query("COMMIT");
			} catch (err) {
				await client.query("ROLLBACK");
				throw err;
			}
		} finally {
			client.release();
		}
	}

	/** Versions recorded in pw_schema_migrations. */
	async appliedVersions(): Promise<number[]> {
		await this.open();
		return (await this.pool.query<{ version: number }>("SELECT version FROM pw_schema_migrations ORDER BY version")).rows.map((r) => r.version);
	}

	adapter(collection: string): StoreAdapter {
		if (this.closed) throw new Error("store is closed");
		let a = this.adapters.get(collection);
		if (!a) {
			a = new PostgresAdapter(this, collection);
			this.adapters.set(collection, a);
		}
		return a;
	}

	async ping(): Promise<boolean> {
		try {
			return !this.closed && (await this.pool.query<{ ok: number }>("SELECT 1 AS ok")).rows[0]?.ok === 1;
		} catch {
			return false;
		}
	}

	async close(): Promise<void> {
		if (this.closed) return;
		this.closed = true;
		this.adapters.clear();
		await this.pool.end();
	}
}

interface StoredRow {
	_id: string;
	doc: Record<string, unknown>;
	/** the row version (xmin) the document was read at: the compare-and-set token */
	x: string;
}

/** One collection (table) of the PostgreSQL store; implements moleculer-db's adapter contract and ours. */
export class PostgresAdapter extends AdapterBase implements StoreAdapter {
	readonly store: PostgresStore;
	readonly collection: string;
	readonly table: string;
	/** field lists (JSON) of the unique indexes this adapter ensured: bulkUpsert targets them in ON CONFLICT */
	private readonly uniqueKeys = new Set<string>();
	private ready: Promise<void> | undefined;

	constructor(store: PostgresStore, collection: string) {
		super();
		if (!COLLECTION_NAME.test(collection) || collection.startsWith("pg_") || collection.startsWith("pw_")) {
			throw new Error(`invalid collection name '${collection}' (letters, digits, _ . -; starting with a letter or _; at most 63 characters)`);
		}
		this.store = store;
		this.collection = collection;
		this.table = quoteIdent(collection);
	}

	init(): void {
		// the collection is fixed when the factory creates the adapter
	}

	/** Creates the table when missing (idempotent, once per adapter). */
	private table_(): Promise<void> {
		this.ready ??= this.store.ddl(`CREATE TABLE IF NOT EXISTS ${this.table} (_id TEXT PRIMARY KEY NOT NULL, doc JSONB NOT NULL)`).catch((err: unknown) => {
			this.ready = undefined;
			throw err;
		});
		return this.ready;
	}

	/** One statement on the pool, after the table exists; unique violations as DuplicateKeyError. */
	private async q<R extends pg.QueryResultRow>(sql: string, params: PgParams = []): Promise<pg.QueryResult<R>> {
		await this.table_();
		try {
			return await this.store.pool.query<R>(sql, params);
		} catch (err) {
			throw mapError(this.collection, err);
		}
	}

	async connect(): Promise<void> {
		await this.table_();
	}

	async disconnect(): Promise<void> {
		// the pool belongs to the factory; closed by PostgresStore.close()
	}

	private select(options: FindOptions, columns: string, paged: boolean): { sql: string; params: PgParams } {
		const params: PgParams = [];
		const where = pgWhere(options.query, params);
		const search = pgSearch(options.search, options.searchFields, params);
		let sql = `SELECT ${columns} FROM ${this.table} WHERE ${where}${search === "TRUE" ? "" : ` AND ${search}`}`;
		if (paged) sql += pgOrderBy(options.sort) + pgLimit(options.limit, options.offset, params);
		return { sql, params };
	}

	async find(options: FindOptions = {}): Promise<Doc[]> {
		const { sql, params } = this.select(options, "doc", true);
		return (await this.q<{ doc: Record<string, unknown> }>(sql, params)).rows.map((r) => revived(r.doc));
	}

	async findOne(query: Query): Promise<Doc | null> {
		return (await this.find({ query, limit: 1 }))[0] ?? null;
	}

	async findById(id: string): Promise<Doc | null> {
		const row = (await this.q<{ doc: Record<string, unknown> }>(`SELECT doc FROM ${this.table} WHERE _id = $1`, [String(id)])).rows[0];
		return row ? revived(row.doc) : null;
	}

	async findByIds(ids: string[]): Promise<Doc[]> {
		if (ids.length === 0) return [];
		return (await this.q<{ doc: Record<string, unknown> }>(`SELECT doc FROM ${this.table} WHERE _id = ANY($1::text[])`, [ids.map(String)])).rows.map((r) => revived(r.doc));
	}

	async count(options: FindOptions = {}): Promise<number> {
		const { sql, params } = this.select(options, "count(*) AS n", false);
		return Number((await this.q<{ n: string }>(sql, params)).rows[0].n);
	}

	/** A new document as stored: `_id` generated when absent. */
	private static stored(doc: NewDoc): Doc {
		const id = doc._id === undefined || doc._id === null ? newId() : String(doc._id);
		return { ...doc, _id: id };
	}

	async insert(doc: NewDoc): Promise<Doc> {
		const d = PostgresAdapter.stored(doc);
		const json = JSON.stringify(d);
		await this.q(`INSERT INTO ${this.table} (_id, doc) VALUES ($1, $2::jsonb)`, [d._id, json]);
		return revived(JSON.parse(json) as Record<string, unknown>);
	}

	async insertMany(docs: NewDoc[]): Promise<Doc[]> {
		const out: Doc[] = [];
		for (let i = 0; i < docs.length; i += CHUNK) {
			const json = JSON.stringify(docs.slice(i, i + CHUNK).map(PostgresAdapter.stored));
			await this.q(`INSERT INTO ${this.table} (_id, doc) SELECT e->>'_id', e FROM jsonb_array_elements($1::jsonb) e`, [json]);
			for (const d of JSON.parse(json) as Record<string, unknown>[]) out.push(revived(d));
		}
		return out;
	}

	async updateMany(query: Query, update: Update | Record<string, unknown>): Promise<number> {
		const params: PgParams = [];
		const expr = pgUpdate(update, params);
		if (expr === null) return this.count({ query });
		const where = pgWhere(query, params);
		return (await this.q(`UPDATE ${this.table} SET doc = ${expr} WHERE ${where}`, params)).rowCount ?? 0;
	}

	async updateById(id: string, update: Update | Record<string, unknown>): Promise<Doc | null> {
		const params: PgParams = [];
		const expr = pgUpdate(update, params);
		if (expr === null) return this.findById(id);
		params.push(String(id));
		const row = (await this.q<{ doc: Record<string, unknown> }>(`UPDATE ${this.table} SET doc = ${expr} WHERE _id = $${params.length} RETURNING doc`, params)).rows[0];
		return row ? revived(row.doc) : null;
	}

	async removeMany(query: Query): Promise<number> {
		const params: PgParams = [];
		const where = pgWhere(query, params);
		return (await this.q(`DELETE FROM ${this.table} WHERE ${where}`, params)).rowCount ?? 0;
	}

	async removeById(id: string): Promise<Doc | null> {
		const row = (await this.q<{ doc: Record<string, unknown> }>(`DELETE FROM ${this.table} WHERE _id = $1 RETURNING doc`, [String(id)])).rows[0];
		return row ? revived(row.doc) : null;
	}

	async clear(): Promise<number> {
		return (await this.q(`DELETE FROM ${this.table}`)).rowCount ?? 0;
	}

	/**
	 * Upserts on the business key in chunks of up to 2,000 documents (fewer when options.rowsPerTransaction says so), three
	 * statements per chunk whatever its size (see the module comment). Documents are decided in order, so when one
	 * call holds the same key twice the later document is compared with the earlier one and wins.
	 */
	async bulkUpsert(docs: NewDoc[], options: BulkUpsertOptions): Promise<BulkUpsertResult> {
		if (!options.key?.length) throw new Error("bulkUpsert needs options.key");
		const plan = upsertPlan(options);
		const result: BulkUpsertResult = { inserted: 0, updated: 0, unchanged: 0, skipped: 0, outcomes: new Array(docs.length) };
		// rowsPerTransaction is SQLite's knob; here it only narrows the statements (the registry passes 50,000)
		const size = Math.max(1, Math.min(CHUNK, Math.floor(options.rowsPerTransaction ?? CHUNK)));
		await this.table_();
		// with a unique index on the key, a chunk is first written as if none of its keys were stored (no SELECT):
		// the keys that turn out to be taken are read and decided as usual, as a lost race is (new keys, the common
		// case of a bulk load, then cost one statement instead of two); a chunk of mostly taken keys, such as a
		// file sent again, sends the next chunks back to reading first
		let insertFirst = (options.key.length === 1 && options.key[0] === "_id") || this.uniqueKeys.has(JSON.stringify(options.key));
		for (let start = 0; start < docs.length; start += size) {
			const idx: number[] = [];
			for (let i = start; i < Math.min(docs.length, start + size); i++) idx.push(i);
			const taken = await this.upsertChunk(docs, idx, options.key, plan, result, UPSERT_TRIES, !insertFirst);
			if (insertFirst && taken * 2 > idx.length) insertFirst = false;
		}
		return result;
	}

	/** The stored rows of these key tuples, with their compare-and-set token. */
	private async fetchByKeys(key: string[], keys: unknown[][]): Promise<StoredRow[]> {
		if (key.length === 1 && key[0] === "_id") {
			return (await this.q<StoredRow>(`SELECT _id, doc, xmin::text AS x FROM ${this.table} WHERE _id = ANY($1::text[])`, [keys.map((k) => String(k[0]))])).rows;
		}
		const cols = key.map(pgField).join(", ");
		const picks = key.map((_, j) => `k->${j}`).join(", ");
		return (await this.q<StoredRow>(`SELECT _id, doc, xmin::text AS x FROM ${this.table} WHERE (${cols}) IN (SELECT ${picks} FROM jsonb_array_elements($1::jsonb) k)`, [JSON.stringify(keys)])).rows;
	}

	/**
	 * Upserts docs[i] for i in `idx` (reading the stored documents first unless `read` is false); writes that lost a
	 * race with another writer, or found their key taken, are decided again. Returns how many writes were not done
	 * at the first attempt.
	 */
	private async upsertChunk(docs: NewDoc[], idx: number[], key: string[], plan: UpsertPlan, result: BulkUpsertResult, triesLeft: number, read = true): Promise<number> {
		const keys = idx.map((i) => keyOf(docs[i], key, i));
		const current = new Map<string, { doc: Doc; x?: string }>();
		for (const r of read ? await this.fetchByKeys(key, keys) : []) {
			const doc = revived(r.doc);
			current.set(keyString(key.map((f) => getPath(doc, f))), { doc, x: r.x });
		}
		// one pending write per key; a later document with the same key replaces it
		const pending = new Map<string, { doc: Doc; x?: string; indices: number[] }>();
		idx.forEach((i, n) => {
			const ks = keyString(keys[n]);
			const cur = current.get(ks);
			const step = planWrite(plan, cur?.doc ?? null, docs[i], i);
			result[step.outcome]++;
			result.outcomes[i] = { _id: step.doc?._id ?? cur?.doc._id ?? null, outcome: step.outcome };
			if (!step.doc) return;
			current.set(ks, { doc: step.doc, x: cur?.x });
			const p = pending.get(ks);
			if (p) {
				p.doc = step.doc;
				p.indices.push(i);
			} else pending.set(ks, { doc: step.doc, x: cur?.x, indices: [i] });
		});
		if (pending.size === 0) return 0;
		// in key order, so two writers of overlapping chunks take the row locks in the same order
		const writes = [...pending.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, w]) => w);
		const inserts = writes.filter((w) => w.x === undefined);
		const replaces = writes.filter((w) => w.x !== undefined);
		const lost: typeof writes = [];
		if (inserts.length) {
			const target = key.length === 1 && key[0] === "_id" ? "(_id)" : this.uniqueKeys.has(JSON.stringify(key)) ? `(${key.map(keyExpr).join(", ")})` : "";
			const written = await this.concurrent(() =>
				this.q<{ _id: string }>(`INSERT INTO ${this.table} (_id, doc) SELECT e->>'_id', e FROM jsonb_array_elements($1::jsonb) e ON CONFLICT ${target} DO NOTHING RETURNING _id`, [
					JSON.stringify(inserts.map((w) => w.doc))
				])
			);
			const ok = new Set(written?.rows.map((r) => r._id) ?? []);
			for (const w of inserts) if (!ok.has(w.doc._id)) lost.push(w);
		}
		if (replaces.length) {
			const written = await this.concurrent(() =>
				this.q<{ _id: string }>(
					`UPDATE ${this.table} t SET doc = u.doc FROM (SELECT e->>'id' AS id, e->'doc' AS doc, e->>'x' AS x FROM jsonb_array_elements($1::jsonb) e) u WHERE t._id = u.id AND t.xmin::text = u.x RETURNING t._id`,
					[JSON.stringify(replaces.map((w) => ({ id: w.doc._id, doc: w.doc, x: w.x })))]
				)
			);
			const ok = new Set(written?.rows.map((r) => r._id) ?? []);
			for (const w of replaces) if (!ok.has(w.doc._id)) lost.push(w);
		}
		if (lost.length === 0) return 0;
		if (triesLeft <= 1) {
			throw new DuplicateKeyError(this.collection, `bulkUpsert: ${lost.length} document(s) could not be written after ${UPSERT_TRIES} tries (another unique index, or constant contention)`);
		}
		// another writer inserted or changed these keys first: undo their counts and decide them again
		const retry: number[] = [];
		for (const w of lost) {
			for (const i of w.indices) {
				result[result.outcomes[i].outcome]--;
				retry.push(i);
			}
		}
		retry.sort((a, b) => a - b);
		await this.upsertChunk(docs, retry, key, plan, result, triesLeft - 1);
		return lost.length;
	}

	/** Runs a write; a deadlock or serialization failure (another writer) writes nothing and returns null. */
	private async concurrent<R>(fn: () => Promise<R>): Promise<R | null> {
		try {
			return await fn();
		} catch (err) {
			const code = (err as { code?: string }).code;
			if (code === "40P01" || code === "40001") return null;
			throw err;
		}
	}

	async ensureIndexes(indexes: IndexSpec[]): Promise<void> {
		await this.table_();
		for (const spec of indexes) {
			if (!spec.fields.length) throw new Error("an index needs at least one field");
			const base = spec.name ?? spec.fields.map((f) => f.replace(/^-/, "").replace(/[^A-Za-z0-9_]/g, "_")).join("_");
			let name = `${this.collection}__${base}`;
			// PostgreSQL cuts names at 63 bytes: keep long ones distinct with a hash of the whole name
			if (Buffer.byteLength(name) > 63) name = `${name.slice(0, 50)}_${hash(name)}`;
			const cols = spec.fields.map((f) => {
				const field = f.replace(/^-/, "");
				if (field === "_id") return "_id";
				return spec.unique ? keyExpr(field) : pgOrderColumn(field, f.startsWith("-") ? -1 : 1);
			});
			await this.store.ddl(`CREATE ${spec.unique ? "UNIQUE " : ""}INDEX IF NOT EXISTS ${quoteIdent(name)} ON ${this.table} (${cols.join(", ")})`);
			if (spec.unique) this.uniqueKeys.add(JSON.stringify(spec.fields));
		}
	}

	async ping(): Promise<boolean> {
		return this.store.ping();
	}

	/**
	 * One transaction on one connection: a single-row UPDATE ... WHERE _id = $ AND <expect> per op. Ops run sorted
	 * by document ID (stable: ops on one document keep their order), so two processes' overlapping batches lock
	 * rows in the same order; a deadlock or serialisation failure all the same rolls the batch back and runs it again.
	 */
	async compareAndSetMany(ops: CompareAndSetOp[]): Promise<boolean[]> {
		if (ops.length === 0) return [];
		await this.table_();
		const order = ops.map((_, i) => i).sort((a, b) => (ops[a].id < ops[b].id ? -1 : ops[a].id > ops[b].id ? 1 : a - b));
		for (let tries = 1; ; tries++) {
			const client = await this.store.pool.connect();
			try {
				const out = new Array<boolean>(ops.length);
				await client.query("BEGIN");
				try {
					for (const i of order) {
						const op = ops[i];
						const params: PgParams = [];
						const expr = pgUpdate(op.update, params);
						const where = pgWhere({ ...op.expect, _id: String(op.id) }, params);
						const sql = expr === null ? `SELECT 1 FROM ${this.table} WHERE ${where}` : `UPDATE ${this.table} SET doc = ${expr} WHERE ${where}`;
						out[i] = ((await client.query(sql, params)).rowCount ?? 0) === 1;
					}
					await client.query("COMMIT");
					return out;
				} catch (err) {
					await client.query("ROLLBACK").catch(() => undefined);
					const code = (err as { code?: string }).code;
					if ((code === "40P01" || code === "40001") && tries < UPSERT_TRIES) continue;
					throw mapError(this.collection, err);
				}
			} finally {
				client.release();
			}
		}
	}

	/** One INSERT ... SELECT FROM jsonb_array_elements ON CONFLICT DO NOTHING RETURNING _id per 2,000 documents. */
	async insertManyIfAbsent(docs: NewDoc[]): Promise<boolean[]> {
		const out: boolean[] = [];
		for (let i = 0; i < docs.length; i += CHUNK) {
			const chunk = docs.slice(i, i + CHUNK).map(PostgresAdapter.stored);
			// of two documents with one _id in the same call, the first is the one inserted
			const firstOf = new Map<string, number>();
			chunk.forEach((d, j) => {
				if (!firstOf.has(d._id)) firstOf.set(d._id, j);
			});
			const unique = chunk.filter((d, j) => firstOf.get(d._id) === j);
			const res = await this.q<{ _id: string }>(`INSERT INTO ${this.table} (_id, doc) SELECT e->>'_id', e FROM jsonb_array_elements($1::jsonb) e ON CONFLICT DO NOTHING RETURNING _id`, [JSON.stringify(unique)]);
			const inserted = new Set(res.rows.map((r) => r._id));
			chunk.forEach((d, j) => out.push(firstOf.get(d._id) === j && inserted.has(d._id)));
		}
		return out;
	}
}

/** A field as a unique index (and ON CONFLICT) column: `_id` the column itself, others their JSONB expression. */
function keyExpr(field: string): string {
	return field === "_id" ? "_id" : pgField(field);
}

/** 8 hex characters of FNV-1a: short, stable, good enough to tell index names apart. */
function hash(s: string): string {
	let h = 0x811c9dc5;
	for (let i = 0; i < s.length; i++) {
		h ^= s.charCodeAt(i);
		h = Math.imul(h, 0x01000193);
	}
	return (h >>> 0).toString(16).padStart(8, "0");
}

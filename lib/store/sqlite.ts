/**
 * The embedded store: one SQLite file through Node 22's built-in node:sqlite (no server, no native addon), and
 * optionally a file of their own for collections written in long transactions (SqliteStoreOptions.ownFiles).
 * One table per collection, `(_id TEXT PRIMARY KEY, doc TEXT)`, the document as JSON (including `_id`);
 * declared indexes become expression indexes on json_extract (unique ones too).
 *
 * Several processes on one machine may share the file: WAL journal, a busy timeout so a writer waits for
 * another instead of failing, and every read-modify-write either one SQL statement (updates, increment) or
 * a BEGIN IMMEDIATE transaction (bulkUpsert, insertMany), so it holds the write lock from its first read.
 * synchronous=NORMAL: a power cut may lose the last transactions but never corrupts the file.
 *
 * Dates: stored as ISO strings (Date.toJSON); on reading, every string that is a full ISO timestamp with
 * milliseconds and "Z" becomes a Date again (see docs.ts reviveInPlace). Query values that are Dates are
 * compared as ISO strings, which order like the dates.
 */
import fs from "node:fs";
import path from "node:path";
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { Logger } from "pino";
import type { BulkUpsertOptions, BulkUpsertResult, CompareAndSetOp, Doc, FindOptions, IndexSpec, NewDoc, Query, StoreAdapter, StoreFactory, Update } from "./types.ts";
import { DuplicateKeyError } from "./errors.ts";
import { AdapterBase } from "./adapter-base.ts";
import { keyOf, planWrite, reviveInPlace, upsertPlan } from "./docs.ts";
import { newId } from "./ids.ts";
import { bindValue, fieldExpr, limitOffset, orderBy, searchClause, updateExpr, whereClause, type SqlValue } from "./query.ts";
import { BackgroundCheckpoints, SAFETY_NET_PAGES } from "./sqlite-checkpoints.ts";
import { loadSqlite } from "./sqlite-module.ts";


/** Rows per bulkUpsert/insertMany transaction. */
const CHUNK = 5000;
/** IDs per `_id IN (...)` statement. */
const ID_BATCH = 500;

const COLLECTION_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,120}$/;

interface DocRow {
	_id: string;
	doc: string;
}

function parseDoc(json: string): Doc {
	return reviveInPlace(JSON.parse(json) as Record<string, unknown>) as Doc;
}

function quoteIdent(name: string): string {
	return `"${name.replace(/"/g, "\"\"")}"`;
}

/** Maps SQLite unique/primary-key violations to DuplicateKeyError; other errors pass through. */
function mapError(collection: string, err: unknown): unknown {
	const e = err as { errcode?: number; message?: string };
	if (e && (e.errcode === 2067 || e.errcode === 1555 || /UNIQUE constraint failed/.test(e.message ?? ""))) {
		return new DuplicateKeyError(collection, e.message ?? "unique constraint", { cause: err });
	}
	return err;
}

export interface SqliteStoreOptions {
	/** the database file; created with its folder when missing */
	file: string;
	logger?: Logger;
	/** how long a statement waits for another process's write lock (default 30 s) */
	busyTimeoutMs?: number;
	/**
	 * Collections kept in a file of their own (collection -> file). SQLite locks a whole file for a write
	 * transaction: a collection written in long transactions (the records, registered 50,000 rows at a time) in
	 * its own file never holds up the short writes of the others.
	 */
	ownFiles?: Record<string, string>;
	/**
	 * Checkpoint the WAL from a worker thread (lib/store/sqlite-checkpoints.ts) instead of in the commit that fills it:
	 * the process's main store sets it, so no commit on its main thread copies pages and fsyncs.
	 */
	backgroundCheckpoints?: boolean;
}

/** One SQLite file: its connection, cached statements and transactions. */
export class SqliteFile {
	readonly file: string;
	readonly db: DatabaseSync;
	private readonly statements = new Map<string, StatementSync>();
	/** run inside every transaction() on this connection, after its work and before COMMIT (see beforeCommit) */
	private readonly commitHooks: (() => void)[] = [];
	/** the error of a transaction() nested in the open one: the open one rolls back as a whole */
	private lost: unknown;

	constructor(file: string, busyTimeoutMs: number, checkpoints?: BackgroundCheckpoints) {
		this.file = file;
		if (file !== ":memory:") fs.mkdirSync(path.dirname(file), { recursive: true });
		const { DatabaseSync: Database } = loadSqlite();
		this.db = new Database(file);
		this.db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
		// 8 KiB pages (only takes effect on a new file): measured ~1.5x faster bulk upserts of ~500-byte documents than 4 KiB
		this.db.exec("PRAGMA page_size = 8192");
		this.db.exec("PRAGMA journal_mode = WAL");
		this.db.exec("PRAGMA synchronous = NORMAL");
		this.db.exec("PRAGMA temp_store = MEMORY");
		this.db.exec("PRAGMA cache_size = -32000");
		if (checkpoints && file !== ":memory:") {
			// the worker checkpoints; this connection only past the safety net
			this.db.exec(`PRAGMA wal_autocheckpoint = ${SAFETY_NET_PAGES}`);
			checkpoints.add(file);
		}
		// Unicode-aware lower() for moleculer-db's case-insensitive search (SQLite's own lower() is ASCII only)
		this.db.function("pw_lower", { deterministic: true }, (v: unknown) => (v === null || v === undefined ? null : String(v).toLowerCase()));
	}

	/** A cached prepared statement. */
	prepare(sql: string): StatementSync {
		let stmt = this.statements.get(sql);
		if (!stmt) {
			if (this.statements.size >= 1000) this.statements.clear();
			stmt = this.db.prepare(sql);
			this.statements.set(sql, stmt);
		}
		return stmt;
	}

	/**
	 * Adds work to every later transaction() on this connection, run after the transaction's own work and before its
	 * COMMIT, so that what it derives (a full-text index of the rows just written) commits with them or not at all.
	 */
	beforeCommit(hook: () => void): void {
		this.commitHooks.push(hook);
	}

	/**
	 * Runs `fn` in a BEGIN IMMEDIATE transaction (takes the write lock at once, waiting up to busy_timeout). Inside
	 * another transaction on this connection (see SqliteAdapter.together), `fn` joins it: it commits with the outer
	 * transaction, and when it throws, the outer one rolls back as a whole.
	 */
	transaction<T>(fn: () => T): T {
		// a nested call failed: the rest of the outer transaction's work fails too (SQLite may have ended it already)
		if (this.lost !== undefined) throw this.lost;
		if (this.db.isTransaction) return this.nested(fn);
		this.db.exec("BEGIN IMMEDIATE");
		this.lost = undefined;
		try {
			const out = fn();
			if (this.lost !== undefined) throw this.lost;
			for (const hook of this.commitHooks) hook();
			this.db.exec("COMMIT");
			return out;
		} catch (err) {
			if (this.db.isOpen) {
				try {
					this.db.exec("ROLLBACK");
				} catch {
					// the transaction was already rolled back by SQLite
				}
			}
			throw err;
		} finally {
			this.lost = undefined;
		}
	}

	/**
	 * A transaction() inside another: `fn` runs as part of it. When it throws, the outer transaction is doomed (it
	 * rolls back as a whole when its own work is done), so that no half of `fn`'s work ever commits. No savepoint: a
	 * savepoint copies each page it changes to SQLite's sub-journal, and in bench:dispatch that cost more than the
	 * commits the grouping saved.
	 */
	private nested<T>(fn: () => T): T {
		try {
			return fn();
		} catch (err) {
			this.lost ??= err;
			throw err;
		}
	}

	ping(): boolean {
		return this.prepare("SELECT 1 AS ok").get()?.ok === 1;
	}

	close(): void {
		this.statements.clear();
		this.db.close();
	}
}

/** The SQLite StoreFactory: one connection per file per process, one adapter per collection. */
export class SqliteStore implements StoreFactory {
	readonly kind = "sqlite" as const;
	readonly file: string;
	private readonly main: SqliteFile;
	private readonly own = new Map<string, SqliteFile>();
	private readonly ownFiles: Record<string, string>;
	private readonly busyTimeoutMs: number;
	private readonly adapters = new Map<string, SqliteAdapter>();
	private readonly checkpoints?: BackgroundCheckpoints;
	private closed = false;

	constructor(options: SqliteStoreOptions) {
		this.file = options.file;
		this.busyTimeoutMs = options.busyTimeoutMs ?? 30000;
		this.ownFiles = options.ownFiles ?? {};
		if (options.backgroundCheckpoints && this.file !== ":memory:") {
			const logger = options.logger;
			this.checkpoints = new BackgroundCheckpoints((file, message) => logger?.warn({ file, err: message }, "background WAL checkpoint failed; the store's own checkpoints take over past the safety net"));
		}
		this.main = new SqliteFile(this.file, this.busyTimeoutMs, this.checkpoints);
		options.logger?.debug({ file: this.file, ownFiles: this.ownFiles }, "sqlite store opened");
	}

	/** The connection of the main file. */
	get db(): DatabaseSync {
		return this.main.db;
	}

	/** The file a collection lives in (opened on first use). */
	fileOf(collection: string): SqliteFile {
		const own = this.ownFiles[collection];
		if (!own) return this.main;
		let f = this.own.get(own);
		if (!f) {
			f = new SqliteFile(own, this.busyTimeoutMs, this.checkpoints);
			this.own.set(own, f);
		}
		return f;
	}

	adapter(collection: string): StoreAdapter {
		if (this.closed) throw new Error("store is closed");
		let a = this.adapters.get(collection);
		if (!a) {
			a = new SqliteAdapter(this, collection);
			this.adapters.set(collection, a);
		}
		return a;
	}

	async ping(): Promise<boolean> {
		try {
			return !this.closed && this.main.ping() && [...this.own.values()].every((f) => f.ping());
		} catch {
			return false;
		}
	}

	async close(): Promise<void> {
		if (this.closed) return;
		this.closed = true;
		this.adapters.clear();
		await this.checkpoints?.close();
		for (const f of this.own.values()) f.close();
		this.own.clear();
		this.main.close();
	}
}

/** One collection (table) of the SQLite store; implements moleculer-db's adapter contract and ours. */
export class SqliteAdapter extends AdapterBase implements StoreAdapter {
	readonly store: SqliteStore;
	/** the file this collection lives in */
	readonly conn: SqliteFile;
	readonly collection: string;
	readonly table: string;
	/** field lists (JSON) of the unique indexes this adapter ensured: bulkUpsert on one of them inserts first */
	private readonly uniqueKeys = new Set<string>();
	private ready = false;

	constructor(store: SqliteStore, collection: string) {
		super();
		if (!COLLECTION_NAME.test(collection) || collection.startsWith("sqlite_")) {
			throw new Error(`invalid collection name '${collection}' (letters, digits, _ . -; starting with a letter or _)`);
		}
		this.store = store;
		this.conn = store.fileOf(collection);
		this.collection = collection;
		this.table = quoteIdent(collection);
	}

	init(): void {
		// the collection is fixed when the factory creates the adapter
	}

	/** Creates the table when missing (idempotent, once per adapter). */
	private table_(): string {
		if (!this.ready) {
			this.conn.db.exec(`CREATE TABLE IF NOT EXISTS ${this.table} (_id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL)`);
			this.ready = true;
		}
		return this.table;
	}

	private run<T>(fn: () => T): T {
		try {
			return fn();
		} catch (err) {
			throw mapError(this.collection, err);
		}
	}

	async connect(): Promise<void> {
		this.table_();
	}

	async disconnect(): Promise<void> {
		// the connection belongs to the factory; closed by SqliteStore.close()
	}

	private select(options: FindOptions, columns: string): { sql: string; params: SqlValue[] } {
		const params: SqlValue[] = [];
		const where = whereClause(options.query, params);
		const search = searchClause(options.search, options.searchFields, params);
		const cond = search === "1" ? where : `${where} AND ${search}`;
		let sql = `SELECT ${columns} FROM ${this.table_()} WHERE ${cond}`;
		if (columns !== "count(*) AS n") sql += orderBy(options.sort) + limitOffset(options.limit, options.offset, params);
		return { sql, params };
	}

	async find(options: FindOptions = {}): Promise<Doc[]> {
		const { sql, params } = this.select(options, "doc");
		const rows = this.conn.prepare(sql).all(...params) as unknown as DocRow[];
		return rows.map((r) => parseDoc(r.doc));
	}

	async findOne(query: Query): Promise<Doc | null> {
		const docs = await this.find({ query, limit: 1 });
		return docs[0] ?? null;
	}

	async findById(id: string): Promise<Doc | null> {
		const row = this.conn.prepare(`SELECT doc FROM ${this.table_()} WHERE _id = ?`).get(String(id)) as DocRow | undefined;
		return row ? parseDoc(row.doc) : null;
	}

	async findByIds(ids: string[]): Promise<Doc[]> {
		const out: Doc[] = [];
		for (let i = 0; i < ids.length; i += ID_BATCH) {
			const batch = ids.slice(i, i + ID_BATCH).map(String);
			const rows = this.conn.prepare(`SELECT doc FROM ${this.table_()} WHERE _id IN (${batch.map(() => "?").join(", ")})`).all(...batch) as unknown as DocRow[];
			for (const r of rows) out.push(parseDoc(r.doc));
		}
		return out;
	}

	async count(options: FindOptions = {}): Promise<number> {
		const { sql, params } = this.select(options, "count(*) AS n");
		return Number((this.conn.prepare(sql).get(...params) as { n: number }).n);
	}

	/** The stored JSON of a new document (`_id` first, generated when absent). */
	private static serialise(doc: NewDoc): { id: string; json: string } {
		const id = doc._id === undefined || doc._id === null ? newId() : String(doc._id);
		return { id, json: JSON.stringify({ ...doc, _id: id }) };
	}

	async insert(doc: NewDoc): Promise<Doc> {
		const { id, json } = SqliteAdapter.serialise(doc);
		this.run(() => this.conn.prepare(`INSERT INTO ${this.table_()} (_id, doc) VALUES (?, ?)`).run(id, json));
		return parseDoc(json);
	}

	async insertMany(docs: NewDoc[]): Promise<Doc[]> {
		const out: Doc[] = [];
		const sql = `INSERT INTO ${this.table_()} (_id, doc) VALUES (?, ?)`;
		for (let i = 0; i < docs.length; i += CHUNK) {
			const chunk = docs.slice(i, i + CHUNK);
			this.run(() =>
				this.conn.transaction(() => {
					const stmt = this.conn.prepare(sql);
					for (const d of chunk) {
						const { id, json } = SqliteAdapter.serialise(d);
						stmt.run(id, json);
						out.push(parseDoc(json));
					}
				})
			);
			if (i + CHUNK < docs.length) await new Promise(setImmediate);
		}
		return out;
	}

	async updateMany(query: Query, update: Update | Record<string, unknown>): Promise<number> {
		const params: SqlValue[] = [];
		const expr = updateExpr(update, params);
		if (expr === null) return this.count({ query });
		const where = whereClause(query, params);
		const res = this.run(() => this.conn.prepare(`UPDATE ${this.table_()} SET doc = ${expr} WHERE ${where}`).run(...params));
		return Number(res.changes);
	}

	async updateById(id: string, update: Update | Record<string, unknown>): Promise<Doc | null> {
		const params: SqlValue[] = [];
		const expr = updateExpr(update, params);
		if (expr === null) return this.findById(id);
		params.push(String(id));
		const row = this.run(() => this.conn.prepare(`UPDATE ${this.table_()} SET doc = ${expr} WHERE _id = ? RETURNING doc`).get(...params)) as DocRow | undefined;
		return row ? parseDoc(row.doc) : null;
	}

	async removeMany(query: Query): Promise<number> {
		const params: SqlValue[] = [];
		const where = whereClause(query, params);
		return Number(this.conn.prepare(`DELETE FROM ${this.table_()} WHERE ${where}`).run(...params).changes);
	}

	async removeById(id: string): Promise<Doc | null> {
		const row = this.conn.prepare(`DELETE FROM ${this.table_()} WHERE _id = ? RETURNING doc`).get(String(id)) as DocRow | undefined;
		return row ? parseDoc(row.doc) : null;
	}

	async clear(): Promise<number> {
		return Number(this.conn.prepare(`DELETE FROM ${this.table_()}`).run().changes);
	}

	/**
	 * Upserts on the business key in BEGIN IMMEDIATE transactions of up to 5,000 documents (or
	 * options.rowsPerTransaction): each document is inserted (version 1) when its key is not stored (tried
	 * first, ON CONFLICT DO NOTHING, when this adapter ensured a unique index on the key; else after a look-up
	 * through the index), left alone when its compared content equals the stored one's, or replaced (same _id,
	 * version + 1, `previous` = the replaced compared fields when keepPrevious). Documents are handled in order inside the transaction, so when one call
	 * holds the same key twice the later document is compared with the earlier one (counted as updated or
	 * unchanged) and wins.
	 */
	async bulkUpsert(docs: NewDoc[], options: BulkUpsertOptions): Promise<BulkUpsertResult> {
		if (!options.key?.length) throw new Error("bulkUpsert needs options.key");
		const plan = upsertPlan(options);
		const result: BulkUpsertResult = { inserted: 0, updated: 0, unchanged: 0, skipped: 0, outcomes: new Array(docs.length) };
		const table = this.table_();
		const lookupSql = `SELECT _id, doc FROM ${table} WHERE ${options.key.map((k) => `${fieldExpr(k)} = ?`).join(" AND ")}`;
		const insertSql = `INSERT INTO ${table} (_id, doc) VALUES (?, ?)`;
		const tryInsertSql = `INSERT INTO ${table} (_id, doc) VALUES (?, ?) ON CONFLICT DO NOTHING`;
		const updateSql = `UPDATE ${table} SET doc = ? WHERE _id = ?`;
		// with a unique index on the key, insert first and look up only when the key is taken (new keys, the common
		// case in bulk loads, then cost one statement instead of two; measured ~10 % faster per record); a call that
		// turns out to update mostly, such as a file sent again, goes back to looking up first
		let insertFirst = this.uniqueKeys.has(JSON.stringify(options.key));
		let tried = 0;
		let taken = 0;
		const perTransaction = Math.max(1, Math.floor(options.rowsPerTransaction ?? CHUNK));
		for (let start = 0; start < docs.length; start += perTransaction) {
			const end = Math.min(docs.length, start + perTransaction);
			this.run(() =>
				this.conn.transaction(() => {
					const lookup = this.conn.prepare(lookupSql);
					const insert = this.conn.prepare(insertSql);
					const tryInsert = this.conn.prepare(tryInsertSql);
					const update = this.conn.prepare(updateSql);
					for (let i = start; i < end; i++) {
						const doc = docs[i];
						const key = keyOf(doc, options.key, i).map(bindValue);
						if (insertFirst) {
							const fresh = planWrite(plan, null, doc, i).doc as Doc;
							tried++;
							if (Number(tryInsert.run(fresh._id, JSON.stringify(fresh)).changes) > 0) {
								result.inserted++;
								result.outcomes[i] = { _id: fresh._id, outcome: "inserted" };
								continue;
							}
							if (++taken * 2 > tried && tried >= 100) insertFirst = false;
						}
						const row = lookup.get(...key) as DocRow | undefined;
						const existing = row ? parseDoc(row.doc) : null;
						const step = planWrite(plan, existing, doc, i);
						result[step.outcome]++;
						result.outcomes[i] = { _id: step.doc?._id ?? existing?._id ?? null, outcome: step.outcome };
						if (!step.doc) continue;
						if (existing) update.run(JSON.stringify(step.doc), existing._id);
						else insert.run(step.doc._id, JSON.stringify(step.doc));
					}
				})
			);
			if (end < docs.length) await new Promise(setImmediate);
		}
		return result;
	}

	async ensureIndexes(indexes: IndexSpec[]): Promise<void> {
		const table = this.table_();
		for (const spec of indexes) {
			if (!spec.fields.length) throw new Error("an index needs at least one field");
			const name = spec.name ?? spec.fields.map((f) => f.replace(/^-/, "").replace(/[^A-Za-z0-9_]/g, "_")).join("_");
			const cols = spec.fields.map((f) => (f.startsWith("-") ? `${fieldExpr(f.slice(1))} DESC` : fieldExpr(f)));
			const sql = `CREATE ${spec.unique ? "UNIQUE " : ""}INDEX IF NOT EXISTS ${quoteIdent(`${this.collection}__${name}`)} ON ${table} (${cols.join(", ")})`;
			this.run(() => this.conn.db.exec(sql));
			if (spec.unique) this.uniqueKeys.add(JSON.stringify(spec.fields));
		}
	}

	async ping(): Promise<boolean> {
		return this.store.ping();
	}

	together<T>(fn: () => T): T {
		return this.run(() => this.conn.transaction(fn));
	}

	/** One BEGIN IMMEDIATE transaction of single-row UPDATE ... WHERE _id = ? AND <expect> statements, in order. */
	async compareAndSetMany(ops: CompareAndSetOp[]): Promise<boolean[]> {
		if (ops.length === 0) return [];
		const table = this.table_();
		return this.run(() =>
			this.conn.transaction(() =>
				ops.map((op) => {
					const params: SqlValue[] = [];
					const expr = updateExpr(op.update, params);
					const where = whereClause({ ...op.expect, _id: String(op.id) }, params);
					if (expr === null) return Number((this.conn.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${where}`).get(...params) as { n: number }).n) === 1;
					return Number(this.conn.prepare(`UPDATE ${table} SET doc = ${expr} WHERE ${where}`).run(...params).changes) === 1;
				})
			)
		);
	}

	/** INSERT ... ON CONFLICT DO NOTHING per document, in BEGIN IMMEDIATE transactions of up to 5,000. */
	async insertManyIfAbsent(docs: NewDoc[]): Promise<boolean[]> {
		const out: boolean[] = [];
		const sql = `INSERT INTO ${this.table_()} (_id, doc) VALUES (?, ?) ON CONFLICT DO NOTHING`;
		for (let i = 0; i < docs.length; i += CHUNK) {
			const chunk = docs.slice(i, i + CHUNK);
			this.run(() =>
				this.conn.transaction(() => {
					const stmt = this.conn.prepare(sql);
					for (const d of chunk) {
						const { id, json } = SqliteAdapter.serialise(d);
						out.push(Number(stmt.run(id, json).changes) === 1);
					}
				})
			);
			if (i + CHUNK < docs.length) await new Promise(setImmediate);
		}
		return out;
	}
}

/**
 * The store port: the contract the store adapters (embedded SQLite, MongoDB, PostgreSQL) implement.
 * It is moleculer-db's adapter contract plus what high-volume services need: an atomic counter
 * increment, a bulk upsert by business key, and indexes declared per collection.
 */

/** A stored document. `_id` is a string; other fields are JSON values or Dates. */
export type Doc = { _id: string } & Record<string, unknown>;
export type NewDoc = { _id?: string } & Record<string, unknown>;

/**
 * The Mongo-style query subset the services use:
 * equality, $in, $nin, $gt/$gte/$lt/$lte, $ne, $exists, $and/$or; dotted paths reach into nested objects.
 * Operators compare a field's value whole: MongoDB's "an array matches when one element does" is not portable to the
 * SQL stores, so a query never relies on it (keep a flag or a scalar field per fact instead).
 */
export type Query = Record<string, unknown>;

/** Updates: $set, $inc, $unset (a plain object is treated as $set). */
export interface Update {
	$set?: Record<string, unknown>;
	$inc?: Record<string, number>;
	$unset?: Record<string, unknown>;
}

export interface FindOptions {
	query?: Query;
	/** moleculer-db style: "-createdAt name" or ["-createdAt", "name"]; "-" means descending */
	sort?: string | string[];
	limit?: number;
	offset?: number;
	/** moleculer-db style text search: case-insensitive substring over searchFields */
	search?: string;
	searchFields?: string | string[];
}

export interface IndexSpec {
	/** fields in order; "-field" for descending */
	fields: string[];
	unique?: boolean;
	name?: string;
}

export interface BulkUpsertOptions {
	/** the business key fields, e.g. ["client", "contract_id"] (a unique index on them must be declared) */
	key: string[];
	/**
	 * When true, an update keeps the values it replaced: `version` (starting at 1) is incremented and
	 * `previous` holds the replaced document's compared fields (without `previous` itself).
	 */
	keepPrevious?: boolean;
	/** fields ignored when deciding "unchanged" (e.g. timestamps, batch IDs); `_id`, `version`, `previous` are always ignored */
	ignoreFields?: string[];
	/**
	 * Fields written even when the document is otherwise unchanged (never compared): provenance such as the batch
	 * and line that last wrote the document. An unchanged document is rewritten only when one of them differs.
	 */
	alwaysSet?: string[];
	/** When set, the adapter records each write's outcome ("inserted" | "updated" | "unchanged") in this field of the stored document. */
	outcomeField?: string;
	/**
	 * Called before a document replaces the one stored under its key (never for a key not stored yet); returning
	 * true leaves the stored document as it is and reports the outcome "skipped" (e.g. a row whose key was already
	 * written by an earlier line).
	 */
	skip?: (stored: Doc, incoming: NewDoc, index: number) => boolean;
	/**
	 * SQLite: documents per transaction (default 5,000). Larger transactions write each page of a randomly keyed
	 * index once per transaction; the store is locked for writers meanwhile. MongoDB ignores it; PostgreSQL writes
	 * at most this many (and at most 2,000) documents per statement.
	 */
	rowsPerTransaction?: number;
}

export type UpsertOutcome = "inserted" | "updated" | "unchanged" | "skipped";

export interface BulkUpsertResult {
	inserted: number;
	updated: number;
	unchanged: number;
	skipped: number;
	/** per input document, in order: what happened and the stored _id (null when skipped with nothing stored) */
	outcomes: { _id: string | null; outcome: UpsertOutcome }[];
}

/** One collection's adapter. Methods mirror moleculer-db's DbAdapter so `mixins/db.mixin.ts` can plug it in. */
export interface StoreAdapter {
	/** moleculer-db hook; the adapter learns its collection from `service.schema.collection` if not given */
	init(broker: unknown, service: unknown): void;
	connect(): Promise<void>;
	disconnect(): Promise<void>;

	find(options: FindOptions): Promise<Doc[]>;
	findOne(query: Query): Promise<Doc | null>;
	findById(id: string): Promise<Doc | null>;
	findByIds(ids: string[]): Promise<Doc[]>;
	count(options?: FindOptions): Promise<number>;
	insert(doc: NewDoc): Promise<Doc>;
	insertMany(docs: NewDoc[]): Promise<Doc[]>;
	updateMany(query: Query, update: Update | Record<string, unknown>): Promise<number>;
	updateById(id: string, update: Update | Record<string, unknown>): Promise<Doc | null>;
	removeMany(query: Query): Promise<number>;
	removeById(id: string): Promise<Doc | null>;
	clear(): Promise<number>;
	entityToObject(doc: Doc): Record<string, unknown>;
	beforeSaveTransformID(doc: NewDoc, idField: string): NewDoc;
	afterRetrieveTransformID(doc: Doc, idField: string): Record<string, unknown>;

	/** Atomically adds to numeric fields (and optionally sets others) of one document; returns it after the change, or null if absent. */
	increment(id: string, inc: Record<string, number>, set?: Record<string, unknown>): Promise<Doc | null>;
	/** Inserts or updates many documents on their business key in one go; see BulkUpsertOptions. */
	bulkUpsert(docs: NewDoc[], options: BulkUpsertOptions): Promise<BulkUpsertResult>;
	/** Creates the indexes if missing (idempotent). */
	ensureIndexes(indexes: IndexSpec[]): Promise<void>;
	/** True when the backing store answers. */
	ping(): Promise<boolean>;

	/**
	 * Many compare-and-sets in one go (one transaction where the store has them): op i changes document `id` with
	 * `update` only if it still matches `expect`; returns, per op, whether it changed. Ops on the same document apply
	 * in their order, each against the result of the previous one, as if called one after another.
	 */
	compareAndSetMany(ops: CompareAndSetOp[]): Promise<boolean[]>;
	/**
	 * Inserts the documents whose `_id` (or other unique key) is not taken and leaves the others alone; returns, per
	 * document, whether it was inserted (false: a stored document, or an earlier one of the same call, holds its key).
	 */
	insertManyIfAbsent(docs: NewDoc[]): Promise<boolean[]>;
	/**
	 * Where the store has transactions spanning collections on one connection (SQLite): runs `fn` in one transaction,
	 * and the writes this adapter and the others on its connection start synchronously inside `fn` (their batch
	 * calls run their statements before their first await) join it. One commit then takes the place of one per call;
	 * a call that fails rolls the whole transaction back (`together` throws), so no call's work is ever half
	 * committed. Absent where each call commits on its own (MongoDB, PostgreSQL).
	 */
	together?<T>(fn: () => T): T;
}

/** One compare-and-set of compareAndSetMany. */
export interface CompareAndSetOp {
	id: string;
	/** what the document must still match (a query; `_id` is added) */
	expect: Query;
	update: Update;
}

/** Creates one adapter per collection (one connection/file is shared per process). */
export interface StoreFactory {
	readonly kind: "sqlite" | "mongo" | "postgres";
	adapter(collection: string): StoreAdapter;
	ping(): Promise<boolean>;
	close(): Promise<void>;
	/**
	 * Server stores: connects (retrying while the server is not up yet) and migrates the schema; the platform
	 * awaits it at start-up so a node fails early. Adapters also wait for it on first use.
	 */
	open?(): Promise<void>;
}

/**
 * The db port for services: moleculer-db's DbService (CRUD actions, hooks, caching) on our store adapter,
 * SQLite or MongoDB as the platform chose. The adapter is resolved lazily (on connect, i.e. when the
 * service starts), because services may be created before initPlatform() has run; the declared indexes
 * are ensured when the service starts.
 *
 *   export default { name: "debts", mixins: [dbMixin("debts", { indexes: [{ fields: ["client", "contract_id"], unique: true }] })] }
 *
 * In handlers, `this.adapter` is the StoreAdapter (increment, bulkUpsert... beyond moleculer-db's API).
 */
import DbService from "moleculer-db";
import type { Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { BulkUpsertOptions, BulkUpsertResult, CompareAndSetOp, Doc, FindOptions, IndexSpec, NewDoc, Query, StoreAdapter, StoreFactory, Update } from "../lib/store/types.ts";
import { getPlatform } from "../lib/platform.ts";

/** What the mixin adds to a service's `this`. */
export interface DbMixinThis {
	adapter: StoreAdapter;
}
export type DbMixinService = Service & DbMixinThis;

export interface DbMixinOptions {
	indexes?: IndexSpec[];
	/**
	 * Keep moleculer-db's generic CRUD actions (find, count, list, create, insert, get, update, remove). Off by
	 * default: a service defines the actions its API needs (and their params), and no generic action leaks data
	 * or merges its params into a service's own action of the same name.
	 */
	crudActions?: boolean;
	/** the store to use instead of the platform's (tests, tools) */
	store?: StoreFactory;
}

/**
 * A StoreAdapter that forwards to the real one, found on first use. It holds only plain data and a
 * function, because Moleculer deep-clones mixin schemas (a live DatabaseSync or MongoClient would not survive).
 */
class LazyAdapter implements StoreAdapter {
	collection: string;
	resolve: () => StoreFactory;
	target: StoreAdapter | undefined;

	constructor(collection: string, resolve: () => StoreFactory) {
		this.collection = collection;
		this.resolve = resolve;
		this.target = undefined;
	}

	private get a(): StoreAdapter {
		this.target ??= this.resolve().adapter(this.collection);
		return this.target;
	}

	init(): void {
		// moleculer-db calls this at created time, possibly before initPlatform(): resolve later
	}
	connect(): Promise<void> {
		return this.a.connect();
	}
	async disconnect(): Promise<void> {
		if (this.target) await this.target.disconnect();
	}
	find(options: FindOptions): Promise<Doc[]> {
		return this.a.find(options);
	}
	findOne(query: Query): Promise<Doc | null> {
		return this.a.findOne(query);
	}
	findById(id: string): Promise<Doc | null> {
		return this.a.findById(id);
	}
	findByIds(ids: string[]): Promise<Doc[]> {
		return this.a.findByIds(ids);
	}
	count(options?: FindOptions): Promise<number> {
		return this.a.count(options);
	}
	insert(doc: NewDoc): Promise<Doc> {
		return this.a.insert(doc);
	}
	insertMany(docs: NewDoc[]): Promise<Doc[]> {
		return this.a.insertMany(docs);
	}
	updateMany(query: Query, update: Update | Record<string, unknown>): Promise<number> {
		return this.a.updateMany(query, update);
	}
	updateById(id: string, update: Update | Record<string, unknown>): Promise<Doc | null> {
		return this.a.updateById(id, update);
	}
	removeMany(query: Query): Promise<number> {
		return this.a.removeMany(query);
	}
	removeById(id: string): Promise<Doc | null> {
		return this.a.removeById(id);
	}
	clear(): Promise<number> {
		return this.a.clear();
	}
	entityToObject(doc: Doc): Record<string, unknown> {
		return this.a.entityToObject(doc);
	}
	beforeSaveTransformID(doc: NewDoc, idField: string): NewDoc {
		return this.a.beforeSaveTransformID(doc, idField);
	}
	afterRetrieveTransformID(doc: Doc, idField: string): Record<string, unknown> {
		return this.a.afterRetrieveTransformID(doc, idField);
	}
	increment(id: string, inc: Record<string, number>, set?: Record<string, unknown>): Promise<Doc | null> {
		return this.a.increment(id, inc, set);
	}
	bulkUpsert(docs: NewDoc[], options: BulkUpsertOptions): Promise<BulkUpsertResult> {
		return this.a.bulkUpsert(docs, options);
	}
	ensureIndexes(indexes: IndexSpec[]): Promise<void> {
		return this.a.ensureIndexes(indexes);
	}
	ping(): Promise<boolean> {
		return this.a.ping();
	}
	compareAndSetMany(ops: CompareAndSetOp[]): Promise<boolean[]> {
		return this.a.compareAndSetMany(ops);
	}
	insertManyIfAbsent(docs: NewDoc[]): Promise<boolean[]> {
		return this.a.insertManyIfAbsent(docs);
	}
}

const CRUD_ACTIONS = ["find", "count", "list", "create", "insert", "get", "update", "remove"];

/** A Moleculer mixin: moleculer-db's DbService on `collection` of the platform's store, with `indexes` ensured at start. */
export function dbMixin(collection: string, options: DbMixinOptions = {}): ServiceSchema {
	const explicit = options.store;
	const indexes = options.indexes ?? [];
	const schema: ServiceSchema<ServiceSettingSchema, Record<string, never>, DbMixinThis> & { adapter: StoreAdapter; collection: string } = {
		name: `db-${collection}`,
		mixins: [DbService as unknown as Partial<ServiceSchema>],
		adapter: new LazyAdapter(collection, () => explicit ?? getPlatform().store),
		collection,
		...(options.crudActions ? {} : { actions: Object.fromEntries(CRUD_ACTIONS.map((a) => [a, false])) }),
		async started(this: DbMixinService) {
			if (indexes.length) await this.adapter.ensureIndexes(indexes);
		}
	};
	return schema as unknown as ServiceSchema;
}

/**
 * Search on the embedded SQLite store (OPENSEARCH_URL not set): the store search's documents and views
 * (store.ts: `{ _id, f: fields, t: " normalised text " }` in `search_<index>`, or a view of a collection), with
 * the text found through an FTS5 full-text table instead of substring scans.
 *
 * The FTS table, `<collection>__fts`, lives in the collection's own SQLite file and belongs to this adapter: a
 * contentless FTS5 table (the words only, no second copy of the text) keyed by the collection's rowid, filled from
 * the text field by triggers on the collection (insert, update of the text, delete). So every writer of the
 * collection, in any process sharing the file, keeps it exact in the same transaction as its own write, with no
 * call to index(); when the table is first made it is filled from the rows already there (one transaction).
 *
 * Words: the stored text is already normalised (normaliseText: lower-case, accents folded, words of letters,
 * marks and digits between single spaces), and FTS5's `ascii` tokenizer splits it on exactly those spaces (every
 * non-ASCII character is a word character to it), so a word of any script stays one token. A query is every
 * normalised word whole, the last a prefix (`"jose" AND "smi"*`), the same semantics as the other implementations.
 * Filters, ranges and sorts are the store's query translation on the collection; without a sort, hits come by
 * FTS5's bm25 rank, then id.
 *
 * A view written in large transactions (StoreView.fullText "batched": the records, whose registry writes groups of up
 * to 50,000), and the search's own documents (search_<index>, written by index() in transactions: the passbooks), get
 * their new rows into the FTS table by one statement per transaction instead of a trigger per row: a
 * hook of the file's connection (SqliteFile.beforeCommit) indexes the rows above a high-water mark
 * (`<collection>__fts_mark`) just before each commit. Per row, a trigger cost ~6 us and FTS5 writing out its pending
 * words at every statement ~30 us more (measured: 43 against 8 us a record inserted); the one statement ~5 us. Updates
 * and deletes still go through triggers (few, and each must be exact). A writer that commits rows without the hook
 * (one outside a transaction) leaves them above the mark; until the next transaction indexes them, a text query
 * scans as store.ts does, so it is exact either way.
 *
 * A view can also leave its text unindexed (StoreView.fullText false); its text queries then scan as store.ts does.
 */
import type { SqliteFile, SqliteStore } from "../store/sqlite.ts";
import { jsonPath, limitOffset, orderBy, whereClause, type SqlValue } from "../store/query.ts";
import { reviveInPlace } from "../store/docs.ts";
import type { Doc } from "../store/types.ts";
import type { SearchIndex, SearchQuery, SearchResult, StoreView } from "./types.ts";
import { StoreSearch, normaliseWords } from "./store.ts";

const quote = (name: string) => `"${name.replace(/"/g, "\"\"")}"`;

/** A batched FTS table's mark (the last rowid indexed) and its collection's last rowid. */
function indexedUpTo(conn: SqliteFile, table: string, mark: string): { done: number; last: number } {
	const done = Number((conn.prepare(`SELECT n FROM ${mark} WHERE id = 1`).get() as { n: number }).n);
	const last = Number((conn.prepare(`SELECT coalesce(max(rowid), 0) AS n FROM ${table}`).get() as { n: number }).n);
	return { done, last };
}

/** per connection, the batched FTS tables whose commit hook it already runs */
const BATCHED_HOOKS = new WeakMap<SqliteFile, Set<string>>();

/** An FTS5 query: every word a quoted string, whole, the last a prefix. */
export function ftsQuery(words: string[]): string {
	return words.map((w, i) => `"${w.replace(/"/g, "\"\"")}"${i === words.length - 1 ? "*" : ""}`).join(" AND ");
}

export class SqliteSearch extends StoreSearch {
	override readonly kind: SearchIndex["kind"] = "sqlite";
	private readonly sqlite: SqliteStore;
	/** index -> its collection's FTS table (and, when batched, the table holding the last rowid indexed) */
	private readonly fts = new Map<string, { conn: SqliteFile; table: string; fts: string; mark?: string }>();

	constructor(store: SqliteStore) {
		super(store);
		this.sqlite = store;
	}

	override async ensureIndex(index: string, fields: string[], view?: StoreView): Promise<void> {
		await super.ensureIndex(index, fields, view);
		if (view?.fullText === false) return;
		const collection = view ? view.collection : `search_${index}`;
		await this.coll(index).connect();
		const conn = this.sqlite.fileOf(collection);
		const table = quote(collection);
		const name = `${collection}__fts`;
		const fts = quote(name);
		const text = (row: "new" | "old") => `coalesce(json_extract(${row}.doc, '${jsonPath(view ? view.textField : "t")}'), '')`;
		// the search's own documents (index()) are written in transactions, as "batched" views are
		if (view ? view.fullText === "batched" : true) {
			const mark = this.ensureBatched(conn, table, name, text);
			if (mark) {
				this.fts.set(index, { conn, table, fts, mark });
				return;
			}
		}
		conn.transaction(() => {
			if (conn.prepare("SELECT 1 AS x FROM sqlite_master WHERE name = ?").get(name)) return;
			conn.db.exec(`CREATE VIRTUAL TABLE ${fts} USING fts5(t, content='', contentless_delete=1, tokenize='ascii')`);
			conn.db.exec(`CREATE TRIGGER ${quote(`${name}_ai`)} AFTER INSERT ON ${table} BEGIN INSERT INTO ${fts} (rowid, t) VALUES (new.rowid, ${text("new")}); END`);
			conn.db.exec(`CREATE TRIGGER ${quote(`${name}_ad`)} AFTER DELETE ON ${table} BEGIN DELETE FROM ${fts} WHERE rowid = old.rowid; END`);
			conn.db.exec(`CREATE TRIGGER ${quote(`${name}_au`)} AFTER UPDATE ON ${table} WHEN ${text("old")} IS NOT ${text("new")} OR old.rowid IS NOT new.rowid BEGIN DELETE FROM ${fts} WHERE rowid = old.rowid; INSERT INTO ${fts} (rowid, t) VALUES (new.rowid, ${text("new")}); END`);
			conn.db.exec(`INSERT INTO ${fts} (rowid, t) SELECT rowid, ${text("new").replace("new.doc", "doc")} FROM ${table}`);
		});
		this.fts.set(index, { conn, table, fts });
	}

	/**
	 * The batched FTS table of a collection: made (with its mark, and triggers for updates and deletes) when missing,
	 * and this connection's commit hook that indexes the rows above the mark; the rows already there are indexed at
	 * once. Returns the mark table's quoted name.
	 */
	private ensureBatched(conn: SqliteFile, table: string, name: string, text: (row: "new" | "old") => string): string | undefined {
		const fts = quote(name);
		const mark = quote(`${name}_mark`);
		const exists = (n: string) => conn.prepare("SELECT 1 AS x FROM sqlite_master WHERE name = ?").get(n) !== undefined;
		// an FTS table kept by row triggers (made before batching) stays so
		if (exists(name) && !exists(`${name}_mark`)) return undefined;
		conn.transaction(() => {
			if (exists(name)) return;
			conn.db.exec(`CREATE VIRTUAL TABLE ${fts} USING fts5(t, content='', contentless_delete=1, tokenize='ascii')`);
			conn.db.exec(`CREATE TABLE ${mark} (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)`);
			conn.db.exec(`INSERT INTO ${mark} (id, n) VALUES (1, 0)`);
			// a deleted row leaves the index; the mark never stays above the last row (a new row may take a freed rowid)
			conn.db.exec(`CREATE TRIGGER ${quote(`${name}_ad`)} AFTER DELETE ON ${table} BEGIN DELETE FROM ${fts} WHERE rowid = old.rowid; UPDATE ${mark} SET n = min(n, (SELECT coalesce(max(rowid), 0) FROM ${table})) WHERE id = 1; END`);
			// an indexed row whose text changed is indexed again; a row above the mark is indexed by the hook as it is then
			conn.db.exec(`CREATE TRIGGER ${quote(`${name}_au`)} AFTER UPDATE ON ${table} WHEN ${text("old")} IS NOT ${text("new")} OR old.rowid IS NOT new.rowid BEGIN DELETE FROM ${fts} WHERE rowid = old.rowid; INSERT INTO ${fts} (rowid, t) SELECT new.rowid, ${text("new")} WHERE new.rowid <= (SELECT n FROM ${mark} WHERE id = 1); END`);
		});
		let hooked = BATCHED_HOOKS.get(conn);
		if (!hooked) BATCHED_HOOKS.set(conn, (hooked = new Set()));
		if (!hooked.has(name)) {
			hooked.add(name);
			const source = text("new").replace("new.doc", "doc");
			conn.beforeCommit(() => {
				const { done, last } = indexedUpTo(conn, table, mark);
				if (last <= done) return;
				conn.prepare(`INSERT OR REPLACE INTO ${fts} (rowid, t) SELECT rowid, ${source} FROM ${table} WHERE rowid > ?`).run(done);
				conn.prepare(`UPDATE ${mark} SET n = ? WHERE id = 1`).run(last);
			});
		}
		// the rows already there (a store made before this index, or rows committed without the hook)
		conn.transaction(() => undefined);
		return mark;
	}

	/** True when every row of a batched view's collection is in its FTS table (none above the mark). */
	private upToDate(f: { conn: SqliteFile; table: string; mark?: string }): boolean {
		if (!f.mark) return true;
		const { done, last } = indexedUpTo(f.conn, f.table, f.mark);
		return last <= done;
	}

	override async search(index: string, q: SearchQuery): Promise<SearchResult> {
		const words = normaliseWords(q.text);
		const f = this.fts.get(index);
		// rows not indexed yet (written outside a transaction): the scan is exact
		if (!f || words.length === 0 || !this.upToDate(f)) return super.search(index, q);
		const l = this.layout(index);
		// the MATCH parameter comes first in the SQL, then the filters' own
		const params: SqlValue[] = [ftsQuery(words)];
		const where = whereClause(this.storeQuery(l, q), params);
		const from = `${f.fts} JOIN ${f.table} ON ${f.table}.rowid = ${f.fts}.rowid WHERE ${f.fts} MATCH ? AND ${where}`;
		const total = Number((f.conn.prepare(`SELECT count(*) AS n FROM ${from}`).get(...params) as { n: number }).n);
		const limit = q.limit ?? 20;
		if (limit <= 0) return { total, hits: [] };
		const order = q.sort ? orderBy([q.sort.startsWith("-") ? `-${l.path(q.sort.slice(1))}` : l.path(q.sort), "_id"]) : ` ORDER BY ${f.fts}.rank, _id`;
		const page = [...params];
		const sql = `SELECT doc FROM ${from}${order}${limitOffset(limit, q.offset ?? 0, page)}`;
		const rows = f.conn.prepare(sql).all(...page) as unknown as { doc: string }[];
		return {
			total,
			hits: rows.map((r) => {
				const d = reviveInPlace(JSON.parse(r.doc) as Record<string, unknown>) as Doc;
				return { id: d._id, fields: l.fields(d) };
			})
		};
	}
}

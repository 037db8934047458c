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
 * A view can leave its text unindexed (StoreView.fullText false: the records, whose registry writes 50,000-row
 * groups and is not measured with FTS indexing on every record); its text queries then scan as store.ts does.
 */
import type { SqliteFile, SqliteStore } from "../store/sqlite.ts";
import { jsonPath, limitOffset, orderBy, whereClause, type SqlValue } from "../store/query.ts";
import { reviveInPlace } from "../store/docs.ts";
import type { Doc } from "../store/types.ts";
import type { SearchIndex, SearchQuery, SearchResult, StoreView } from "./types.ts";
import { StoreSearch, normaliseWords } from "./store.ts";

const quote = (name: string) => `"${name.replace(/"/g, "\"\"")}"`;

/** An FTS5 query: every word a quoted string, whole, the last a prefix. */
export function ftsQuery(words: string[]): string {
	return words.map((w, i) => `"${w.replace(/"/g, "\"\"")}"${i === words.length - 1 ? "*" : ""}`).join(" AND ");
}

export class SqliteSearch extends StoreSearch {
	override readonly kind: SearchIndex["kind"] = "sqlite";
	private readonly sqlite: SqliteStore;
	/** index -> its collection's FTS table */
	private readonly fts = new Map<string, { conn: SqliteFile; table: string; fts: string }>();

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

	override async search(index: string, q: SearchQuery): Promise<SearchResult> {
		const words = normaliseWords(q.text);
		const f = this.fts.get(index);
		if (!f || words.length === 0) return super.search(index, q);
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

/**
 * Search on PostgreSQL (the store is PostgreSQL and OPENSEARCH_URL is not set): the store search's documents and
 * views (store.ts: `{ _id, f: fields, t: " normalised text " }` in `search_<index>`, or a view of a collection),
 * searched with PostgreSQL's own indexes instead of substring scans:
 * - full text: a GIN index on the tsvector of the normalised words (`array_to_tsvector`, so no text-search parser
 *   or dictionary changes a word: the same words as the other implementations, in any script); a query is a
 *   tsquery of its normalised words, every word whole but the last, which is a prefix (`'jose' & 'smi':*`);
 * - trigram similarity (pg_trgm's similarity()): without a sort, the hits the full-text index found come most
 *   similar to the query text first (names spelt like the query first), then by id. It ranks the matches only, so
 *   it needs no index of its own (a trigram GIN index on every record's text measured as the costliest index to
 *   write, for no query that uses it).
 * Filters and sorts are the store's query translation (pgquery.ts), on the fields' JSONB paths.
 */
import type { Doc } from "../store/types.ts";
import { quoteIdent, type PostgresStore } from "../store/postgres.ts";
import { pgLimit, pgOrderBy, pgPath, pgWhere, type PgParams } from "../store/pgquery.ts";
import type { SearchIndex, SearchQuery, SearchResult, StoreView } from "./types.ts";
import { StoreSearch, normaliseWords } from "./store.ts";
import { reviveInPlace } from "../store/docs.ts";

/** The tsvector of a normalised text field: its words as they are. */
function tsv(textField: string): string {
	return `array_to_tsvector(string_to_array(btrim(doc #>> ${pgPath(textField)}), ' '))`;
}

/** A tsquery literal: every word whole, the last a prefix. */
export function tsquery(words: string[]): string {
	return words.map((w, i) => `'${w.replace(/\\/g, "\\\\").replace(/'/g, "''")}'${i === words.length - 1 ? ":*" : ""}`).join(" & ");
}

export class PostgresSearch extends StoreSearch {
	override readonly kind: SearchIndex["kind"] = "postgres";
	private readonly pg: PostgresStore;

	constructor(store: PostgresStore) {
		super(store);
		this.pg = store;
	}

	private table(index: string): { table: string; text: string } {
		const view = this.views.get(index);
		this.coll(index); // checks the index name
		return { table: quoteIdent(view ? view.collection : `search_${index}`), text: view ? view.textField : "t" };
	}

	override async ensureIndex(index: string, fields: string[], view?: StoreView): Promise<void> {
		await super.ensureIndex(index, fields, view);
		await this.coll(index).connect();
		const { table, text } = this.table(index);
		const base = (view ? view.collection : `search_${index}`).replace(/[^A-Za-z0-9_]/g, "_").slice(0, 40);
		await this.pg.ddl(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`${base}__fts`)} ON ${table} USING GIN (${tsv(text)})`);
	}

	override async search(index: string, q: SearchQuery): Promise<SearchResult> {
		const { table, text } = this.table(index);
		const l = this.layout(index);
		const query = this.storeQuery(l, q);
		const params: PgParams = [];
		let where = pgWhere(query, params);
		const words = normaliseWords(q.text);
		if (words.length) {
			params.push(tsquery(words));
			where += ` AND ${tsv(text)} @@ $${params.length}::tsquery`;
		}
		const countParams = [...params];
		let order: string;
		if (q.sort) order = pgOrderBy([q.sort.startsWith("-") ? `-${l.path(q.sort.slice(1))}` : l.path(q.sort), "_id"]);
		else if (words.length) {
			params.push(words.join(" "));
			order = ` ORDER BY similarity(doc #>> ${pgPath(text)}, $${params.length}::text) DESC, _id`;
		} else order = " ORDER BY _id";
		const limit = q.limit ?? 20;
		const page = limit > 0 ? `SELECT doc FROM ${table} WHERE ${where}${order}${pgLimit(limit, q.offset ?? 0, params)}` : "";
		const countSql = `SELECT count(*) AS n FROM ${table} WHERE ${where}`;
		const [count, rows] = await Promise.all([
			this.pg.pool.query<{ n: string }>(countSql, countParams),
			page ? this.pg.pool.query<{ doc: Record<string, unknown> }>(page, params) : Promise.resolve({ rows: [] as { doc: Record<string, unknown> }[] })
		]);
		return {
			total: Number(count.rows[0].n),
			hits: rows.rows.map((r) => {
				const d = reviveInPlace(r.doc) as Doc;
				return { id: d._id, fields: l.fields(d) };
			})
		};
	}
}

/**
 * The search port: index documents by fields and text, and query them.
 * On the store by default (a collection per index; on SQLite with an FTS5 table, on PostgreSQL with full-text and
 * trigram indexes); OpenSearch when OPENSEARCH_URL is set.
 */

export interface SearchDoc {
	/** unique within the index; indexing the same id again replaces the document */
	id: string;
	/**
	 * exact-match fields (keywords, numbers, dates as ISO strings). A list of strings is a multi-valued keyword (a
	 * filter matches when any of them equals): OpenSearch keeps it as such; the store search takes one only in a view,
	 * which maps the field to the paths its values are kept at (StoreView.paths).
	 */
	fields: Record<string, string | number | boolean | null | string[]>;
	/** free text matched by `text` queries (names, addresses...) */
	text?: string;
}

export interface SearchQuery {
	/** every field must equal its value (arrays: any of the values) */
	filter?: Record<string, string | number | boolean | (string | number)[]>;
	/** every field must lie within its bounds (inclusive; numbers, or ISO date strings compared as strings) */
	range?: Record<string, { gte?: string | number; lte?: string | number }>;
	/** words that must all occur in the document text (case- and accent-insensitive, prefix match on the last word) */
	text?: string;
	/** a field name, "-field" for descending; default: relevance then id */
	sort?: string;
	limit?: number;
	offset?: number;
}

export interface SearchResult {
	total: number;
	hits: { id: string; fields: SearchDoc["fields"] }[];
}

export interface SearchIndex {
	readonly kind: "store" | "sqlite" | "postgres" | "opensearch";
	/**
	 * Creates the index if missing, with the given exact-match field names. With `view`, the store implementation
	 * searches that store collection directly instead of keeping a copy (index()/remove() then do nothing: the
	 * collection's owner keeps the values in place); OpenSearch ignores `view` and keeps its own index.
	 */
	ensureIndex(index: string, fields: string[], view?: StoreView): Promise<void>;
	/**
	 * indexes many documents in one request; visible to search() when it resolves. With `wait: false` it resolves once
	 * the documents are stored, and they become visible at the index's next refresh (OpenSearch: within ~1 s; the
	 * store implementations are always at once): for a write that must not wait, still ordered before later writes.
	 */
	index(index: string, docs: SearchDoc[], options?: { wait?: boolean }): Promise<void>;
	search(index: string, query: SearchQuery): Promise<SearchResult>;
	remove(index: string, ids: string[]): Promise<void>;
	ping(): Promise<boolean>;
	close(): Promise<void>;
}

/** A search index that is a view of a store collection (see SearchIndex.ensureIndex). */
export interface StoreView {
	collection: string;
	/**
	 * search field -> document path ("cpf" -> "data.debtor_cpf"); unmapped fields use their own name. A list of paths
	 * makes a multi-valued field: a filter on it matches when any of the paths holds the value
	 * (`taxId: ["taxIds.0", "taxIds.1"]`); ranges and sorts need a field with one path.
	 */
	paths: Record<string, string | string[]>;
	/** document field holding normaliseText() of the searchable text */
	textField: string;
	/**
	 * Where the store keeps a full-text index of the text (SQLite FTS5): true (default) keeps it row by row; "batched"
	 * indexes each write transaction's new rows in one statement before it commits (for collections written in large
	 * transactions: far cheaper per row); false keeps none (text queries scan).
	 */
	fullText?: boolean | "batched";
}

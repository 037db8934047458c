/**
 * The search port: index documents by fields and text, and query them.
 * On the store by default (a collection per index); OpenSearch when OPENSEARCH_URL is set.
 */

export interface SearchDoc {
	/** unique within the index; indexing the same id again replaces the document */
	id: string;
	/** exact-match fields (keywords, numbers, dates as ISO strings) */
	fields: Record<string, string | number | boolean | null>;
	/** free text matched by `text` queries (names, addresses...) */
	text?: string;
}

export interface SearchQuery {
	/** every field must equal its value (arrays: any of the values) */
	filter?: Record<string, string | number | boolean | (string | number)[]>;
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
	readonly kind: "store" | "opensearch";
	/** creates the index if missing, with the given exact-match field names */
	ensureIndex(index: string, fields: string[]): Promise<void>;
	/** indexes many documents in one request; visible to search() when it resolves */
	index(index: string, docs: SearchDoc[]): Promise<void>;
	search(index: string, query: SearchQuery): Promise<SearchResult>;
	remove(index: string, ids: string[]): Promise<void>;
	ping(): Promise<boolean>;
	close(): Promise<void>;
}

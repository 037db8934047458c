/**
 * Chooses the search index for this process: OpenSearch when OPENSEARCH_URL is set (config.opensearch),
 * else queries on the store (a collection per index), with an FTS5 table when the store is SQLite and PostgreSQL's
 * full-text and trigram indexes when the store is PostgreSQL.
 */
import type { Config } from "../../config/index.ts";
import type { StoreFactory } from "../store/types.ts";
import type { SearchIndex } from "./types.ts";
import { OpenSearchIndex } from "./opensearch.ts";
import { StoreSearch } from "./store.ts";
import { PostgresSearch } from "./postgres.ts";
import { PostgresStore } from "../store/postgres.ts";
import { SqliteSearch } from "./sqlite.ts";
import { SqliteStore } from "../store/sqlite.ts";

export function createSearch(config: Config, store: StoreFactory): SearchIndex {
	if (config.opensearch) return new OpenSearchIndex({ url: config.opensearch.url, indexPrefix: config.opensearch.indexPrefix });
	if (store instanceof PostgresStore) return new PostgresSearch(store);
	if (store instanceof SqliteStore) return new SqliteSearch(store);
	return new StoreSearch(store);
}

export { OpenSearchIndex } from "./opensearch.ts";
export { PostgresSearch } from "./postgres.ts";
export { SqliteSearch } from "./sqlite.ts";
export { StoreSearch, normaliseText, normaliseWords } from "./store.ts";

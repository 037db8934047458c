/**
 * Chooses the search index for this process: OpenSearch when OPENSEARCH_URL is set (config.opensearch),
 * else queries on the store (a collection per index).
 */
import type { Config } from "../../config/index.ts";
import type { StoreFactory } from "../store/types.ts";
import type { SearchIndex } from "./types.ts";
import { OpenSearchIndex } from "./opensearch.ts";
import { StoreSearch } from "./store.ts";

export function createSearch(config: Config, store: StoreFactory): SearchIndex {
	if (config.opensearch) return new OpenSearchIndex({ url: config.opensearch.url, indexPrefix: config.opensearch.indexPrefix });
	return new StoreSearch(store);
}

export { OpenSearchIndex } from "./opensearch.ts";
export { StoreSearch, normaliseText, normaliseWords } from "./store.ts";

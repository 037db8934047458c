/**
 * Search on OpenSearch: one index per search index, named `${prefix}-${index}`. Exact-match fields are
 * keywords under `fields.*` (strings without a declared name are mapped as keywords too), the text is
 * analysed with lower-casing and ASCII folding; text queries use match_bool_prefix with operator "and"
 * (every word, the last as a prefix), the same meaning as the store search. Writes use the bulk API with
 * refresh=wait_for, so what index() wrote is visible to search() once it resolves (with `wait: false`, refresh=false:
 * visible at the next refresh, within ~1 s). A list of strings in `fields` is a multi-valued keyword: a term filter
 * matches any of its values.
 */
import { Client } from "@opensearch-project/opensearch";
import type { SearchDoc, SearchIndex, SearchQuery, SearchResult } from "./types.ts";

const INDEX_NAME = /^[a-z0-9][a-z0-9_-]{0,60}$/;

interface Source {
	id: string;
	fields: SearchDoc["fields"];
}

interface BulkItem {
	[op: string]: { status?: number; error?: { type?: string; reason?: string } };
}

export interface OpenSearchOptions {
	url: string;
	indexPrefix: string;
}

export class OpenSearchIndex implements SearchIndex {
	readonly kind = "opensearch" as const;
	readonly client: Client;
	private readonly prefix: string;

	constructor(options: OpenSearchOptions) {
		this.client = new Client({ node: options.url });
		this.prefix = options.indexPrefix.toLowerCase();
	}

	private name(index: string): string {
		const i = index.toLowerCase();
		if (!INDEX_NAME.test(i)) throw new Error(`invalid search index name '${index}'`);
		return `${this.prefix}-${i}`;
	}

	async ensureIndex(index: string, fields: string[]): Promise<void> {
		const name = this.name(index);
		const exists = await this.client.indices.exists({ index: name });
		if (exists.body === true) return;
		try {
			await this.client.indices.create({
				index: name,
				body: {
					settings: {
						analysis: {
							analyzer: { folded: { type: "custom", tokenizer: "standard", filter: ["lowercase", "asciifolding"] } }
						}
					},
					mappings: {
						dynamic_templates: [{ strings_as_keywords: { path_match: "fields.*", match_mapping_type: "string", mapping: { type: "keyword" } } }],
						properties: {
							id: { type: "keyword" },
							text: { type: "text", analyzer: "folded" },
							fields: { type: "object", properties: Object.fromEntries(fields.map((f) => [f, { type: "keyword" }])) }
						}
					}
				}
			});
		} catch (err) {
			// another node created it first
			if (!/resource_already_exists_exception/.test(String((err as Error).message))) throw err;
		}
	}

	/** Sends a bulk body and throws on the first failed item (ignoring deletes of absent documents). */
	private async bulk(body: Record<string, unknown>[], wait = true): Promise<void> {
		const res = await this.client.bulk({ body, refresh: wait ? "wait_for" : false });
		if (!res.body.errors) return;
		for (const item of res.body.items as unknown as BulkItem[]) {
			const [op, r] = Object.entries(item)[0];
			if (r.error && !(op === "delete" && r.status === 404)) throw new Error(`opensearch bulk ${op} failed: ${r.error.type}: ${r.error.reason}`);
		}
	}

	async index(index: string, docs: SearchDoc[], options: { wait?: boolean } = {}): Promise<void> {
		if (docs.length === 0) return;
		const name = this.name(index);
		// one bulk request per 5,000 documents (the registry hands over up to 50,000 at a time)
		for (let start = 0; start < docs.length; start += 5000) {
			const body: Record<string, unknown>[] = [];
			for (const d of docs.slice(start, start + 5000)) {
				body.push({ index: { _index: name, _id: String(d.id) } }, { id: String(d.id), fields: d.fields, text: d.text ?? "" });
			}
			await this.bulk(body, options.wait !== false);
		}
	}

	async search(index: string, q: SearchQuery): Promise<SearchResult> {
		const filter: Record<string, unknown>[] = Object.entries(q.filter ?? {}).map(([f, v]) => (Array.isArray(v) ? { terms: { [`fields.${f}`]: v } } : { term: { [`fields.${f}`]: v } }));
		for (const [f, b] of Object.entries(q.range ?? {})) filter.push({ range: { [`fields.${f}`]: { ...(b.gte !== undefined ? { gte: b.gte } : {}), ...(b.lte !== undefined ? { lte: b.lte } : {}) } } });
		const text = q.text?.trim();
		const must = text ? [{ match_bool_prefix: { text: { query: text, operator: "and" } } }] : [{ match_all: {} }];
		const sort = q.sort
			? [{ [`fields.${q.sort.replace(/^-/, "")}`]: { order: q.sort.startsWith("-") ? "desc" : "asc", unmapped_type: "keyword" } }, { id: { order: "asc" } }]
			: [{ _score: { order: "desc" } }, { id: { order: "asc" } }];
		const res = await this.client.search({
			index: this.name(index),
			body: {
				query: { bool: { must, filter } },
				sort,
				from: q.offset ?? 0,
				size: q.limit ?? 20,
				track_total_hits: true,
				_source: ["id", "fields"]
			} as Record<string, unknown>
		});
		const hits = res.body.hits;
		const total = typeof hits.total === "number" ? hits.total : (hits.total?.value ?? 0);
		return {
			total,
			hits: hits.hits.map((h) => {
				const s = h._source as unknown as Source;
				return { id: s.id, fields: s.fields ?? {} };
			})
		};
	}

	async remove(index: string, ids: string[]): Promise<void> {
		if (ids.length === 0) return;
		const name = this.name(index);
		await this.bulk(ids.map((id) => ({ delete: { _index: name, _id: String(id) } })));
	}

	async ping(): Promise<boolean> {
		try {
			const res = await this.client.ping();
			return res.statusCode === 200;
		} catch {
			return false;
		}
	}

	async close(): Promise<void> {
		await this.client.close();
	}
}

/**
 * Search on the store (the embedded default, and MongoDB without OpenSearch): one collection per index,
 * `search_<index>`, each document `{ _id: id, f: fields, t: " normalised text " }`. It uses only the
 * StoreAdapter contract, so it runs on SQLite and MongoDB alike.
 *
 * Text queries: the text and the query are lower-cased, accent-folded and split into words; every query
 * word must occur as a whole word, the last one as a word prefix ("jose smi" finds "José Smith", "jo smith"
 * does not, as OpenSearch's match_bool_prefix). The store's substring search narrows the candidates on the most
 * selective word; the other words are checked here while paging through the candidates, so `total` stays exact.
 * There is no relevance ranking: the default order is by id.
 *
 * Views: an index declared with a StoreView is searched in its own collection (fields at their document paths,
 * the text in the view's text field), so data that already lives in the store is never copied. A view's
 * multi-valued field (a list of paths, e.g. the tax IDs of an invoice at `taxIds.0`..`taxIds.3`) is filtered as "any
 * of its paths holds the value", since the store query does not look inside lists.
 */
import type { StoreAdapter, StoreFactory, Query, Doc } from "../store/types.ts";
import type { SearchDoc, SearchIndex, SearchQuery, SearchResult, StoreView } from "./types.ts";

const INDEX_NAME = /^[a-z0-9][a-z0-9_-]{0,60}$/i;
/** candidates read per page when words must be checked here */
const PAGE = 1000;

/** Lower-cases, strips Latin diacritics (é -> e) and splits on anything that is not a letter or digit. */
export function normaliseWords(text: string | undefined | null): string[] {
	if (!text) return [];
	return text
		.normalize("NFD")
		.replace(/[\u0300-\u036f]+/g, "")
		.normalize("NFC")
		.toLowerCase()
		.split(/[^\p{L}\p{M}\p{N}]+/u)
		.filter(Boolean);
}

/** The stored text field: the words between single spaces, with a space at each end (" a b c "). */
export function normaliseText(text: string | undefined | null): string {
	const words = normaliseWords(text);
	return words.length ? ` ${words.join(" ")} ` : "";
}

/** Where a search field lives in an index's documents (`paths`: every path of a multi-valued field), and the text. */
interface Layout {
	path(field: string): string;
	paths(field: string): string[];
	text: string;
	fields(d: Doc): SearchDoc["fields"];
}

/** Dates revived by the store are ISO strings again (the search contract keeps dates as strings). */
function plainFields(f: unknown): SearchDoc["fields"] {
	const out: SearchDoc["fields"] = {};
	if (f && typeof f === "object") {
		for (const [k, v] of Object.entries(f as Record<string, unknown>)) {
			out[k] = v instanceof Date ? v.toISOString() : (v as SearchDoc["fields"][string]);
		}
	}
	return out;
}

export class StoreSearch implements SearchIndex {
	readonly kind: SearchIndex["kind"] = "store";
	protected readonly store: StoreFactory;
	protected readonly views = new Map<string, StoreView>();

	constructor(store: StoreFactory) {
		this.store = store;
	}

	protected coll(index: string): StoreAdapter {
		if (!INDEX_NAME.test(index)) throw new Error(`invalid search index name '${index}'`);
		const view = this.views.get(index);
		return this.store.adapter(view ? view.collection : `search_${index}`);
	}

	/** The store query of a search's filters and ranges (inclusive bounds) on the index's layout. */
	protected storeQuery(l: Layout, q: SearchQuery): Query {
		const query: Query = {};
		const anyOf: Query[] = [];
		for (const [field, value] of Object.entries(q.filter ?? {})) {
			const cond = Array.isArray(value) ? { $in: value } : value;
			const paths = l.paths(field);
			// a multi-valued field of a view: the value at any of its paths
			if (paths.length > 1) anyOf.push({ $or: paths.map((p) => ({ [p]: cond })) });
			else query[l.path(field)] = cond;
		}
		for (const [field, b] of Object.entries(q.range ?? {})) {
			const cond: Record<string, string | number> = {};
			if (b.gte !== undefined) cond.$gte = b.gte;
			if (b.lte !== undefined) cond.$lte = b.lte;
			if (Object.keys(cond).length) query[l.path(field)] = { ...((query[l.path(field)] as object | undefined) ?? {}), ...cond };
		}
		if (anyOf.length === 1) Object.assign(query, anyOf[0]);
		else if (anyOf.length > 1) query.$and = anyOf;
		return query;
	}

	/** Where a search field lives in the index's documents, and where the text is. */
	protected layout(index: string): Layout {
		const view = this.views.get(index);
		if (!view) return { path: (f) => `f.${f}`, paths: (f) => [`f.${f}`], text: "t", fields: (d) => plainFields(d.f) };
		const get = (d: Doc, path: string): unknown => path.split(".").reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), d);
		const paths = (f: string): string[] => {
			const p = view.paths[f] ?? f;
			return Array.isArray(p) ? p : [p];
		};
		return {
			path: (f) => {
				const p = paths(f);
				if (p.length > 1) throw new Error(`search field '${f}' has several values: it can be filtered on, not ranged or sorted`);
				return p[0];
			},
			paths,
			text: view.textField,
			fields: (d) =>
				plainFields(
					Object.fromEntries(
						Object.keys(view.paths).map((f) => {
							const p = paths(f);
							return [f, p.length > 1 ? p.map((x) => get(d, x)).filter((v) => typeof v === "string") : (get(d, p[0]) ?? null)];
						})
					)
				)
		};
	}

	async ensureIndex(index: string, fields: string[], view?: StoreView): Promise<void> {
		if (view) {
			this.views.set(index, view);
			return;
		}
		const a = this.coll(index);
		await a.connect();
		await a.ensureIndexes(fields.map((f) => ({ fields: [`f.${f}`], name: `f_${f.replace(/[^A-Za-z0-9_]/g, "_")}` })));
	}

	async index(index: string, docs: SearchDoc[]): Promise<void> {
		if (docs.length === 0 || this.views.has(index)) return;
		for (const d of docs) {
			const multi = Object.keys(d.fields).find((f) => Array.isArray(d.fields[f]));
			// the store query does not look inside lists: a multi-valued field needs a view with a path per value
			if (multi) throw new Error(`search field '${multi}' of '${d.id}' has several values: on the store, index it through a view (StoreView.paths)`);
		}
		const a = this.coll(index);
		await a.bulkUpsert(
			docs.map((d) => ({ _id: String(d.id), f: d.fields, t: normaliseText(d.text) })),
			{ key: ["_id"] }
		);
	}

	async search(index: string, q: SearchQuery): Promise<SearchResult> {
		const a = this.coll(index);
		const l = this.layout(index);
		const query = this.storeQuery(l, q);
		const sort = q.sort ? [q.sort.startsWith("-") ? `-${l.path(q.sort.slice(1))}` : l.path(q.sort), "_id"] : ["_id"];
		const limit = q.limit ?? 20;
		const offset = q.offset ?? 0;
		const words = normaliseWords(q.text);
		// probes: " word " for every word but the last, " last" for the last (word prefix)
		const probes = words.map((w, i) => (i === words.length - 1 ? ` ${w}` : ` ${w} `));
		const hit = (d: Doc) => ({ id: d._id, fields: l.fields(d) });
		if (probes.length <= 1) {
			const opts = { query, search: probes[0], searchFields: probes.length ? l.text : undefined, sort };
			const [total, docs] = await Promise.all([a.count(opts), limit > 0 ? a.find({ ...opts, limit, offset }) : Promise.resolve([])]);
			return { total, hits: docs.map(hit) };
		}
		const probe = probes.reduce((best, p) => (p.length > best.length ? p : best));
		const others = probes.filter((p) => p !== probe);
		const hits: SearchResult["hits"] = [];
		let total = 0;
		for (let from = 0; ; from += PAGE) {
			const page = await a.find({ query, search: probe, searchFields: l.text, sort, limit: PAGE, offset: from });
			for (const d of page) {
				const t = typeof d[l.text] === "string" ? (d[l.text] as string) : "";
				if (!others.every((p) => t.includes(p))) continue;
				if (total >= offset && hits.length < limit) hits.push(hit(d));
				total++;
			}
			if (page.length < PAGE) break;
		}
		return { total, hits };
	}

	async remove(index: string, ids: string[]): Promise<void> {
		if (ids.length === 0 || this.views.has(index)) return;
		await this.coll(index).removeMany({ _id: { $in: ids.map(String) } });
	}

	ping(): Promise<boolean> {
		return this.store.ping();
	}

	async close(): Promise<void> {
		// the store belongs to the platform
	}
}

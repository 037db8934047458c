/**
 * The search contract: one suite run against the store search (on SQLite) and the PostgreSQL search always, and OpenSearch when
 * OPENSEARCH_URL is set. Plus the text normalisation of the store search and the search mixin.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import type { SearchDoc, SearchIndex } from "../../lib/search/types.ts";
import { SqliteStore } from "../../lib/store/sqlite.ts";
import { StoreSearch, normaliseText, normaliseWords } from "../../lib/search/store.ts";
import { OpenSearchIndex } from "../../lib/search/opensearch.ts";
import { PostgresSearch } from "../../lib/search/postgres.ts";
import { SqliteSearch, ftsQuery } from "../../lib/search/sqlite.ts";
import { PostgresStore } from "../../lib/store/postgres.ts";
import { createTestDatabase } from "../helpers/postgres.ts";
import { searchMixin, type SearchService } from "../../mixins/search.mixin.ts";

interface Harness {
	search: SearchIndex;
	cleanup(indexes: string[]): Promise<void>;
}

let seq = 0;

const people: SearchDoc[] = [
	{ id: "p1", fields: { client: "acme", status: "open", amount: 300, vip: true, due: "2026-03-01T00:00:00.000Z" }, text: "José Smith, Rua das Flores 12, São Paulo" },
	{ id: "p2", fields: { client: "acme", status: "closed", amount: 100, vip: false, due: "2026-01-01T00:00:00.000Z" }, text: "Maria Smithers, Avenida Paulista" },
	{ id: "p3", fields: { client: "beta", status: "open", amount: 200, vip: false, due: null }, text: "JOÃO da Silva, Paulo Afonso" },
	{ id: "p4", fields: { client: "acme", status: "open", amount: 50, vip: false, due: "2026-02-01T00:00:00.000Z" }, text: "Zoë Müller, Zürich" }
];

export function searchContract(label: string, make: () => Promise<Harness>, skip?: string): void {
	describe(`search contract: ${label}`, { skip }, () => {
		let h: Harness;
		const created: string[] = [];
		const idx = `people${process.pid}x${Date.now().toString(36)}${seq++}`;
		const idsOf = (r: { hits: { id: string }[] }) => r.hits.map((x) => x.id);

		before(async () => {
			h = await make();
			created.push(idx);
			await h.search.ensureIndex(idx, ["client", "status", "amount", "vip", "due"]);
			await h.search.ensureIndex(idx, ["client", "status", "amount", "vip", "due"]);
			await h.search.index(idx, people);
		});
		after(async () => {
			await h?.cleanup(created);
		});

		it("pings", async () => {
			assert.equal(await h.search.ping(), true);
		});

		it("filters on exact fields (scalars, arrays meaning any of, booleans) with totals", async () => {
			const r = await h.search.search(idx, { filter: { client: "acme" }, sort: "amount" });
			assert.equal(r.total, 3);
			assert.deepEqual(idsOf(r), ["p4", "p2", "p1"]);
			assert.deepEqual(idsOf(await h.search.search(idx, { filter: { status: ["closed", "nope"] } })), ["p2"]);
			assert.deepEqual(idsOf(await h.search.search(idx, { filter: { client: "acme", status: "open" }, sort: "id" })), ["p1", "p4"]);
			assert.deepEqual(idsOf(await h.search.search(idx, { filter: { vip: true } })), ["p1"]);
			assert.equal((await h.search.search(idx, { filter: { client: "none" } })).total, 0);
		});

		it("ranges: inclusive bounds on numbers and ISO dates, with filters and text", async () => {
			assert.deepEqual(idsOf(await h.search.search(idx, { range: { amount: { gte: 100, lte: 200 } }, sort: "amount" })), ["p2", "p3"]);
			assert.deepEqual(idsOf(await h.search.search(idx, { range: { amount: { gte: 200 } }, filter: { client: "acme" } })), ["p1"]);
			assert.deepEqual(idsOf(await h.search.search(idx, { range: { due: { gte: "2026-01-15", lte: "2026-02-15" } } })), ["p4"]);
			assert.deepEqual(idsOf(await h.search.search(idx, { range: { amount: { lte: 300 } }, text: "smith", sort: "id" })), ["p1", "p2"]);
			assert.equal((await h.search.search(idx, { range: { amount: { gte: 301 } } })).total, 0);
		});

		it("returns the fields as indexed (dates stay ISO strings)", async () => {
			const r = await h.search.search(idx, { filter: { client: "beta" } });
			assert.deepEqual(r.hits, [{ id: "p3", fields: people[2].fields }]);
			const p1 = (await h.search.search(idx, { filter: { vip: true } })).hits[0];
			assert.equal(p1.fields.due, "2026-03-01T00:00:00.000Z");
		});

		it("text: case- and accent-insensitive, every word must occur, the last as a prefix", async () => {
			const t = async (text: string, filter?: Record<string, string>) => idsOf(await h.search.search(idx, { text, filter, sort: "id" }));
			assert.deepEqual(await t("jose"), ["p1"]);
			assert.deepEqual(await t("JOAO SILVA"), ["p3"]);
			assert.deepEqual(await t("smith"), ["p1", "p2"], "last word as prefix: smith, smithers");
			assert.deepEqual(await t("smith jose"), ["p1"], "any order");
			assert.deepEqual(await t("jos smith"), [], "words before the last must be whole words");
			assert.deepEqual(await t("paul"), ["p1", "p2", "p3"], "prefix of Paulo and Paulista");
			assert.deepEqual(await t("sao paulo"), ["p1"]);
			assert.deepEqual(await t("zurich zoe"), ["p4"]);
			assert.deepEqual(await t("smith", { client: "acme", status: "closed" }), ["p2"]);
			assert.deepEqual(await t("nobody"), []);
		});

		it("multi-word text queries page and count exactly", async () => {
			const r = await h.search.search(idx, { text: "paulo silva", limit: 1 });
			assert.equal(r.total, 1);
			const all = await h.search.search(idx, { text: "da", sort: "id" });
			assert.deepEqual(idsOf(all), ["p1", "p3"]);
		});

		it("sorts ascending and descending, limits and offsets; total ignores paging", async () => {
			const r = await h.search.search(idx, { sort: "-amount", limit: 2, offset: 1 });
			assert.equal(r.total, 4);
			assert.deepEqual(idsOf(r), ["p3", "p2"]);
			assert.deepEqual(idsOf(await h.search.search(idx, { sort: "due", filter: { client: "acme" } })), ["p2", "p4", "p1"]);
		});

		it("re-indexing an id replaces the document; remove deletes", async () => {
			const other = `${idx}b`;
			created.push(other);
			await h.search.ensureIndex(other, ["client"]);
			await h.search.index(other, [{ id: "a", fields: { client: "x" }, text: "old words" }, { id: "b", fields: { client: "x" }, text: "keep" }]);
			await h.search.index(other, [{ id: "a", fields: { client: "y" }, text: "new words" }]);
			assert.deepEqual(idsOf(await h.search.search(other, { text: "old" })), []);
			assert.deepEqual(idsOf(await h.search.search(other, { text: "new" })), ["a"]);
			assert.deepEqual((await h.search.search(other, { filter: { client: "y" } })).hits, [{ id: "a", fields: { client: "y" } }]);
			await h.search.remove(other, ["a", "never-indexed"]);
			const left = await h.search.search(other, {});
			assert.equal(left.total, 1);
			assert.deepEqual(idsOf(left), ["b"]);
		});

		it("index without waiting: visible by the next refresh, later writes of an id winning", async () => {
			const other = `${idx}w`;
			created.push(other);
			await h.search.ensureIndex(other, ["state"]);
			await h.search.index(other, [{ id: "d", fields: { state: "PENDING" }, text: "first" }], { wait: false });
			await h.search.index(other, [{ id: "d", fields: { state: "PROCESSING" }, text: "second" }], { wait: false });
			const until = Date.now() + 10_000;
			let r = await h.search.search(other, { filter: { state: "PROCESSING" } });
			while (r.total === 0 && Date.now() < until) {
				await new Promise((res) => setTimeout(res, 100));
				r = await h.search.search(other, { filter: { state: "PROCESSING" } });
			}
			assert.deepEqual(idsOf(r), ["d"]);
			assert.equal((await h.search.search(other, { filter: { state: "PENDING" } })).total, 0);
			assert.deepEqual(idsOf(await h.search.search(other, { text: "second" })), ["d"]);
		});
	});
}

searchContract("store (SQLite)", async () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pw-search-"));
	const store = new SqliteStore({ file: path.join(dir, "paperwork.db") });
	const search = new StoreSearch(store);
	return {
		search,
		async cleanup() {
			await search.close();
			await store.close();
			fs.rmSync(dir, { recursive: true, force: true });
		}
	};
});

searchContract("sqlite (FTS5, the embedded default)", async () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pw-search-fts-"));
	const store = new SqliteStore({ file: path.join(dir, "paperwork.db") });
	const search = new SqliteSearch(store);
	return {
		search,
		async cleanup() {
			await search.close();
			await store.close();
			fs.rmSync(dir, { recursive: true, force: true });
		}
	};
});

searchContract("postgres (full text and trigram indexes)", async () => {
	const db = await createTestDatabase();
	const store = new PostgresStore({ url: db.url });
	const search = new PostgresSearch(store);
	return {
		search,
		async cleanup() {
			await search.close();
			await store.close();
			await db.drop();
		}
	};
});

const osUrl = process.env.OPENSEARCH_URL;
searchContract(
	"opensearch",
	async () => {
		const prefix = `pwtest${process.pid}`;
		const search = new OpenSearchIndex({ url: osUrl ?? "", indexPrefix: prefix });
		return {
			search,
			async cleanup(indexes) {
				for (const i of indexes) await search.client.indices.delete({ index: `${prefix}-${i.toLowerCase()}` }).catch(() => undefined);
				await search.close();
			}
		};
	},
	osUrl ? undefined : "OPENSEARCH_URL is not set: no OpenSearch server to run the contract against"
);

describe("store search text normalisation", () => {
	it("lower-cases, folds Latin accents, keeps other scripts, pads with spaces", () => {
		assert.equal(normaliseText("José  ÁLVAREZ-Núñez, 12"), " jose alvarez nunez 12 ");
		assert.equal(normaliseText("राम कुमार"), " राम कुमार ");
		assert.equal(normaliseText(""), "");
	});
});

describe("searchMixin", () => {
	it("gives services this.search", async () => {
		const fake = { kind: "store" } as SearchIndex;
		const broker = new ServiceBroker({ transporter: null, logger: false });
		broker.createService({
			name: "finder",
			mixins: [searchMixin(fake)],
			actions: {
				kind(this: SearchService) {
					return this.search.kind;
				}
			}
		});
		await broker.start();
		try {
			assert.equal(await broker.call("finder.kind"), "store");
		} finally {
			await broker.stop();
		}
	});
});

describe("store search over a view of a collection (no copy)", () => {
	it("searches the collection in place by mapped paths and its text field; index() and remove() change nothing", async () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), "search-view-"));
		const store = new SqliteStore({ file: path.join(dir, "s.db") });
		try {
			const coll = store.adapter("people");
			await coll.connect();
			await coll.insertMany([
				{ _id: "p1", client: "c1", data: { cpf: "111", city: "Recife" }, words: normaliseText("José Smith Recife") },
				{ _id: "p2", client: "c1", data: { cpf: "222", city: "Natal" }, words: normaliseText("Maria Smithers Natal") },
				{ _id: "p3", client: "c2", data: { cpf: "111", city: "Natal" }, words: normaliseText("José Souza") }
			]);
			const search = new StoreSearch(store);
			await search.ensureIndex("people", ["client", "cpf"], { collection: "people", paths: { client: "client", cpf: "data.cpf" }, textField: "words" });
			const byCpf = await search.search("people", { filter: { client: "c1", cpf: "111" } });
			assert.deepEqual(byCpf, { total: 1, hits: [{ id: "p1", fields: { client: "c1", cpf: "111" } }] });
			const byText = await search.search("people", { filter: { client: "c1" }, text: "smith" });
			assert.deepEqual(byText.hits.map((h) => h.id), ["p1", "p2"], "the last word is a prefix");
			const twoWords = await search.search("people", { filter: { client: "c1" }, text: "jose smi" });
			assert.deepEqual(twoWords.hits.map((h) => h.id), ["p1"]);
			await search.index("people", [{ id: "p9", fields: { client: "c1" }, text: "x" }]);
			await search.remove("people", ["p1"]);
			assert.equal(await coll.count(), 3, "the view's collection is its owner's");
			assert.equal(await store.adapter("search_people").count(), 0, "no copy is made");
		} finally {
			await store.close();
			fs.rmSync(dir, { recursive: true, force: true });
		}
	});

	it("a multi-valued field maps to several paths: a filter matches any of them; its own documents take no lists", async () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), "search-view-multi-"));
		const store = new SqliteStore({ file: path.join(dir, "s.db") });
		try {
			const coll = store.adapter("invoices");
			await coll.connect();
			await coll.insertMany([
				{ _id: "i1", client: "c1", ids: ["AA1", "BB2"], status: "done", words: normaliseText("one") },
				{ _id: "i2", client: "c1", ids: ["BB2"], status: "open", words: normaliseText("two") },
				{ _id: "i3", client: "c1", ids: [], status: "done", words: normaliseText("three AA1") },
				{ _id: "i4", client: "c1", phones: ["P1"], ids: ["CC3", "AA1"], status: "done", words: normaliseText("four") }
			]);
			const search = new StoreSearch(store);
			const view = { collection: "invoices", paths: { client: "client", status: "status", taxId: ["ids.0", "ids.1"], phone: ["phones.0", "phones.1"] }, textField: "words" };
			await search.ensureIndex("invoices", ["client", "status", "taxId", "phone"], view);
			const ids = async (filter: Record<string, string | string[]>, text?: string) => (await search.search("invoices", { filter, text, sort: "_id" })).hits.map((h) => h.id);
			assert.deepEqual(await ids({ taxId: "AA1" }), ["i1", "i4"], "first or second value; not the text");
			assert.deepEqual(await ids({ taxId: "BB2" }), ["i1", "i2"]);
			assert.deepEqual(await ids({ taxId: ["CC3", "BB2"] }), ["i1", "i2", "i4"], "any of several values");
			assert.deepEqual(await ids({ taxId: "BB2", status: "done" }), ["i1"], "with other filters");
			assert.deepEqual(await ids({ taxId: "AA1", phone: "P1" }), ["i4"], "two multi-valued filters");
			assert.deepEqual(await ids({ taxId: "AA1" }, "fou"), ["i4"], "with words");
			assert.deepEqual(await ids({ taxId: "AA" }), [], "exact");
			assert.deepEqual((await search.search("invoices", { filter: { taxId: "BB2" }, sort: "_id" })).hits[0].fields, { client: "c1", status: "done", taxId: ["AA1", "BB2"], phone: [] });
			await assert.rejects(search.search("invoices", { sort: "taxId" }), /several values/);
			await search.ensureIndex("own", ["tags"]);
			await assert.rejects(search.index("own", [{ id: "x", fields: { tags: ["a", "b"] } }]), /through a view/);
		} finally {
			await store.close();
			fs.rmSync(dir, { recursive: true, force: true });
		}
	});
});

describe("sqlite search over a view of a collection, through its FTS5 table", () => {
	it("keeps the FTS table exact through the collection's own writes (insert, update, delete, rows there before), in its file", async () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), "search-fts-view-"));
		const store = new SqliteStore({ file: path.join(dir, "s.db") });
		try {
			const coll = store.adapter("docs");
			await coll.connect();
			// a row written before the index existed is found too
			await coll.insert({ _id: "d0", client: "c1", at: "2026-01-01", words: normaliseText("Kaveri Caterers invoice") });
			const search = new SqliteSearch(store);
			const view = { collection: "docs", paths: { client: "client", at: "at" }, textField: "words" };
			await search.ensureIndex("docs", ["client", "at"], view);
			await search.ensureIndex("docs", ["client", "at"], view);
			await coll.insertMany([
				{ _id: "d1", client: "c1", at: "2026-01-02", words: normaliseText("Saffron Textiles GSTIN 27AAPCA1234F1Z5") },
				{ _id: "d2", client: "c1", at: "2026-01-03", words: normaliseText("Saffron Foods, São Paulo") },
				{ _id: "d3", client: "c2", at: "2026-01-04", words: normaliseText("Saffron Textiles") },
				{ _id: "d4", client: "c1", at: "2026-01-05", words: normaliseText("गुजरात ट्रेडर्स चालान") }
			]);
			const ids = async (text: string, sort = "-at") => (await search.search("docs", { filter: { client: "c1" }, text, sort })).hits.map((h) => h.id);
			assert.deepEqual(await ids("kaveri"), ["d0"]);
			assert.deepEqual(await ids("saffron"), ["d2", "d1"], "newest first, the client's only");
			assert.deepEqual(await ids("27aapca1234f1z5"), ["d1"]);
			assert.deepEqual(await ids("sao paul"), ["d2"]);
			assert.deepEqual(await ids("गुजरात चाला"), ["d4"], "words of any script, the last a prefix");
			await coll.updateById("d1", { $set: { words: normaliseText("Lotus Foods") } });
			await coll.updateById("d2", { $set: { at: "2026-01-09" } });
			assert.deepEqual(await ids("saffron"), ["d2"]);
			assert.deepEqual(await ids("lotus"), ["d1"]);
			await coll.removeById("d2");
			assert.deepEqual(await ids("saffron"), []);
			const counted = await search.search("docs", { text: "saffron", limit: 0 });
			assert.deepEqual(counted, { total: 1, hits: [] });
			// the FTS table and its triggers are in the collection's file; a records-style view without full text has none
			const names = (store.db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'docs__fts%' AND type IN ('table', 'trigger') ORDER BY name").all() as { name: string }[]).map((r) => r.name);
			assert.deepEqual(names.filter((n) => !/__fts_(data|idx|config|docsize|content)$/.test(n)), ["docs__fts", "docs__fts_ad", "docs__fts_ai", "docs__fts_au"]);
			await store.adapter("plain").connect();
			await search.ensureIndex("plain", ["client"], { collection: "plain", paths: {}, textField: "words", fullText: false });
			assert.equal(store.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name LIKE 'plain__fts%'").get()?.n, 0);
			assert.equal(ftsQuery(["jose", "smi"]), "\"jose\" AND \"smi\"*");
		} finally {
			await store.close();
			fs.rmSync(dir, { recursive: true, force: true });
		}
	});
});

describe("sqlite search over a view written in large transactions (fullText \"batched\")", () => {
	it("indexes each transaction's new rows before it commits, stays exact for rows written outside one, and follows updates and deletes", async () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), "search-fts-batched-"));
		const file = path.join(dir, "s.db");
		const store = new SqliteStore({ file });
		// another connection to the same file, as the registry's thread has: its own search adapter, its own hook
		const writer = new SqliteStore({ file });
		const view = { collection: "recs", paths: { client: "client" }, textField: "words", fullText: "batched" as const };
		const inFts = (text: string) => (store.db.prepare(`SELECT rowid FROM "recs__fts" WHERE "recs__fts" MATCH ? ORDER BY rowid`).all(ftsQuery(normaliseWords(text))) as { rowid: number }[]).length;
		try {
			const coll = store.adapter("recs");
			await coll.connect();
			await coll.insert({ _id: "r0", client: "c1", words: normaliseText("Kaveri Caterers") });
			const search = new SqliteSearch(store);
			await search.ensureIndex("recs", ["client"], view);
			await search.ensureIndex("recs", ["client"], view);
			assert.equal(inFts("kaveri"), 1, "a row there before the index is indexed when it is made");
			const ids = async (text: string) => (await search.search("recs", { filter: { client: "c1" }, text, sort: "_id" })).hits.map((h) => h.id);

			const other = writer.adapter("recs");
			await other.connect();
			await new SqliteSearch(writer).ensureIndex("recs", ["client"], view);
			await other.insertMany([
				{ _id: "r1", client: "c1", words: normaliseText("Maria Silva Recife") },
				{ _id: "r2", client: "c1", words: normaliseText("Maria Souza Natal") },
				{ _id: "r3", client: "c2", words: normaliseText("Maria Silva") }
			]);
			assert.equal(inFts("maria"), 3, "the writer's transaction indexed its rows before committing");
			assert.deepEqual(await ids("maria sil"), ["r1"]);

			// a row written outside a transaction is above the mark: found by the scan until a transaction indexes it
			await other.insert({ _id: "r4", client: "c1", words: normaliseText("Maria Silveira") });
			assert.equal(inFts("silveira"), 0);
			assert.deepEqual(await ids("maria sil"), ["r1", "r4"]);
			await other.insertMany([{ _id: "r5", client: "c1", words: normaliseText("Joana Lima") }]);
			assert.equal(inFts("silveira"), 1, "the next transaction indexed it too");
			assert.deepEqual(await ids("maria sil"), ["r1", "r4"]);

			// an indexed row's new text replaces its words; a deleted row leaves the index
			await other.updateById("r1", { $set: { words: normaliseText("Maria Costa Recife") } });
			assert.deepEqual(await ids("maria sil"), ["r4"]);
			assert.deepEqual(await ids("costa"), ["r1"]);
			await other.removeById("r2");
			assert.deepEqual(await ids("souza"), []);
			// the last row deleted, then a new row that may take its rowid: indexed all the same
			await other.removeById("r5");
			await other.insertMany([{ _id: "r6", client: "c1", words: normaliseText("Paulo Andrade") }]);
			assert.deepEqual(await ids("andrade"), ["r6"]);
			assert.equal(inFts("lima"), 0);
			assert.deepEqual((await search.search("recs", { text: "maria", limit: 0 })).total, 3, "r1, r3, r4: every client's");
		} finally {
			await writer.close();
			await store.close();
			fs.rmSync(dir, { recursive: true, force: true });
		}
	});
});

describe("postgres search over a view of a collection, ranked by trigram similarity", () => {
	it("finds through the GIN full-text index on the view's text field; without a sort, the closest spelling first", async () => {
		const db = await createTestDatabase();
		const store = new PostgresStore({ url: db.url });
		try {
			const coll = store.adapter("people");
			await coll.connect();
			await coll.insertMany([
				{ _id: "p1", client: "c1", data: { cpf: "111" }, words: normaliseText("Smithsonian Avenue") },
				{ _id: "p2", client: "c1", data: { cpf: "222" }, words: normaliseText("Smith") },
				{ _id: "p3", client: "c2", data: { cpf: "111" }, words: normaliseText("Smith") }
			]);
			const search = new PostgresSearch(store);
			await search.ensureIndex("people", ["client", "cpf"], { collection: "people", paths: { client: "client", cpf: "data.cpf" }, textField: "words" });
			const ranked = await search.search("people", { filter: { client: "c1" }, text: "smith" });
			assert.deepEqual(ranked.hits.map((h) => h.id), ["p2", "p1"], "the exact name ranks before the longer one");
			assert.deepEqual(ranked.hits[0].fields, { client: "c1", cpf: "222" });
			const indexes = await store.pool.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE tablename = 'people' ORDER BY indexname");
			assert.deepEqual(indexes.rows.map((r) => r.indexname), ["people__fts", "people_pkey"]);
			await search.remove("people", ["p1"]);
			assert.equal(await coll.count(), 3, "the view's collection is its owner's");
		} finally {
			await store.close();
			await db.drop();
		}
	});
});

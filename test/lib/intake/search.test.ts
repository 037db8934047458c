/**
 * The list of documents (GET /intake's search) gives the same answers on every search implementation: the embedded
 * SQLite one (FTS5), the store search, PostgreSQL's, and OpenSearch when OPENSEARCH_URL is set. A document is
 * listed from its acceptance (PENDING, found by its name), while it is read (PROCESSING) and once read; `taxId`
 * is an exact filter on the tax IDs read on the document (any of them, whatever the punctuation), not words of its
 * text.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { loadConfig } from "../../../config/index.ts";
import type { StoreFactory } from "../../../lib/store/types.ts";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import { PostgresStore } from "../../../lib/store/postgres.ts";
import { FsObjectStore } from "../../../lib/objects/fs.ts";
import type { SearchIndex } from "../../../lib/search/types.ts";
import { SqliteSearch } from "../../../lib/search/sqlite.ts";
import { StoreSearch } from "../../../lib/search/store.ts";
import { PostgresSearch } from "../../../lib/search/postgres.ts";
import { OpenSearchIndex } from "../../../lib/search/opensearch.ts";
import { acceptDocument, type AcceptDeps } from "../../../lib/intake/accept.ts";
import { IntakeStore, intakeView, type FieldValue, type IntakeDoc } from "../../../lib/intake/documents.ts";
import { ensureIntakeIndex, indexDocument, INTAKE_INDEX, listQuery, searchFieldsOf, TEMPLATES_DIR, type ListParams } from "../../../lib/intake/context.ts";
import { processDocument } from "../../../lib/intake/read/process.ts";
import { Pool } from "../../../lib/intake/run.ts";
import { cnpj, fmtCnpj, gstin, textPdf } from "../../helpers/intake-corpus.ts";
import { createTestDatabase } from "../../helpers/postgres.ts";
import { tempDir } from "../../helpers/node.ts";
import { takeHandedOff } from "../../../lib/intake/handoff.ts";

interface Harness {
	store: StoreFactory;
	search: SearchIndex;
	cleanup(): Promise<void>;
}

const SELLER = cnpj("123456780001");
const BUYER = gstin("27", "AAPCA1234F");

/** Objects whose read of one key waits for `open()` and then fails: a reading held in PROCESSING, then failed. */
class GatedObjects extends FsObjectStore {
	held = "";
	private release?: () => void;
	private readonly gate = new Promise<void>((r) => (this.release = r));
	open(): void {
		this.release?.();
	}
	override async get(key: string, range?: { start: number; end?: number }): Promise<Readable> {
		if (key === this.held) {
			await this.gate;
			throw new Error("EIO: i/o error, read");
		}
		return super.get(key, range);
	}
}

/** Polls until `fn` gives `expected` (OpenSearch shows a write made without waiting at its next refresh, ~1 s). */
async function eventually<T>(fn: () => Promise<T>, expected: T, what: string): Promise<void> {
	const until = Date.now() + 10_000;
	let last = await fn();
	while (JSON.stringify(last) !== JSON.stringify(expected) && Date.now() < until) {
		await new Promise((r) => setTimeout(r, 100));
		last = await fn();
	}
	assert.deepEqual(last, expected, what);
}

function suite(label: string, make: () => Promise<Harness>, skip?: string): void {
	describe(`intake search: ${label}`, { skip }, () => {
		let h: Harness;
		let dir: string;
		let store: IntakeStore;
		let objects: GatedObjects;
		let deps: AcceptDeps;
		const pool = new Pool(1);
		const ids = async (p: ListParams, clientId: string | null = "c1") => (await h.search.search(INTAKE_INDEX, listQuery(p, clientId ?? undefined))).hits.map((x) => x.id);

		before(async () => {
			h = await make();
			dir = tempDir("paperwork-intake-search-");
			const config = loadConfig({ DATA_DIR: dir, PATH: process.env.PATH });
			objects = new GatedObjects({ dir: path.join(dir, "objects"), linkSecret: "test-link-secret", publicUrl: "http://127.0.0.1" });
			store = await IntakeStore.open((c) => h.store.adapter(c));
			await ensureIntakeIndex(h.search);
			deps = { platform: { config, objects, search: h.search }, store, received: async () => undefined };
		});
		after(async () => {
			await h?.cleanup();
			rmSync(dir, { recursive: true, force: true });
		});

		const accept = (clientId: string, lines: string[], filename: string, reference?: string) =>
			acceptDocument({ clientId, body: Readable.from([textPdf(lines)]), filename, source: "upload", ...(reference ? { reference } : {}) }, deps);

		/** What the reader does when it finishes a document, with these fields read. */
		async function finish(d: IntakeDoc, fields: Record<string, string | number>, text: string): Promise<void> {
			const values: Record<string, FieldValue> = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, { value: v, source: "generic", confidence: 0.95 }]));
			assert.equal(await store.claim(d._id), true);
			assert.equal(await store.transition(d._id, ["PROCESSING"], "COMPLETED", { fields: values, ...searchFieldsOf({ ...d, fields: values }, text), finishedAt: new Date() }), true);
			await indexDocument(store, d._id, undefined, { search: h.search });
		}

		it("lists a document from its acceptance (PENDING, by its name), while it is read (PROCESSING) and after", async () => {
			const a = await accept("c1", ["Kaveri Caterers", "Invoice No: KC-1"], "kaveri-march.pdf");
			await eventually(() => ids({}), [a._id], "listed once accepted");
			assert.deepEqual(await ids({ status: "PENDING" }), [a._id]);
			assert.deepEqual(await ids({ q: "kaveri" }), [a._id], "found by its file name before it is read");
			assert.deepEqual(await ids({}, "c2"), [], "another client's list");
			// a reader (on another node: not handed the original in memory) claims it and hangs on the original's read:
			// PROCESSING in the list; its reading then fails: PENDING again
			takeHandedOff(a.file.key);
			objects.held = a.file.key;
			const states: string[] = [];
			const moved = async (d: IntakeDoc) => {
				states.push(d.status);
				await indexDocument(store, d._id, d, { wait: false, search: h.search });
			};
			const reading = processDocument(a._id, { platform: deps.platform, store, pool, templatesDir: TEMPLATES_DIR, moved });
			await eventually(async () => states, ["PROCESSING"], "claimed");
			await eventually(() => ids({ status: "PROCESSING" }), [a._id], "listed as PROCESSING while read");
			assert.deepEqual(await ids({ status: "PENDING" }), []);
			objects.open();
			await assert.rejects(reading, /EIO/);
			await eventually(() => ids({ status: "PENDING" }), [a._id], "PENDING again after a failed reading");
			// read at last
			await finish(a, { invoice_number: "KC-1", seller_name: "Kaveri Caterers" }, "Kaveri Caterers Invoice No: KC-1");
			assert.deepEqual(await ids({ status: "COMPLETED" }), [a._id]);
			assert.deepEqual(await ids({ status: "PENDING" }), []);
		});

		it("taxId filters on the tax IDs read (seller's or buyer's, any punctuation), not on words of the text", async () => {
			const b = await accept("c1", ["Horizonte Ltda", `CNPJ ${fmtCnpj(SELLER)}`, `Buyer GSTIN ${BUYER}`], "horizonte.pdf");
			await finish(b, { seller_tax_id: SELLER, buyer_tax_id: BUYER, total: 1456.78 }, `Horizonte Ltda CNPJ ${fmtCnpj(SELLER)} Buyer GSTIN ${BUYER}`);
			// the buyer's GSTIN in its reference and text, never read as a tax ID of the document
			const c = await accept("c1", ["Delivery note", `for GSTIN ${BUYER}`], "note.pdf", BUYER);
			await finish(c, { invoice_number: "DN-9" }, `Delivery note for GSTIN ${BUYER}`);
			// another client's invoice from the same seller
			const d = await accept("c2", ["Horizonte Ltda", "Invoice 2"], "other.pdf");
			await finish(d, { seller_tax_id: fmtCnpj(SELLER) }, "Horizonte Ltda Invoice 2");

			assert.deepEqual(await ids({ taxId: fmtCnpj(SELLER) }), [b._id], "the formatted CNPJ");
			assert.deepEqual(await ids({ taxId: SELLER }), [b._id], "the bare CNPJ");
			assert.deepEqual(await ids({ taxId: BUYER.toLowerCase() }), [b._id], "the buyer's, in any case; not the note that only mentions it");
			assert.deepEqual(await ids({ q: BUYER }), [c._id, b._id], "the words of the text still find both");
			assert.deepEqual(await ids({ taxId: SELLER.slice(0, 8) }), [], "exact, not a prefix");
			assert.deepEqual(await ids({ taxId: SELLER, q: "horizonte" }), [b._id], "with words");
			assert.deepEqual(await ids({ taxId: SELLER, status: "COMPLETED", minTotal: 1000 }), [b._id], "with filters and ranges");
			assert.deepEqual(await ids({ taxId: SELLER, status: "PENDING" }), []);
			assert.deepEqual(await ids({ taxId: SELLER }, null), [d._id, b._id], "an operator's search: every client's, newest first");
		});

		it("a document read before the types were detected (type 'document') shows and is found as 'other'", async () => {
			const e = await accept("c3", ["Old reading"], "old.pdf");
			await store.docs.updateById(e._id, { $set: { type: "document" } });
			await indexDocument(store, e._id, undefined, { search: h.search });
			const f = await accept("c3", ["New reading"], "new.pdf");
			await store.docs.updateById(f._id, { $set: { type: "other" } });
			await indexDocument(store, f._id, undefined, { search: h.search });
			await eventually(async () => (await ids({ type: "other" }, "c3")).sort(), [e._id, f._id].sort(), "both are 'other'");
			assert.equal(intakeView((await store.get(e._id)) as IntakeDoc).type, "other");
		});
	});
}

suite("sqlite (FTS5, the embedded default)", async () => {
	const dir = tempDir("pw-intake-search-");
	const store = new SqliteStore({ file: path.join(dir, "paperwork.db") });
	return {
		store,
		search: new SqliteSearch(store),
		async cleanup() {
			await store.close();
			rmSync(dir, { recursive: true, force: true });
		}
	};
});

suite("store (SQLite, substring scans)", async () => {
	const dir = tempDir("pw-intake-search-store-");
	const store = new SqliteStore({ file: path.join(dir, "paperwork.db") });
	return {
		store,
		search: new StoreSearch(store),
		async cleanup() {
			await store.close();
			rmSync(dir, { recursive: true, force: true });
		}
	};
});

suite("postgres", async () => {
	const db = await createTestDatabase();
	const store = new PostgresStore({ url: db.url });
	return {
		store,
		search: new PostgresSearch(store),
		async cleanup() {
			await store.close();
			await db.drop();
		}
	};
});

const osUrl = process.env.OPENSEARCH_URL;
suite(
	"opensearch",
	async () => {
		const dir = tempDir("pw-intake-search-os-");
		const store = new SqliteStore({ file: path.join(dir, "paperwork.db") });
		const prefix = `pwtest${process.pid}intake`;
		const search = new OpenSearchIndex({ url: osUrl ?? "", indexPrefix: prefix });
		return {
			store,
			search,
			async cleanup() {
				await search.client.indices.delete({ index: `${prefix}-${INTAKE_INDEX}` }).catch(() => undefined);
				await search.close();
				await store.close();
				rmSync(dir, { recursive: true, force: true });
			}
		};
	},
	osUrl ? undefined : "OPENSEARCH_URL is not set: no OpenSearch server to run the same tests against"
);

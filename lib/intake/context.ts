/**
 * What the intake and reader actors share in one process: the document store (opened once on the platform's
 * store), the search index of documents, the OCR pool and the issuer templates' folder.
 *
 * Search: the index "intake" is, on the store, a view of the intake_documents collection (nothing copied: the
 * documents carry `searchText`, `sellerKey`, `totalValue`, `taxIds`, `receivedAt`); with OpenSearch each change is
 * indexed: a document when it is accepted, claimed by a reader, finished and corrected, so both list the same
 * documents in every status.
 */
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Platform } from "../platform.ts";
import { getPlatform } from "../platform.ts";
import { normaliseText } from "../search/store.ts";
import type { SearchDoc, SearchIndex, SearchQuery } from "../search/types.ts";
import { IntakeStore, MAX_TAX_IDS, type IntakeDoc, type IntakeStatus } from "./documents.ts";
import { Pool } from "./run.ts";
import { PDF_TEXT_BINARY, TextLayerReader } from "./read/text-layer.ts";

export const INTAKE_INDEX = "intake";
export const TEMPLATES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../config/intake-templates");

const SEARCH_FIELDS = ["clientId", "status", "type", "seller", "envelope", "total", "taxId", "receivedAt"];
/** where the view finds each search field in a document (taxId: any of the document's tax IDs) */
const VIEW_PATHS = { clientId: "clientId", status: "status", type: "type", seller: "sellerKey", envelope: "envelope.id", total: "totalValue", taxId: Array.from({ length: MAX_TAX_IDS }, (_, i) => `taxIds.${i}`), receivedAt: "receivedAt" };

let opened: { platform: Platform; store: Promise<IntakeStore>; pool: Pool } | undefined;

function open() {
	const platform = getPlatform();
	if (opened?.platform === platform) return opened;
	const store = (async () => {
		const s = await IntakeStore.open((c) => platform.store.adapter(c));
		await ensureIntakeIndex(platform.search);
		return s;
	})();
	opened = { platform, store, pool: new Pool(platform.config.intake.ocrConcurrency) };
	return opened;
}

export function intakeStore(): Promise<IntakeStore> {
	return open().store;
}

/** The process's OCR pool (one single-threaded Tesseract per slot). */
export function ocrPool(): Pool {
	return open().pool;
}

let layers: TextLayerReader | undefined;
/** The process's pdf-text workers (lib/intake/read/text-layer.ts), one per core at most. */
export function textLayer(): TextLayerReader {
	layers ??= new TextLayerReader({ binary: PDF_TEXT_BINARY, size: os.availableParallelism() });
	return layers;
}

/** Declares the search index of documents (on the store: a view of intake_documents). */
export function ensureIntakeIndex(search: SearchIndex): Promise<void> {
	return search.ensureIndex(INTAKE_INDEX, SEARCH_FIELDS, { collection: "intake_documents", paths: VIEW_PATHS, textField: "searchText" });
}

/** A tax ID as it is searched: upper-case, without spaces, dots, slashes and dashes ("12.345.678/0001-95" -> "12345678000195"). */
export function taxIdKey(value: string): string {
	return value.toUpperCase().replace(/[\s./-]/g, "");
}

/** The search fields a document is found by (kept on the document itself for the store's view). */
export function searchFieldsOf(d: Pick<IntakeDoc, "fields" | "file" | "envelope" | "reference">, text: string): { searchText: string; sellerKey: string | null; totalValue: number | null; taxIds: string[] } {
	const f = d.fields ?? {};
	const values = Object.values(f).map((v) => (v.value === null ? "" : String(v.value)));
	const seller = f.seller_name?.value;
	const total = f.total?.value;
	// the tax IDs read (seller_tax_id, buyer_tax_id, a template's own *_tax_id), each once
	const taxIds = [...new Set(Object.entries(f).filter(([name, v]) => /(?:^|_)tax_id$/.test(name) && typeof v.value === "string" && v.value.trim()).map(([, v]) => taxIdKey(String(v.value))))].slice(0, MAX_TAX_IDS);
	return {
		searchText: normaliseText([text, ...values, d.file.name, d.reference ?? "", d.envelope?.subject ?? "", d.envelope?.from ?? ""].join(" ")),
		sellerKey: typeof seller === "string" ? normaliseText(seller).trim() : null,
		totalValue: typeof total === "number" ? total : null,
		taxIds
	};
}

type Searched = IntakeDoc & { searchText?: string; sellerKey?: string | null; totalValue?: number | null; taxIds?: string[]; receivedAt?: string };

/** The document as the search port indexes it (OpenSearch; the store's view reads the document itself). */
export function searchDocOf(d: Searched): SearchDoc {
	return {
		id: d._id,
		fields: { clientId: d.clientId, status: d.status, type: d.type ?? null, seller: d.sellerKey ?? null, envelope: d.envelope?.id ?? null, total: d.totalValue ?? null, taxId: d.taxIds ?? [], receivedAt: d.receivedAt ?? null },
		text: d.searchText ?? ""
	};
}

/**
 * Indexes the document (`doc` as just written, or read from the store); nothing to do for the store's view.
 * `wait: false` for a write that must not wait for OpenSearch's refresh (acceptance, a reader's claim).
 */
export async function indexDocument(store: IntakeStore, id: string, doc?: IntakeDoc, options: { wait?: boolean; search?: SearchIndex } = {}): Promise<void> {
	const search = options.search ?? getPlatform().search;
	if (search.kind !== "opensearch") return;
	const d = doc ?? (await store.get(id));
	if (d) await search.index(INTAKE_INDEX, [searchDocOf(d)], { wait: options.wait !== false });
}

export interface ListParams {
	q?: string;
	type?: string;
	status?: IntakeStatus;
	seller?: string;
	taxId?: string;
	from?: string;
	to?: string;
	minTotal?: number;
	maxTotal?: number;
	envelope?: string;
	limit?: number;
	offset?: number;
}

/**
 * The search of `GET /intake`: words in `q` over the text and the fields; exact filters (a tax ID: any of those read
 * on the document, whatever its punctuation); date and total ranges; newest first. Without `clientId`: every client's.
 */
export function listQuery(p: ListParams, clientId: string | undefined): SearchQuery {
	const filter: Record<string, string | string[]> = clientId ? { clientId } : {};
	// "document" was the name of "other" before the types were detected: documents read then are "other" too
	if (p.type) filter.type = p.type === "other" ? ["other", "document"] : p.type;
	if (p.status) filter.status = p.status;
	if (p.seller) filter.seller = normaliseText(p.seller).trim();
	if (p.envelope) filter.envelope = p.envelope;
	if (p.taxId) filter.taxId = taxIdKey(p.taxId);
	const range: Record<string, { gte?: string | number; lte?: string | number }> = {};
	if (p.from || p.to) range.receivedAt = { ...(p.from ? { gte: p.from } : {}), ...(p.to ? { lte: p.to.length === 10 ? `${p.to}T23:59:59.999Z` : p.to } : {}) };
	if (p.minTotal !== undefined || p.maxTotal !== undefined) range.total = { ...(p.minTotal !== undefined ? { gte: p.minTotal } : {}), ...(p.maxTotal !== undefined ? { lte: p.maxTotal } : {}) };
	const text = p.q?.trim();
	return { filter, range, text: text || undefined, sort: "-receivedAt", limit: p.limit ?? 20, offset: p.offset ?? 0 };
}

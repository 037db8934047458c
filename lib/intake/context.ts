/**
 * What the intake and reader actors share in one process: the document store (opened once on the platform's
 * store), the search index of documents, the OCR pool and the issuer templates' folder.
 *
 * Search: the index "intake" is, on the store, a view of the intake_documents collection (nothing copied: the
 * documents carry `searchText`, `sellerKey`, `totalValue`, `receivedAt`); with OpenSearch each change is indexed.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Platform } from "../platform.ts";
import { getPlatform } from "../platform.ts";
import { normaliseText } from "../search/store.ts";
import type { SearchDoc } from "../search/types.ts";
import { IntakeStore, type IntakeDoc } from "./documents.ts";
import { Pool } from "./run.ts";

export const INTAKE_INDEX = "intake";
export const TEMPLATES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../config/intake-templates");

const SEARCH_FIELDS = ["clientId", "status", "type", "seller", "envelope", "total", "receivedAt"];

let opened: { platform: Platform; store: Promise<IntakeStore>; pool: Pool } | undefined;

function open() {
	const platform = getPlatform();
	if (opened?.platform === platform) return opened;
	const store = (async () => {
		const s = await IntakeStore.open((c) => platform.store.adapter(c));
		await platform.search.ensureIndex(INTAKE_INDEX, SEARCH_FIELDS, {
			collection: "intake_documents",
			paths: { clientId: "clientId", status: "status", type: "type", seller: "sellerKey", envelope: "envelope.id", total: "totalValue", receivedAt: "receivedAt" },
			textField: "searchText"
		});
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

/** The search fields a document is found by (kept on the document itself for the store's view). */
export function searchFieldsOf(d: Pick<IntakeDoc, "fields" | "file" | "envelope" | "reference">, text: string): { searchText: string; sellerKey: string | null; totalValue: number | null } {
	const f = d.fields ?? {};
	const values = Object.values(f).map((v) => (v.value === null ? "" : String(v.value)));
	const seller = f.seller_name?.value;
	const total = f.total?.value;
	return {
		searchText: normaliseText([text, ...values, d.file.name, d.reference ?? "", d.envelope?.subject ?? "", d.envelope?.from ?? ""].join(" ")),
		sellerKey: typeof seller === "string" ? normaliseText(seller).trim() : null,
		totalValue: typeof total === "number" ? total : null
	};
}

/** The document as the search port indexes it (OpenSearch; the store's view reads the document itself). */
export function searchDocOf(d: IntakeDoc & { searchText?: string; sellerKey?: string | null; totalValue?: number | null; receivedAt?: string }): SearchDoc {
	return {
		id: d._id,
		fields: { clientId: d.clientId, status: d.status, type: d.type ?? null, seller: d.sellerKey ?? null, envelope: d.envelope?.id ?? null, total: d.totalValue ?? null, receivedAt: d.receivedAt ?? null },
		text: d.searchText ?? ""
	};
}

/** Indexes the document (`doc` as just written, or read from the store); nothing to do for the store's view. */
export async function indexDocument(store: IntakeStore, id: string, doc?: IntakeDoc): Promise<void> {
	const search = getPlatform().search;
	if (search.kind !== "opensearch") return;
	const d = doc ?? (await store.get(id));
	if (d) await search.index(INTAKE_INDEX, [searchDocOf(d)]);
}

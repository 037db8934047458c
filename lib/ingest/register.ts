/**
 * The registry's work: chunks of a batch are registered IN ORDER (the etl stages them in parallel), which makes
 * "the same key twice in one batch: the later row is rejected" exact across chunks: each stored record carries the
 * batch and line that last wrote it, so a row whose key was already written by an earlier line of the same batch
 * is a duplicate. Rows are upserted in bulk on their business key (inserted / updated with a version and the
 * previous values / unchanged), indexed for search (on the store: searched in place through its searchText), and
 * the chunk's counts are stored with it.
 *
 * Crash safety: a chunk is claimed (STAGED -> REGISTERING) before it is written and released (-> REGISTERED) after.
 * Registering a chunk again after a crash is exact: a record already written by this very line reports the
 * outcome stored with it at the time, so nothing is counted twice. A claim older than the lease may be taken over.
 */
import { text } from "node:stream/consumers";
import type { ObjectStore } from "../objects/types.ts";
import type { StoreAdapter, StoreFactory, Doc, NewDoc } from "../store/types.ts";
import type { SearchIndex, SearchDoc, StoreView } from "../search/types.ts";
import { normaliseText } from "../search/store.ts";
import type { ValidRecord } from "../etl/parse-chunk.ts";
import { keyFields, type Kind } from "../records/index.ts";
import { sumCounts, type BatchDoc, type BatchStore, type ChunkDoc, type Counts } from "./batches.ts";
import { stagedKey } from "./stage.ts";

export const RECORDS = "records";
export const RECORD_KEY = ["client", "kind", "key"];
/** A chunk claimed longer ago than this by a registry that stopped answering may be taken over. */
export const CLAIM_LEASE_MS = 60_000;

export interface RecordDoc extends Doc {
	client: string;
	kind: Kind;
	key: string;
	data: Record<string, unknown>;
	/** the folded words the record is found by (store search) */
	searchText: string;
	batchId: string;
	line: number;
	batchOutcome: "inserted" | "updated" | "unchanged";
	version: number;
	previous?: Record<string, unknown>;
	registeredAt: Date;
}

export interface RegistryDeps {
	objects: ObjectStore;
	store: BatchStore;
	records: StoreAdapter;
	search: SearchIndex;
	/** registers consecutive claimed chunks; default registerChunks() here (the registry passes its write thread's) */
	register?: (batch: BatchDoc, chunks: ChunkDoc[]) => Promise<RegisterResult[]>;
}

export const SEARCH_INDEX = "records";
/** search field -> where it is in a record document */
export const SEARCH_PATHS: Record<string, string> = {
	client: "client",
	kind: "kind",
	key: "key",
	batchId: "batchId",
	contract_id: "data.contract_id",
	loan_id: "data.loan_id",
	cpf: "data.debtor_cpf",
	phone: "data.phone",
	email: "data.email",
	language: "data.language",
	state: "data.state"
};
export const SEARCH_FIELDS = Object.keys(SEARCH_PATHS);
/**
 * On the store, the records collection is searched in place (no copy); see StoreView. On SQLite its words are in an
 * FTS5 table that each of the registry's group transactions fills in one statement before it commits
 * (lib/search/sqlite.ts, "batched"): a search by name answers from it instead of reading every record.
 */
export const SEARCH_VIEW: StoreView = { collection: RECORDS, paths: SEARCH_PATHS, textField: "searchText", fullText: "batched" };

/** Opens the records collection with its indexes and declares its search index. */
export async function openRecords(store: StoreFactory, search: SearchIndex): Promise<StoreAdapter> {
	const a = store.adapter(RECORDS);
	await a.connect();
	// the business key, and the other keys an operator looks a record up by across clients (the console's search):
	// CPF, phone, email and batch; other filters scan the client's records. These indexes leave the client out
	// (checked on the few records of one value): entries less than half the size, which matters because CPFs, phones
	// and emails arrive in random order and every transaction rewrites the index pages it touches (measured: 17.0 ->
	// 13.2 us a record at 1M records for the CPF). A batch's records arrive together, so its index only appends.
	// Loans' repayments by loan (a passbook, a billing run): debts have no loan_id, so their entries are all NULL and
	// cost next to nothing to add.
	await a.ensureIndexes([
		{ fields: RECORD_KEY, unique: true },
		{ fields: ["data.debtor_cpf"] },
		{ fields: ["data.loan_id"] },
		{ fields: ["data.phone"] },
		{ fields: ["data.email"] },
		// a batch's records in _id order, a page at a time (billing's duplicate check reads a repayment batch so)
		{ fields: ["batchId", "_id"], name: "batch_records" }
	]);
	await search.ensureIndex(SEARCH_INDEX, SEARCH_FIELDS, SEARCH_VIEW);
	return a;
}

/** The free text a record is found by: names, its key, the city. */
export function recordText(rec: Pick<RecordDoc, "key" | "data">): string {
	const s = (k: string) => (typeof rec.data[k] === "string" ? (rec.data[k] as string) : undefined);
	return [s("debtor_name"), s("applicant_name"), rec.key, s("city")].filter(Boolean).join(" ");
}

/** A valid row as the etl stages it: with its search text, folded on the parse thread. */
export type StagedRecord = ValidRecord & { searchText?: string };

/** The folded search text of a staged row (computed by the etl; older staged objects lack it). */
export function stagedSearchText(v: ValidRecord): string {
	return normaliseText(recordText({ key: v.key, data: v.record as unknown as Record<string, unknown> }));
}

/** The search document of a record (for OpenSearch): exact-match fields and the free text. */
export function searchDoc(rec: Pick<RecordDoc, "_id" | "client" | "kind" | "key" | "data" | "batchId">): SearchDoc {
	const fields: SearchDoc["fields"] = {};
	for (const [f, path] of Object.entries(SEARCH_PATHS)) {
		const v = path.startsWith("data.") ? rec.data[path.slice(5)] : (rec as unknown as Record<string, unknown>)[path];
		if (typeof v === "string") fields[f] = v;
	}
	return { id: rec._id, fields, text: recordText(rec) };
}

export interface RegisterResult {
	inserted: number;
	updated: number;
	unchanged: number;
	duplicates: number;
	ms: number;
}

/** Registers one claimed chunk; returns its counts (exact even when the chunk was partly registered before). */
export async function registerChunk(deps: RegistryDeps, batch: BatchDoc, chunk: ChunkDoc): Promise<RegisterResult> {
	return (await registerChunks(deps, batch, [chunk]))[0];
}

/**
 * Registers consecutive claimed chunks of one batch in one bulk upsert (one store transaction on SQLite: a randomly
 * keyed index such as the CPF's then has each of its pages written once per group instead of once per chunk, which
 * is what kept the cost per row rising with the size of the store). Returns each chunk's counts, exact even when a
 * chunk was partly registered before.
 */
export async function registerChunks(deps: RegistryDeps, batch: BatchDoc, chunks: ChunkDoc[]): Promise<RegisterResult[]> {
	const started = performance.now();
	const now = new Date();
	const docs: NewDoc[] = [];
	/** docs[ends[c - 1] ?? 0 .. ends[c]) belong to chunks[c] */
	const ends: number[] = [];
	for (const chunk of chunks) {
		const staged = JSON.parse(await text(await deps.objects.get(stagedKey(batch, chunk.index)))) as StagedRecord[];
		for (const v of staged) {
			const data = v.record as unknown as Record<string, unknown>;
			docs.push({ client: batch.clientId, kind: batch.kind, key: v.key, data, searchText: v.searchText ?? stagedSearchText(v), batchId: batch._id, line: v.line, registeredAt: now });
		}
		ends.push(docs.length);
	}
	/** the chunk of docs[i] (only asked for duplicates, which are rare) */
	const chunkOf = (i: number): number => {
		let c = 0;
		while (ends[c] <= i) c++;
		return c;
	};
	const duplicates: { line: number; key: string; earlier: number }[][] = chunks.map(() => []);
	const replayed = new Map<number, RecordDoc["batchOutcome"]>();
	const res = await deps.records.bulkUpsert(docs, {
		key: RECORD_KEY,
		keepPrevious: true,
		alwaysSet: ["batchId", "line"],
		outcomeField: "batchOutcome",
		ignoreFields: ["registeredAt"],
		rowsPerTransaction: docs.length,
		skip: (stored, incoming, i) => {
			if (stored.batchId !== batch._id) return false;
			const storedLine = Number(stored.line);
			const line = Number(incoming.line);
			if (storedLine < line) {
				duplicates[chunkOf(i)].push({ line, key: String(incoming.key), earlier: storedLine });
				return true;
			}
			if (storedLine === line) replayed.set(i, stored.batchOutcome as RecordDoc["batchOutcome"]);
			return false;
		}
	});
	const counts = chunks.map(() => ({ inserted: 0, updated: 0, unchanged: 0 }));
	const toIndex: SearchDoc[] = [];
	for (let c = 0, i = 0; c < chunks.length; c++) {
		for (; i < ends[c]; i++) {
			const o = res.outcomes[i];
			if (o.outcome === "skipped") continue;
			const outcome = replayed.get(i) ?? o.outcome;
			counts[c][outcome]++;
			// on the store (SQLite, MongoDB, PostgreSQL) the records are searched in place (a view); only a separate engine needs the documents
			if (deps.search.kind === "opensearch" && (outcome === "inserted" || outcome === "updated") && o._id) toIndex.push(searchDoc({ ...(docs[i] as RecordDoc), _id: o._id }));
		}
	}
	if (toIndex.length > 0) await deps.search.index(SEARCH_INDEX, toIndex);
	const keyField = keyFields(batch.kind).join("+");
	for (const [c, chunk] of chunks.entries()) {
		await deps.store.replaceRejections(
			batch,
			chunk.index,
			"registry",
			duplicates[c].map((d) => ({ line: d.line, field: keyField, code: "duplicate_key", message: `${keyField} '${d.key}' already appeared on line ${d.earlier} of this batch; the later row is not registered` }))
		);
	}
	const ms = Math.round(performance.now() - started);
	return chunks.map((_, c) => ({ ...counts[c], duplicates: duplicates[c].length, ms }));
}

export type DrainOutcome = { registered: number; completed: Counts | null };

/** Rows registered together (one store transaction on SQLite) when that many are staged in a row. */
export const GROUP_ROWS = 50_000;

function claimable(chunk: ChunkDoc): boolean {
	return chunk.status === "STAGED" || (chunk.status === "REGISTERING" && stale(chunk));
}

/**
 * Registers the batch's chunks in order, from its next chunk, as long as they are staged (consecutive staged
 * chunks together, up to GROUP_ROWS rows); completes the batch after its last chunk. Returns at once when the next
 * chunk is not staged yet or another registry holds it.
 */
export async function drainBatch(deps: RegistryDeps, batchId: string, onChunk?: (chunk: ChunkDoc, r: RegisterResult) => void): Promise<DrainOutcome> {
	let registered = 0;
	for (;;) {
		const batch = await deps.store.get(batchId);
		if (!batch || batch.status !== "PROCESSING" || batch.chunkTotal === undefined) return { registered, completed: null };
		const next = batch.nextChunk;
		if (next >= batch.chunkTotal) return { registered, completed: await complete(deps, batch) };
		const first = await deps.store.chunk(batchId, next);
		if (!first) return { registered, completed: null };
		let step = 1;
		if (claimable(first)) {
			if (!(await claim(deps, first))) return { registered, completed: null };
			// the staged chunks right after it join the group (each claimed; the first refused claim ends the group)
			const group = [first];
			let rows = first.rows;
			while (rows < GROUP_ROWS && next + group.length < batch.chunkTotal) {
				const c = await deps.store.chunk(batchId, next + group.length);
				if (!c || !claimable(c) || !(await claim(deps, c))) break;
				group.push(c);
				rows += c.rows;
			}
			const results = deps.register ? await deps.register(batch, group) : await registerChunks(deps, batch, group);
			for (const [i, chunk] of group.entries()) {
				await deps.store.moveChunk(chunk._id, ["REGISTERING"], "REGISTERED", { registry: results[i] });
				onChunk?.(chunk, results[i]);
			}
			registered += group.length;
			step = group.length;
		} else if (first.status !== "REGISTERED") {
			return { registered, completed: null }; // not staged yet, or another registry is on it
		}
		// move the cursor on (a compare-and-set: two drainers never skip a chunk)
		await deps.store.batches.updateMany({ _id: batchId, nextChunk: next }, { $set: { nextChunk: next + step, updatedAt: new Date() } });
	}
}

function stale(chunk: ChunkDoc): boolean {
	return !chunk.claimedAt || Date.now() - new Date(chunk.claimedAt).getTime() > CLAIM_LEASE_MS;
}

async function claim(deps: RegistryDeps, chunk: ChunkDoc): Promise<boolean> {
	const now = new Date();
	if (chunk.status === "STAGED") return deps.store.moveChunk(chunk._id, ["STAGED"], "REGISTERING", { claimedAt: now });
	// take over a stale claim: only if nobody renewed it since we read it
	const q: Record<string, unknown> = { _id: chunk._id, status: "REGISTERING" };
	q.claimedAt = chunk.claimedAt ?? { $exists: false };
	return (await deps.store.chunks.updateMany(q, { $set: { claimedAt: now } })) > 0;
}

/** PROCESSING -> COMPLETED with the summed counts; null when another registry completed it first. */
async function complete(deps: RegistryDeps, batch: BatchDoc): Promise<Counts | null> {
	const counts = sumCounts(await deps.store.chunksOf(batch._id));
	const done = await deps.store.transition(batch._id, ["PROCESSING"], "COMPLETED", { counts, finishedAt: new Date() });
	return done ? counts : null;
}

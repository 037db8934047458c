/**
 * Batches and chunks: the stored state every ingestion actor reads and moves forward. A batch is one submission
 * (a REST batch, an upload, an inbox file); its chunks are the units of work on the queues. Every transition is a
 * compare-and-set on the stored status, so a message handled twice (redelivery after a crash) moves nothing twice.
 * Counts are never incremented in place: each chunk stores its own, and the batch's are their sum (derived state
 * cannot drift).
 *
 * Batch: OPEN (REST, taking rows) -> RECEIVED -> SPLITTING -> PROCESSING -> COMPLETED, or FAILED (file-level).
 * Chunk: PENDING (REST, not yet submitted) -> READY -> STAGED (etl) -> REGISTERING -> REGISTERED (registry).
 */
import type { StoreAdapter, Doc } from "../store/types.ts";
import type { Kind } from "../records/index.ts";
import type { Rejection } from "../etl/parse-chunk.ts";

export type BatchStatus = "OPEN" | "RECEIVED" | "SPLITTING" | "PROCESSING" | "COMPLETED" | "FAILED";
export type ChunkStatus = "PENDING" | "READY" | "STAGED" | "REGISTERING" | "REGISTERED";
export type BatchSource = "rest" | "upload" | "inbox";

export interface Counts {
	/** data rows received (blank lines not counted) */
	received: number;
	/** rows registered: inserted + updated + unchanged */
	valid: number;
	/** rows rejected (validation, or a key seen earlier in the batch) */
	rejected: number;
	/** rows a client's transform dropped on purpose */
	skipped: number;
	inserted: number;
	updated: number;
	unchanged: number;
}

export const ZERO_COUNTS: Counts = { received: 0, valid: 0, rejected: 0, skipped: 0, inserted: 0, updated: 0, unchanged: 0 };

export interface BatchFile {
	/** object key of the raw file */
	key: string;
	name: string;
	size: number;
	sha256: string;
	type: "csv" | "xlsx";
}

export interface BatchDoc extends Doc {
	clientId: string;
	kind: Kind;
	source: BatchSource;
	status: BatchStatus;
	file?: BatchFile;
	/** the header record and the delimiter chunk text uses (set by the file-picker; REST: the canonical header) */
	header?: { text: string; delimiter: string };
	/** chunks once splitting is done */
	chunkTotal?: number;
	/** the registry registers chunks in order: the next one to register */
	nextChunk: number;
	/** REST batches: rows and chunks received so far (line numbers and chunk indexes come from these) */
	restRows?: number;
	restChunks?: number;
	unknownColumns?: string[];
	/** final counts, written when the batch completes (while processing they are summed from chunks) */
	counts?: Counts;
	error?: { code: string; message: string };
	/** batch reports to the client: channel -> "sent" */
	report?: Record<string, string>;
	/** when every report channel was done */
	reportedAt?: Date;
	createdAt: Date;
	updatedAt: Date;
	startedAt?: Date;
	finishedAt?: Date;
}

export interface ChunkDoc extends Doc {
	batchId: string;
	index: number;
	status: ChunkStatus;
	/** object key of the chunk's CSV text */
	key: string;
	firstLine: number;
	rows: number;
	/** source line of each record when text lines do not match file lines (XLSX, REST) */
	lines?: number[];
	/** etl: received, rejected (validation), skipped, valid-so-far; registry: inserted, updated, unchanged, duplicates */
	etl?: { received: number; rejected: number; skipped: number; valid: number; ms: number };
	registry?: { inserted: number; updated: number; unchanged: number; duplicates: number; ms: number };
	claimedAt?: Date;
}

export interface RejectionDoc extends Doc {
	batchId: string;
	clientId: string;
	chunk: number;
	/** "etl" (validation) or "registry" (duplicate key across chunks) */
	stage: "etl" | "registry";
	line: number;
	field: string;
	code: string;
	message: string;
}

/** The public shape of a batch (GET /batches/:id). */
export interface BatchView {
	id: string;
	clientId: string;
	kind: Kind;
	source: BatchSource;
	status: BatchStatus;
	file?: { name: string; size: number; type: string };
	counts: Counts;
	chunks: { total: number; done: number };
	unknownColumns?: string[];
	createdAt: Date;
	updatedAt: Date;
	finishedAt: Date | null;
	error: { code: string; message: string } | null;
}

export function chunkId(batchId: string, index: number): string {
	return `${batchId}:${String(index).padStart(6, "0")}`;
}

/** Sums chunk counts into batch counts. */
export function sumCounts(chunks: Pick<ChunkDoc, "etl" | "registry">[]): Counts {
	const c = { ...ZERO_COUNTS };
	for (const ch of chunks) {
		if (ch.etl) {
			c.received += ch.etl.received;
			c.rejected += ch.etl.rejected;
			c.skipped += ch.etl.skipped;
		}
		if (ch.registry) {
			c.inserted += ch.registry.inserted;
			c.updated += ch.registry.updated;
			c.unchanged += ch.registry.unchanged;
			c.rejected += ch.registry.duplicates;
		}
	}
	c.valid = c.inserted + c.updated + c.unchanged;
	return c;
}

/** Store access for batches, chunks, rejections and file hashes; one instance per process. */
export class BatchStore {
	readonly batches: StoreAdapter;
	readonly chunks: StoreAdapter;
	readonly rejections: StoreAdapter;
	/** `${clientId}:${sha256}` -> batchId of files being or already processed (repeat detection) */
	readonly fileHashes: StoreAdapter;

	constructor(adapters: { batches: StoreAdapter; chunks: StoreAdapter; rejections: StoreAdapter; fileHashes: StoreAdapter }) {
		this.batches = adapters.batches;
		this.chunks = adapters.chunks;
		this.rejections = adapters.rejections;
		this.fileHashes = adapters.fileHashes;
	}

	static async open(adapter: (collection: string) => StoreAdapter): Promise<BatchStore> {
		const s = new BatchStore({ batches: adapter("batches"), chunks: adapter("chunks"), rejections: adapter("rejections"), fileHashes: adapter("file_hashes") });
		await Promise.all([s.batches.connect(), s.chunks.connect(), s.rejections.connect(), s.fileHashes.connect()]);
		await s.batches.ensureIndexes([{ fields: ["clientId", "-createdAt"] }, { fields: ["status"] }, { fields: ["-createdAt"] }]);
		await s.chunks.ensureIndexes([{ fields: ["batchId", "index"], unique: true }, { fields: ["batchId", "status"] }]);
		await s.rejections.ensureIndexes([{ fields: ["batchId", "line"] }, { fields: ["batchId", "chunk", "stage"] }]);
		return s;
	}

	async create(fields: Omit<BatchDoc, "_id" | "createdAt" | "updatedAt" | "nextChunk"> & { _id?: string }): Promise<BatchDoc> {
		const now = new Date();
		return (await this.batches.insert({ ...fields, nextChunk: 0, createdAt: now, updatedAt: now })) as BatchDoc;
	}

	async get(id: string): Promise<BatchDoc | null> {
		return (await this.batches.findById(id)) as BatchDoc | null;
	}

	/** Moves a batch from one of `from` to `to` (plus `set`); false when it was not in `from` (someone else moved it). */
	async transition(id: string, from: BatchStatus[], to: BatchStatus, set: Record<string, unknown> = {}): Promise<boolean> {
		const n = await this.batches.updateMany({ _id: id, status: { $in: from } }, { $set: { ...set, status: to, updatedAt: new Date() } });
		return n > 0;
	}

	async touch(id: string, set: Record<string, unknown>): Promise<void> {
		await this.batches.updateById(id, { $set: { ...set, updatedAt: new Date() } });
	}

	/** Fails a batch with a reason the client can act on; its file may be sent again (the repeat guard is lifted). */
	async fail(batch: Pick<BatchDoc, "_id" | "clientId" | "file">, code: string, message: string): Promise<boolean> {
		const moved = await this.transition(batch._id, ["OPEN", "RECEIVED", "SPLITTING", "PROCESSING"], "FAILED", { error: { code, message }, finishedAt: new Date() });
		if (batch.file) await this.fileHashes.removeMany({ _id: `${batch.clientId}:${batch.file.sha256}`, batchId: batch._id });
		return moved;
	}

	/** Claims a file's content hash for a batch; returns the earlier batch's ID when this client already sent it. */
	async claimFile(clientId: string, sha256: string, batchId: string): Promise<string | null> {
		const id = `${clientId}:${sha256}`;
		try {
			await this.fileHashes.insert({ _id: id, batchId, createdAt: new Date() });
			return null;
		} catch (err) {
			const existing = await this.fileHashes.findById(id);
			if (!existing) throw err;
			return String(existing.batchId);
		}
	}

	async chunksOf(batchId: string): Promise<ChunkDoc[]> {
		return (await this.chunks.find({ query: { batchId }, sort: "index" })) as ChunkDoc[];
	}

	async chunk(batchId: string, index: number): Promise<ChunkDoc | null> {
		return (await this.chunks.findById(chunkId(batchId, index))) as ChunkDoc | null;
	}

	/** Moves a chunk from `from` to `to` (plus `set`); false when it was elsewhere. */
	async moveChunk(id: string, from: ChunkStatus[], to: ChunkStatus, set: Record<string, unknown> = {}): Promise<boolean> {
		return (await this.chunks.updateMany({ _id: id, status: { $in: from } }, { $set: { ...set, status: to } })) > 0;
	}

	/** Replaces a chunk's rejections of one stage (so a chunk handled twice keeps one set). */
	async replaceRejections(batch: Pick<BatchDoc, "_id" | "clientId">, chunk: number, stage: RejectionDoc["stage"], rejections: Rejection[]): Promise<void> {
		await this.rejections.removeMany({ batchId: batch._id, chunk, stage });
		if (rejections.length === 0) return;
		await this.rejections.insertMany(rejections.map((r) => ({ batchId: batch._id, clientId: batch.clientId, chunk, stage, line: r.line, field: r.field, code: r.code, message: r.message })));
	}

	/** The batch as the API shows it: counts are the final ones, or summed from the chunks while it runs. */
	async view(batch: BatchDoc): Promise<BatchView> {
		let counts = batch.counts;
		let done = batch.nextChunk;
		if (!counts) {
			const chunks = await this.chunks.find({ query: { batchId: batch._id } });
			counts = sumCounts(chunks as ChunkDoc[]);
			done = chunks.filter((c) => c.status === "REGISTERED").length;
		}
		return {
			id: batch._id,
			clientId: batch.clientId,
			kind: batch.kind,
			source: batch.source,
			status: batch.status,
			...(batch.file ? { file: { name: batch.file.name, size: batch.file.size, type: batch.file.type } } : {}),
			counts,
			chunks: { total: batch.chunkTotal ?? batch.restChunks ?? 0, done },
			...(batch.unknownColumns?.length ? { unknownColumns: batch.unknownColumns } : {}),
			createdAt: batch.createdAt,
			updatedAt: batch.updatedAt,
			finishedAt: batch.finishedAt ?? null,
			error: batch.error ?? null
		};
	}
}

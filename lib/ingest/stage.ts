/**
 * The etl's work on one chunk: parse its CSV text with the batch's format on a parse thread (parse-pool.ts),
 * normalise and validate each row, stage the valid rows as an object for the registry, keep every rejection with
 * its line, field and reason, and mark the chunk STAGED with its counts. Handling the same chunk twice stages the
 * same rows and replaces its rejections.
 */
import { text } from "node:stream/consumers";
import type { ClientFormat } from "../etl/format.ts";
import type { ObjectStore } from "../objects/types.ts";
import type { BatchDoc, BatchStore, ChunkDoc } from "./batches.ts";
import type { ParsePool } from "./parse-pool.ts";

export function stagedKey(batch: Pick<BatchDoc, "_id" | "clientId">, index: number): string {
	return `staged/${batch.clientId}/${batch._id}/${String(index).padStart(6, "0")}.json`;
}

/** The format of each batch being parsed, looked up once per batch (a few batches at a time). */
export class FormatCache {
	private readonly cache = new Map<string, Promise<ClientFormat>>();
	private readonly max: number;
	constructor(max = 32) {
		this.max = max;
	}
	get(batchId: string, load: () => Promise<ClientFormat>): Promise<ClientFormat> {
		let hit = this.cache.get(batchId);
		if (!hit) {
			hit = load();
			if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value as string);
			this.cache.set(batchId, hit);
			hit.catch(() => this.cache.delete(batchId));
		}
		return hit;
	}
}

export interface StageResult {
	received: number;
	valid: number;
	rejected: number;
	skipped: number;
	ms: number;
	/** false when the chunk had already been staged (nothing changed) */
	staged: boolean;
}

export async function stageChunk(deps: { objects: ObjectStore; store: BatchStore; pool: ParsePool }, batch: BatchDoc, chunk: ChunkDoc, format: ClientFormat): Promise<StageResult> {
	const started = performance.now();
	if (!batch.header) throw new Error(`batch ${batch._id} has no header yet`);
	const body = await text(await deps.objects.get(chunk.key));
	const out = await deps.pool.run({ format, header: batch.header, chunk: { text: body, firstLine: chunk.firstLine, lines: chunk.lines } });
	await deps.objects.put(stagedKey(batch, chunk.index), out.staged, { contentType: "application/json" });
	await deps.store.replaceRejections(batch, chunk.index, "etl", out.rejections);
	const counts = { received: out.rows, rejected: out.rejectedRows, skipped: out.skipped, valid: out.valid, ms: Math.round(performance.now() - started) };
	const moved = await deps.store.moveChunk(chunk._id, ["READY"], "STAGED", { etl: counts });
	return { ...counts, staged: moved };
}

/**
 * The etl's work on one chunk: parse its CSV text with the batch's format, normalise and validate each row, stage
 * the valid rows as an object for the registry, keep every rejection with its line, field and reason, and mark the
 * chunk STAGED with its counts. Handling the same chunk twice stages the same rows and replaces its rejections.
 */
import { text } from "node:stream/consumers";
import { createParseContext, parseChunk, type ParseContext, type ValidRecord } from "../etl/parse-chunk.ts";
import type { ClientFormat } from "../etl/format.ts";
import { loadTransform } from "../etl/transforms.ts";
import type { ObjectStore } from "../objects/types.ts";
import type { BatchDoc, BatchStore, ChunkDoc } from "./batches.ts";

export function stagedKey(batch: Pick<BatchDoc, "_id" | "clientId">, index: number): string {
	return `staged/${batch.clientId}/${batch._id}/${String(index).padStart(6, "0")}.json`;
}

/** Parse contexts per batch (building one loads the transform and plans the columns); a few batches at a time. */
export class ParseContexts {
	private readonly cache = new Map<string, ParseContext>();
	private readonly max: number;
	constructor(max = 32) {
		this.max = max;
	}
	async get(batch: BatchDoc, loadFormat: () => Promise<ClientFormat>): Promise<ParseContext> {
		const hit = this.cache.get(batch._id);
		if (hit) return hit;
		if (!batch.header) throw new Error(`batch ${batch._id} has no header yet`);
		const format = await loadFormat();
		const transform = format.transform ? await loadTransform(format.transform) : undefined;
		const ctx = createParseContext(format, batch.header.text, { delimiter: batch.header.delimiter, transform });
		if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value as string);
		this.cache.set(batch._id, ctx);
		return ctx;
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

export async function stageChunk(deps: { objects: ObjectStore; store: BatchStore; contexts: ParseContexts }, batch: BatchDoc, chunk: ChunkDoc, loadFormat: () => Promise<ClientFormat>): Promise<StageResult> {
	const started = performance.now();
	const ctx = await deps.contexts.get(batch, loadFormat);
	const body = await text(await deps.objects.get(chunk.key));
	const result = parseChunk({ text: body, firstLine: chunk.firstLine, lines: chunk.lines }, ctx);
	const staged: ValidRecord[] = result.valid;
	await deps.objects.put(stagedKey(batch, chunk.index), JSON.stringify(staged), { contentType: "application/json" });
	await deps.store.replaceRejections(batch, chunk.index, "etl", result.rejections);
	const counts = { received: result.rows, rejected: result.rejectedRows, skipped: result.skipped, valid: staged.length, ms: Math.round(performance.now() - started) };
	const moved = await deps.store.moveChunk(chunk._id, ["READY"], "STAGED", { etl: counts });
	return { ...counts, staged: moved };
}

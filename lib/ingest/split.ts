/**
 * The file-picker's work on one batch: read the stored file once, check it (type by content, encoding, header
 * against the client's format, not empty), and split it into chunks of N rows stored as objects, each with a
 * chunk record. Splitting cuts on record boundaries without parsing fields; the etl parses each chunk once.
 * Running it twice on the same batch (a redelivery after a crash) rewrites the same chunks and keeps chunks that
 * already moved on.
 */
import type { Readable } from "node:stream";
import { splitCsv } from "../etl/splitter.ts";
import { splitXlsx } from "../etl/xlsx.ts";
import { sniffStream } from "../etl/sniff.ts";
import { SplitError, type SplitEvent } from "../etl/chunk.ts";
import { createParseContext } from "../etl/parse-chunk.ts";
import { planProblem, type ClientFormat } from "../etl/format.ts";
import { loadTransform } from "../etl/transforms.ts";
import type { ObjectStore } from "../objects/types.ts";
import { chunkId, type BatchDoc, type BatchStore } from "./batches.ts";

/** A file-level failure: the batch FAILS with this code and message. */
export class FileError extends Error {
	readonly code: string;
	constructor(code: string, message: string) {
		super(message);
		this.name = "FileError";
		this.code = code;
	}
}

export interface SplitLimits {
	chunkRows: number;
	xlsxMaxRows: number;
	xlsxMaxInflatedBytes: number;
}

export interface SplitOutcome {
	chunks: number;
	rows: number;
	header: { text: string; delimiter: string };
	unknownColumns: string[];
}

export function chunkKey(batch: Pick<BatchDoc, "_id" | "clientId">, index: number): string {
	return `chunks/${batch.clientId}/${batch._id}/${String(index).padStart(6, "0")}.csv`;
}

/** Splits the batch's file into stored chunks; throws FileError for a file that cannot be ingested. */
export async function splitBatchFile(deps: { objects: ObjectStore; store: BatchStore }, batch: BatchDoc, format: ClientFormat, limits: SplitLimits): Promise<SplitOutcome> {
	if (!batch.file) throw new FileError("no_file", "the batch has no file");
	const raw = await deps.objects.get(batch.file.key);
	const { result, stream } = await sniffStream(raw, format.encoding);
	if (result.type === "unsupported") {
		stream.destroy();
		throw new FileError("unsupported_type", `${result.message}; send a CSV (text) or an XLSX file`);
	}
	if (result.type === "invalid_text") {
		stream.destroy();
		throw new FileError("invalid_encoding", `${result.message}; the client's format says ${format.encoding}`);
	}
	const events: AsyncGenerator<SplitEvent> =
		result.type === "xlsx"
			? splitXlsx(stream, { sheet: format.sheet, chunkRows: limits.chunkRows, maxRows: limits.xlsxMaxRows, maxUncompressedBytes: limits.xlsxMaxInflatedBytes, dateFormat: format.dateFormat, decimalSeparator: format.decimalSeparator })
			: splitCsv(stream, { encoding: format.encoding, delimiter: format.delimiter, chunkRows: limits.chunkRows });
	return consume(deps, batch, format, events, stream);
}

async function consume(deps: { objects: ObjectStore; store: BatchStore }, batch: BatchDoc, format: ClientFormat, events: AsyncGenerator<SplitEvent>, source: Readable): Promise<SplitOutcome> {
	let header: { text: string; delimiter: string } | undefined;
	let unknownColumns: string[] = [];
	let chunks = 0;
	let rows = 0;
	try {
		for await (const ev of events) {
			if (ev.type === "header") {
				header = { text: ev.text, delimiter: ev.delimiter };
				const transform = format.transform ? await loadTransform(format.transform) : undefined;
				const ctx = createParseContext(format, ev.text, { delimiter: ev.delimiter, transform });
				const problem = planProblem(format, ctx.plan);
				if (problem) throw new FileError("bad_header", problem);
				unknownColumns = ctx.plan.unknown;
			} else if (ev.type === "chunk") {
				const c = ev.chunk;
				const key = chunkKey(batch, c.index);
				await deps.objects.put(key, c.text, { contentType: "text/csv; charset=utf-8" });
				const id = chunkId(batch._id, c.index);
				const doc = { batchId: batch._id, index: c.index, key, firstLine: c.firstLine, rows: c.rows, ...(c.lines ? { lines: c.lines } : {}) };
				const existing = await deps.store.chunks.findById(id);
				if (!existing) await deps.store.chunks.insert({ _id: id, ...doc, status: "READY" });
				chunks++;
				rows += c.rows;
			} else if (ev.type === "end") {
				if (!header) throw new FileError("empty_file", "the file is empty");
				if (ev.totalRows === 0) throw new FileError("no_rows", "the file has a header but no data rows");
			}
		}
	} catch (err) {
		source.destroy();
		if (err instanceof SplitError) throw new FileError(err.code, err.line ? `${err.message} (line ${err.line})` : err.message);
		throw err;
	}
	if (!header) throw new FileError("empty_file", "the file is empty");
	return { chunks, rows, header, unknownColumns };
}

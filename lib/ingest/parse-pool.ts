/**
 * The etl parses chunks on worker threads, so parsing and validating (CPU) runs beside the store writes of the
 * registry and the I/O of the main thread instead of taking turns with them: in the embedded default that is what
 * lets one process use more than one core. One pool per etl service; a thread that dies is replaced and its job
 * fails (the queue retries it).
 */
import { ThreadPool } from "../threads.ts";
import type { ClientFormat } from "../etl/format.ts";
import type { Chunk } from "../etl/chunk.ts";
import type { Rejection } from "../etl/parse-chunk.ts";

export interface ParseJob {
	format: ClientFormat;
	header: { text: string; delimiter: string };
	chunk: Pick<Chunk, "text" | "firstLine" | "lines">;
}

export interface ParseOutput {
	/** the valid rows ([{line, key, record}]) as JSON text, ready to be stored */
	staged: string;
	valid: number;
	rejections: Rejection[];
	rows: number;
	rejectedRows: number;
	skipped: number;
}

export type ParsePool = ThreadPool<ParseJob, ParseOutput>;

/** `onCpu`: the CPU seconds the threads used, reported after each chunk (the thread CPU metric). */
export function createParsePool(size: number, onCpu?: (seconds: number) => void): ParsePool {
	return new ThreadPool<ParseJob, ParseOutput>({ url: new URL("./parse-worker.ts", import.meta.url), size, name: "parse", onCpu });
}

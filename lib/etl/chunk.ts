/**
 * The shape both file readers (CSV splitter, XLSX reader) produce: a header line, then chunks of N data rows as CSV
 * text, then totals. One chunk is one queue message's worth of work (DESIGN: never one message per row), and the
 * etl parses every chunk with the same parser (parse-chunk.ts) whatever the file type.
 */

export interface Chunk {
	/** 0-based position of the chunk in the file */
	index: number;
	/** file line number of the chunk's first record (1 = the header line) */
	firstLine: number;
	/** data rows in the chunk (blank lines not counted) */
	rows: number;
	/** UTF-8 byte size of `text` */
	bytes: number;
	/** the rows as CSV text (UTF-8 string), cut on record boundaries; may contain blank lines, which parse skips */
	text: string;
	/**
	 * Only when physical lines of `text` do not match the file's lines (XLSX: sheet row numbers, which skip empty rows
	 * and where one row may hold line breaks): the source line of each record, in order.
	 */
	lines?: number[];
}

export type SplitEvent =
	/** first: the header record as text (no line terminator), its line, and the delimiter chunk text uses */
	| { type: "header"; text: string; line: number; delimiter: string }
	| { type: "chunk"; chunk: Chunk }
	/**
	 * last: totals (a file with no non-blank line yields only this, with totalRows 0 and no header before it);
	 * totalLines is the last line (XLSX: the last sheet row read); bytesRead counts source bytes (CSV only, 0 for XLSX)
	 */
	| { type: "end"; totalRows: number; totalLines: number; chunks: number; bytesRead: number };

export const DEFAULT_CHUNK_ROWS = 5000;

/** A file that cannot be split; `code` is stable ("invalid_encoding", "record_too_long", "too_many_rows", ...). */
export class SplitError extends Error {
	readonly code: string;
	readonly line?: number;
	constructor(code: string, message: string, line?: number) {
		super(message);
		this.name = "SplitError";
		this.code = code;
		this.line = line;
	}
}

/**
 * The streaming, quote-aware CSV splitter: raw file bytes in; the header line, then chunks of N data rows (CSV text,
 * cut on record boundaries), then totals out. It finds record boundaries without parsing fields (DESIGN: splitting
 * runs at millions of lines/s, parsing at a few hundred thousand rows/s, so the file is parsed once, in the etl).
 *
 * - Decodes per the client's encoding with a streaming TextDecoder (utf-8, or windows-1252 for "latin1" too: that is
 *   what the WHATWG "latin1" label means and what such files really are); a UTF-8 BOM is dropped.
 * - A quoted field (RFC 4180: "..." with "" for a quote) may hold delimiters and line breaks; the record is kept whole.
 *   A quote that does not start a field is an ordinary character (as csv-parse's relax_quotes reads it).
 * - Line numbers are physical lines (1 = the header); a record's line is the line it starts on. CRLF and LF both end
 *   a record. Blank lines (empty, or only spaces and delimiters) are not rows but are counted as lines.
 * - Memory stays bounded: one partial record (at most maxRecordChars, so an unclosed quote cannot swallow the file)
 *   and one chunk at a time; the source is only read as fast as chunks are consumed.
 */
import type { Readable } from "node:stream";
import { type Chunk, DEFAULT_CHUNK_ROWS, type SplitEvent, SplitError } from "./chunk.ts";
import type { Encoding } from "./format.ts";
import { findInvalidUtf8 } from "./sniff.ts";

export interface SplitOptions {
	encoding?: Encoding;
	delimiter?: string;
	/** data rows per chunk (default 5,000) */
	chunkRows?: number;
	/** longest record accepted, in characters (default 1 MiB): beyond it the file fails (an unclosed quote, usually) */
	maxRecordChars?: number;
	/** the file fails once it has more data rows than this */
	maxRows?: number;
}

const LF = 10;
const CR = 13;
const QUOTE = 34;
const SPACE = 32;
const TAB = 9;

/** Splits a CSV byte stream; see the module comment. Throws SplitError for files it cannot read. */
export async function* splitCsv(input: Readable | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>, options: SplitOptions = {}): AsyncGenerator<SplitEvent> {
	const encoding = options.encoding ?? "utf-8";
	const delimiter = options.delimiter ?? ",";
	const DELIM = delimiter.charCodeAt(0);
	const chunkRows = options.chunkRows ?? DEFAULT_CHUNK_ROWS;
	const maxRecordChars = options.maxRecordChars ?? 1024 * 1024;
	const maxRows = options.maxRows ?? Infinity;
	if (!Number.isInteger(chunkRows) || chunkRows < 1) throw new RangeError("chunkRows must be a positive integer");
	const decoder = new TextDecoder(encoding === "utf-8" ? "utf-8" : "windows-1252", { fatal: encoding === "utf-8" });

	let buf = "";
	let line = 1; // physical line of buf[0]
	let bytesRead = 0;
	let headerDone = false;
	let totalRows = 0;
	let chunkIndex = 0;
	// the open chunk
	let pieces: string[] = [];
	let rows = 0;
	let firstLine = 0;
	let segStart = -1;
	const out: SplitEvent[] = [];
	// cached position of the next quote in buf at or after qFrom (-1: none from qFrom on)
	let qNext = -1;
	let qFrom = Infinity;

	let end = 0; // result of recordEnd: index of the terminating LF, or buf.length at EOF
	let inner = 0; // line breaks inside the record

	/** Finds where the record starting at pos ends; false when it is not complete in buf yet. */
	function recordEnd(pos: number, final: boolean): boolean {
		inner = 0;
		const nl = buf.indexOf("\n", pos);
		if (qFrom > pos || (qNext !== -1 && qNext < pos)) {
			qNext = buf.indexOf('"', pos);
			qFrom = pos;
		}
		if (qNext === -1 || (nl >= 0 && qNext > nl)) {
			// no quote in this line: the common case
			if (nl >= 0) {
				end = nl;
				return true;
			}
			if (final) {
				end = buf.length;
				return true;
			}
			return false;
		}
		// a quote in the record: walk it
		let fieldStart = true;
		let i = pos;
		const n = buf.length;
		while (i < n) {
			const c = buf.charCodeAt(i);
			if (c === QUOTE && fieldStart) {
				// quoted field: jump from quote to quote, counting line breaks
				let j = i + 1;
				for (;;) {
					const q = buf.indexOf('"', j);
					const stop = q < 0 ? n : q;
					for (let k = buf.indexOf("\n", j); k >= 0 && k < stop; k = buf.indexOf("\n", k + 1)) inner++;
					if (q < 0) {
						if (final) {
							end = n;
							return true;
						}
						return false;
					}
					if (q + 1 >= n && !final) return false; // cannot tell "" from a closing quote yet
					if (buf.charCodeAt(q + 1) === QUOTE) {
						j = q + 2;
						continue;
					}
					i = q + 1;
					break;
				}
				fieldStart = false;
				continue;
			}
			if (c === LF) {
				end = i;
				return true;
			}
			fieldStart = c === DELIM;
			i++;
		}
		if (final) {
			end = n;
			return true;
		}
		return false;
	}

	function isBlank(from: number, to: number): boolean {
		for (let i = from; i < to; i++) {
			const c = buf.charCodeAt(i);
			if (c !== SPACE && c !== TAB && c !== CR && c !== DELIM) return false;
		}
		return true;
	}

	function closeChunk(text: string): void {
		const chunk: Chunk = { index: chunkIndex++, firstLine, rows, bytes: Buffer.byteLength(text, "utf8"), text };
		out.push({ type: "chunk", chunk });
		pieces = [];
		rows = 0;
		segStart = -1;
	}

	function scan(final: boolean): void {
		let pos = 0;
		const n = buf.length;
		while (pos < n) {
			if (!recordEnd(pos, final)) {
				if (n - pos > maxRecordChars) {
					throw new SplitError("record_too_long", `the record starting at line ${line} is longer than ${maxRecordChars} characters; a quoted field is probably not closed`, line);
				}
				break;
			}
			const contentEnd = end > pos && buf.charCodeAt(end - 1) === CR ? end - 1 : end;
			const next = end < n ? end + 1 : n;
			const c0 = buf.charCodeAt(pos);
			const blank = pos === contentEnd || ((c0 === SPACE || c0 === TAB || c0 === DELIM || c0 === CR) && isBlank(pos, contentEnd));
			if (!blank) {
				if (!headerDone) {
					headerDone = true;
					out.push({ type: "header", text: buf.slice(pos, contentEnd), line, delimiter });
				} else {
					if (rows === 0) {
						segStart = pos;
						firstLine = line;
					}
					rows++;
					if (++totalRows > maxRows) throw new SplitError("too_many_rows", `the file has more than ${maxRows} data rows`, line);
					if (rows === chunkRows) {
						pieces.push(buf.slice(segStart, next));
						closeChunk(pieces.length === 1 ? pieces[0] : pieces.join(""));
					}
				}
			}
			line += 1 + inner;
			pos = next;
		}
		if (rows > 0) {
			pieces.push(buf.slice(segStart, pos));
			segStart = 0;
		}
		buf = pos === n ? "" : buf.slice(pos);
		qNext = -1;
		qFrom = Infinity;
	}

	let first = true;
	for await (const piece of input) {
		let text: string;
		if (typeof piece === "string") text = piece;
		else {
			try {
				text = decoder.decode(piece, { stream: true });
			} catch {
				const bad = findInvalidUtf8(piece, true);
				const at = bytesRead + Math.max(0, bad);
				throw new SplitError("invalid_encoding", `the file is not valid UTF-8 near byte offset ${at} (around line ${line}); save it as UTF-8 or set the client format's encoding`, line);
			}
			bytesRead += piece.byteLength;
		}
		if (first && text.length > 0) {
			if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
			first = false;
		}
		buf = buf.length === 0 ? text : buf + text;
		scan(false);
		for (const ev of out) yield ev;
		out.length = 0;
	}
	let tail: string;
	try {
		tail = decoder.decode();
	} catch {
		throw new SplitError("invalid_encoding", `the file is not valid UTF-8: it ends inside a multi-byte character (byte offset ${bytesRead})`, line);
	}
	if (first && tail.charCodeAt(0) === 0xfeff) tail = tail.slice(1);
	buf += tail;
	scan(true);
	if (rows > 0) closeChunk(pieces.length === 1 ? pieces[0] : pieces.join(""));
	for (const ev of out) yield ev;
	out.length = 0;
	yield { type: "end", totalRows, totalLines: line - 1, chunks: chunkIndex, bytesRead };
}

/**
 * The etl's CSV record reader: one chunk's text (cut on record boundaries by splitter.ts) -> records of fields, each
 * with the physical line it starts on. It reads CSV exactly as the splitter cuts it, so the two always agree on where
 * a record ends:
 * - a field that starts with `"` is quoted (RFC 4180): it may hold delimiters and line breaks, `""` is a quote;
 * - a quote anywhere else is an ordinary character (csv-parse's relax_quotes);
 * - "\r\n" and "\n" end a record; a lone "\r" is an ordinary character; empty lines are not records;
 * - a quoted field that is never closed, or whose closing quote is followed by something other than a delimiter or
 *   the end of the record, makes the record malformed (reported with its line, its fields are not used).
 *
 * Why not csv-parse: it was the largest cost of the etl (about 8 µs a row with line info, against about 1 µs here).
 * Lines without a quote, nearly all of them, are split with String.prototype.split; only lines with a quote are
 * walked character by character.
 */

export type CsvRecord =
	/** line: physical line (0 = the text's first line) the record starts on */
	| { ok: true; line: number; fields: string[] }
	| { ok: false; line: number; problem: "unclosed_quote" | "bad_closing_quote" };

const QUOTE = 34;
const LF = 10;
const CR = 13;

/** Reads every record of `text` (see the module comment), calling `onRecord` for each in order. */
export function readCsvRecords(text: string, delimiter: string, onRecord: (r: CsvRecord) => void): void {
	if (delimiter.length !== 1) throw new RangeError("the delimiter must be one character");
	const DELIM = delimiter.charCodeAt(0);
	const n = text.length;
	let pos = 0;
	let line = 0;
	while (pos < n) {
		let nl = text.indexOf("\n", pos);
		if (nl < 0) nl = n;
		const end = nl > pos && text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
		// look for a quote in this line only (measured: one indexOf over the whole chunk text made every later
		// string call on splitter output about 20x slower)
		const row = text.slice(pos, end);
		if (row.indexOf('"') === -1) {
			// no quote on this line: the common case
			if (end > pos) onRecord({ ok: true, line, fields: row.split(delimiter) });
			pos = nl + 1;
			line++;
			continue;
		}
		// a quote in this record: walk it
		const r = readQuotedRecord(text, pos, DELIM, line);
		onRecord(r.record);
		pos = r.next;
		line = r.nextLine;
	}
}

/** The record starting at `pos`, which has a quote somewhere: walked character by character. */
function readQuotedRecord(text: string, pos: number, DELIM: number, line: number): { record: CsvRecord; next: number; nextLine: number } {
	const n = text.length;
	const startLine = line;
	const fields: string[] = [];
	let problem: "unclosed_quote" | "bad_closing_quote" | undefined;
	let i = pos;
	let fieldStart = pos;
	let ended = false;
	// ends by `break` after a quoted field, or with `ended` after an unquoted one
	while (!ended) {
		if (i < n && text.charCodeAt(i) === QUOTE && i === fieldStart) {
			// a quoted field
			let value = "";
			let from = i + 1;
			for (;;) {
				const q = text.indexOf('"', from);
				if (q < 0) {
					problem ??= "unclosed_quote";
					for (let k = text.indexOf("\n", from); k >= 0; k = text.indexOf("\n", k + 1)) line++;
					i = n;
					break;
				}
				for (let k = text.indexOf("\n", from); k >= 0 && k < q; k = text.indexOf("\n", k + 1)) line++;
				value += text.slice(from, q);
				if (text.charCodeAt(q + 1) === QUOTE) {
					value += '"';
					from = q + 2;
					continue;
				}
				i = q + 1;
				break;
			}
			if (i >= n) {
				fields.push(value);
				break;
			}
			const c = text.charCodeAt(i);
			if (c === DELIM) {
				fields.push(value);
				i++;
				fieldStart = i;
				continue;
			}
			if (c === LF || (c === CR && text.charCodeAt(i + 1) === LF)) {
				fields.push(value);
				i += c === CR ? 2 : 1;
				line++;
				break;
			}
			// something after the closing quote: the record is malformed; read on as unquoted text to its end
			problem ??= "bad_closing_quote";
			fieldStart = -1;
			continue;
		}
		// an unquoted field (or the rest of a malformed one): up to the next delimiter or line break
		let j = i;
		while (j < n) {
			const c = text.charCodeAt(j);
			if (c === DELIM || c === LF) break;
			j++;
		}
		const endsLine = j >= n || text.charCodeAt(j) === LF;
		const fieldEnd = endsLine && j > i && text.charCodeAt(j - 1) === CR ? j - 1 : j;
		if (fieldStart !== -1) fields.push(text.slice(i, fieldEnd));
		if (endsLine) {
			i = j + 1;
			if (j < n) line++;
			ended = true;
		} else {
			i = j + 1;
			fieldStart = i;
			if (i >= n) {
				fields.push("");
				ended = true;
			}
		}
	}
	return { record: problem ? { ok: false, line: startLine, problem } : { ok: true, line: startLine, fields }, next: i, nextLine: line };
}

/**
 * The one chunk parser of the etl: CSV text of one chunk (from the splitter or the XLSX reader) -> valid canonical
 * records and rejections. Reads records with csv-records.ts (the format's delimiter, RFC 4180 quotes, read exactly as
 * the splitter cut them), maps fields by the column plan, applies the client's transform, validates per kind, and
 * rejects later duplicates of a business key within the chunk (duplicates across chunks are the registry's job,
 * with businessKey()).
 * A bad row never fails the chunk: a wrong field count is a "column_count" rejection, broken quoting "malformed_row".
 */
import { parse } from "csv-parse/sync";
import { readCsvRecords } from "./csv-records.ts";
import type { Chunk } from "./chunk.ts";
import { type ClientFormat, type ColumnPlan, cleanHeader, numberStyle, planColumns } from "./format.ts";
import type { TransformModule } from "./transforms.ts";
import { businessKey, type CanonicalRecord, type Kind, keyFields, type RawRow, type ValidateContext, validateContext, validateWith } from "../records/index.ts";

export interface Rejection {
	/** file line of the row (1 = header) */
	line: number;
	/** canonical field, or "*" for a row-level problem */
	field: string;
	code: string;
	message: string;
}

export interface ValidRecord<R extends CanonicalRecord = CanonicalRecord> {
	line: number;
	/** businessKey(kind, record) */
	key: string;
	record: R;
}

export interface ChunkResult {
	valid: ValidRecord[];
	rejections: Rejection[];
	/** data rows seen (blank rows excluded) */
	rows: number;
	/** rows with at least one rejection */
	rejectedRows: number;
	/** rows the transform dropped on purpose (returned null) */
	skipped: number;
}

/** Everything needed to parse any chunk of one file; build it once per file (or per chunk message) and reuse. */
export interface ParseContext {
	kind: Kind;
	delimiter: string;
	plan: ColumnPlan;
	validate: ValidateContext;
	transform?: TransformModule;
}

/** Splits a header line into its cells (BOM stripped, trimmed). */
export function parseHeader(text: string, delimiter: string): string[] {
	const rows = parse(text, { delimiter, relax_quotes: true, relax_column_count: true, to_line: 1 }) as string[][];
	return (rows[0] ?? []).map(cleanHeader);
}

export interface ParseContextOptions {
	/** the header event's delimiter (XLSX chunks use ","); default the format's */
	delimiter?: string;
	transform?: TransformModule;
	/** injectable clock for the future-date check */
	now?: Date;
	/** or the date that counts as today, "YYYY-MM-DD" */
	today?: string;
}

/** Builds the parse context of a file from its client format and header line; check `plan.ok` (see planProblem). */
export function createParseContext(format: ClientFormat, headerText: string, options: ParseContextOptions = {}): ParseContext {
	const delimiter = options.delimiter ?? format.delimiter;
	const plan = planColumns(format, parseHeader(headerText, delimiter), options.transform ?? {});
	return {
		kind: format.kind,
		delimiter,
		plan,
		transform: options.transform,
		validate: validateContext(format.kind, {
			dateFormat: format.dateFormat,
			numberStyle: numberStyle(format),
			now: options.now,
			today: options.today
		})
	};
}

function allBlank(fields: string[], from = 0): boolean {
	for (let i = from; i < fields.length; i++) {
		const f = fields[i];
		for (let k = 0; k < f.length; k++) {
			const c = f.charCodeAt(k);
			if (c !== 32 && c !== 9 && c !== 13 && c !== 10) return false;
		}
	}
	return true;
}

/** Parses and validates one chunk. */
export function parseChunk(chunk: Pick<Chunk, "text" | "firstLine" | "lines">, ctx: ParseContext): ChunkResult {
	const { fields } = ctx.plan;
	const width = fields.length;
	const kind = ctx.kind;
	const keyField = keyFields(kind).length === 1 ? keyFields(kind)[0] : "*";
	const seen = new Map<string, number>();
	const result: ChunkResult = { valid: [], rejections: [], rows: 0, rejectedRows: 0, skipped: 0 };
	const rej = result.rejections;
	let index = 0;

	readCsvRecords(chunk.text, ctx.delimiter, (r) => {
		if (r.ok && allBlank(r.fields)) return;
		const line = chunk.lines ? chunk.lines[index] : chunk.firstLine + r.line;
		index++;
		result.rows++;
		if (!r.ok) {
			const why = r.problem === "unclosed_quote" ? "a quoted field is not closed" : "a closing quote is followed by other characters (quote the whole field and double the quotes inside it)";
			rej.push({ line, field: "*", code: "malformed_row", message: `the row cannot be read as CSV: ${why}` });
			result.rejectedRows++;
			return;
		}
		const record = r.fields;
		if (record.length !== width && !(record.length > width && allBlank(record, width))) {
			rej.push({ line, field: "*", code: "column_count", message: `the row has ${record.length} fields but the header has ${width}; check delimiters and quotes` });
			result.rejectedRows++;
			return;
		}
		let raw: RawRow = {};
		for (let i = 0; i < width; i++) {
			const f = fields[i];
			if (f !== null) raw[f] = record[i];
		}
		if (ctx.transform) {
			try {
				const out = ctx.transform.transform(raw as Record<string, string>, { kind, line });
				if (out === null) {
					result.skipped++;
					return;
				}
				raw = out;
			} catch (err) {
				rej.push({ line, field: "*", code: "transform_failed", message: err instanceof Error ? err.message : String(err) });
				result.rejectedRows++;
				return;
			}
		}
		const v = validateWith(kind, raw, ctx.validate);
		if (!v.ok) {
			for (const e of v.errors) rej.push({ line, field: e.field, code: e.code, message: e.message });
			result.rejectedRows++;
			return;
		}
		const key = businessKey(kind, v.record);
		const earlier = seen.get(key);
		if (earlier !== undefined) {
			rej.push({ line, field: keyField, code: "duplicate_key", message: `${keyFields(kind).join(" + ")} '${key.replaceAll("\u001f", " + ")}' already appears on line ${earlier}; the earlier row is kept` });
			result.rejectedRows++;
			return;
		}
		seen.set(key, line);
		result.valid.push({ line, key, record: v.record });
	});
	return result;
}

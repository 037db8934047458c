/**
 * Streaming XLSX reader: a workbook's bytes (a Readable) -> the rows of one sheet as strings -> the same events as
 * the CSV splitter (header, chunks of N rows as RFC 4180 CSV text with "," as delimiter, end), so the etl keeps ONE
 * chunk parser. Uses exceljs's streaming WorkbookReader parts (shared strings, styles, sheet XML) but drives the zip
 * itself (exceljs's unzipper) so it can enforce limits:
 * - max uncompressed size: each entry's declared size is checked before it is inflated, and inflated bytes are counted
 *   as they come (a zip bomb fails with a clear error after at most the limit, in memory or on disk);
 * - max data rows.
 * Sheets stored before the shared strings/styles they need (the usual order in files Excel writes) are spooled to a
 * temporary file (bounded by the same limit) and read once the zip has been read.
 *
 * Cell values become strings the validators read per the client's format:
 * - dates (numeric cells with a date number format) -> the format's dateFormat ("YYYY-MM-DD" by default);
 * - numbers -> plain decimal strings with the format's decimal separator. A cell holds an IEEE double; Excel itself
 *   shows and keeps at most 15 significant digits, so the value is rounded to 15 significant digits: 0.1+0.2 stored as
 *   0.30000000000000004 reads "0.3", 1234.56 stored as 1234.5599999999999 reads "1234.56", and an amount typed with
 *   3 decimals still reads with 3 (and is rejected for it), instead of being silently rounded to 2;
 * - shared strings, inline strings, rich text (runs joined), formula results, hyperlink texts, booleans (TRUE/FALSE),
 *   errors as written ("#N/A", which validation then rejects).
 */
import { createRequire } from "node:module";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import ExcelJS from "exceljs";
import { type Chunk, DEFAULT_CHUNK_ROWS, type SplitEvent, SplitError } from "./chunk.ts";
import { formatDate, isoDateOfUtc, DEFAULT_DATE_FORMAT } from "../validate/dates.ts";

export interface XlsxOptions {
	/** sheet name (case-insensitive); default the first visible sheet */
	sheet?: string;
	/** data rows per chunk (default 5,000) */
	chunkRows?: number;
	/** data rows allowed (default 1,048,576, Excel's own limit) */
	maxRows?: number;
	/** uncompressed bytes read from the zip, all entries together (default 512 MiB) */
	maxUncompressedBytes?: number;
	/** how date cells are written (the client format's dateFormat; default YYYY-MM-DD) */
	dateFormat?: string;
	/** how numbers are written (the client format's decimalSeparator; default ".") */
	decimalSeparator?: "." | ",";
	/** where to spool sheets that come before their shared strings (default os.tmpdir()) */
	tmpDir?: string;
}

export interface XlsxRow {
	/** the sheet row number (1-based) */
	number: number;
	cells: string[];
}

// --- the parts of exceljs and unzipper used here (internal APIs of exceljs 4.4, pinned in package.json) ---
interface ZipEntry extends Readable {
	path: string;
	type: "File" | "Directory";
	vars: { uncompressedSize: number; compressedSize: number };
	autodrain(): { promise(): Promise<void> };
}
interface CellLike {
	value: unknown;
	numFmt?: string;
}
interface RowLike {
	number: number;
	eachCell(opt: { includeEmpty: boolean }, fn: (cell: CellLike, col: number) => void): void;
}
interface SheetReader {
	name?: string;
	[Symbol.asyncIterator](): AsyncIterator<RowLike>;
}
interface ReaderInternals {
	model?: { sheets?: { id: number; name: string; rId: string; state?: string }[] };
	workbookRels?: { Id: string; Target: string }[];
	sharedStrings?: unknown[];
	_parseRels(entry: Readable): Promise<void>;
	_parseWorkbook(entry: Readable): Promise<void>;
	_parseSharedStrings(entry: Readable): AsyncIterable<unknown>;
	_parseStyles(entry: Readable): Promise<void>;
	_parseWorksheet(iterator: Readable, sheetNo: string): Iterable<{ eventType: string; value: SheetReader }>;
}
const requireFromExcel = createRequire(createRequire(import.meta.url).resolve("exceljs"));
const unzipper = requireFromExcel("unzipper") as { Parse(opts: { forceStream: boolean }): NodeJS.ReadWriteStream & AsyncIterable<ZipEntry> & { destroy(err?: Error): void } };

export class XlsxError extends SplitError {
	constructor(code: string, message: string) {
		super(code, message);
		this.name = "XlsxError";
	}
}

const SHEET_ENTRY = /^xl\/worksheets\/sheet(\d+)\.xml$/;

/** Formats a double as Excel would show it with 15 significant digits, in plain (non-exponent) notation. */
export function numberToDecimalString(x: number, decimalSeparator: "." | "," = "."): string {
	if (!Number.isFinite(x)) return String(x);
	if (x === 0) return "0";
	const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(x.toExponential(14));
	if (!m) return String(x);
	const sign = m[1];
	const digits = (m[2] + (m[3] ?? "")).replace(/0+$/, "") || "0";
	const exp = Number(m[4]);
	let int: string;
	let frac: string;
	if (exp >= 0) {
		int = digits.length > exp + 1 ? digits.slice(0, exp + 1) : digits + "0".repeat(exp + 1 - digits.length);
		frac = digits.length > exp + 1 ? digits.slice(exp + 1) : "";
	} else {
		int = "0";
		frac = "0".repeat(-exp - 1) + digits;
	}
	return `${sign}${int}${frac ? decimalSeparator + frac : ""}`;
}

function cellText(value: unknown, opts: Required<Pick<XlsxOptions, "dateFormat" | "decimalSeparator">>): string {
	if (value === null || value === undefined) return "";
	if (typeof value === "string") return value;
	if (typeof value === "number") return numberToDecimalString(value, opts.decimalSeparator);
	if (typeof value === "boolean") return value ? "TRUE" : "FALSE";
	if (value instanceof Date) return Number.isNaN(value.getTime()) ? "" : formatDate(isoDateOfUtc(value), opts.dateFormat);
	if (typeof value === "object") {
		const v = value as Record<string, unknown>;
		if (Array.isArray(v.richText)) return (v.richText as { text?: string }[]).map((r) => r.text ?? "").join("");
		if ("formula" in v || "sharedFormula" in v) return cellText(v.result, opts);
		if ("hyperlink" in v) return cellText(v.text, opts);
		if ("error" in v) return String(v.error);
		if ("text" in v) return cellText(v.text, opts);
	}
	return String(value);
}

/** RFC 4180 field: quoted when it holds a comma, quote or line break. */
export function csvField(s: string): string {
	return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Reads the rows of one sheet (non-empty rows only), streaming. Throws XlsxError. */
export async function* readXlsxRows(input: Readable, options: XlsxOptions = {}): AsyncGenerator<XlsxRow> {
	const maxBytes = options.maxUncompressedBytes ?? 512 * 1024 * 1024;
	const fmt = { dateFormat: options.dateFormat ?? DEFAULT_DATE_FORMAT, decimalSeparator: options.decimalSeparator ?? "." } as const;
	const reader = new ExcelJS.stream.xlsx.WorkbookReader(input, { sharedStrings: "cache", styles: "cache", hyperlinks: "ignore", worksheets: "emit", entries: "ignore" });
	const wb = reader as unknown as ReaderInternals;
	let inflated = 0;
	let tmp: string | undefined;
	const spooled = new Map<string, string>();
	const seen = { workbook: false, rels: false, styles: false, strings: false };

	const counted = (entry: ZipEntry): Readable => {
		const counter = new Transform({
			transform(chunk: Buffer, _enc, cb) {
				inflated += chunk.length;
				if (inflated > maxBytes) cb(tooLarge());
				else cb(null, chunk);
			}
		});
		entry.on("error", (err: Error) => counter.destroy(err));
		return entry.pipe(counter);
	};
	const tooLarge = (): XlsxError => new XlsxError("xlsx_too_large", `the workbook uncompresses to more than ${maxBytes} bytes; split it into smaller files or upload CSV`);

	const sheetNames = (): { no: string; name: string; hidden: boolean }[] => {
		const out: { no: string; name: string; hidden: boolean }[] = [];
		for (const s of wb.model?.sheets ?? []) {
			const rel = (wb.workbookRels ?? []).find((r) => r.Id === s.rId);
			const m = rel && /worksheets\/sheet(\d+)\.xml$/.exec(rel.Target);
			if (m) out.push({ no: m[1], name: s.name, hidden: s.state === "hidden" || s.state === "veryHidden" });
		}
		return out;
	};
	/** The chosen sheet's number, or undefined when the workbook part has not been read yet. */
	const chosen = (): string | undefined => {
		if (!seen.workbook || !seen.rels) return undefined;
		const sheets = sheetNames();
		if (options.sheet === undefined) return (sheets.find((s) => !s.hidden) ?? sheets[0])?.no ?? "";
		const want = options.sheet;
		return (sheets.find((s) => s.name === want) ?? sheets.find((s) => s.name.toLowerCase() === want.toLowerCase()))?.no ?? "";
	};

	async function* rowsOf(stream: Readable, sheetNo: string): AsyncGenerator<XlsxRow> {
		const events = [...wb._parseWorksheet(stream, sheetNo)];
		const sheet = events.find((e) => e.eventType === "worksheet")?.value;
		if (!sheet) return;
		for await (const row of sheet as AsyncIterable<RowLike>) {
			const cells: string[] = [];
			row.eachCell({ includeEmpty: false }, (cell, col) => {
				while (cells.length < col - 1) cells.push("");
				cells[col - 1] = cellText(cell.value, fmt);
			});
			if (cells.some((c) => c.trim() !== "")) yield { number: row.number, cells };
		}
	}

	const zip = unzipper.Parse({ forceStream: true });
	input.on("error", (err) => zip.destroy(err));
	input.pipe(zip);
	try {
		try {
			for await (const entry of zip) {
				const size = entry.vars?.uncompressedSize ?? 0;
				if (size > 0 && inflated + size > maxBytes) throw tooLarge();
				const p = entry.path;
				if (p === "xl/workbook.xml") {
					await wb._parseWorkbook(counted(entry));
					seen.workbook = true;
				} else if (p === "xl/_rels/workbook.xml.rels") {
					await wb._parseRels(counted(entry));
					seen.rels = true;
				} else if (p === "xl/sharedStrings.xml") {
					for await (const _ of wb._parseSharedStrings(counted(entry))) void _;
					seen.strings = true;
				} else if (p === "xl/styles.xml") {
					await wb._parseStyles(counted(entry));
					seen.styles = true;
				} else if (SHEET_ENTRY.test(p)) {
					const no = (SHEET_ENTRY.exec(p) as RegExpExecArray)[1];
					const pick = chosen();
					if (pick !== undefined && pick !== no) {
						await entry.autodrain().promise();
					} else if (pick === no && seen.strings && seen.styles) {
						yield* rowsOf(counted(entry), no);
					} else {
						tmp ??= await mkdtemp(path.join(options.tmpDir ?? os.tmpdir(), "paperwork-xlsx-"));
						const file = path.join(tmp, `sheet${no}.xml`);
						await pipeline(counted(entry), createWriteStream(file));
						spooled.set(no, file);
					}
				} else {
					await entry.autodrain().promise();
				}
			}
		} catch (err) {
			if (err instanceof XlsxError) throw err;
			throw new XlsxError("xlsx_invalid", `the file is not a readable XLSX workbook: ${err instanceof Error ? err.message : String(err)}`);
		}
		if (!seen.workbook) throw new XlsxError("xlsx_invalid", "the file is not an XLSX workbook (it has no xl/workbook.xml)");
		const pick = chosen();
		if (!pick) {
			const names = sheetNames().map((s) => `'${s.name}'`).join(", ");
			throw new XlsxError("xlsx_sheet_not_found", options.sheet === undefined ? "the workbook has no sheet" : `the workbook has no sheet '${options.sheet}'; its sheets are ${names}`);
		}
		const file = spooled.get(pick);
		if (file) yield* rowsOf(createReadStream(file), pick);
	} finally {
		input.unpipe(zip);
		zip.destroy();
		if (!input.destroyed) input.destroy();
		if (tmp) await rm(tmp, { recursive: true, force: true });
	}
}

/** Reads a sheet into the splitter's events: header (CSV, ","), chunks with sheet row numbers as lines, end. */
export async function* splitXlsx(input: Readable, options: XlsxOptions = {}): AsyncGenerator<SplitEvent> {
	const chunkRows = options.chunkRows ?? DEFAULT_CHUNK_ROWS;
	const maxRows = options.maxRows ?? 1_048_576;
	let header: string[] | null = null;
	let lines: number[] = [];
	let text: string[] = [];
	let index = 0;
	let total = 0;
	let lastRow = 0;
	const flush = (): SplitEvent => {
		const t = text.join("\n") + "\n";
		const chunk: Chunk = { index: index++, firstLine: lines[0], rows: lines.length, bytes: Buffer.byteLength(t, "utf8"), text: t, lines };
		lines = [];
		text = [];
		return { type: "chunk", chunk };
	};
	for await (const row of readXlsxRows(input, options)) {
		lastRow = row.number;
		if (header === null) {
			header = row.cells;
			yield { type: "header", text: header.map(csvField).join(","), line: row.number, delimiter: "," };
			continue;
		}
		if (++total > maxRows) throw new XlsxError("too_many_rows", `the sheet has more than ${maxRows} data rows`);
		const cells = row.cells.length < header.length ? [...row.cells, ...Array<string>(header.length - row.cells.length).fill("")] : row.cells;
		text.push(cells.map(csvField).join(","));
		lines.push(row.number);
		if (lines.length === chunkRows) yield flush();
	}
	if (lines.length > 0) yield flush();
	yield { type: "end", totalRows: total, totalLines: lastRow, chunks: index, bytesRead: 0 };
}

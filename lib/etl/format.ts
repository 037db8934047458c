/**
 * Client formats: how one client's files map onto a record kind (delimiter, encoding, their column names, date and
 * number conventions, XLSX sheet, optional transform module). validateFormat() checks an untrusted definition (the
 * clients API answers 400 with its errors); planColumns() maps a file's header row onto canonical fields and says
 * which columns are unknown (ignored) and which required ones are missing (the file fails at once).
 */
import { fieldNames, isKind, KIND_NAMES, requiredFields, type Kind } from "../records/index.ts";
import { dateFormatProblem, DEFAULT_DATE_FORMAT } from "../validate/dates.ts";
import type { NumberStyle } from "../validate/decimal.ts";

export const ENCODINGS = ["utf-8", "latin1", "windows-1252"] as const;
export type Encoding = (typeof ENCODINGS)[number];
export const DELIMITERS = [",", ";", "\t", "|"] as const;
export const DECIMAL_SEPARATORS = [".", ","] as const;
export const THOUSANDS_SEPARATORS = ["", ",", ".", " ", "'"] as const;
export const TRANSFORM_NAME = /^[a-z0-9-]+$/;

export interface ClientFormat {
	kind: Kind;
	/** field delimiter of CSV files (XLSX chunks always use ",") */
	delimiter: (typeof DELIMITERS)[number];
	encoding: Encoding;
	/** their header -> canonical field (or, with a transform, an extra field the transform reads) */
	columns: Record<string, string>;
	dateFormat: string;
	decimalSeparator: (typeof DECIMAL_SEPARATORS)[number];
	thousandsSeparator: (typeof THOUSANDS_SEPARATORS)[number];
	/** XLSX: the sheet to read (default: the first) */
	sheet?: string;
	/** name of a module config/formats/<name>.ts applied to every row before validation */
	transform?: string;
}

export interface FormatError {
	/** the bad property, dotted: "delimiter", "columns.CPF" */
	property: string;
	message: string;
}

export type FormatResult = { ok: true; format: ClientFormat } | { ok: false; errors: FormatError[] };

const PROPERTIES = ["kind", "delimiter", "encoding", "columns", "dateFormat", "decimalSeparator", "thousandsSeparator", "sheet", "transform"];
const EXTRA_FIELD = /^[a-z][a-z0-9_]{0,63}$/;

/** The default format of a kind: UTF-8, comma, canonical header, ISO dates, "1234.56". */
export function defaultFormat(kind: Kind): ClientFormat {
	return {
		kind,
		delimiter: ",",
		encoding: "utf-8",
		columns: Object.fromEntries(fieldNames(kind).map((f) => [f, f])),
		dateFormat: DEFAULT_DATE_FORMAT,
		decimalSeparator: ".",
		thousandsSeparator: ""
	};
}

export function numberStyle(format: Pick<ClientFormat, "decimalSeparator" | "thousandsSeparator">): NumberStyle {
	return { decimalSeparator: format.decimalSeparator, thousandsSeparator: format.thousandsSeparator };
}

const list = (xs: readonly string[]): string => xs.map((x) => JSON.stringify(x)).join(", ");

function isPlainObject(v: unknown): v is Record<string, unknown> {
	return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Normalises a header cell: BOM stripped, trimmed. */
export function cleanHeader(cell: string): string {
	return cell.replace(/^\uFEFF/, "").trim();
}

/** Checks an untrusted format definition; missing properties take the kind's defaults. */
export function validateFormat(input: unknown): FormatResult {
	const errors: FormatError[] = [];
	if (!isPlainObject(input)) return { ok: false, errors: [{ property: "", message: "format must be a JSON object" }] };
	for (const key of Object.keys(input)) {
		if (!PROPERTIES.includes(key)) errors.push({ property: key, message: `unknown property; allowed: ${PROPERTIES.join(", ")}` });
	}
	const kind = input.kind;
	if (!isKind(kind)) {
		errors.push({ property: "kind", message: `must be one of ${list(KIND_NAMES)}` });
		return { ok: false, errors };
	}
	const format = defaultFormat(kind);
	const pick = <T extends string>(prop: keyof ClientFormat, allowed: readonly T[]): T | undefined => {
		const v = input[prop];
		if (v === undefined) return undefined;
		if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
			errors.push({ property: prop, message: `must be one of ${list(allowed)}` });
			return undefined;
		}
		return v as T;
	};
	format.delimiter = pick("delimiter", DELIMITERS) ?? format.delimiter;
	const enc = typeof input.encoding === "string" ? input.encoding.toLowerCase().replace(/^utf8$/, "utf-8") : input.encoding;
	if (enc !== undefined) {
		if (typeof enc === "string" && (ENCODINGS as readonly string[]).includes(enc)) format.encoding = enc as Encoding;
		else errors.push({ property: "encoding", message: `must be one of ${list(ENCODINGS)}` });
	}
	format.decimalSeparator = pick("decimalSeparator", DECIMAL_SEPARATORS) ?? format.decimalSeparator;
	format.thousandsSeparator = pick("thousandsSeparator", THOUSANDS_SEPARATORS) ?? format.thousandsSeparator;
	if (format.thousandsSeparator !== "" && format.thousandsSeparator === format.decimalSeparator) {
		errors.push({ property: "thousandsSeparator", message: "must differ from decimalSeparator" });
	}
	if (input.dateFormat !== undefined) {
		const problem = typeof input.dateFormat === "string" ? dateFormatProblem(input.dateFormat) : "must be a string like 'DD/MM/YYYY'";
		if (problem) errors.push({ property: "dateFormat", message: problem });
		else format.dateFormat = input.dateFormat as string;
	}
	if (input.sheet !== undefined) {
		if (typeof input.sheet !== "string" || input.sheet.trim() === "" || input.sheet.length > 31) {
			errors.push({ property: "sheet", message: "must be a sheet name (1-31 characters)" });
		} else format.sheet = input.sheet;
	}
	if (input.transform !== undefined) {
		if (typeof input.transform !== "string" || !TRANSFORM_NAME.test(input.transform) || input.transform.length > 64) {
			errors.push({ property: "transform", message: "must be the name of a module in config/formats (lower-case letters, digits and '-')" });
		} else format.transform = input.transform;
	}
	if (input.columns !== undefined) {
		if (!isPlainObject(input.columns) || Object.keys(input.columns).length === 0) {
			errors.push({ property: "columns", message: "must be a non-empty object mapping your header names to fields, e.g. {\"CPF\": \"debtor_cpf\"}" });
		} else {
			const canonical = fieldNames(kind);
			const columns: Record<string, string> = {};
			for (const [header, target] of Object.entries(input.columns)) {
				const h = cleanHeader(header);
				const prop = `columns.${header}`;
				if (h === "" || h.length > 200) errors.push({ property: prop, message: "header names must be 1-200 characters" });
				else if (typeof target !== "string") errors.push({ property: prop, message: "must be a field name (a string)" });
				else if (canonical.includes(target) || (format.transform !== undefined && EXTRA_FIELD.test(target))) columns[h] = target;
				else {
					const extra = input.transform !== undefined ? " or, for the transform, a lower_snake_case name" : "";
					errors.push({ property: prop, message: `'${target}' is not a ${kind} field; use one of ${canonical.join(", ")}${extra}` });
				}
			}
			format.columns = columns;
		}
	}
	return errors.length > 0 ? { ok: false, errors } : { ok: true, format };
}

/** What a transform module declares about columns (see lib/etl/transforms.ts). */
export interface TransformColumns {
	/** canonical fields the transform fills, so their columns need not be in the file */
	provides?: readonly string[];
	/** extra fields (from `columns`) the transform needs in the file */
	requires?: readonly string[];
}

export interface ColumnPlan {
	/** per header index: the field it feeds, or null (ignored) */
	fields: (string | null)[];
	/** header cells that match nothing (ignored; report once per batch) */
	unknown: string[];
	/** required fields with no column (the file fails, naming them) */
	missing: string[];
	/** fields fed by more than one column (the file fails: which one to use is unclear) */
	duplicates: { field: string; columns: string[] }[];
	/** true when missing and duplicates are both empty */
	ok: boolean;
}

/**
 * Maps a header row onto fields. A cell matches (in this order) a `columns` key exactly, a `columns` key ignoring
 * case, a canonical field name exactly, a canonical field name ignoring case; cells are compared BOM-stripped and
 * trimmed.
 */
export function planColumns(format: ClientFormat, header: readonly string[], transform: TransformColumns = {}): ColumnPlan {
	const exact = new Map<string, string>();
	const folded = new Map<string, string>();
	for (const [h, f] of Object.entries(format.columns)) {
		exact.set(cleanHeader(h), f);
		if (!folded.has(cleanHeader(h).toLowerCase())) folded.set(cleanHeader(h).toLowerCase(), f);
	}
	const canonical = fieldNames(format.kind);
	const fields: (string | null)[] = [];
	const unknown: string[] = [];
	const byField = new Map<string, string[]>();
	header.forEach((cell) => {
		const h = cleanHeader(cell);
		const lower = h.toLowerCase();
		const f = exact.get(h) ?? folded.get(lower) ?? (canonical.includes(h) ? h : canonical.find((c) => c === lower)) ?? null;
		fields.push(f);
		if (f === null) {
			if (h !== "") unknown.push(h);
		} else {
			byField.set(f, [...(byField.get(f) ?? []), h]);
		}
	});
	const provided = new Set(transform.provides ?? []);
	const needed = [...requiredFields(format.kind).filter((f) => !provided.has(f)), ...(transform.requires ?? [])];
	const missing = needed.filter((f) => !byField.has(f));
	const duplicates = [...byField].filter(([, cols]) => cols.length > 1).map(([field, columns]) => ({ field, columns }));
	return { fields, unknown, missing, duplicates, ok: missing.length === 0 && duplicates.length === 0 };
}

/** A message for a plan that is not ok, naming the columns (for the batch failure report). */
export function planProblem(format: ClientFormat, plan: ColumnPlan): string | null {
	if (plan.ok) return null;
	const parts: string[] = [];
	if (plan.missing.length > 0) {
		const theirs = plan.missing.map((f) => {
			const names = Object.entries(format.columns).filter(([, t]) => t === f).map(([h]) => h);
			return names.length > 0 && !names.includes(f) ? `${f} (column ${names.map((n) => `'${n}'`).join(" or ")})` : f;
		});
		parts.push(`missing required column${plan.missing.length > 1 ? "s" : ""}: ${theirs.join(", ")}`);
	}
	for (const d of plan.duplicates) parts.push(`columns ${d.columns.map((c) => `'${c}'`).join(" and ")} both map to ${d.field}`);
	return `the header does not fit the ${format.kind} format: ${parts.join("; ")}`;
}

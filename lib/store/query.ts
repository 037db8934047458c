/**
 * Translates the store's Mongo-style query subset, sorts and updates into SQLite SQL over a table
 * `(_id TEXT PRIMARY KEY, doc TEXT)` holding each document as JSON. Values always travel as bound
 * parameters; field paths are validated and written as JSON-path literals so that the expressions match
 * the expression indexes declared with `ensureIndexes` (SQLite only uses an expression index when the
 * query repeats its exact expression).
 *
 * Semantics worth knowing (they follow MongoDB where it is cheap to do so):
 * - `{a: null}` matches a null or missing `a`; `$ne`/`$nin` match missing fields too; `$exists` tells
 *   missing from null.
 * - booleans are compared as 1/0 (SQLite's JSON functions turn true/false into 1/0).
 * - Dates are compared as their ISO strings, which order like the dates themselves.
 * - equality on an array field does not look inside the array (no MongoDB "array contains" matching).
 */
import type { Query, Update } from "./types.ts";
import { normaliseUpdate, parseSearchFields, parseSort } from "./docs.ts";

export type SqlValue = null | number | bigint | string | Uint8Array;

export interface Sql {
	sql: string;
	params: SqlValue[];
}

const SEGMENT = /^[A-Za-z0-9_$-]+$/;
const PLAIN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The segments of a dotted field ("a.b.0" -> ["a", "b", "0"]); throws on characters we do not accept in names. */
export function fieldSegments(field: string): string[] {
	const segs = field.split(".");
	for (const seg of segs) {
		if (!SEGMENT.test(seg)) throw new Error(`invalid field name '${field}' (letters, digits, _ $ - and dots only)`);
	}
	return segs;
}

/** Paths already built: every statement names its fields again (a few hundred distinct names in a process). */
const PATHS = new Map<string, string>();

/** The JSON path of a dotted field ("a.b.0" -> "$.a.b[0]"); throws on characters we do not accept in names. */
export function jsonPath(field: string): string {
	let path = PATHS.get(field);
	if (path === undefined) {
		path = buildJsonPath(field);
		if (PATHS.size >= 10_000) PATHS.clear();
		PATHS.set(field, path);
	}
	return path;
}

function buildJsonPath(field: string): string {
	let out = "$";
	for (const seg of fieldSegments(field)) {
		if (/^\d+$/.test(seg)) out += `[${seg}]`;
		else if (PLAIN.test(seg)) out += `.${seg}`;
		else out += `."${seg}"`;
	}
	return out;
}

/** The SQL expression reading a field: the `_id` column, or json_extract with a literal path. */
export function fieldExpr(field: string): string {
	return field === "_id" ? "_id" : `json_extract(doc, '${jsonPath(field)}')`;
}

/** A JS value as a bound SQLite parameter (booleans as 1/0, Dates as ISO strings, objects as JSON text). */
export function bindValue(v: unknown): SqlValue {
	if (v === null || v === undefined) return null;
	switch (typeof v) {
		case "string":
		case "number":
		case "bigint":
			return v;
		case "boolean":
			return v ? 1 : 0;
		default:
			if (v instanceof Date) return v.toISOString();
			return JSON.stringify(v);
	}
}

/** True for a plain object (not an array, Date or class instance). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
	if (v === null || typeof v !== "object" || Array.isArray(v) || v instanceof Date) return false;
	const proto = Object.getPrototypeOf(v);
	return proto === Object.prototype || proto === null;
}

/** True for an object whose keys are all query operators (`{ $gt: 1 }`). */
export function isOperatorObject(v: unknown): v is Record<string, unknown> {
	if (!isPlainObject(v)) return false;
	const keys = Object.keys(v);
	return keys.length > 0 && keys.every((k) => k.startsWith("$"));
}

function inList(expr: string, values: unknown, negate: boolean, params: SqlValue[]): string {
	if (!Array.isArray(values)) throw new Error(`${negate ? "$nin" : "$in"} needs an array`);
	const hasNull = values.some((v) => v === null || v === undefined);
	const rest = values.filter((v) => v !== null && v !== undefined);
	const marks = rest.map((v) => {
		params.push(bindValue(v));
		return "?";
	});
	if (!negate) {
		const parts: string[] = [];
		if (marks.length) parts.push(`${expr} IN (${marks.join(", ")})`);
		if (hasNull) parts.push(`${expr} IS NULL`);
		return parts.length ? `(${parts.join(" OR ")})` : "0";
	}
	if (hasNull) return marks.length ? `(${expr} IS NOT NULL AND ${expr} NOT IN (${marks.join(", ")}))` : `${expr} IS NOT NULL`;
	return marks.length ? `(${expr} IS NULL OR ${expr} NOT IN (${marks.join(", ")}))` : "1";
}

function equality(field: string, expr: string, value: unknown, params: SqlValue[]): string {
	if (value === null || value === undefined) return `${expr} IS NULL`;
	if (isPlainObject(value) || Array.isArray(value)) {
		// a whole sub-document or array: compare its minified JSON (key order matters, as in MongoDB)
		params.push(JSON.stringify(value));
		return `${field === "_id" ? expr : `json_extract(doc, '${jsonPath(field)}')`} = json(?)`;
	}
	params.push(bindValue(value));
	return `${expr} = ?`;
}

function operators(field: string, ops: Record<string, unknown>, params: SqlValue[]): string {
	const expr = fieldExpr(field);
	const parts: string[] = [];
	for (const [op, value] of Object.entries(ops)) {
		switch (op) {
			case "$eq":
				parts.push(equality(field, expr, value, params));
				break;
			case "$ne":
				if (value === null || value === undefined) parts.push(`${expr} IS NOT NULL`);
				else {
					params.push(bindValue(value));
					parts.push(`${expr} IS NOT ?`);
				}
				break;
			case "$in":
				parts.push(inList(expr, value, false, params));
				break;
			case "$nin":
				parts.push(inList(expr, value, true, params));
				break;
			case "$gt":
			case "$gte":
			case "$lt":
			case "$lte": {
				const sqlOp = { $gt: ">", $gte: ">=", $lt: "<", $lte: "<=" }[op];
				params.push(bindValue(value));
				parts.push(`${expr} ${sqlOp} ?`);
				break;
			}
			case "$exists":
				if (field === "_id") parts.push(value ? "1" : "0");
				else parts.push(`json_type(doc, '${jsonPath(field)}') IS ${value ? "NOT NULL" : "NULL"}`);
				break;
			default:
				throw new Error(`unsupported query operator '${op}' on '${field}' (supported: $eq $ne $in $nin $gt $gte $lt $lte $exists)`);
		}
	}
	return parts.length === 1 ? parts[0] : `(${parts.join(" AND ")})`;
}

/**
 * The WHERE condition for `query` in either SQL dialect: $and, $or and $nor are combined here, each field's own
 * condition comes from `field` (which appends its values to `params`); `empty` is the dialect's "true".
 */
export function whereOf<P>(query: Query | undefined, params: P, empty: string, field: (key: string, value: unknown, params: P) => string): string {
	if (!query) return empty;
	const parts: string[] = [];
	for (const [key, value] of Object.entries(query)) {
		if (value === undefined) continue;
		if (key === "$and" || key === "$or" || key === "$nor") {
			if (!Array.isArray(value) || value.length === 0) throw new Error(`${key} needs a non-empty array of queries`);
			const subs = value.map((q: Query) => whereOf(q, params, empty, field));
			if (key === "$and") parts.push(`(${subs.join(" AND ")})`);
			else if (key === "$or") parts.push(`(${subs.join(" OR ")})`);
			else parts.push(`NOT (${subs.join(" OR ")})`);
		} else if (key.startsWith("$")) {
			throw new Error(`unsupported top-level query operator '${key}' (supported: $and $or $nor)`);
		} else {
			parts.push(field(key, value, params));
		}
	}
	return parts.length === 0 ? empty : parts.join(" AND ");
}

/** Appends the SQLite WHERE condition for `query` to `params` and returns it ("1" for an empty query). */
export function whereClause(query: Query | undefined, params: SqlValue[]): string {
	return whereOf(query, params, "1", (key, value, p) => (isOperatorObject(value) ? operators(key, value, p) : equality(key, fieldExpr(key), value, p)));
}

/**
 * The condition for moleculer-db's `search`: a case-insensitive substring of any search field
 * (of any top-level value when no fields are given). Uses the `pw_lower` SQL function (Unicode lower-case)
 * that the SQLite store registers.
 */
export function searchClause(search: string | undefined, searchFields: string | string[] | undefined, params: SqlValue[]): string {
	if (typeof search !== "string" || search === "") return "1";
	const needle = search.toLowerCase();
	const fields = parseSearchFields(searchFields);
	if (fields.length === 0) {
		params.push(needle, needle);
		return "(instr(pw_lower(_id), ?) > 0 OR EXISTS (SELECT 1 FROM json_each(doc) WHERE json_each.type NOT IN ('object', 'array') AND instr(pw_lower(json_each.value), ?) > 0))";
	}
	const parts = fields.map((f) => {
		params.push(needle);
		return `instr(pw_lower(${fieldExpr(f)}), ?) > 0`;
	});
	return `(${parts.join(" OR ")})`;
}

/** ORDER BY for a moleculer-db sort ("" when none). */
export function orderBy(sort: string | string[] | undefined): string {
	const pairs = parseSort(sort);
	if (pairs.length === 0) return "";
	return ` ORDER BY ${pairs.map(([f, d]) => `${fieldExpr(f)} ${d === -1 ? "DESC" : "ASC"}`).join(", ")}`;
}

/** LIMIT/OFFSET with bound values ("" when neither is set). */
export function limitOffset(limit: number | null | undefined, offset: number | null | undefined, params: SqlValue[]): string {
	const hasLimit = typeof limit === "number" && limit > 0;
	const hasOffset = typeof offset === "number" && offset > 0;
	if (!hasLimit && !hasOffset) return "";
	params.push(hasLimit ? Math.floor(limit) : -1);
	if (!hasOffset) return " LIMIT ?";
	params.push(Math.floor(offset));
	return " LIMIT ? OFFSET ?";
}

/**
 * The SQL expression computing a document's new JSON from an update ($set, $inc, $unset on dotted paths),
 * e.g. `json_remove(json_set(doc, '$.a', json(?), '$.n', coalesce(json_extract(doc, '$.n'), 0) + ?), '$.x')`.
 * Null when the update changes nothing.
 */
export function updateExpr(update: Update | Record<string, unknown>, params: SqlValue[]): string | null {
	const u = normaliseUpdate(update);
	const pairs: string[] = [];
	for (const [field, value] of Object.entries(u.$set)) {
		if (value === undefined) continue;
		params.push(JSON.stringify(value));
		pairs.push(`'${jsonPath(field)}', json(?)`);
	}
	for (const [field, value] of Object.entries(u.$inc)) {
		if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`$inc of '${field}' needs a finite number`);
		if (field === "_id") throw new Error("$inc cannot change _id");
		params.push(value);
		pairs.push(`'${jsonPath(field)}', coalesce(json_extract(doc, '${jsonPath(field)}'), 0) + ?`);
	}
	let expr = pairs.length ? `json_set(doc, ${pairs.join(", ")})` : "doc";
	const removed = Object.keys(u.$unset).filter((f) => f !== "_id");
	if (removed.length) expr = `json_remove(${expr}, ${removed.map((f) => `'${jsonPath(f)}'`).join(", ")})`;
	return expr === "doc" ? null : expr;
}

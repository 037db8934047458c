/**
 * Translates the store's Mongo-style query subset, sorts and updates into PostgreSQL SQL over a table
 * `(_id TEXT PRIMARY KEY, doc JSONB)`. The semantics are those of the SQLite translator (query.ts), which this
 * module shares its field-name checks and operator parsing with:
 * - a field reads as `(doc #> '{a,b}')` (a JSONB value, SQL NULL when missing), the exact expression the indexes
 *   declared with ensureIndexes are built on, so the planner uses them;
 * - values travel as bound JSONB parameters (`$1::jsonb`), compared as JSONB: numbers numerically, strings by
 *   the database collation, Dates as their ISO strings (which order like the dates);
 * - `{a: null}` matches a JSON null or a missing `a`; `$ne`/`$nin` match missing fields too; `$exists` tells
 *   missing from null; range operators only match values of the bound value's JSON type (as MongoDB brackets
 *   types), so `{n: {$gt: 2}}` never matches a string or `true`.
 * - sorts put missing values first when ascending (as SQLite and MongoDB do).
 */
import type { Query, Update } from "./types.ts";
import { normaliseUpdate, parseSearchFields, parseSort } from "./docs.ts";
import { fieldSegments, isOperatorObject, whereOf } from "./query.ts";

/** Parameters of one statement; `$n` placeholders index into it. */
export type PgParams = unknown[];

/** `'{a,b}'`: the text[] literal of a dotted field (segments are already restricted to safe characters). */
export function pgPath(field: string): string {
	return `'{${fieldSegments(field).join(",")}}'`;
}

/** The SQL expression reading a field as JSONB (`_id` as to_jsonb of the column). */
export function pgField(field: string): string {
	return field === "_id" ? "to_jsonb(_id)" : `(doc #> ${pgPath(field)})`;
}

/** Adds a value as a JSONB parameter and returns its placeholder (`$3::jsonb`). */
function jsonParam(value: unknown, params: PgParams): string {
	params.push(JSON.stringify(value === undefined ? null : value));
	return `$${params.length}::jsonb`;
}

function textParam(value: string, params: PgParams): string {
	params.push(value);
	return `$${params.length}`;
}

/** `_id` compared as text (so the primary key serves), any other field as JSONB. */
function eq(field: string, value: unknown, params: PgParams): string {
	if (value === null || value === undefined) return field === "_id" ? "FALSE" : `(${pgField(field)} IS NULL OR ${pgField(field)} = 'null'::jsonb)`;
	if (field === "_id" && typeof value === "string") return `_id = ${textParam(value, params)}`;
	return `${pgField(field)} = ${jsonParam(value, params)}`;
}

function inList(field: string, values: unknown, negate: boolean, params: PgParams): string {
	if (!Array.isArray(values)) throw new Error(`${negate ? "$nin" : "$in"} needs an array`);
	const expr = pgField(field);
	const hasNull = values.some((v) => v === null || v === undefined);
	const rest = values.filter((v) => v !== null && v !== undefined);
	const list = rest.length ? `${expr} = ANY(ARRAY(SELECT jsonb_array_elements(${jsonParam(rest, params)})))` : "";
	const isNull = `(${expr} IS NULL OR ${expr} = 'null'::jsonb)`;
	if (!negate) {
		const parts = [list, hasNull ? isNull : ""].filter(Boolean);
		return parts.length ? `(${parts.join(" OR ")})` : "FALSE";
	}
	if (hasNull) return list ? `(NOT ${isNull} AND NOT ${list})` : `NOT ${isNull}`;
	return list ? `(${expr} IS NULL OR NOT ${list})` : "TRUE";
}

function operators(field: string, ops: Record<string, unknown>, params: PgParams): string {
	const expr = pgField(field);
	const parts: string[] = [];
	for (const [op, value] of Object.entries(ops)) {
		switch (op) {
			case "$eq":
				parts.push(eq(field, value, params));
				break;
			case "$ne":
				parts.push(value === null || value === undefined ? `NOT ${eq(field, null, params)}` : `${expr} IS DISTINCT FROM ${jsonParam(value, params)}`);
				break;
			case "$in":
				parts.push(inList(field, value, false, params));
				break;
			case "$nin":
				parts.push(inList(field, value, true, params));
				break;
			case "$gt":
			case "$gte":
			case "$lt":
			case "$lte": {
				const sqlOp = { $gt: ">", $gte: ">=", $lt: "<", $lte: "<=" }[op];
				const p = jsonParam(value, params);
				parts.push(`(${expr} ${sqlOp} ${p} AND jsonb_typeof(${expr}) = jsonb_typeof(${p}))`);
				break;
			}
			case "$exists":
				parts.push(field === "_id" ? (value ? "TRUE" : "FALSE") : `${expr} IS ${value ? "NOT NULL" : "NULL"}`);
				break;
			default:
				throw new Error(`unsupported query operator '${op}' on '${field}' (supported: $eq $ne $in $nin $gt $gte $lt $lte $exists)`);
		}
	}
	return parts.length === 1 ? parts[0] : `(${parts.join(" AND ")})`;
}

/** The WHERE condition for `query`, its values appended to `params` ("TRUE" for an empty query). */
export function pgWhere(query: Query | undefined, params: PgParams): string {
	return whereOf(query, params, "TRUE", (key, value, p) => (isOperatorObject(value) ? operators(key, value, p) : eq(key, value, p)));
}

/**
 * moleculer-db's `search`: a case-insensitive (Unicode lower-case) substring of any search field, or of any
 * top-level scalar value when no fields are given.
 */
export function pgSearch(search: string | undefined, searchFields: string | string[] | undefined, params: PgParams): string {
	if (typeof search !== "string" || search === "") return "TRUE";
	const needle = textParam(search.toLowerCase(), params);
	const fields = parseSearchFields(searchFields);
	if (fields.length === 0) {
		return `EXISTS (SELECT 1 FROM jsonb_each(doc) j WHERE jsonb_typeof(j.value) NOT IN ('object', 'array') AND strpos(lower(j.value #>> '{}'), ${needle}) > 0)`;
	}
	return `(${fields.map((f) => `strpos(lower(${f === "_id" ? "_id" : `doc #>> ${pgPath(f)}`}), ${needle}) > 0`).join(" OR ")})`;
}

/** One sort or index column: ascending puts missing values first, descending last. */
export function pgOrderColumn(field: string, direction: 1 | -1): string {
	// `_id` as the column itself (never null; the primary key serves the order)
	if (field === "_id") return `_id ${direction === -1 ? "DESC" : "ASC"}`;
	return `${pgField(field)} ${direction === -1 ? "DESC NULLS LAST" : "ASC NULLS FIRST"}`;
}

/** ORDER BY for a moleculer-db sort ("" when none). */
export function pgOrderBy(sort: string | string[] | undefined): string {
	const pairs = parseSort(sort);
	return pairs.length ? ` ORDER BY ${pairs.map(([f, d]) => pgOrderColumn(f, d)).join(", ")}` : "";
}

/** LIMIT/OFFSET with bound values ("" when neither is set). */
export function pgLimit(limit: number | null | undefined, offset: number | null | undefined, params: PgParams): string {
	let out = "";
	if (typeof limit === "number" && limit > 0) {
		params.push(Math.floor(limit));
		out += ` LIMIT $${params.length}`;
	}
	if (typeof offset === "number" && offset > 0) {
		params.push(Math.floor(offset));
		out += ` OFFSET $${params.length}`;
	}
	return out;
}

/**
 * The SQL expression computing a document's new JSONB from an update ($set, $inc, $unset on dotted paths), built
 * on `pw_set` (the schema's jsonb_set that creates missing parents); null when the update changes nothing.
 */
export function pgUpdate(update: Update | Record<string, unknown>, params: PgParams): string | null {
	const u = normaliseUpdate(update);
	let expr = "doc";
	for (const [field, value] of Object.entries(u.$set)) {
		if (value === undefined) continue;
		expr = `pw_set(${expr}, ${pgPath(field)}, ${jsonParam(value, params)})`;
	}
	for (const [field, value] of Object.entries(u.$inc)) {
		if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`$inc of '${field}' needs a finite number`);
		if (field === "_id") throw new Error("$inc cannot change _id");
		params.push(value);
		expr = `pw_set(${expr}, ${pgPath(field)}, to_jsonb(coalesce((doc #> ${pgPath(field)})::numeric, 0) + $${params.length}::numeric))`;
	}
	for (const field of Object.keys(u.$unset)) {
		if (field !== "_id") expr = `(${expr} #- ${pgPath(field)})`;
	}
	return expr === "doc" ? null : expr;
}

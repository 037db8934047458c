/**
 * REST batches: rows sent as JSON objects with canonical field names become chunks in the same shape the file
 * splitter produces (CSV text under the kind's canonical header, with each record's line number given explicitly),
 * so the etl has one path whatever the source. A row's "line" is its position in the batch, counting from 1.
 */
import { csvField } from "../etl/xlsx.ts";
import { fieldNames, type Kind } from "../records/index.ts";
import { badRequest } from "../api/errors.ts";

export const MAX_ROWS_PER_CALL = 10_000;

/** Checks the body of POST /batches/:id/records; throws 400 naming the first bad row and field. */
export function checkRows(kind: Kind, rows: unknown): Record<string, unknown>[] {
	const known = new Set(fieldNames(kind));
	if (!Array.isArray(rows)) throw badRequest("the body must be a JSON array of rows (objects with field names as keys)");
	if (rows.length === 0) throw badRequest("the array of rows is empty");
	if (rows.length > MAX_ROWS_PER_CALL) throw badRequest(`at most ${MAX_ROWS_PER_CALL} rows per call, got ${rows.length}; send the rest in further calls`);
	rows.forEach((row, i) => {
		if (row === null || typeof row !== "object" || Array.isArray(row)) throw badRequest(`row ${i + 1} of this call is not an object`, [{ row: i + 1, message: "must be an object" }]);
		if (!Object.keys(row).some((k) => known.has(k))) throw badRequest(`row ${i + 1} of this call has none of the ${kind} fields (${[...known].join(", ")})`, [{ row: i + 1, message: "no known field" }]);
		for (const [field, value] of Object.entries(row)) {
			if (value !== null && typeof value === "object") throw badRequest(`row ${i + 1}, field '${field}': values must be strings, numbers or booleans`, [{ row: i + 1, field, message: "must be a string, number or boolean" }]);
		}
	});
	return rows as Record<string, unknown>[];
}

/** The canonical header line of a kind. */
export function restHeader(kind: Kind): string {
	return fieldNames(kind).join(",");
}

/** Rows -> chunk text (no header) and the line of each record; unknown fields are listed once. */
export function rowsToChunk(kind: Kind, rows: Record<string, unknown>[], firstLine: number): { text: string; lines: number[]; unknownFields: string[] } {
	const fields = fieldNames(kind);
	const known = new Set(fields);
	const unknown = new Set<string>();
	const out: string[] = [];
	for (const row of rows) {
		for (const k of Object.keys(row)) if (!known.has(k)) unknown.add(k);
		out.push(fields.map((f) => csvField(row[f] === undefined || row[f] === null ? "" : String(row[f]))).join(","));
	}
	return { text: `${out.join("\n")}\n`, lines: rows.map((_, i) => firstLine + i), unknownFields: [...unknown] };
}

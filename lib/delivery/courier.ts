/**
 * Courier sheets: an XLSX with one row per letter handed to a courier (columns loan_id or case_id, courier,
 * tracking_number, dispatched_on, optional delivered_on). Every row is checked before anything is applied: the
 * case exists and is the client's, the tracking number is there, the dates are real dates (delivered_on not before
 * dispatched_on, neither in the future), no case twice in the sheet. One bad row and nothing is applied: the answer
 * lists each bad row with its line and reason.
 */
import type { Readable } from "node:stream";
import { readXlsxRows } from "../etl/xlsx.ts";
import { caseIdOf } from "./notifier.ts";
import { isDate, LOAN_DOCUMENT } from "./runs.ts";
import type { CaseDoc } from "./types.ts";

export interface CourierRow {
	line: number;
	caseId: string;
	courier: string;
	trackingNumber: string;
	dispatchedOn: string;
	deliveredOn?: string;
}

export interface BadRow {
	line: number;
	reason: string;
}

const COLUMNS = ["loan_id", "case_id", "courier", "tracking_number", "dispatched_on", "delivered_on"] as const;

/** The sheet's rows as field maps with their line numbers; the header names the columns (case and spaces ignored). */
export async function readCourierSheet(input: Readable, options: { maxRows: number; maxUncompressedBytes: number }): Promise<{ header: string[]; rows: { line: number; fields: Record<string, string> }[] }> {
	let header: string[] | undefined;
	const rows: { line: number; fields: Record<string, string> }[] = [];
	for await (const r of readXlsxRows(input, { maxRows: options.maxRows, maxUncompressedBytes: options.maxUncompressedBytes })) {
		if (!header) {
			header = r.cells.map((c) => c.trim().toLowerCase().replace(/\s+/g, "_"));
			continue;
		}
		if (r.cells.every((c) => !c.trim())) continue;
		const fields: Record<string, string> = {};
		header.forEach((h, i) => {
			if ((COLUMNS as readonly string[]).includes(h)) fields[h] = (r.cells[i] ?? "").trim();
		});
		rows.push({ line: r.number, fields });
	}
	return { header: header ?? [], rows };
}

/**
 * Checks every row against the client's cases; `findCases` reads cases by ID. Returns the rows to apply, or the
 * bad rows (all of them), never both.
 */
export async function checkCourierRows(
	clientId: string,
	header: string[],
	rows: { line: number; fields: Record<string, string> }[],
	findCases: (ids: string[]) => Promise<CaseDoc[]>,
	today: string
): Promise<{ ok: true; rows: CourierRow[] } | { ok: false; errors: BadRow[] }> {
	const errors: BadRow[] = [];
	const missingCols = ["courier", "tracking_number", "dispatched_on"].filter((c) => !header.includes(c));
	if (!header.includes("loan_id") && !header.includes("case_id")) missingCols.unshift("loan_id or case_id");
	if (missingCols.length) return { ok: false, errors: [{ line: 1, reason: `the header lacks ${missingCols.join(", ")}` }] };
	if (rows.length === 0) return { ok: false, errors: [{ line: 1, reason: "the sheet has no data rows" }] };
	const idOf = (f: Record<string, string>) => (f.case_id ? f.case_id : f.loan_id ? caseIdOf(clientId, f.loan_id, LOAN_DOCUMENT) : "");
	const ids = [...new Set(rows.map((r) => idOf(r.fields)).filter(Boolean))];
	const cases = new Map((await findCases(ids)).filter((c) => c.clientId === clientId).map((c) => [c._id, c]));
	const seen = new Map<string, number>();
	const out: CourierRow[] = [];
	for (const { line, fields: f } of rows) {
		const reasons: string[] = [];
		const id = idOf(f);
		const ref = f.case_id ? `case ${f.case_id}` : `loan ${f.loan_id}`;
		if (!id) reasons.push("loan_id or case_id is required");
		else if (!cases.has(id)) reasons.push(`${ref} has no case of yours`);
		else if (seen.has(id)) reasons.push(`${ref} is already on line ${seen.get(id)}`);
		if (!f.courier) reasons.push("courier is required");
		if (!f.tracking_number) reasons.push("tracking_number is required");
		else if (f.tracking_number.length > 100) reasons.push("tracking_number is longer than 100 characters");
		if (!isDate(f.dispatched_on)) reasons.push(`dispatched_on ${f.dispatched_on ? `'${f.dispatched_on}' ` : ""}must be a date (YYYY-MM-DD)`);
		else if (f.dispatched_on > today) reasons.push(`dispatched_on ${f.dispatched_on} is in the future`);
		if (f.delivered_on) {
			if (!isDate(f.delivered_on)) reasons.push(`delivered_on '${f.delivered_on}' must be a date (YYYY-MM-DD)`);
			else if (f.delivered_on > today) reasons.push(`delivered_on ${f.delivered_on} is in the future`);
			else if (isDate(f.dispatched_on) && f.delivered_on < f.dispatched_on) reasons.push(`delivered_on ${f.delivered_on} is before dispatched_on ${f.dispatched_on}`);
		}
		if (id && !seen.has(id)) seen.set(id, line);
		if (reasons.length) errors.push({ line, reason: reasons.join("; ") });
		else out.push({ line, caseId: id, courier: f.courier, trackingNumber: f.tracking_number, dispatchedOn: f.dispatched_on, ...(f.delivered_on ? { deliveredOn: f.delivered_on } : {}) });
	}
	return errors.length ? { ok: false, errors } : { ok: true, rows: out };
}

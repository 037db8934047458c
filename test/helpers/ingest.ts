/**
 * Test data for ingestion: valid CPFs, debt/loan rows, CSV text, and waiting for a batch to finish over HTTP.
 */
import assert from "node:assert/strict";
import { cpfCheckDigits } from "../../lib/validate/cpf.ts";
import { http, apiKey } from "./node.ts";

/** A valid CPF (11 digits) made from a number. */
export function cpf(n: number): string {
	const nine = String(100000000 + (n % 800000000)).padStart(9, "0").slice(0, 9);
	const [d1, d2] = cpfCheckDigits(nine);
	return `${nine}${d1}${d2}`;
}

export const DEBT_HEADER = "contract_id,debtor_name,debtor_cpf,amount,due_date,email,phone";

export function debtRow(n: number, over: Partial<Record<string, string>> = {}): Record<string, string> {
	return {
		contract_id: `C${String(n).padStart(6, "0")}`,
		debtor_name: `Devedor ${n}`,
		debtor_cpf: cpf(n),
		amount: `${100 + n}.50`,
		due_date: "2025-03-15",
		email: `d${n}@example.com`,
		phone: "(11) 98765-4321",
		...over
	};
}

export function csvLine(values: string[], delimiter = ","): string {
	return values.map((v) => (/[",\r\n;]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v)).join(delimiter);
}

export function debtCsv(rows: Record<string, string>[]): string {
	const cols = DEBT_HEADER.split(",");
	return [DEBT_HEADER, ...rows.map((r) => csvLine(cols.map((c) => r[c] ?? "")))].join("\n") + "\n";
}

export interface BatchBody {
	id: string;
	status: string;
	counts: { received: number; valid: number; rejected: number; skipped: number; inserted: number; updated: number; unchanged: number };
	chunks: { total: number; done: number };
	error: { code: string; message: string } | null;
	unknownColumns?: string[];
}

/** Polls GET /batches/:id until COMPLETED or FAILED (or the time is up). */
export async function waitForBatch(base: string, key: string, id: string, timeoutMs = 60_000): Promise<BatchBody> {
	const until = Date.now() + timeoutMs;
	let last: BatchBody | undefined;
	while (Date.now() < until) {
		const res = await http<BatchBody>(`${base}/batches/${id}`, { headers: apiKey(key) });
		assert.equal(res.status, 200, JSON.stringify(res.body));
		last = res.body;
		if (last.status === "COMPLETED" || last.status === "FAILED") return last;
		await new Promise((r) => setTimeout(r, 100));
	}
	assert.fail(`batch ${id} did not finish in ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

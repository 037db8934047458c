import { test } from "node:test";
import assert from "node:assert/strict";
import { createParseContext, parseChunk, parseHeader, type ChunkResult } from "../../../lib/etl/parse-chunk.ts";
import { validateFormat, type ClientFormat } from "../../../lib/etl/format.ts";
import { splitCsv } from "../../../lib/etl/splitter.ts";
import { loadTransform, type TransformModule } from "../../../lib/etl/transforms.ts";
import type { DebtRecord } from "../../../lib/records/index.ts";
import type { Chunk } from "../../../lib/etl/chunk.ts";

const TODAY = "2024-06-15";
const HEADER = "contract_id,debtor_name,debtor_cpf,amount,due_date,email,phone";

function format(input: Record<string, unknown> = {}): ClientFormat {
	const r = validateFormat({ kind: "debt", ...input });
	assert.equal(r.ok, true, JSON.stringify(r));
	return (r as { ok: true; format: ClientFormat }).format;
}

/** Splits a whole CSV and parses every chunk (the etl's path), merging the results. */
async function run(csv: string, f: ClientFormat = format(), transform?: TransformModule, chunkRows = 5000): Promise<ChunkResult & { chunks: Chunk[] }> {
	let ctx: ReturnType<typeof createParseContext> | undefined;
	const merged: ChunkResult & { chunks: Chunk[] } = { valid: [], rejections: [], rows: 0, rejectedRows: 0, skipped: 0, chunks: [] };
	for await (const ev of splitCsv([Buffer.from(csv)], { delimiter: f.delimiter, chunkRows })) {
		if (ev.type === "header") {
			ctx = createParseContext(f, ev.text, { delimiter: ev.delimiter, today: TODAY, transform });
			assert.equal(ctx.plan.ok, true, JSON.stringify(ctx.plan));
		} else if (ev.type === "chunk") {
			assert.ok(ctx);
			merged.chunks.push(ev.chunk);
			const r = parseChunk(ev.chunk, ctx);
			merged.valid.push(...r.valid);
			merged.rejections.push(...r.rejections);
			merged.rows += r.rows;
			merged.rejectedRows += r.rejectedRows;
			merged.skipped += r.skipped;
		}
	}
	return merged;
}

test("good and bad rows give valid records and exact rejections", async () => {
	const csv = [
		HEADER,
		"C1,Maria Souza,529.982.247-25,100.5,2024-01-10,maria@example.com,(11) 98765-4321",
		"C2,,111.111.111-11,-3,2024-02-30,,",
		"C3,José,11144477735,10.999,2030-01-01,bad@,123",
		"C4,Ana,52998224725,7,2024-06-15,,"
	].join("\n");
	const r = await run(csv);
	assert.deepEqual(r.valid, [
		{ line: 2, key: "C1", record: { contract_id: "C1", debtor_name: "Maria Souza", debtor_cpf: "52998224725", amount: "100.50", due_date: "2024-01-10", email: "maria@example.com", phone: "+5511987654321" } },
		{ line: 5, key: "C4", record: { contract_id: "C4", debtor_name: "Ana", debtor_cpf: "52998224725", amount: "7.00", due_date: "2024-06-15", email: null, phone: null } }
	]);
	assert.deepEqual(r.rejections, [
		{ line: 3, field: "debtor_name", code: "required", message: "debtor_name is required but is empty or missing" },
		{ line: 3, field: "debtor_cpf", code: "invalid_cpf", message: "CPF '111.111.111-11' repeats one digit and is not a real CPF" },
		{ line: 3, field: "amount", code: "not_positive", message: "amount '-3' is negative; it must be greater than zero" },
		{ line: 3, field: "due_date", code: "invalid_date", message: "due_date '2024-02-30' is not a real date: 2024-02 has no day 30" },
		{ line: 4, field: "amount", code: "too_many_decimals", message: "amount '10.999' has 3 decimals; at most 2 are allowed" },
		{ line: 4, field: "due_date", code: "future_date", message: "due_date 2030-01-01 is in the future (today is 2024-06-15); only overdue debts can be registered" },
		{ line: 4, field: "email", code: "invalid_email", message: "email 'bad@' is not a valid e-mail address (expected name@example.com)" },
		{ line: 4, field: "phone", code: "invalid_phone", message: "phone '123' has the wrong number of digits; expected a Brazilian number like (11) 98765-4321" }
	]);
	assert.equal(r.rows, 4);
	assert.equal(r.rejectedRows, 2);
});

test("wrong field counts are a row rejection, not a crash; trailing empty fields are tolerated", async () => {
	const csv = [HEADER, "C1,Maria,52998224725,1,2024-01-10", "C2,Ana,52998224725,1,2024-01-10,,,,", "C3,Ana,52998224725,1,2024-01-10,,,extra"].join("\r\n") + "\r\n";
	const r = await run(csv);
	assert.deepEqual(r.valid.map((v) => v.line), [3]);
	assert.deepEqual(r.rejections, [
		{ line: 2, field: "*", code: "column_count", message: "the row has 5 fields but the header has 7; check delimiters and quotes" },
		{ line: 4, field: "*", code: "column_count", message: "the row has 8 fields but the header has 7; check delimiters and quotes" }
	]);
});

test("duplicate keys within a chunk: the later row is rejected, naming the earlier line", async () => {
	const csv = [HEADER, "C1,A,52998224725,1,2024-01-10,,", "C2,B,52998224725,1,2024-01-10,,", " C1 ,C,52998224725,2,2024-01-10,,"].join("\n");
	const r = await run(csv);
	assert.deepEqual(r.valid.map((v) => v.key), ["C1", "C2"]);
	assert.deepEqual(r.rejections, [{ line: 4, field: "contract_id", code: "duplicate_key", message: "contract_id 'C1' already appears on line 2; the earlier row is kept" }]);
});

test("line numbers follow physical lines across chunks, quoted line breaks and blank lines", async () => {
	const csv = [HEADER, '"C1","Maria\nSouza",52998224725,1,2024-01-10,,', "", "C2,B,bad,1,2024-01-10,,", '"C3","x ""y"", z",52998224725,1,2024-01-10,,', ",,,,,,", "C4,D,52998224725,0,2024-01-10,,"].join("\n") + "\n";
	const r = await run(csv, format(), undefined, 2);
	assert.deepEqual(r.chunks.map((c) => [c.firstLine, c.rows]), [[2, 2], [6, 2]]);
	assert.deepEqual(r.rejections.map((x) => [x.line, x.field, x.code]), [[2, "debtor_name", "invalid_text"], [5, "debtor_cpf", "invalid_cpf"], [8, "amount", "not_positive"]]);
	assert.deepEqual(r.valid.map((v) => [v.line, (v.record as DebtRecord).contract_id, (v.record as { debtor_name: string }).debtor_name]), [[6, "C3", 'x "y", z']]);
});

test("a broken quote at the end of a chunk is a malformed_row rejection", async () => {
	const r = await run(`${HEADER}\nC1,A,52998224725,1,2024-01-10,,\nC2,"open,52998224725,1,2024-01-10,,\n`);
	assert.deepEqual(r.valid.map((v) => v.line), [2]);
	assert.deepEqual(r.rejections.map((x) => [x.field, x.code]), [["*", "malformed_row"]]);
	assert.match(r.rejections[0].message, /quoted field is not closed/);
});

test("client format: semicolons, their headers, Brazilian numbers and dates", async () => {
	const f = format({
		delimiter: ";",
		columns: { CONTRATO: "contract_id", NOME: "debtor_name", CPF: "debtor_cpf", VALOR: "amount", VENCIMENTO: "due_date", OBS: "email" },
		dateFormat: "DD/MM/YYYY",
		decimalSeparator: ",",
		thousandsSeparator: "."
	});
	const csv = "\uFEFFcontrato;Nome;CPF;VALOR;VENCIMENTO;Extra\nX-1;João;529.982.247-25;1.234,56;31/01/2024;ignored\nX-2;Ana;529.982.247-25;12,345;31/01/2024;\n";
	const r = await run(csv, f);
	assert.deepEqual(r.valid.map((v) => [(v.record as DebtRecord).contract_id, (v.record as { amount: string }).amount, (v.record as { due_date: string }).due_date]), [["X-1", "1234.56", "2024-01-31"]]);
	assert.deepEqual(r.rejections.map((x) => [x.line, x.code]), [[3, "too_many_decimals"]]);
	const ctx = createParseContext(f, "contrato;Nome;CPF;VALOR;VENCIMENTO;Extra", { today: TODAY });
	assert.deepEqual(ctx.plan.unknown, ["Extra"]);
});

test("transforms: split-name, skipped rows, failures", async () => {
	const split = await loadTransform("split-name");
	const f = format({ transform: "split-name", columns: { "FIRST NAME": "first_name", "LAST NAME": "last_name" } });
	const csv = "contract_id,FIRST NAME,LAST NAME,debtor_cpf,amount,due_date\nC1,Maria,Souza,52998224725,1,2024-01-10\nC2,,,52998224725,1,2024-01-10\n";
	const r = await run(csv, f, split);
	assert.deepEqual(r.valid.map((v) => v.record), [{ contract_id: "C1", debtor_name: "Maria Souza", debtor_cpf: "52998224725", amount: "1.00", due_date: "2024-01-10", email: null, phone: null }]);
	assert.deepEqual(r.rejections.map((x) => [x.line, x.field, x.code]), [[3, "debtor_name", "required"]]);

	const custom: TransformModule = {
		name: "t",
		provides: [],
		requires: [],
		transform: (row, ctx) => {
			if (row.contract_id === "TOTAL") return null;
			if (row.contract_id === "BOOM") throw new Error(`contract BOOM on line ${ctx.line} cannot be imported`);
			return row;
		}
	};
	const r2 = await run(`${HEADER}\nC1,A,52998224725,1,2024-01-10,,\nBOOM,A,52998224725,1,2024-01-10,,\nTOTAL,,,2,,,\n`, format(), custom);
	assert.equal(r2.valid.length, 1);
	assert.equal(r2.skipped, 1);
	assert.deepEqual(r2.rejections, [{ line: 3, field: "*", code: "transform_failed", message: "contract BOOM on line 3 cannot be imported" }]);
});

test("loans through the same parser", async () => {
	const f = (validateFormat({ kind: "loan" }) as { ok: true; format: ClientFormat }).format;
	const header = "loan_id,applicant_name,language,phone,email,address_line1,address_line2,city,state,postal_code,loan_amount,annual_interest_rate,tenure_months,disbursement_date,first_emi_date,processing_fee";
	const csv = `${header}\nL1,ભાવેશ પટેલ,gu,9876543210,,"12, Ring Road",,Surat,Gujarat,395001,250000,11.25,24,2024-05-01,2024-06-05,1500\nL2,Ravi,xx,9876543210,,A,,B,C,395001,1,1,24,2024-05-01,2024-04-05,\n`;
	const r = await run(csv, f);
	assert.deepEqual(r.valid.map((v) => [v.key, (v.record as { address_line1: string }).address_line1]), [["L1", "12, Ring Road"]]);
	assert.deepEqual(r.rejections.map((x) => [x.line, x.field, x.code]), [[3, "language", "invalid_language"], [3, "first_emi_date", "date_order"]]);
});

test("parseHeader", () => {
	assert.deepEqual(parseHeader('\uFEFF a ;"b;c"; d', ";"), ["a", "b;c", "d"]);
});

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import ExcelJS from "exceljs";
import { numberToDecimalString, readXlsxRows, splitXlsx, XlsxError, type XlsxOptions } from "../../../lib/etl/xlsx.ts";
import type { DebtRecord } from "../../../lib/records/index.ts";
import type { Chunk, SplitEvent } from "../../../lib/etl/chunk.ts";
import { createParseContext, parseChunk } from "../../../lib/etl/parse-chunk.ts";
import { validateFormat, type ClientFormat } from "../../../lib/etl/format.ts";

let dir = "";
before(async () => {
	dir = await mkdtemp(path.join(os.tmpdir(), "paperwork-xlsx-test-"));
});
after(async () => {
	await rm(dir, { recursive: true, force: true });
});

async function collect(file: string, options: XlsxOptions = {}): Promise<SplitEvent[]> {
	const out: SplitEvent[] = [];
	for await (const ev of splitXlsx(createReadStream(file), options)) out.push(ev);
	return out;
}

/** A debt workbook written with exceljs's in-memory writer (sheets stored before shared strings and styles). */
async function debtWorkbook(name: string): Promise<string> {
	const wb = new ExcelJS.Workbook();
	const hidden = wb.addWorksheet("Hidden");
	hidden.state = "hidden";
	hidden.addRow(["nothing"]);
	const notes = wb.addWorksheet("Notes");
	notes.addRow(["read me"]);
	const s = wb.addWorksheet("Dívidas");
	s.addRow(["CONTRATO", "NOME", "CPF", "VALOR", "VENCIMENTO", "email", "phone"]);
	s.addRow(["C-1", { richText: [{ text: "João " }, { font: { bold: true }, text: "da Silva" }] }, "529.982.247-25", 0.1 + 0.2, new Date(Date.UTC(2024, 1, 29)), { text: "joao@example.com", hyperlink: "mailto:joao@example.com" }, "(11) 98765-4321"]);
	s.addRow([]);
	s.addRow(["C-2", 'Ana "Aninha", Souza', 52998224725, 1234.5599999999999, new Date(Date.UTC(2023, 11, 31, 15, 30))]);
	s.addRow(["C-3", "Multi\nLine", "111.444.777-35", { formula: "1+1", result: 2 }, "05/01/2024", true]);
	s.getColumn(5).numFmt = "dd/mm/yyyy";
	const file = path.join(dir, name);
	await wb.xlsx.writeFile(file);
	return file;
}

test("numbers become exact decimal strings (15 significant digits, no exponent)", () => {
	assert.equal(numberToDecimalString(0.1 + 0.2), "0.3");
	assert.equal(numberToDecimalString(1234.5599999999999), "1234.56");
	assert.equal(numberToDecimalString(1234.567), "1234.567");
	assert.equal(numberToDecimalString(52998224725), "52998224725");
	assert.equal(numberToDecimalString(1e21), "1000000000000000000000");
	assert.equal(numberToDecimalString(0.000001), "0.000001");
	assert.equal(numberToDecimalString(-12.5, ","), "-12,5");
	assert.equal(numberToDecimalString(0), "0");
	assert.equal(numberToDecimalString(100), "100");
});

test("a sheet chosen by name (case-insensitive): cell types, empty rows, sheet row numbers", async () => {
	const file = await debtWorkbook("debts.xlsx");
	const events = await collect(file, { sheet: "dívidas", chunkRows: 2 });
	assert.deepEqual(events[0], { type: "header", text: "CONTRATO,NOME,CPF,VALOR,VENCIMENTO,email,phone", line: 1, delimiter: "," });
	const chunks = events.filter((e): e is { type: "chunk"; chunk: Chunk } => e.type === "chunk").map((e) => e.chunk);
	assert.equal(chunks.length, 2);
	assert.deepEqual(chunks[0].lines, [2, 4]);
	assert.equal(chunks[0].firstLine, 2);
	assert.equal(
		chunks[0].text,
		'C-1,João da Silva,529.982.247-25,0.3,2024-02-29,joao@example.com,(11) 98765-4321\nC-2,"Ana ""Aninha"", Souza",52998224725,1234.56,2023-12-31,,\n'
	);
	assert.deepEqual(chunks[1].lines, [5]);
	assert.equal(chunks[1].text, 'C-3,"Multi\nLine",111.444.777-35,2,05/01/2024,TRUE,\n');
	assert.equal(chunks[1].bytes, Buffer.byteLength(chunks[1].text));
	assert.deepEqual(events.at(-1), { type: "end", totalRows: 3, totalLines: 5, chunks: 2, bytesRead: 0 });
});

test("date cells follow the format's dateFormat and numbers its decimal separator", async () => {
	const file = path.join(dir, "debts.xlsx");
	const events = await collect(file, { sheet: "Dívidas", dateFormat: "DD/MM/YYYY", decimalSeparator: "," });
	const chunk = events.find((e) => e.type === "chunk");
	assert.ok(chunk && chunk.type === "chunk");
	assert.match(chunk.chunk.text, /^C-1,João da Silva,529\.982\.247-25,"0,3",29\/02\/2024,/);
});

test("without a sheet name the first visible sheet is read", async () => {
	const events = await collect(path.join(dir, "debts.xlsx"));
	assert.deepEqual(events[0], { type: "header", text: "read me", line: 1, delimiter: "," });
});

test("an unknown sheet names the sheets there are", async () => {
	await assert.rejects(collect(path.join(dir, "debts.xlsx"), { sheet: "Plan1" }), (e: unknown) => e instanceof XlsxError && e.code === "xlsx_sheet_not_found" && /'Hidden', 'Notes', 'Dívidas'/.test(e.message));
});

test("streaming-written workbooks (shared strings before the sheet) and the full etl path", async () => {
	const file = path.join(dir, "stream.xlsx");
	const w = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: file, useSharedStrings: true, useStyles: true });
	const s = w.addWorksheet("Debts");
	s.addRow(["contract_id", "debtor_name", "debtor_cpf", "amount", "due_date"]).commit();
	s.addRow(["A1", "Maria", "529.982.247-25", 10.5, "2024-01-10"]).commit();
	s.addRow(["A2", "José", "123", 10.555, "2024-01-10"]).commit();
	s.commit();
	await w.commit();
	const events = await collect(file);
	const header = events[0];
	const chunk = events[1];
	assert.ok(header.type === "header" && chunk.type === "chunk");
	const format = (validateFormat({ kind: "debt" }) as { ok: true; format: ClientFormat }).format;
	const ctx = createParseContext(format, header.text, { delimiter: header.delimiter, today: "2024-06-01" });
	const r = parseChunk(chunk.chunk, ctx);
	assert.deepEqual(r.valid.map((v) => [v.line, (v.record as DebtRecord).contract_id, (v.record as { amount: string }).amount]), [[2, "A1", "10.50"]]);
	assert.deepEqual(r.rejections.map((x) => [x.line, x.field, x.code]), [[3, "debtor_cpf", "invalid_cpf"], [3, "amount", "too_many_decimals"]]);
});

test("zip bombs fail once the uncompressed size passes the limit, and leave no temp files", async () => {
	const file = path.join(dir, "bomb.xlsx");
	const wb = new ExcelJS.Workbook();
	const s = wb.addWorksheet("S");
	for (let i = 0; i < 5000; i++) s.addRow(["x".repeat(50), i, "y".repeat(50)]);
	await wb.xlsx.writeFile(file);
	const tmpDir = path.join(dir, "spool");
	await import("node:fs/promises").then((fs) => fs.mkdir(tmpDir));
	await assert.rejects(collect(file, { maxUncompressedBytes: 50_000, tmpDir }), (e: unknown) => e instanceof XlsxError && e.code === "xlsx_too_large");
	assert.deepEqual(await readdir(tmpDir), []);
	const ok = await collect(file, { maxUncompressedBytes: 50_000_000, tmpDir });
	assert.deepEqual(ok.at(-1), { type: "end", totalRows: 4999, totalLines: 5000, chunks: 1, bytesRead: 0 });
});

test("row limit", async () => {
	await assert.rejects(collect(path.join(dir, "bomb.xlsx"), { maxRows: 100 }), (e: unknown) => e instanceof XlsxError && e.code === "too_many_rows");
});

test("a file that is not a workbook", async () => {
	await assert.rejects(collect(path.join(import.meta.dirname, "xlsx.test.ts")), (e: unknown) => e instanceof XlsxError && e.code === "xlsx_invalid");
	const rows: unknown[] = [];
	await assert.rejects(async () => {
		for await (const r of readXlsxRows(Readable.from([Buffer.from("PK\u0003\u0004garbage")]))) rows.push(r);
	}, XlsxError);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultFormat, planColumns, planProblem, validateFormat, type ClientFormat } from "../../../lib/etl/format.ts";

const okFormat = (input: unknown): ClientFormat => {
	const r = validateFormat(input);
	assert.equal(r.ok, true, JSON.stringify(r));
	return (r as { ok: true; format: ClientFormat }).format;
};
const errorsOf = (input: unknown): string[] => {
	const r = validateFormat(input);
	assert.equal(r.ok, false);
	return r.ok ? [] : r.errors.map((e) => e.property);
};

test("a minimal format takes the kind's defaults", () => {
	assert.deepEqual(okFormat({ kind: "debt" }), defaultFormat("debt"));
	const f = defaultFormat("debt");
	assert.equal(f.delimiter, ",");
	assert.equal(f.encoding, "utf-8");
	assert.equal(f.dateFormat, "YYYY-MM-DD");
	assert.equal(f.decimalSeparator, ".");
	assert.equal(f.thousandsSeparator, "");
	assert.equal(f.columns.debtor_cpf, "debtor_cpf");
});

test("a full client format", () => {
	const f = okFormat({
		kind: "debt",
		delimiter: ";",
		encoding: "windows-1252",
		columns: { " CONTRATO ": "contract_id", NOME: "debtor_name", CPF: "debtor_cpf", VALOR: "amount", VENCIMENTO: "due_date" },
		dateFormat: "DD/MM/YYYY",
		decimalSeparator: ",",
		thousandsSeparator: ".",
		sheet: "Dívidas"
	});
	assert.equal(f.columns.CONTRATO, "contract_id", "header keys are trimmed");
	assert.equal(f.sheet, "Dívidas");
	assert.equal(okFormat({ kind: "loan", encoding: "UTF8" }).encoding, "utf-8");
});

test("errors name the bad property", () => {
	assert.deepEqual(errorsOf(null), [""]);
	assert.deepEqual(errorsOf({}), ["kind"]);
	assert.deepEqual(errorsOf({ kind: "invoice" }), ["kind"]);
	assert.deepEqual(
		errorsOf({ kind: "debt", delimiter: "::", encoding: "utf-16", dateFormat: "DD/MM/YY", decimalSeparator: ",", thousandsSeparator: ",", sheet: "", transform: "../x", color: "red" }),
		["color", "delimiter", "encoding", "thousandsSeparator", "dateFormat", "sheet", "transform"]
	);
	assert.deepEqual(errorsOf({ kind: "debt", columns: { CPF: "cpf_number", NOME: 3 } }), ["columns.CPF", "columns.NOME"]);
	assert.deepEqual(errorsOf({ kind: "debt", columns: [] }), ["columns"]);
	const r = validateFormat({ kind: "debt", columns: { CPF: "cpf" } });
	assert.match(r.ok ? "" : r.errors[0].message, /'cpf' is not a debt field; use one of contract_id, debtor_name/);
});

test("with a transform, columns may feed extra lower_snake_case fields", () => {
	const f = okFormat({ kind: "debt", transform: "split-name", columns: { "FIRST NAME": "first_name", "LAST NAME": "last_name" } });
	assert.equal(f.columns["FIRST NAME"], "first_name");
	assert.deepEqual(errorsOf({ kind: "debt", transform: "split-name", columns: { X: "Not Snake" } }), ["columns.X"]);
});

test("header mapping: exact, case-insensitive, BOM, unknown and missing columns", () => {
	const f = okFormat({ kind: "debt", columns: { CONTRATO: "contract_id", "Nome do Devedor": "debtor_name", CPF: "debtor_cpf" } });
	const plan = planColumns(f, ["\uFEFFcontrato", " NOME DO DEVEDOR ", "CPF", "Amount", "due_date", "Observações", "", "phone"]);
	assert.deepEqual(plan.fields, ["contract_id", "debtor_name", "debtor_cpf", "amount", "due_date", null, null, "phone"]);
	assert.deepEqual(plan.unknown, ["Observações"]);
	assert.deepEqual(plan.missing, []);
	assert.equal(plan.ok, true);

	const bad = planColumns(f, ["CONTRATO", "CPF", "VALOR"]);
	assert.deepEqual(bad.missing, ["debtor_name", "amount", "due_date"]);
	assert.deepEqual(bad.unknown, ["VALOR"]);
	assert.equal(bad.ok, false);
	assert.equal(planProblem(f, bad), "the header does not fit the debt format: missing required columns: debtor_name (column 'Nome do Devedor'), amount, due_date");
});

test("two columns feeding one field fail the file", () => {
	const f = okFormat({ kind: "debt", columns: { CPF: "debtor_cpf", "CPF/CNPJ": "debtor_cpf" } });
	const plan = planColumns(f, ["contract_id", "debtor_name", "CPF", "CPF/CNPJ", "amount", "due_date"]);
	assert.deepEqual(plan.duplicates, [{ field: "debtor_cpf", columns: ["CPF", "CPF/CNPJ"] }]);
	assert.equal(plan.ok, false);
	assert.match(String(planProblem(f, plan)), /columns 'CPF' and 'CPF\/CNPJ' both map to debtor_cpf/);
});

test("a transform's provides/requires change what is missing", () => {
	const f = okFormat({ kind: "debt", transform: "split-name", columns: { "FIRST NAME": "first_name", "LAST NAME": "last_name" } });
	const t = { provides: ["debtor_name"], requires: ["first_name", "last_name"] };
	const plan = planColumns(f, ["contract_id", "FIRST NAME", "last name", "debtor_cpf", "amount", "due_date"], t);
	assert.equal(plan.ok, true);
	assert.deepEqual(plan.fields.slice(0, 3), ["contract_id", "first_name", "last_name"]);
	const without = planColumns(f, ["contract_id", "FIRST NAME", "debtor_cpf", "amount", "due_date"], t);
	assert.deepEqual(without.missing, ["last_name"]);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { businessKey, defaultHeader, fieldNames, isKind, KINDS, requiredFields, validate } from "../../../lib/records/index.ts";
import type { FieldError } from "../../../lib/records/index.ts";

const NOW = new Date("2024-06-15T12:00:00Z");
const goodDebt = {
	contract_id: " CT-001 ",
	debtor_name: "Jo\u0061\u0303o da Silva",
	debtor_cpf: "529.982.247-25",
	amount: "1234.5",
	due_date: "2024-01-31",
	email: "joao@Example.com",
	phone: "(11) 98765-4321"
};

const codes = (errors: FieldError[]): string[] => errors.map((e) => `${e.field}:${e.code}`);

test("the kinds table", () => {
	assert.deepEqual(Object.keys(KINDS), ["debt", "loan", "repayment"]);
	assert.equal(isKind("debt"), true);
	assert.equal(isKind("invoice"), false);
	assert.equal(isKind("toString"), false);
	assert.equal(defaultHeader("debt"), "contract_id,debtor_name,debtor_cpf,amount,due_date,email,phone");
	assert.equal(
		defaultHeader("loan"),
		"loan_id,applicant_name,language,phone,email,address_line1,address_line2,city,state,postal_code,loan_amount,annual_interest_rate,tenure_months,disbursement_date,first_emi_date,processing_fee"
	);
	assert.deepEqual(requiredFields("debt"), ["contract_id", "debtor_name", "debtor_cpf", "amount", "due_date"]);
	assert.equal(fieldNames("loan").length, 16);
});

test("a good debt is normalised", () => {
	const r = validate("debt", goodDebt, { now: NOW });
	assert.deepEqual(r, {
		ok: true,
		record: {
			contract_id: "CT-001",
			debtor_name: "Jo\u00e3o da Silva",
			debtor_cpf: "52998224725",
			amount: "1234.50",
			due_date: "2024-01-31",
			email: "joao@example.com",
			phone: "+5511987654321"
		}
	});
	const noOptional = validate("debt", { ...goodDebt, email: "", phone: undefined }, { now: NOW });
	assert.equal(noOptional.ok && noOptional.record.email, null);
	assert.equal(noOptional.ok && noOptional.record.phone, null);
});

test("every bad field of a debt is reported", () => {
	const r = validate("debt", { contract_id: "", debtor_name: "  ", debtor_cpf: "111.111.111-11", amount: "12,50", due_date: "2024-02-30", email: "x@", phone: "123" }, { now: NOW });
	assert.equal(r.ok, false);
	if (!r.ok) {
		assert.deepEqual(codes(r.errors), [
			"contract_id:required",
			"debtor_name:required",
			"debtor_cpf:invalid_cpf",
			"amount:invalid_amount",
			"due_date:invalid_date",
			"email:invalid_email",
			"phone:invalid_phone"
		]);
		assert.equal(r.errors[0].message, "contract_id is required but is empty or missing");
	}
});

test("due_date in the future is rejected against the injected clock", () => {
	const future = validate("debt", { ...goodDebt, due_date: "2024-06-16" }, { now: NOW });
	assert.equal(future.ok, false);
	if (!future.ok) assert.deepEqual(codes(future.errors), ["due_date:future_date"]);
	assert.equal(validate("debt", { ...goodDebt, due_date: "2024-06-15" }, { now: NOW }).ok, true, "today is not the future");
	// 02:00 UTC on the 16th is still the 15th in São Paulo
	const early = validate("debt", { ...goodDebt, due_date: "2024-06-16" }, { now: new Date("2024-06-16T02:00:00Z") });
	assert.equal(early.ok, false);
	assert.equal(validate("debt", { ...goodDebt, due_date: "2024-06-16" }, { today: "2024-06-16" }).ok, true);
});

test("date formats and number styles come from the options", () => {
	const r = validate("debt", { ...goodDebt, amount: "1.234,56", due_date: "31/01/2024" }, { now: NOW, dateFormat: "DD/MM/YYYY", numberStyle: { decimalSeparator: ",", thousandsSeparator: "." } });
	assert.equal(r.ok && r.record.amount, "1234.56");
	assert.equal(r.ok && r.record.due_date, "2024-01-31");
});

const goodLoan = {
	loan_id: "LN-9",
	applicant_name: "राजेश कुमार",
	language: "HI",
	phone: "+91 98765 43210",
	email: "",
	address_line1: "12, गांधी मार्ग",
	address_line2: "",
	city: "Pune",
	state: "Maharashtra",
	postal_code: "411 001",
	loan_amount: "500000",
	annual_interest_rate: "10.50",
	tenure_months: "36",
	disbursement_date: "2024-05-02",
	first_emi_date: "2024-06-05",
	processing_fee: "0"
};

test("a good loan is normalised", () => {
	const r = validate("loan", goodLoan, { now: NOW });
	assert.deepEqual(r, {
		ok: true,
		record: {
			loan_id: "LN-9",
			applicant_name: "राजेश कुमार",
			language: "hi",
			phone: "+919876543210",
			email: null,
			address_line1: "12, गांधी मार्ग",
			address_line2: null,
			city: "Pune",
			state: "Maharashtra",
			postal_code: "411001",
			loan_amount: "500000.00",
			annual_interest_rate: "10.5",
			tenure_months: 36,
			disbursement_date: "2024-05-02",
			first_emi_date: "2024-06-05",
			processing_fee: "0.00"
		}
	});
	const defaults = validate("loan", { ...goodLoan, language: "", processing_fee: "" }, { now: NOW });
	assert.equal(defaults.ok && defaults.record.language, "en");
	assert.equal(defaults.ok && defaults.record.processing_fee, null);
	assert.equal(validate("loan", { ...goodLoan, language: "Gujarati" }).ok, true);
	assert.equal(validate("loan", { ...goodLoan, applicant_name: "ભાવેશ પટેલ", language: "gu" }).ok, true);
});

test("loan rules: language, rate, tenure, date order, PIN", () => {
	const r = validate("loan", { ...goodLoan, language: "fr", annual_interest_rate: "120", tenure_months: "481", first_emi_date: "2024-05-02", postal_code: "01234", phone: "12345" });
	assert.equal(r.ok, false);
	if (!r.ok) {
		assert.deepEqual(codes(r.errors), ["language:invalid_language", "phone:invalid_phone", "postal_code:invalid_postal_code", "annual_interest_rate:out_of_range", "tenure_months:out_of_range", "first_emi_date:date_order"]);
		assert.match(r.errors[5].message, /first_emi_date 2024-05-02 must be after disbursement_date 2024-05-02/);
	}
	const missing = validate("loan", { loan_id: "L1" });
	assert.equal(missing.ok, false);
	if (!missing.ok) assert.equal(missing.errors.filter((e) => e.code === "required").length, 11);
});

test("business keys", () => {
	assert.equal(businessKey("debt", { contract_id: "CT-1" }), "CT-1");
	assert.equal(businessKey("loan", { loan_id: "LN-9" }), "LN-9");
	assert.deepEqual(KINDS.debt.keyFields, ["contract_id"]);
});

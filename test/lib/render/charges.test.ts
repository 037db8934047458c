import { test } from "node:test";
import assert from "node:assert/strict";
import { chargeLines, checkChargesConfig, ChargesConfigError, DEFAULT_CHARGES } from "../../../lib/render/charges.ts";
import type { Translate } from "../../../lib/render/charges.ts";
import { formatter } from "../../../lib/render/format.ts";

const MESSAGES: Record<string, string> = {
	"charges.items.processing_fee": "Processing fee",
	"charges.items.late_payment": "Late payment",
	"charges.items.cheque_bounce": "Bounce",
	"charges.items.foreclosure": "Foreclosure",
	"charges.items.part_prepayment": "Part-prepayment",
	"charges.items.duplicate_statement": "Duplicate statement",
	"charges.items.instrument_swap": "Swap",
	"charges.items.stamp_duty": "Stamp duty",
	"charges.items.legal": "Legal charges",
	"charges.basis.once": "{amount} once",
	"charges.basis.per_month_overdue": "{rate} a month",
	"charges.basis.per_instance": "{amount} each time",
	"charges.basis.of_outstanding_principal": "{rate} of principal",
	"charges.basis.of_prepaid_amount": "{rate} of prepaid",
	"charges.basis.per_request": "{amount} a request",
	"charges.basis.at_actuals": "at actuals",
	"charges.basis.nil": "nil",
	"charges.plus_tax": "+ GST"
};
const t: Translate = (key, params = {}) => {
	const msg = MESSAGES[key];
	if (msg === undefined) throw new Error(`no message ${key}`);
	return msg.replace(/\{(\w+)\}/g, (_, k: string) => params[k] ?? `{${k}}`);
};

test("default schedule: processing fee from the record first, then the default charges", () => {
	const lines = chargeLines("2500", undefined, formatter("en"), t);
	assert.deepEqual(lines[0], { key: "processing_fee", name: "Processing fee", value: "₹2,500.00 once + GST" });
	assert.deepEqual(lines.map((l) => l.key), ["processing_fee", ...DEFAULT_CHARGES.items.map((i) => i.key)]);
	assert.equal(lines.find((l) => l.key === "late_payment")?.value, "2.00% a month");
	assert.equal(lines.find((l) => l.key === "cheque_bounce")?.value, "₹500.00 each time + GST");
	assert.equal(lines.find((l) => l.key === "stamp_duty")?.value, "at actuals");
});

test("no processing fee on the record: no fee line", () => {
	const lines = chargeLines(undefined, undefined, formatter("en"), t);
	assert.ok(!lines.some((l) => l.key === "processing_fee"));
});

test("a client's configuration replaces the defaults, values formatted per language", () => {
	const config = {
		items: [
			{ key: "legal", kind: "fixed" as const, amount: "150000" },
			{ key: "late_payment", kind: "percent" as const, rate: "3.5", basis: "per_month_overdue" },
			{ key: "processing_fee", kind: "fixed" as const, amount: "999" },
			{ key: "duplicate_statement", kind: "nil" as const }
		]
	};
	assert.deepEqual(chargeLines(undefined, config, formatter("mr"), t), [
		{ key: "legal", name: "Legal charges", value: "₹१,५०,०००.००" },
		{ key: "late_payment", name: "Late payment", value: "३.५०% a month" },
		{ key: "processing_fee", name: "Processing fee", value: "₹९९९.००" },
		{ key: "duplicate_statement", name: "Duplicate statement", value: "nil" }
	]);
	// The record's fee wins over a configured one.
	const withFee = chargeLines("100", config, formatter("en"), t);
	assert.equal(withFee.filter((l) => l.key === "processing_fee").length, 1);
	assert.equal(withFee[0].value, "₹100.00 once + GST");
});

test("configuration checks", () => {
	checkChargesConfig(DEFAULT_CHARGES);
	assert.throws(() => checkChargesConfig({ items: [{ key: "Bad Key", kind: "nil" }] }), ChargesConfigError);
	assert.throws(() => checkChargesConfig({ items: [{ key: "x", kind: "fixed" }] }), /needs an amount/);
	assert.throws(() => checkChargesConfig({ items: [{ key: "x", kind: "percent" }] }), /needs a rate/);
	// what billing counts in paise and percent: amounts with at most 2 decimals, rates, and the GST rate
	checkChargesConfig({ taxRate: "18", items: [{ key: "cheque_bounce", kind: "fixed", amount: 500, plusTax: true }, { key: "late_payment", kind: "percent", rate: 2.5 }] });
	checkChargesConfig({ taxRate: 0, items: [] });
	assert.throws(() => checkChargesConfig({ items: [{ key: "x", kind: "fixed", amount: "1,000" }] }), /items\[0\]\.amount must be an amount/);
	assert.throws(() => checkChargesConfig({ items: [{ key: "x", kind: "fixed", amount: "12.345" }] }), /at most 2 decimals/);
	assert.throws(() => checkChargesConfig({ items: [{ key: "x", kind: "percent", rate: "-2" }] }), /rate must be a percentage/);
	for (const taxRate of ["18%", -1, 101, "abc"]) assert.throws(() => checkChargesConfig({ taxRate, items: [] }), /taxRate must be a percentage from 0 to 100/, String(taxRate));
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { compareDecimal, parseAmount, parseBoundedDecimal, parseWholeNumber, type NumberStyle } from "../../../lib/validate/decimal.ts";

const DOT: NumberStyle = { decimalSeparator: ".", thousandsSeparator: "" };
const DOT_COMMA: NumberStyle = { decimalSeparator: ".", thousandsSeparator: "," };
const BR: NumberStyle = { decimalSeparator: ",", thousandsSeparator: "." };
const SPACE: NumberStyle = { decimalSeparator: ",", thousandsSeparator: " " };

const amount = (raw: string, style: NumberStyle = DOT): string => {
	const r = parseAmount(raw, style, "amount");
	assert.equal(r.ok, true, `${raw}: ${r.ok ? "" : r.message}`);
	return r.ok ? r.value : "";
};
const rejected = (raw: string, style: NumberStyle = DOT): string => {
	const r = parseAmount(raw, style, "amount");
	assert.equal(r.ok, false, `${raw} should be rejected`);
	return r.ok ? "" : r.code;
};

test("canonical amounts have exactly two decimals", () => {
	assert.equal(amount("1234.5"), "1234.50");
	assert.equal(amount("1234"), "1234.00");
	assert.equal(amount("0.01"), "0.01");
	assert.equal(amount("007.10"), "7.10");
	assert.equal(amount("+12"), "12.00");
	assert.equal(amount(" 99.99 "), "99.99");
	assert.equal(amount("10.500"), "10.50", "trailing zeros past 2 decimals lose nothing");
	assert.equal(amount(".5"), "0.50");
});

test("separators per the client's style", () => {
	assert.equal(amount("1.234,56", BR), "1234.56");
	assert.equal(amount("1.234.567,8", BR), "1234567.80");
	assert.equal(amount("1234,56", BR), "1234.56");
	assert.equal(amount("1,234.56", DOT_COMMA), "1234.56");
	assert.equal(amount("12,345", DOT_COMMA), "12345.00");
	assert.equal(amount("1 234,56", SPACE), "1234.56");
	assert.equal(amount("1\u00a0234,56", SPACE), "1234.56");
});

test("ambiguous or malformed numbers are rejected", () => {
	assert.equal(rejected("1.2.3", BR), "invalid_amount");
	assert.equal(rejected("1.2.3"), "invalid_amount");
	assert.equal(rejected("12,345"), "invalid_amount", "comma is not configured");
	assert.equal(rejected("12,345", BR), "too_many_decimals", "12,345 is 12.345 with decimal comma");
	assert.equal(rejected("1,23,456.00", DOT_COMMA), "invalid_amount", "misplaced grouping");
	assert.equal(rejected("1.234,56"), "invalid_amount");
	assert.equal(rejected("1e5"), "invalid_amount");
	assert.equal(rejected("1.5E+3"), "invalid_amount");
	assert.equal(rejected("R$ 12,00", BR), "invalid_amount");
	assert.equal(rejected("12 34"), "invalid_amount");
	assert.equal(rejected("abc"), "invalid_amount");
	assert.equal(rejected("."), "invalid_amount");
	assert.equal(rejected("-"), "invalid_amount");
	const r = parseAmount("1e5", DOT, "amount");
	if (!r.ok) assert.match(r.message, /exponent/);
});

test("at most two decimals; positive", () => {
	assert.equal(rejected("10.123"), "too_many_decimals");
	assert.equal(rejected("0.001"), "too_many_decimals");
	assert.equal(rejected("0"), "not_positive");
	assert.equal(rejected("0.00"), "not_positive");
	assert.equal(rejected("-5"), "not_positive");
	assert.equal(rejected("-1.234,56", BR), "not_positive");
	const fee = parseAmount("0", DOT, "processing_fee", { allowZero: true });
	assert.deepEqual(fee, { ok: true, value: "0.00" });
	const negFee = parseAmount("-1", DOT, "processing_fee", { allowZero: true });
	assert.equal(negFee.ok, false);
});

test("huge values stay exact (no binary floating point)", () => {
	assert.equal(amount("123456789012345678901234.56"), "123456789012345678901234.56");
	assert.equal(amount("9007199254740993.01"), "9007199254740993.01");
	assert.equal(amount("99.999.999.999.999.999,99", BR), "99999999999999999.99");
	assert.equal(rejected("1" + "0".repeat(30)), "out_of_range");
});

test("bounded decimals (rates) and whole numbers", () => {
	assert.deepEqual(parseBoundedDecimal("12.50", DOT, "rate", "0", "100", 4), { ok: true, value: "12.5" });
	assert.deepEqual(parseBoundedDecimal("0", DOT, "rate", "0", "100", 4), { ok: true, value: "0" });
	assert.deepEqual(parseBoundedDecimal("100.000", DOT, "rate", "0", "100", 4), { ok: true, value: "100" });
	assert.deepEqual(parseBoundedDecimal("10,25", BR, "rate", "0", "100", 4), { ok: true, value: "10.25" });
	const over = parseBoundedDecimal("100.01", DOT, "rate", "0", "100", 4);
	assert.equal(over.ok ? "" : over.code, "out_of_range");
	const neg = parseBoundedDecimal("-1", DOT, "rate", "0", "100", 4);
	assert.equal(neg.ok ? "" : neg.code, "out_of_range");
	assert.deepEqual(parseWholeNumber("360", "tenure_months", 1, 480), { ok: true, value: 360 });
	assert.deepEqual(parseWholeNumber("12.0", "tenure_months", 1, 480), { ok: true, value: 12 });
	const big = parseWholeNumber("481", "tenure_months", 1, 480);
	assert.equal(big.ok ? "" : big.code, "out_of_range");
	const zero = parseWholeNumber("0", "tenure_months", 1, 480);
	assert.equal(zero.ok ? "" : zero.code, "out_of_range");
	const frac = parseWholeNumber("12.5", "tenure_months", 1, 480);
	assert.equal(frac.ok ? "" : frac.code, "invalid_number");
	assert.equal(compareDecimal("100", "99.99"), 1);
	assert.equal(compareDecimal("12.5", "12.50"), 0);
	assert.equal(compareDecimal("0.05", "0.5"), -1);
});

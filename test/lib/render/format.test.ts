import { test } from "node:test";
import assert from "node:assert/strict";
import { formatter, FormatError } from "../../../lib/render/format.ts";

test("English: Indian grouping with the rupee sign, exact decimals", () => {
	const f = formatter("en");
	assert.equal(f.money(100000), "₹1,00,000.00");
	assert.equal(f.money("100000"), "₹1,00,000.00");
	assert.equal(f.money("12345678.9"), "₹1,23,45,678.90");
	assert.equal(f.money("8884.88"), "₹8,884.88");
	assert.equal(f.money("0.005"), "₹0.01", "half rounds up, from the decimal string not a float");
	assert.equal(f.money("1000000000000.15"), "₹10,00,00,00,00,000.15", "no float precision loss");
	assert.equal(f.money("-500"), "-₹500.00");
	assert.equal(f.number("1234567.5"), "12,34,567.5");
	assert.equal(f.number(60), "60");
	assert.equal(f.percent("10.5"), "10.50%");
	assert.equal(f.percent(12), "12.00%");
	assert.equal(f.percent("0.75"), "0.75%");
	assert.equal(f.date("2026-01-31"), "31 January 2026");
	assert.equal(f.dateShort("2026-09-05"), "05/09/2026");
});

test("Hindi: Latin digits (Intl's default for hi-IN), Devanagari month names", () => {
	const f = formatter("hi");
	assert.equal(f.money(100000), "₹1,00,000.00");
	assert.equal(f.money("1234567.89"), "₹12,34,567.89");
	assert.equal(f.percent("10.5"), "10.50%");
	assert.equal(f.date("2026-01-31"), "31 जनवरी 2026");
	assert.equal(f.date("2026-09-05"), "5 सितंबर 2026");
	assert.equal(f.dateShort("2026-09-05"), "05/09/2026");
});

test("Marathi: Devanagari digits, and money keeps Indian grouping (CLDR's mr currency pattern does not)", () => {
	const f = formatter("mr");
	assert.equal(f.money(100000), "₹१,००,०००.००");
	assert.equal(f.money("1234567.89"), "₹१२,३४,५६७.८९");
	assert.equal(f.number("1234567.5"), "१२,३४,५६७.५");
	assert.equal(f.number(60), "६०");
	assert.equal(f.percent("10.5"), "१०.५०%");
	assert.equal(f.date("2026-01-31"), "३१ जानेवारी, २०२६");
	assert.equal(f.dateShort("2026-09-05"), "०५/०९/२०२६");
});

test("Gujarati: Latin digits, Gujarati month names", () => {
	const f = formatter("gu");
	assert.equal(f.money(100000), "₹1,00,000.00");
	assert.equal(f.money("1234567.89"), "₹12,34,567.89");
	assert.equal(f.percent("10.5"), "10.50%");
	assert.equal(f.date("2026-01-31"), "31 જાન્યુઆરી, 2026");
	assert.equal(f.dateShort("2026-09-05"), "05/09/2026");
});

test("other languages and currencies fall back to Intl", () => {
	assert.equal(formatter("pt-BR").money("1234.5", "BRL"), "R$\u00a01.234,50");
	assert.equal(formatter("pt-BR").date("2026-01-31"), "31 de janeiro de 2026");
	assert.equal(formatter("en").money(10, "USD"), "$10.00");
});

test("bad values are refused, not printed as NaN", () => {
	const f = formatter("en");
	assert.throws(() => f.money("abc"), FormatError);
	assert.throws(() => f.money(Number.NaN), FormatError);
	assert.throws(() => f.date("2026-02-30"), FormatError);
	assert.throws(() => f.date("31/01/2026"), FormatError);
	assert.equal(formatter("en"), f, "formatters are cached per language");
});

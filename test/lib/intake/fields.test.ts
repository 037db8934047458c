/**
 * Fields: tax-ID checksums and their OCR corrections, locale amounts and dates, issuer templates (added as JSON
 * files, matched by keywords, exclusions and priority) and the checks that send a document to review.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { checkTaxId, findTaxIds, isCnpj, isGstin, isPan, gstinCheckChar } from "../../../lib/fields/taxid.ts";
import { parseAmount, parseLooseDate, detectCurrency, asciiDigits } from "../../../lib/fields/locale.ts";
import { applyTemplate, checkTemplate, loadTemplates, matchTemplate, TemplateError, type Template } from "../../../lib/fields/templates.ts";
import { checkFields, extractFields } from "../../../lib/fields/extract.ts";
import { extractGeneric } from "../../../lib/fields/generic.ts";
import { gstin, cnpj } from "../../helpers/intake-corpus.ts";
import { cpf } from "../../helpers/ingest.ts";

test("GSTIN: the base-36 check character; PAN: shape and holder type; CNPJ and CPF: mod-11 check digits", () => {
	const g = gstin("29", "AAKFR5678M");
	assert.ok(isGstin(g));
	assert.equal(g.length, 15);
	assert.equal(g[14], gstinCheckChar(g.slice(0, 14)));
	assert.ok(!isGstin(g.slice(0, 14) + (g[14] === "A" ? "B" : "A")), "a wrong check character");
	assert.ok(!isGstin(`29AAKFR5678M1X${g[14]}`), "the 14th character must be Z");
	assert.ok(isPan("AAKFR5678M"));
	assert.ok(!isPan("AAKXR5678M"), "X is no holder type");
	assert.ok(!isPan("AAKF25678M"));
	const c = cnpj("112223330001");
	assert.equal(c, "11222333000181");
	assert.ok(isCnpj(c));
	assert.ok(!isCnpj("11222333000182"));
	assert.ok(!isCnpj("11111111111111"), "one repeated digit");
	assert.ok(checkTaxId("CPF", cpf(7)).valid);
	assert.ok(!checkTaxId("CPF", "123.456.789-00").valid);
});

test("OCR confusions O/0 and I/1 are corrected only where the format wants the other kind and the checksum then passes", () => {
	const g = gstin("07", "ABCPS9876R");
	const read = `O7ABCPS987GR${g.slice(12)}`; // a G for a 6 is not an O/0 or I/1 confusion
	assert.equal(checkTaxId("GSTIN", read).valid, false);
	const o = `O${g.slice(1)}`;
	assert.deepEqual(checkTaxId("GSTIN", o), { kind: "GSTIN", value: g, valid: true, corrected: o });
	// letters read as digits in the PAN part
	const pan = gstin("27", "AABCB2468L");
	const misread = `27AABCB2468L${pan.slice(12)}`.replace("AABCB", "AABC8");
	assert.equal(checkTaxId("GSTIN", misread).valid, false, "8 for B is not corrected");
	const i1 = gstin("11", "AAICI1111A");
	assert.ok(checkTaxId("GSTIN", i1.replace(/^11/, "I1")).valid);
	const c = cnpj("112223330001");
	const ocr = `${c.slice(0, 8)}O${c.slice(9)}`;
	assert.equal(checkTaxId("CNPJ", ocr).value, c);
	assert.equal(checkTaxId("CNPJ", ocr).corrected, ocr);
	assert.equal(checkTaxId("CNPJ", "11.222.333/0001-8I").value, c, "punctuation and a trailing I for 1");
	// a correction that does not make the checksum pass is not made
	assert.deepEqual(checkTaxId("CNPJ", "11.222.333/OOO1-82"), { kind: "CNPJ", value: "11222333OOO182", valid: false });
});

test("findTaxIds finds each kind in a text, valid or not, in order", () => {
	const g = gstin("24", "AAECS1234F");
	const c = cnpj("998877660001");
	const p = cpf(99);
	const text = `GSTIN: ${g}\nCNPJ: ${c.slice(0, 2)}.${c.slice(2, 5)}.${c.slice(5, 8)}/${c.slice(8, 12)}-${c.slice(12)}\nCPF: ${p.slice(0, 3)}.${p.slice(3, 6)}.${p.slice(6, 9)}-${p.slice(9)}\nPAN: AAECS1234F\nCNPJ: 12345678000100`;
	assert.deepEqual(findTaxIds(text).map((t) => [t.kind, t.value, t.valid]), [["GSTIN", g, true], ["CNPJ", c, true], ["CPF", p, true], ["PAN", "AAECS1234F", true], ["CNPJ", "12345678000100", false]]);
	assert.ok(!isCnpj("12345678901234") && !checkTaxId("CPF", "12345678901").valid);
	assert.deepEqual(findTaxIds("phone 12345678901234 order 12345678901").length, 0, "unlabelled numbers that fail are not tax IDs");
});

test("amounts per locale: Indian grouping, Brazilian reais, symbols, negatives; cents exact", () => {
	assert.equal(parseAmount("1,23,456.00"), 123456);
	assert.equal(parseAmount("₹ 1,41,600.00"), 141600);
	assert.equal(parseAmount("R$ 1.234,56"), 1234.56);
	assert.equal(parseAmount("1.234.567,8"), 1234567.8);
	assert.equal(parseAmount("Rs. 500/-"), 500);
	assert.equal(parseAmount("(1,250.50)"), -1250.5);
	assert.equal(parseAmount("1.234", ","), 1234, "the decimal separator given: a dot groups thousands");
	assert.equal(parseAmount("1,234"), 1234, "three digits after the only separator: thousands");
	assert.equal(parseAmount("0,1"), 0.1);
	assert.equal(parseAmount("abc"), null);
	assert.equal(parseAmount("1,2,3.4.5"), null);
	assert.equal(asciiDigits("१,२३,४५६.००"), "1,23,456.00");
	assert.equal(parseAmount("१,२३,४५६.००"), 123456);
});

test("dates: numeric day first by default, formats in order, month names in English and Portuguese", () => {
	assert.equal(parseLooseDate("05-11-2026"), "2026-11-05");
	assert.equal(parseLooseDate("5/1/2026"), "2026-01-05");
	assert.equal(parseLooseDate("2026-11-20"), "2026-11-20");
	assert.equal(parseLooseDate("11/20/2026", ["MM/DD/YYYY"]), "2026-11-20");
	assert.equal(parseLooseDate("31/02/2026"), null, "no 31 February");
	assert.equal(parseLooseDate("15 Mar 2026"), "2026-03-15");
	assert.equal(parseLooseDate("3 de março de 2026"), "2026-03-03");
	assert.equal(parseLooseDate("12 Foo 2026"), null);
	assert.equal(detectCurrency("Total R$ 10,00"), "BRL");
	assert.equal(detectCurrency("Total ₹ 10.00"), "INR");
	assert.equal(detectCurrency("Total 10.00"), null);
});

test("templates: JSON files in a folder, matched by every keyword, excluded words and priority; a new file needs no code", () => {
	const dir = mkdtempSync(path.join(os.tmpdir(), "paperwork-templates-"));
	try {
		assert.deepEqual(loadTemplates(path.join(dir, "missing")), []);
		const base: Template = { issuer: "Acme", keywords: ["Acme Corp", "Invoice"], fields: { invoice_number: { regex: "Ref\\s*#\\s*(\\w+)" }, total: { regex: "Pay\\s+([\\d.,]+)", type: "amount" }, issue_date: { regex: "On (\\S+)", type: "date" }, seller_name: { value: "Acme Corp Ltd" } }, options: { decimal_separator: ",", date_formats: ["DD.MM.YYYY"], currency: "EUR" } };
		writeFileSync(path.join(dir, "acme.json"), JSON.stringify(base));
		const text = "ACME CORP\nInvoice\nRef # A77\nOn 02.03.2026\nPay 1.234,50";
		let ts = loadTemplates(dir);
		assert.equal(ts.length, 1);
		const t = matchTemplate(text, ts);
		assert.equal(t?.issuer, "Acme");
		assert.deepEqual(applyTemplate(t!, text), {
			invoice_number: { value: "A77", source: "template", confidence: 0.95 },
			total: { value: 1234.5, source: "template", confidence: 0.95 },
			issue_date: { value: "2026-03-02", source: "template", confidence: 0.95 },
			seller_name: { value: "Acme Corp Ltd", source: "template", confidence: 1 },
			currency: { value: "EUR", source: "template", confidence: 1 }
		});
		assert.equal(matchTemplate("Acme Corp Invoice\nCredit Note", [{ ...base, exclude_keywords: ["credit note"] }]), null);
		assert.equal(matchTemplate("Acme Corp only", ts), null, "every keyword must match");
		// a second, more specific template with a higher priority wins; the folder is re-read when it changes
		writeFileSync(path.join(dir, "acme-eu.json"), JSON.stringify({ ...base, issuer: "Acme EU", priority: 5 }));
		ts = loadTemplates(dir);
		assert.equal(ts.length, 2);
		assert.equal(matchTemplate(text, ts)?.issuer, "Acme EU");
		assert.throws(() => checkTemplate({ issuer: "x", keywords: [], fields: {} }, "x.json"), TemplateError);
		assert.throws(() => checkTemplate({ issuer: "x", keywords: ["a"], fields: { a: { regex: "(" } } }, "x.json"), /regex does not compile/);
		// a template field wins over the generic one; the generic extractor fills the rest
		const ex = extractFields(`${text}\nGST 10,00`, ts);
		assert.equal(ex.template, "Acme EU");
		assert.equal(ex.fields.total.source, "template");
		assert.equal(ex.fields.gst.source, "generic");
		assert.equal(ex.fields.gst.value, 10);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

test("checks: required fields, totals that do not add up (exact cents), bad check digits; a manual value is not re-checked", () => {
	const f = (value: string | number) => ({ value, source: "generic" as const, confidence: 0.9 });
	assert.deepEqual(checkFields({ invoice_number: f("1"), issue_date: f("2026-01-01"), total: f(110.3), subtotal: f(100.1), cgst: f(5.1), sgst: f(5.1) }, "invoice"), []);
	assert.deepEqual(checkFields({ invoice_number: f("1"), total: f(110.31), subtotal: f(100.1), cgst: f(5.1), sgst: f(5.1) }, "invoice").map((c) => c.code), ["missing_field", "totals_mismatch"]);
	assert.deepEqual(checkFields({ buyer_tax_id: { value: "X", source: "generic", confidence: 0 } }, "document").map((c) => c.code), ["bad_check_digit"]);
	assert.deepEqual(checkFields({ buyer_tax_id: { value: "X", source: "manual", confidence: 0 } }, "document"), []);
	assert.deepEqual(checkFields({}, "application"), [], "nothing is required of a document that is not an invoice");
});

test("the generic extractor reads labels in English, Portuguese and Hindi, values on the same or the next line", () => {
	const en = extractGeneric("Northwind Supplies\nInvoice #: NW-1001\nInvoice Date: 15 Mar 2026\nDue Date: 14/04/2026\nBill To: Contoso Retail\nSubtotal $ 1,000.00\nVAT 20% 200.00\nTotal\n$ 1,200.00");
	assert.deepEqual(Object.fromEntries(Object.entries(en).map(([k, v]) => [k, v.value])), { invoice_number: "NW-1001", issue_date: "2026-03-15", due_date: "2026-04-14", subtotal: 1000, total: 1200, vat: 200, tax_total: 200, seller_name: "Northwind Supplies", buyer_name: "Contoso Retail" });
	assert.equal(en.total.confidence < en.subtotal.confidence, true, "a value on the next line is less certain");
	const hi = extractGeneric("बीजक संख्या: HB-7\nदिनांक: ०१/०२/२०२६\nकुल राशि: ₹ ५,०००.००");
	assert.deepEqual([hi.invoice_number?.value, hi.issue_date?.value, hi.total?.value, hi.currency?.value], ["HB-7", "2026-02-01", 5000, "INR"]);
	const pt = extractGeneric("Nota Fiscal nº 000123\nData de emissão: 02/01/2026\nValor total da nota R$ 99,90");
	assert.deepEqual([pt.invoice_number?.value, pt.issue_date?.value, pt.total?.value, pt.currency?.value], ["000123", "2026-01-02", 99.9, "BRL"]);
});

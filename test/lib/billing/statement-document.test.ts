/**
 * The loan-statement template rendered by the Chromium engine in every language, from a real passbook: the amount
 * due, the due date and the cycle's transactions are in the PDF's text.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ChromiumEngine } from "../../../lib/render/chromium.ts";
import { templates, toHtml } from "../../../lib/render/templates.ts";
import { buildPassbook } from "../../../lib/billing/passbook.ts";
import { computeStatement, statementDocumentData } from "../../../lib/billing/statement.ts";
import { LANGS, NAMES, pdftotext } from "../render/fixtures.ts";

let engine: ChromiumEngine;
before(async () => {
	engine = new ChromiumEngine({ tabs: 2, timeoutMs: 30_000 });
	await engine.warmUp();
});
after(async () => {
	await engine.close();
});

/** 1,500.00 / 520.00 as each language prints money (Marathi in Devanagari digits). */
const DUE: Record<(typeof LANGS)[number], string> = { en: "₹520.00", hi: "₹520.00", mr: "₹५२०.००", gu: "₹520.00" };

test("a late borrower's statement in en, hi, mr, gu: name, amount due, and the cycle's payment reference", async () => {
	const loan = { loan_id: "LN-STMT-1", loan_amount: "3000.00", annual_interest_rate: "0", tenure_months: 3, first_emi_date: "2026-01-05" };
	const cycle = { from: "2026-02-11", to: "2026-03-10" };
	const pb = buildPassbook(loan, [{ payment_ref: "UPI-77", amount: "1000.00", paid_at: "2026-01-05T04:30:00Z" }, { payment_ref: "UPI-78", amount: "1500.00", paid_at: "2026-03-10T04:30:00Z" }], cycle.to, { ratePercentPerMonth: "2" });
	const st = computeStatement(pb, cycle);
	await Promise.all(
		LANGS.map(async (lang) => {
			const data = statementDocumentData(st, pb, { loan_id: loan.loan_id, applicant_name: NAMES[lang], address_line1: "12 MG Road", city: "Pune", state: "Maharashtra", postal_code: "411001" });
			assert.deepEqual(templates.validate("loan-statement", lang, data).missing, []);
			const { pdf } = await engine.render(toHtml("loan-statement", lang, data));
			const text = await pdftotext(pdf);
			assert.ok(text.includes(NAMES[lang]), `${lang}: the borrower's name`);
			assert.ok(text.includes(DUE[lang]), `${lang}: the amount due ${DUE[lang]}`);
			assert.ok(text.includes("UPI-78"), `${lang}: the payment of the cycle`);
			assert.ok(!text.includes("UPI-77"), `${lang}: not a payment of an earlier cycle`);
			assert.ok(text.includes("LN-STMT-1"), `${lang}: the loan account`);
		})
	);
});

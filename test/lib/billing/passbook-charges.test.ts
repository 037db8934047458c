/**
 * The client's schedule of charges in the passbook: a fixed or percentage late fee, GST on charges marked plusTax,
 * and bounce charges for payments returned unpaid. Every figure is worked by hand.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildPassbook, checkPassbook, type PassbookLoan, type PassbookPayment } from "../../../lib/billing/passbook.ts";
import { passbookFrom, penaltyRuleOf } from "../../../lib/billing/loans.ts";
import { findSuspectedDuplicates } from "../../../lib/billing/duplicates.ts";
import { computeStatement, statementDocumentData, validateStatement } from "../../../lib/billing/statement.ts";
import { DEFAULT_CHARGES, type ChargesConfig } from "../../../lib/render/charges.ts";
import { templates, toHtml } from "../../../lib/render/templates.ts";
import type { RepaymentRecord } from "../../../lib/records/repayment.ts";
import type { LoanRecord } from "../../../lib/records/loan.ts";

/** 3,000 at 0 % in 3 instalments of 1,000 due on the 5th (Jan, Feb, Mar 2026). */
const FLAT: PassbookLoan = { loan_id: "L-1", loan_amount: "3000.00", annual_interest_rate: "0", tenure_months: 3, first_emi_date: "2026-01-05" };
/** 10:00 India time on a date */
const at = (date: string, hhmm = "10:00"): string => {
	const [h, m] = hhmm.split(":").map(Number);
	const [y, mo, d] = date.split("-").map(Number);
	return new Date(Date.UTC(y, mo - 1, d, h, m) - 330 * 60_000).toISOString().replace(/\.000Z$/, "Z");
};
const pay = (ref: string, amount: string, date: string, extra: Partial<PassbookPayment> = {}): PassbookPayment => ({ payment_ref: ref, amount, paid_at: at(date), ...extra });
const bounced = (ref: string, amount: string, date: string, method = "cheque"): PassbookPayment => pay(ref, amount, date, { status: "bounced", method });
const rules = (config: ChargesConfig) => penaltyRuleOf(config);

test("the schedule of charges as billing reads it: late fee fixed or percent, bounce charges, GST at the schedule's rate", () => {
	// the default schedule: 2 % a month, no GST on it; 500 a bounce plus GST at 18 %
	assert.deepEqual(penaltyRuleOf(undefined), { ratePercentPerMonth: "2", bounce: { amount: "500", taxPercent: "18" } });
	assert.deepEqual(penaltyRuleOf(DEFAULT_CHARGES), penaltyRuleOf(undefined));
	assert.deepEqual(
		rules({
			taxRate: 12,
			items: [
				{ key: "late_payment", kind: "fixed", amount: 300, plusTax: true },
				{ key: "cheque_bounce", kind: "percent", rate: "1.5" },
				{ key: "nach_bounce", kind: "fixed", amount: "400", plusTax: true }
			]
		}),
		{ amountPerMonth: "300", taxPercent: "12", bounce: { ratePercent: "1.5" }, nachBounce: { amount: "400", taxPercent: "12" } }
	);
	// actuals and nil levy nothing; a schedule that levies nothing gives no rules
	assert.equal(rules({ items: [{ key: "late_payment", kind: "nil" }, { key: "cheque_bounce", kind: "actuals" }, { key: "stamp_duty", kind: "actuals" }] }), null);
});

test("a fixed late fee: 300 a month on each penalty day while an instalment is overdue, whatever the amount overdue", () => {
	const rule = rules({ items: [{ key: "late_payment", kind: "fixed", amount: "300", basis: "per_instance" }] });
	// Jan paid on time; Feb and Mar never: 5 Feb nothing overdue (Feb falls due that day), then 5 Mar (1,000 overdue),
	// 5 Apr and 5 May (2,000 overdue): three months, 300 each
	const pb = buildPassbook(FLAT, [pay("P1", "1000.00", "2026-01-05")], "2026-05-05", rule);
	assert.deepEqual(pb.penalties, [
		{ date: "2026-03-05", basis: "1000.00", charge: "300.00", tax: "0.00", amount: "300.00", paid: "0.00" },
		{ date: "2026-04-05", basis: "2000.00", charge: "300.00", tax: "0.00", amount: "300.00", paid: "0.00" },
		{ date: "2026-05-05", basis: "2000.00", charge: "300.00", tax: "0.00", amount: "300.00", paid: "0.00" }
	]);
	// 3,000 billed + 900 penalties - 1,000 paid
	assert.equal(pb.totals.penalties, "900.00");
	assert.equal(pb.totals.balance, "2900.00");
	assert.equal(pb.totals.overdue, "2900.00");
	assert.deepEqual(checkPassbook(pb, FLAT.loan_amount), []);

	// a payment of 1,000 on 10 May pays the three fees first, then 100 of February's instalment
	const paid = buildPassbook(FLAT, [pay("P1", "1000.00", "2026-01-05"), pay("P2", "1000.00", "2026-05-10")], "2026-05-10", rule);
	assert.deepEqual(paid.entries.find((e) => e.ref === "P2")?.allocations, [
		{ to: "penalty", penalty_date: "2026-03-05", amount: "300.00" },
		{ to: "penalty", penalty_date: "2026-04-05", amount: "300.00" },
		{ to: "penalty", penalty_date: "2026-05-05", amount: "300.00" },
		{ to: "principal", instalment: 2, amount: "100.00" }
	]);
	assert.equal(paid.totals.balance, "1900.00");
	assert.deepEqual(checkPassbook(paid, FLAT.loan_amount), []);
});

test("a percentage late fee with plusTax: GST at 18 % on each month's penalty, each rounded half-up to the paisa", () => {
	// 12 %: EMIs 1,020.07, 1,020.07, 1,020.06
	const loan: PassbookLoan = { ...FLAT, annual_interest_rate: "12" };
	const rule = rules({ items: [{ key: "late_payment", kind: "percent", rate: "2", basis: "per_month_overdue", plusTax: true }] });
	const pb = buildPassbook(loan, [], "2026-03-05", rule);
	// 5 Feb: 2 % of 1,020.07 = 20.4014 -> 20.40; GST 18 % of 20.40 = 3.672 -> 3.67
	// 5 Mar: 2 % of 2,040.14 = 40.8028 -> 40.80; GST 18 % of 40.80 = 7.344 -> 7.34
	assert.deepEqual(pb.penalties, [
		{ date: "2026-02-05", basis: "1020.07", charge: "20.40", tax: "3.67", amount: "24.07", paid: "0.00" },
		{ date: "2026-03-05", basis: "2040.14", charge: "40.80", tax: "7.34", amount: "48.14", paid: "0.00" }
	]);
	assert.deepEqual(pb.entries.filter((e) => e.kind === "penalty").map((e) => [e.debit, e.tax]), [["24.07", "3.67"], ["48.14", "7.34"]]);
	// tax per penalty: 11.01 (on the sum, 18 % of 61.20 would be 11.02)
	assert.equal(pb.totals.tax, "11.01");
	assert.equal(pb.totals.penalties, "72.21");
	// 3 x EMI billed (3,060.20) + 72.21
	assert.equal(pb.totals.balance, "3132.41");
	assert.deepEqual(checkPassbook(pb, loan.loan_amount), []);

	// the schedule's own tax rate: 12 % of 20.40 = 2.448 -> 2.45
	const at12 = buildPassbook(loan, [], "2026-02-05", rules({ taxRate: "12", items: [{ key: "late_payment", kind: "percent", rate: "2", plusTax: true }] }));
	assert.equal(at12.penalties[0].tax, "2.45");
});

test("a bounced cheque is no payment: the 500 bounce charge plus 18 % GST is 590.00, and the instalment stays overdue", () => {
	const pb = buildPassbook(FLAT, [bounced("CHQ-1", "1000.00", "2026-01-05")], "2026-01-31", penaltyRuleOf(undefined));
	assert.deepEqual(pb.charges, [{ date: "2026-01-05", key: "cheque_bounce", ref: "CHQ-1", basis: "1000.00", charge: "500.00", tax: "90.00", amount: "590.00", paid: "0.00" }]);
	const entry = pb.entries.find((e) => e.ref === "CHQ-1");
	assert.deepEqual(entry, { date: "2026-01-05", kind: "bounce", ref: "CHQ-1", debit: "590.00", credit: "0.00", amount: "1000.00", tax: "90.00", balance: "1590.00" });
	assert.equal(pb.instalments[0].status, "overdue");
	assert.equal(pb.instalments[0].paid, "0.00");
	assert.deepEqual(
		[pb.totals.paid, pb.totals.bounced, pb.totals.charges, pb.totals.tax, pb.totals.overdue, pb.totals.balance],
		["0.00", "1000.00", "590.00", "90.00", "1590.00", "1590.00"]
	);
	assert.deepEqual(checkPassbook(pb, FLAT.loan_amount), []);
});

test("a bounced NACH debit leaves January overdue: the late fee follows, and the next payment pays the charges first", () => {
	const config: ChargesConfig = {
		items: [...DEFAULT_CHARGES.items, { key: "nach_bounce", kind: "fixed", amount: "472.25", basis: "per_instance", plusTax: true }]
	};
	const rule = rules(config);
	const payments = [bounced("NACH-1", "1000.00", "2026-01-05", "nach"), pay("UPI-2", "2612.26", "2026-02-06", { method: "upi" })];
	const feb5 = buildPassbook(FLAT, payments, "2026-02-05", rule);
	// the NACH item, not the cheque one: 472.25 + 18 % (85.005 -> 85.01) = 557.26
	assert.deepEqual(feb5.charges.map((c) => [c.key, c.charge, c.tax, c.amount]), [["nach_bounce", "472.25", "85.01", "557.26"]]);
	// 5 Feb: January's 1,000 unpaid -> 2 % = 20.00 (the default late fee has no GST)
	assert.deepEqual(feb5.penalties, [{ date: "2026-02-05", basis: "1000.00", charge: "20.00", tax: "0.00", amount: "20.00", paid: "0.00" }]);
	assert.deepEqual(feb5.instalments.map((i) => i.status), ["overdue", "due", "upcoming"]);
	// 2,000 billed + 20.00 + 557.26
	assert.equal(feb5.totals.balance, "2577.26");
	assert.deepEqual(checkPassbook(feb5, FLAT.loan_amount), []);

	// 6 Feb: 2,612.26 pays the bounce charge (oldest), the penalty, January, February, and 35.00 of March
	const feb6 = buildPassbook(FLAT, payments, "2026-02-06", rule);
	assert.deepEqual(feb6.entries.find((e) => e.ref === "UPI-2")?.allocations, [
		{ to: "charge", charge_ref: "NACH-1", amount: "557.26" },
		{ to: "penalty", penalty_date: "2026-02-05", amount: "20.00" },
		{ to: "principal", instalment: 1, amount: "1000.00" },
		{ to: "principal", instalment: 2, amount: "1000.00" },
		{ to: "principal", instalment: 3, amount: "35.00" }
	]);
	assert.equal(feb6.charges[0].paid, "557.26");
	assert.equal(feb6.totals.balance, "-35.00");
	assert.equal(feb6.totals.overdue, "0.00");
	assert.deepEqual(checkPassbook(feb6, FLAT.loan_amount), []);

	// without a nach_bounce item a NACH return takes the cheque_bounce charge
	const plain = buildPassbook(FLAT, payments, "2026-02-05", penaltyRuleOf(undefined));
	assert.deepEqual(plain.charges.map((c) => [c.key, c.amount]), [["cheque_bounce", "590.00"]]);
});

test("a bounce with no charge in the schedule is listed and changes nothing; a held payment that bounced is a bounce", () => {
	const none = buildPassbook(FLAT, [bounced("CHQ-1", "1000.00", "2026-01-05")], "2026-01-31", rules({ items: [{ key: "cheque_bounce", kind: "nil" }] }));
	assert.deepEqual(none.charges, []);
	assert.deepEqual(none.entries.map((e) => [e.kind, e.debit]), [["instalment", "1000.00"], ["bounce", "0.00"]]);
	assert.equal(none.totals.balance, "1000.00");
	assert.deepEqual(checkPassbook(none, FLAT.loan_amount), []);

	const held = buildPassbook(FLAT, [pay("U1", "1000.00", "2026-01-05", { status: "bounced", state: "held" })], "2026-01-31", penaltyRuleOf(undefined));
	assert.equal(held.totals.held, "0.00");
	assert.equal(held.totals.bounced, "1000.00");
	assert.equal(held.totals.charges, "590.00");
});

test("from the records: a bounced repayment (status) is never applied and never a suspected duplicate; old records are payments", () => {
	const rec = (ref: string, minute: number, extra: Partial<RepaymentRecord> = {}): RepaymentRecord => ({
		payment_ref: ref,
		loan_id: "L-1",
		amount: "1000.00",
		paid_at: at("2026-01-05", `10:${String(minute).padStart(2, "0")}`),
		method: "nach",
		payer_ref: null,
		...extra
	});
	// the debit returned, then the borrower paid by UPI five minutes later: not a duplicate of the bounce
	const records = [rec("NACH-1", 0, { status: "bounced" }), rec("UPI-1", 5, { method: "upi" })];
	assert.deepEqual(findSuspectedDuplicates(records, 600), []);
	// two real payments five minutes apart still are
	assert.equal(findSuspectedDuplicates([rec("NACH-1", 0), rec("UPI-1", 5)], 600).length, 1);

	const loan: LoanRecord = {
		...FLAT,
		applicant_name: "Asha Patil",
		language: "en",
		phone: "+919876543210",
		email: null,
		address_line1: "12 MG Road",
		address_line2: null,
		city: "Pune",
		state: "Maharashtra",
		postal_code: "411001",
		disbursement_date: "2025-12-01",
		processing_fee: null
	};
	const pb = passbookFrom(loan, records, [], "2026-01-31", penaltyRuleOf(undefined));
	assert.deepEqual(pb.entries.map((e) => [e.kind, e.ref, e.debit, e.credit]), [
		["instalment", "1", "1000.00", "0.00"],
		["bounce", "NACH-1", "590.00", "0.00"],
		["payment", "UPI-1", "0.00", "1000.00"]
	]);
	// UPI-1 paid the bounce charge first, then 410.00 of January
	assert.equal(pb.totals.balance, "590.00");
	assert.deepEqual(checkPassbook(pb, FLAT.loan_amount), []);
});

test("the statement shows the cycle's bounce charges and the GST in them; its sums and the passbook balance to the paisa", () => {
	const cycle = { from: "2026-01-01", to: "2026-01-31" };
	const pb = buildPassbook(FLAT, [bounced("CHQ-1", "1000.00", "2026-01-05")], cycle.to, penaltyRuleOf(undefined));
	const st = computeStatement(pb, cycle);
	assert.deepEqual(
		{ opening: st.opening_balance, billed: st.instalments_billed, penalties: st.penalties, charges: st.charges, tax: st.tax, payments: st.payments, closing: st.closing_balance, arrears: st.arrears, due: st.amount_due },
		{ opening: "0.00", billed: "1000.00", penalties: "0.00", charges: "590.00", tax: "90.00", payments: "0.00", closing: "1590.00", arrears: "1590.00", due: "2590.00" }
	);
	assert.deepEqual(st.bounced_refs, ["CHQ-1"]);
	assert.deepEqual(st.payment_refs, []);
	assert.deepEqual(validateStatement(st, pb, FLAT.loan_amount), []);
	// the charges are part of the sum the validate step checks
	assert.ok(validateStatement({ ...st, charges: "0.00" }, pb, FLAT.loan_amount).some((p) => p.check === "statement_sum"));
	// a statement stored before charges existed (no charges field) still validates
	const old = buildPassbook(FLAT, [pay("P1", "1000.00", "2026-01-05")], cycle.to, penaltyRuleOf(undefined));
	const { charges: _c, tax: _t, bounced_refs: _b, ...stored } = computeStatement(old, cycle);
	assert.deepEqual(validateStatement(stored, old, FLAT.loan_amount), []);

	// the loan-statement template prints the charge rows and the bounce entry, in every language
	const data = statementDocumentData(st, pb, { loan_id: "L-1", applicant_name: "Asha Patil", city: "Pune" });
	assert.equal(data.charges, "590.00");
	assert.equal(data.tax, "90.00");
	for (const lang of ["en", "hi", "mr", "gu"]) {
		assert.deepEqual(templates.validate("loan-statement", lang, data).missing, []);
		const html = toHtml("loan-statement", lang, data);
		assert.ok(html.includes("CHQ-1"), `${lang}: the bounced payment's reference`);
	}
	const en = toHtml("loan-statement", "en", data);
	assert.ok(en.includes("Payment ref. CHQ-1 returned unpaid: bounce charges"));
	assert.ok(en.includes("Bounce charges") && en.includes("₹590.00") && en.includes("₹90.00"));
	// no charges: no charge rows
	const plain = statementDocumentData(computeStatement(old, cycle), old, { loan_id: "L-1", applicant_name: "Asha Patil" });
	assert.ok(!("charges" in plain) && !("tax" in plain));
	assert.ok(!toHtml("loan-statement", "en", plain).includes("Bounce charges"));
});

test("checkPassbook finds a charge whose tax does not add up", () => {
	const pb = buildPassbook(FLAT, [bounced("CHQ-1", "1000.00", "2026-01-05")], "2026-01-31", penaltyRuleOf(undefined));
	const broken = structuredClone(pb);
	broken.charges[0].tax = "91.00";
	const checks = checkPassbook(broken, FLAT.loan_amount).map((p) => p.check);
	assert.ok(checks.includes("charge_tax"));
	assert.ok(checks.includes("charge_totals"));
});

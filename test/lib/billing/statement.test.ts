import { test } from "node:test";
import assert from "node:assert/strict";
import { buildPassbook, type PassbookLoan } from "../../../lib/billing/passbook.ts";
import { computeStatement, cycleEndingBy, validateStatement } from "../../../lib/billing/statement.ts";

const FLAT: PassbookLoan = { loan_id: "L-1", loan_amount: "3000.00", annual_interest_rate: "0", tenure_months: 3, first_emi_date: "2026-01-05" };
const PENALTY = { ratePercentPerMonth: "2" };
const pay = (ref: string, amount: string, paid_at: string) => ({ payment_ref: ref, amount, paid_at });

test("cycleEndingBy: the cycle ending on the statement day at or before a date, clamped to short months", () => {
	assert.deepEqual(cycleEndingBy("2026-12-20", 5), { from: "2026-11-06", to: "2026-12-05" });
	assert.deepEqual(cycleEndingBy("2026-12-05", 5), { from: "2026-11-06", to: "2026-12-05" });
	assert.deepEqual(cycleEndingBy("2026-12-04", 5), { from: "2026-10-06", to: "2026-11-05" });
	assert.deepEqual(cycleEndingBy("2026-03-01", 31), { from: "2026-02-01", to: "2026-02-28" });
});

test("a statement for a late borrower: brought forward, billed, penalty, payment, arrears and amount due", () => {
	const cycle = cycleEndingBy("2026-03-10", 10);
	assert.deepEqual(cycle, { from: "2026-02-11", to: "2026-03-10" });
	const pb = buildPassbook(FLAT, [pay("P1", "1000.00", "2026-01-05T04:30:00Z"), pay("P2", "1500.00", "2026-03-10T04:30:00Z")], cycle.to, PENALTY);
	const st = computeStatement(pb, cycle);
	assert.equal(st.opening_balance, "1000.00");
	assert.equal(st.instalments_billed, "1000.00");
	assert.deepEqual(st.instalments, [3]);
	assert.equal(st.penalties, "20.00");
	assert.equal(st.payments, "1500.00");
	assert.deepEqual(st.payment_refs, ["P2"]);
	assert.equal(st.closing_balance, "520.00");
	assert.equal(st.arrears, "520.00");
	// no instalment left: due a week after the statement
	assert.equal(st.next_instalment, null);
	assert.equal(st.amount_due, "520.00");
	assert.equal(st.due_date, "2026-03-17");
	assert.deepEqual(validateStatement(st, pb, FLAT.loan_amount), []);
});

test("a statement mid-loan asks for the next instalment by its due date; credit lowers it, never below zero", () => {
	const cycle = { from: "2026-01-01", to: "2026-01-31" };
	const onTime = buildPassbook(FLAT, [pay("P1", "1000.00", "2026-01-05T04:30:00Z")], cycle.to, PENALTY);
	const st = computeStatement(onTime, cycle);
	assert.equal(st.closing_balance, "0.00");
	assert.deepEqual(st.next_instalment, { no: 2, due_date: "2026-02-05", amount: "1000.00" });
	assert.equal(st.amount_due, "1000.00");
	assert.equal(st.due_date, "2026-02-05");

	const ahead = buildPassbook(FLAT, [pay("P1", "1300.00", "2026-01-05T04:30:00Z")], cycle.to, PENALTY);
	const st2 = computeStatement(ahead, cycle);
	assert.equal(st2.closing_balance, "-300.00");
	assert.equal(st2.amount_due, "700.00");

	const paidUp = buildPassbook(FLAT, [pay("P1", "3000.00", "2026-01-05T04:30:00Z")], cycle.to, PENALTY);
	assert.equal(computeStatement(paidUp, cycle).amount_due, "0.00");
	for (const [s, pb] of [[st, onTime], [st2, ahead]] as const) assert.deepEqual(validateStatement(s, pb, FLAT.loan_amount), []);
});

test("a statement whose sums were tampered with fails validation", () => {
	const cycle = { from: "2026-01-01", to: "2026-01-31" };
	const pb = buildPassbook(FLAT, [pay("P1", "1000.00", "2026-01-05T04:30:00Z")], cycle.to);
	const st = { ...computeStatement(pb, cycle), payments: "900.00" };
	assert.ok(validateStatement(st, pb, FLAT.loan_amount).some((p) => p.check === "statement_sum"));
	assert.throws(() => computeStatement(pb, { from: "2026-02-01", to: "2026-02-28" }), /as of 2026-01-31/);
});

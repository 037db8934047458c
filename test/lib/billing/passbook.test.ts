import { test } from "node:test";
import assert from "node:assert/strict";
import { buildPassbook, checkPassbook, type PassbookLoan, type PassbookPayment } from "../../../lib/billing/passbook.ts";

/** 3,000 at 0 % in 3 instalments of 1,000 due on the 5th (Jan, Feb, Mar 2026): every figure below is worked by hand. */
const FLAT: PassbookLoan = { loan_id: "L-1", loan_amount: "3000.00", annual_interest_rate: "0", tenure_months: 3, first_emi_date: "2026-01-05" };
const PENALTY = { ratePercentPerMonth: "2" };
/** 10:00 India time on a date */
const at = (date: string, hhmm = "10:00"): string => {
	const [h, m] = hhmm.split(":").map(Number);
	const [y, mo, d] = date.split("-").map(Number);
	return new Date(Date.UTC(y, mo - 1, d, h, m) - 330 * 60_000).toISOString().replace(/\.000Z$/, "Z");
};
const pay = (ref: string, amount: string, date: string, hhmm?: string, state?: PassbookPayment["state"]): PassbookPayment => ({ payment_ref: ref, amount, paid_at: at(date, hhmm), ...(state ? { state } : {}) });

test("on time: every instalment paid on or before its day, nothing owed, no penalty", () => {
	const pb = buildPassbook(FLAT, [pay("P1", "1000.00", "2026-01-05"), pay("P2", "1000.00", "2026-02-04"), pay("P3", "1000.00", "2026-03-05")], "2026-03-31", PENALTY);
	assert.deepEqual(pb.instalments.map((i) => [i.status, i.paid_on]), [["paid", "2026-01-05"], ["paid", "2026-02-04"], ["paid", "2026-03-05"]]);
	assert.equal(pb.totals.balance, "0.00");
	assert.equal(pb.totals.penalties, "0.00");
	assert.equal(pb.totals.outstanding_principal, "0.00");
	// paid a day early: it went to the current instalment, not to credit
	assert.deepEqual(pb.entries.find((e) => e.ref === "P2")?.allocations, [{ to: "principal", instalment: 2, amount: "1000.00" }]);
	assert.deepEqual(checkPassbook(pb, FLAT.loan_amount), []);
});

test("late: 2 % a month on the overdue instalment, and a payment pays the penalty, then the oldest instalment", () => {
	const before = buildPassbook(FLAT, [pay("P1", "1000.00", "2026-01-05")], "2026-03-09", PENALTY);
	// Feb's instalment unpaid on 5 March: 2 % of 1,000
	assert.deepEqual(before.penalties, [{ date: "2026-03-05", basis: "1000.00", charge: "20.00", tax: "0.00", amount: "20.00", paid: "0.00" }]);
	assert.equal(before.totals.overdue, "2020.00");
	assert.equal(before.totals.balance, "2020.00");
	assert.deepEqual(before.instalments.map((i) => i.status), ["paid", "overdue", "overdue"]);

	const pb = buildPassbook(FLAT, [pay("P1", "1000.00", "2026-01-05"), pay("P2", "1500.00", "2026-03-10")], "2026-03-10", PENALTY);
	assert.deepEqual(pb.entries.find((e) => e.ref === "P2")?.allocations, [
		{ to: "penalty", penalty_date: "2026-03-05", amount: "20.00" },
		{ to: "principal", instalment: 2, amount: "1000.00" },
		{ to: "principal", instalment: 3, amount: "480.00" }
	]);
	assert.equal(pb.totals.balance, "520.00");
	assert.equal(pb.totals.overdue, "520.00");
	assert.equal(pb.totals.outstanding_principal, "520.00");
	assert.deepEqual(checkPassbook(pb, FLAT.loan_amount), []);
});

test("partial, then an excess: the excess prepays the next instalment and the rest is credit", () => {
	const pb = buildPassbook(FLAT, [pay("P1", "500.00", "2026-01-05"), pay("P2", "2600.00", "2026-02-10")], "2026-03-05", PENALTY);
	// 5 Feb: 2 % of the 500 still unpaid of January's instalment
	assert.deepEqual(pb.penalties, [{ date: "2026-02-05", basis: "500.00", charge: "10.00", tax: "0.00", amount: "10.00", paid: "10.00" }]);
	assert.deepEqual(pb.entries.find((e) => e.ref === "P2")?.allocations, [
		{ to: "penalty", penalty_date: "2026-02-05", amount: "10.00" },
		{ to: "principal", instalment: 1, amount: "500.00" },
		{ to: "principal", instalment: 2, amount: "1000.00" },
		{ to: "principal", instalment: 3, amount: "1000.00" },
		{ to: "credit", amount: "90.00" }
	]);
	assert.equal(pb.totals.credit, "90.00");
	assert.equal(pb.totals.balance, "-90.00");
	assert.equal(pb.instalments[2].paid_on, "2026-02-10");
	assert.deepEqual(checkPassbook(pb, FLAT.loan_amount), []);
});

test("early: a payment before the first instalment pays it and the credit pays the later ones as they fall due", () => {
	const pb = buildPassbook(FLAT, [pay("P1", "3000.00", "2025-12-20")], "2026-03-05", PENALTY);
	assert.deepEqual(pb.instalments.map((i) => i.paid_on), ["2025-12-20", "2026-02-05", "2026-03-05"]);
	assert.deepEqual(
		pb.entries.filter((e) => e.kind === "credit_applied").map((e) => [e.date, e.amount]),
		[["2026-02-05", "1000.00"], ["2026-03-05", "1000.00"]]
	);
	assert.equal(pb.totals.credit, "0.00");
	assert.equal(pb.totals.balance, "0.00");
	assert.deepEqual(checkPassbook(pb, FLAT.loan_amount), []);
});

test("a payment's day is its India date: 01:30 IST on the due date is on time, 23:30 IST the day before is early", () => {
	const onDay = buildPassbook(FLAT, [{ payment_ref: "P1", amount: "1000.00", paid_at: "2026-02-04T20:00:00Z" }], "2026-02-05");
	assert.equal(onDay.entries.find((e) => e.ref === "P1")?.date, "2026-02-05");
	const dayBefore = buildPassbook(FLAT, [{ payment_ref: "P1", amount: "1000.00", paid_at: "2026-02-04T18:00:00Z" }], "2026-02-05");
	assert.equal(dayBefore.entries.find((e) => e.ref === "P1")?.date, "2026-02-04");
});

test("interest before principal within an instalment, exact to the paisa (12 %: EMIs 1,020.07, 1,020.07, 1,020.06)", () => {
	const loan: PassbookLoan = { ...FLAT, annual_interest_rate: "12" };
	const pb = buildPassbook(loan, [pay("P1", "25.00", "2026-01-05"), pay("P2", "2000.00", "2026-02-05")], "2026-02-05");
	assert.deepEqual(pb.instalments.map((i) => [i.amount, i.interest, i.principal]), [
		["1020.07", "30.00", "990.07"],
		["1020.07", "20.10", "999.97"],
		["1020.06", "10.10", "1009.96"]
	]);
	assert.deepEqual(pb.entries.find((e) => e.ref === "P1")?.allocations, [{ to: "interest", instalment: 1, amount: "25.00" }]);
	assert.deepEqual(pb.entries.find((e) => e.ref === "P2")?.allocations, [
		{ to: "interest", instalment: 1, amount: "5.00" },
		{ to: "principal", instalment: 1, amount: "990.07" },
		{ to: "interest", instalment: 2, amount: "20.10" },
		{ to: "principal", instalment: 2, amount: "984.83" }
	]);
	assert.equal(pb.totals.outstanding_principal, "1025.10");
	assert.deepEqual(checkPassbook(pb, loan.loan_amount), []);
});

test("a held duplicate is listed but not applied; refunded the same; a rejected refund is applied as of its day", () => {
	const payments = (state?: PassbookPayment["state"]) => [pay("U1", "1000.00", "2026-01-05", "10:00"), pay("U2", "1000.00", "2026-01-05", "10:04", state)];
	const held = buildPassbook(FLAT, payments("held"), "2026-01-31");
	assert.equal(held.totals.held, "1000.00");
	assert.equal(held.totals.paid, "1000.00");
	assert.equal(held.totals.balance, "0.00");
	assert.equal(held.entries.find((e) => e.ref === "U2")?.kind, "held");
	const refunded = buildPassbook(FLAT, payments("refunded"), "2026-01-31");
	assert.equal(refunded.totals.refunded, "1000.00");
	assert.equal(refunded.totals.balance, "0.00");
	const credited = buildPassbook(FLAT, payments("applied"), "2026-01-31");
	assert.equal(credited.totals.paid, "2000.00");
	assert.equal(credited.totals.balance, "-1000.00");
	assert.equal(credited.instalments[1].paid_on, "2026-01-05");
	for (const pb of [held, refunded, credited]) assert.deepEqual(checkPassbook(pb, FLAT.loan_amount), []);
});

test("penalties go on monthly after the last instalment while it stays unpaid", () => {
	const pb = buildPassbook(FLAT, [], "2026-05-05", PENALTY);
	// 5 Feb: 2 % of 1,000; 5 Mar: of 2,000; 5 Apr and 5 May: of 3,000
	assert.deepEqual(pb.penalties.map((p) => [p.date, p.basis, p.amount]), [
		["2026-02-05", "1000.00", "20.00"],
		["2026-03-05", "2000.00", "40.00"],
		["2026-04-05", "3000.00", "60.00"],
		["2026-05-05", "3000.00", "60.00"]
	]);
	assert.equal(pb.totals.balance, "3180.00");
	assert.equal(pb.next_due, null);
	assert.deepEqual(checkPassbook(pb, FLAT.loan_amount), []);
});

test("the same input gives the same passbook whatever the order the payments are listed in", () => {
	const ps = [pay("A", "700.00", "2026-01-05"), pay("B", "700.00", "2026-02-05"), pay("C", "1600.00", "2026-03-01")];
	assert.deepEqual(buildPassbook(FLAT, ps, "2026-03-31", PENALTY), buildPassbook(FLAT, [...ps].reverse(), "2026-03-31", PENALTY));
});

test("checkPassbook finds a passbook that does not add up", () => {
	const pb = buildPassbook(FLAT, [pay("P1", "1000.00", "2026-01-05")], "2026-01-31");
	const broken = structuredClone(pb);
	broken.totals.balance = "1.00";
	broken.entries[1].balance = "5.00";
	const checks = checkPassbook(broken, FLAT.loan_amount).map((p) => p.check);
	assert.ok(checks.includes("running_balance"));
	assert.ok(checks.includes("balance"));
	assert.ok(checkPassbook(pb, "2999.00").some((p) => p.check === "principal"));
});

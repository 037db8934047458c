import { test } from "node:test";
import assert from "node:assert/strict";
import { applyRefundEvent, isRefundOverdue, requestRefund } from "../../../lib/billing/refunds.ts";
import { findSuspectedDuplicates } from "../../../lib/billing/duplicates.ts";

const t0 = new Date("2026-12-01T10:00:00Z");
const later = (min: number) => new Date(t0.getTime() + min * 60_000);

test("confirm: the repayment is refunded; the same confirmation again changes nothing; a rejection after it is a conflict", () => {
	const s0 = requestRefund(t0);
	const r1 = applyRefundEvent(s0, "confirm", later(5), "client:acme");
	assert.ok(r1.changed);
	assert.equal(r1.state.status, "confirmed");
	assert.equal(r1.repayment, "refunded");
	assert.deepEqual(r1.state.history.map((h) => [h.status, h.by]), [["requested", "billing"], ["confirmed", "client:acme"]]);
	const again = applyRefundEvent(r1.state, "confirm", later(6), "client:acme");
	assert.equal(again.changed, false);
	assert.equal(again.state, r1.state);
	const conflict = applyRefundEvent(r1.state, "reject", later(7), "client:acme");
	assert.equal(conflict.changed, false);
	assert.match(conflict.changed ? "" : conflict.conflict ?? "", /already confirmed/);
});

test("reject: the repayment becomes the borrower's credit (applied)", () => {
	const r = applyRefundEvent(requestRefund(t0), "reject", later(1), "client:acme", "borrower asked to keep it");
	assert.ok(r.changed);
	assert.equal(r.repayment, "applied");
	assert.equal(r.state.history[1].note, "borrower asked to keep it");
});

test("timeout: overdue after the limit, alerts once, and a late answer is still taken", () => {
	const s0 = requestRefund(t0);
	assert.equal(isRefundOverdue(s0, later(59), 3600_000), false);
	assert.equal(isRefundOverdue(s0, later(61), 3600_000), true);
	const timedOut = applyRefundEvent(s0, "timeout", later(61), "billing");
	assert.ok(timedOut.changed && timedOut.alert);
	assert.equal(timedOut.state.status, "timed_out");
	assert.equal(isRefundOverdue(timedOut.state, later(200), 3600_000), false);
	assert.equal(applyRefundEvent(timedOut.state, "timeout", later(200), "billing").changed, false);
	const late = applyRefundEvent(timedOut.state, "confirm", later(300), "client:acme");
	assert.ok(late.changed);
	assert.equal(late.repayment, "refunded");
	// a decided refund never times out
	assert.equal(applyRefundEvent(late.state, "timeout", later(400), "billing").changed, false);
});

test("withdraw: an open request (requested or timed out) is withdrawn when its payment bounced; no answer is taken after it; a decided one stays decided", () => {
	const w = applyRefundEvent(requestRefund(t0), "withdraw", later(30), "billing", "payment UPI-2 bounced");
	assert.ok(w.changed);
	assert.deepEqual([w.state.status, w.repayment, w.alert], ["withdrawn", "applied", false]);
	assert.deepEqual(w.state.history.map((h) => [h.status, h.by, h.note]), [["requested", "billing", undefined], ["withdrawn", "billing", "payment UPI-2 bounced"]]);
	for (const answer of ["confirm", "reject"] as const) {
		const late = applyRefundEvent(w.state, answer, later(40), "client:acme");
		assert.equal(late.changed, false);
		assert.match(late.changed ? "" : late.conflict ?? "", /withdrawn \(payment UPI-2 bounced\): there is nothing to refund/);
	}
	assert.deepEqual(applyRefundEvent(w.state, "withdraw", later(41), "billing"), { changed: false, state: w.state }, "withdrawn once");
	assert.equal(applyRefundEvent(w.state, "timeout", later(5000), "billing").changed, false);
	const timedOut = applyRefundEvent(requestRefund(t0), "timeout", later(61), "billing");
	assert.ok(timedOut.changed);
	assert.equal(applyRefundEvent(timedOut.state, "withdraw", later(62), "billing").state.status, "withdrawn");
	const confirmed = applyRefundEvent(requestRefund(t0), "confirm", later(5), "client:acme");
	assert.ok(confirmed.changed);
	const after = applyRefundEvent(confirmed.state, "withdraw", later(30), "billing");
	assert.equal(after.changed, false);
	assert.match(after.changed ? "" : after.conflict ?? "", /already confirmed/);
});

test("suspected duplicates: same loan and amount within the window under another reference", () => {
	const p = (ref: string, loan: string, amount: string, min: number) => ({ payment_ref: ref, loan_id: loan, amount, paid_at: later(min).toISOString().replace(/\.000Z$/, "Z") });
	const found = findSuspectedDuplicates([
		p("U3", "L-1", "1000.00", 25), // 21 min after U2: not a suspect
		p("U2", "L-1", "1000.00", 4),
		p("U1", "L-1", "1000.00", 0),
		p("U4", "L-1", "999.00", 1), // another amount
		p("U5", "L-2", "1000.00", 1), // another loan
		p("U6", "L-2", "1000.00", 11) // 10 min after U5: exactly the window, a suspect
	]);
	assert.deepEqual(found, [
		{ payment_ref: "U2", of: "U1", loan_id: "L-1", amount: "1000.00", gap_seconds: 240 },
		{ payment_ref: "U6", of: "U5", loan_id: "L-2", amount: "1000.00", gap_seconds: 600 }
	]);
	assert.deepEqual(findSuspectedDuplicates([p("U1", "L-1", "1000.00", 0), p("U1", "L-1", "1000.00", 1)]), []);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { validate, defaultHeader, businessKey } from "../../../lib/records/index.ts";
import { indiaDate, parsePaidAt } from "../../../lib/records/repayment.ts";

const NOW = new Date("2026-12-02T06:00:00Z");

test("a repayment is keyed by its payment reference and normalised", () => {
	assert.equal(defaultHeader("repayment"), "payment_ref,loan_id,amount,paid_at,method,payer_ref,status");
	const r = validate("repayment", { payment_ref: " UPI-4411 ", loan_id: "L-1", amount: "1020.07", paid_at: "2026-11-30 10:15", method: "UPI", payer_ref: "asha@okbank" }, { now: NOW });
	assert.deepEqual(r, { ok: true, record: { payment_ref: "UPI-4411", loan_id: "L-1", amount: "1020.07", paid_at: "2026-11-30T04:45:00Z", method: "upi", payer_ref: "asha@okbank" } });
	assert.equal(businessKey("repayment", r.ok ? r.record : {}), "UPI-4411");
});

test("paid_at: India time by default, an explicit offset or Z is honoured, a date alone is India midnight", () => {
	assert.deepEqual(parsePaidAt("2026-11-30T10:15:00+05:30", "YYYY-MM-DD"), { ok: true, value: "2026-11-30T04:45:00Z" });
	assert.deepEqual(parsePaidAt("2026-11-30T04:45:09Z", "YYYY-MM-DD"), { ok: true, value: "2026-11-30T04:45:09Z" });
	assert.deepEqual(parsePaidAt("2026-11-30 01:00-03:00", "YYYY-MM-DD"), { ok: true, value: "2026-11-30T04:00:00Z" });
	assert.deepEqual(parsePaidAt("30/11/2026", "DD/MM/YYYY"), { ok: true, value: "2026-11-29T18:30:00Z" });
	assert.equal(indiaDate("2026-11-29T18:30:00Z"), "2026-11-30");
	assert.equal(indiaDate("2026-11-29T18:29:59Z"), "2026-11-29");
});

test("bad repayments are rejected field by field with reasons", () => {
	const r = validate("repayment", { payment_ref: "", loan_id: "L-1", amount: "-5", paid_at: "2026-11-31 10:00", method: "bitcoin" }, { now: NOW });
	assert.equal(r.ok, false);
	const codes = r.ok ? [] : r.errors.map((e) => `${e.field}:${e.code}`);
	assert.ok(codes.includes("payment_ref:required"));
	assert.ok(codes.some((c) => c.startsWith("amount:")));
	assert.ok(codes.includes("paid_at:invalid_date"));
	assert.ok(codes.includes("method:invalid_method"));
	const future = validate("repayment", { payment_ref: "X", loan_id: "L-1", amount: "10", paid_at: "2026-12-05 10:00" }, { now: NOW });
	assert.deepEqual(future.ok ? [] : future.errors.map((e) => e.code), ["future_date"]);
	const badTime = validate("repayment", { payment_ref: "X", loan_id: "L-1", amount: "10", paid_at: "2026-11-30 25:00" }, { now: NOW });
	assert.deepEqual(badTime.ok ? [] : badTime.errors.map((e) => e.code), ["invalid_date"]);
});

test("status: bounced is kept, paid or empty is a payment stored without the field, anything else is rejected with the reason", () => {
	const row = (status?: string) => ({ payment_ref: "NACH-9", loan_id: "L-1", amount: "1000", paid_at: "2026-11-30 10:15", method: "nach", ...(status === undefined ? {} : { status }) });
	const bounced = validate("repayment", row(" Bounced "), { now: NOW });
	assert.deepEqual(bounced.ok ? bounced.record : null, { payment_ref: "NACH-9", loan_id: "L-1", amount: "1000.00", paid_at: "2026-11-30T04:45:00Z", method: "nach", payer_ref: null, status: "bounced" });
	for (const paid of [undefined, "", "paid", "PAID"]) {
		const r = validate("repayment", row(paid), { now: NOW });
		assert.ok(r.ok && !("status" in r.record), `status ${String(paid)}: a payment, no status stored`);
	}
	const bad = validate("repayment", row("returned"), { now: NOW });
	assert.deepEqual(bad.ok ? [] : bad.errors, [{ field: "status", code: "invalid_status", message: "status 'returned' is not one of paid, bounced (empty: paid)" }]);
});

/**
 * Billing's operator alerts against an AlertSink double on the embedded store: a refund request that times out
 * raises `refund_timeout` once, and a run with many loans halted at one step raises `billing_halted` once per step.
 */
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import type { StoreAdapter } from "../../../lib/store/types.ts";
import { REFUND_INDEXES } from "../../../lib/billing/loans.ts";
import { sweepRefunds, withdrawBouncedRefunds } from "../../../lib/billing/refund-requests.ts";
import { requestRefund } from "../../../lib/billing/refunds.ts";
import { alertBouncedRefunds, alertHalts, alertRefundTimeouts } from "../../../lib/billing/alerts.ts";
import type { RepaymentRecord } from "../../../lib/records/index.ts";
import { ITEMS, ITEM_INDEXES, RUNS, RUN_INDEXES, itemId, type BillingRunDoc } from "../../../lib/billing/runs.ts";
import type { RunPorts } from "../../../lib/billing/run-control.ts";
import type { AlertKind } from "../../../lib/alerts/index.ts";

let store: SqliteStore;
let refunds: StoreAdapter;
let ports: RunPorts;
const raised: { kind: AlertKind; text: string; details?: Record<string, unknown> }[] = [];
const sink = { raise: (kind: AlertKind, text: string, details?: Record<string, unknown>) => void raised.push({ kind, text, details }) };

before(async () => {
	store = new SqliteStore({ file: ":memory:" });
	refunds = store.adapter("refunds");
	const runs = store.adapter(RUNS);
	const items = store.adapter(ITEMS);
	await Promise.all([refunds.connect(), runs.connect(), items.connect()]);
	await Promise.all([refunds.ensureIndexes(REFUND_INDEXES), runs.ensureIndexes(RUN_INDEXES), items.ensureIndexes(ITEM_INDEXES)]);
	ports = {
		runs,
		items,
		records: () => Promise.reject(new Error("not used")),
		enqueue: () => Promise.reject(new Error("not used"))
	};
});
after(() => store.close());
beforeEach(() => {
	raised.length = 0;
});

test("a refund request unanswered past the timeout raises refund_timeout once, saying whether its notice was delivered", async () => {
	const old = new Date(Date.now() - 80 * 3600_000);
	const a = await refunds.insert({ client: "c1", loan_id: "L-1", payment_ref: "UPI-2", of: "UPI-1", amount: "1000.00", paid_at: "2026-01-05T04:34:00Z", ...requestRefund(old), notice: { deliveredAt: old.toISOString() } });
	const b = await refunds.insert({ client: "c2", loan_id: "L-9", payment_ref: "UPI-9", of: "UPI-8", amount: "10.00", paid_at: "2026-01-05T04:30:00Z", ...requestRefund(old), notice: { lastError: "webhook answered 502" } });
	await refunds.insert({ client: "c1", loan_id: "L-1", payment_ref: "UPI-3", of: "UPI-1", amount: "1000.00", paid_at: "2026-01-05T04:35:00Z", ...requestRefund(new Date()) });
	const timeout = 72 * 3600_000;
	alertRefundTimeouts(sink, await sweepRefunds(refunds, timeout), 72);
	assert.deepEqual(raised.map((r) => [r.kind, r.details?.refundId]).sort(), [["refund_timeout", a._id], ["refund_timeout", b._id]].sort());
	const ofB = raised.find((r) => r.details?.refundId === b._id);
	assert.match(ofB?.text ?? "", /no answer from the client in 72 h; its notice was not delivered \(webhook answered 502\)/);
	assert.deepEqual(ofB?.details, { refundId: b._id, clientId: "c2", loanId: "L-9", requestedAt: old.toISOString(), noticeDelivered: false });
	assert.match(raised.find((r) => r.details?.refundId === a._id)?.text ?? "", /its notice was delivered/);

	// the next sweep finds them timed out already: nothing more
	raised.length = 0;
	alertRefundTimeouts(sink, await sweepRefunds(refunds, timeout), 72);
	assert.deepEqual(raised, []);
});

test("a bounce after a confirmed refund raises refund_bounced once, saying which payment bounced", async () => {
	const at = new Date();
	const own = await refunds.insert({ client: "c3", loan_id: "L-3", payment_ref: "UPI-32", of: "UPI-31", amount: "500.00", paid_at: "2026-01-05T04:34:00Z", ...requestRefund(at), status: "confirmed" });
	const original = await refunds.insert({ client: "c3", loan_id: "L-4", payment_ref: "UPI-42", of: "UPI-41", amount: "700.00", paid_at: "2026-01-05T04:34:00Z", ...requestRefund(at), status: "confirmed" });
	const pays: Record<string, RepaymentRecord[]> = {
		"L-3": [{ payment_ref: "UPI-31" }, { payment_ref: "UPI-32", status: "bounced" }] as RepaymentRecord[],
		"L-4": [{ payment_ref: "UPI-41", status: "bounced" }, { payment_ref: "UPI-42" }] as RepaymentRecord[]
	};
	const check = async () => alertBouncedRefunds(sink, (await withdrawBouncedRefunds(refunds, "c3", ["L-3", "L-4"], (l) => pays[l] ?? [], at)).flagged);
	await check();
	assert.deepEqual(raised.map((r) => [r.kind, r.details?.refundId, r.details?.bouncedPayment]).sort(), [["refund_bounced", own._id, "UPI-32"], ["refund_bounced", original._id, "UPI-41"]].sort());
	assert.match(raised.find((r) => r.details?.refundId === own._id)?.text ?? "", /the refunded payment itself bounced: the borrower was refunded money never received/);
	assert.match(raised.find((r) => r.details?.refundId === original._id)?.text ?? "", /the payment it repeated \(UPI-41\) bounced: the borrower was refunded the only payment/);
	// the same return file checked again: no second alert
	raised.length = 0;
	await check();
	assert.deepEqual(raised, []);
});

test("many loans halted at one step raise billing_halted once per run and step; a few do not", async () => {
	const run: BillingRunDoc = { _id: "run-h", clientId: "c1", cycle: { from: "2026-10-11", to: "2026-11-10" }, pdf: false, startedBy: "test", loans: 400, createdAt: new Date(), updatedAt: new Date() };
	await ports.runs.insert({ ...run });
	const halt = async (step: string, n: number, from = 0) => {
		for (let i = from; i < from + n; i++) {
			const loanId = `${step}-${i}`;
			await ports.items.insert({ _id: itemId("c1", "2026-11-10", loanId), runId: run._id, clientId: "c1", loanId, cycleTo: "2026-11-10", step, status: "halted", attempts: 3, results: {}, halted: { step, reason: "store down", input: {}, at: new Date() }, updatedAt: new Date() });
		}
	};
	// 9 at validate: under 10, no alert
	await halt("validate", 9);
	assert.deepEqual(await alertHalts(ports, sink, run, { validate: 9 }), []);
	// 10 at render, but the run's 1 % is 4 of 400: 10 is enough
	await halt("render", 10);
	const stored = async () => (await ports.runs.findById(run._id)) as BillingRunDoc;
	assert.deepEqual(await alertHalts(ports, sink, await stored(), { render: 10, validate: 0 }), ["render"]);
	assert.equal(raised.length, 1);
	assert.equal(raised[0].kind, "billing_halted");
	assert.deepEqual(raised[0].details, { runId: run._id, clientId: "c1", step: "render", halted: 10, loans: 400 });
	assert.match(raised[0].text, /10 loans halted at render .*GET \/billing\/runs\/run-h\/halted\?step=render/);

	// more halt at render later (another chunk, another node reading the run before the first alert): no second alert
	await halt("render", 5, 10);
	assert.deepEqual(await alertHalts(ports, sink, run, { render: 5 }), []);
	assert.deepEqual(await alertHalts(ports, sink, await stored(), { render: 5 }), []);
	// another step of the same run alerts on its own
	await halt("validate", 1, 9);
	assert.deepEqual(await alertHalts(ports, sink, await stored(), { validate: 1 }), ["validate"]);
	assert.deepEqual(raised.map((r) => r.details?.step), ["render", "validate"]);
});

/**
 * A refund request's notice on the embedded store, against a local webhook: every try is recorded, a notice that
 * failed (or was never queued) is due again for the sweep only once its queue's retries are over, a delivered one
 * never; requests the client has decided are left alone; a request whose payment bounced is withdrawn once, and the
 * client told only when it had the request.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import type { StoreAdapter } from "../../../lib/store/types.ts";
import type { ClientDoc } from "../../../lib/clients.ts";
import { REFUND_INDEXES, type RefundDoc } from "../../../lib/billing/loans.ts";
import { dueNotices, noticeKey, noticeResendAfterMs, sendRefundNotice, withdrawBouncedRefunds } from "../../../lib/billing/refund-requests.ts";
import { requestRefund } from "../../../lib/billing/refunds.ts";
import type { RepaymentRecord } from "../../../lib/records/index.ts";

let store: SqliteStore;
let refunds: StoreAdapter;
let hooks: Server;
let hookUrl = "";
/** the status the webhook answers next */
let answer = 500;
const calls: string[] = [];

before(async () => {
	store = new SqliteStore({ file: ":memory:" });
	refunds = store.adapter("refunds");
	await refunds.connect();
	await refunds.ensureIndexes(REFUND_INDEXES);
	hooks = createServer((req, res) => {
		calls.push(String(req.headers["x-paperwork-delivery"]));
		req.resume();
		req.on("end", () => res.writeHead(answer).end());
	});
	hooks.listen(0, "127.0.0.1");
	await once(hooks, "listening");
	const addr = hooks.address();
	hookUrl = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/hooks`;
});
after(async () => {
	hooks.close();
	await store.close();
});

const client = (webhook: boolean): ClientDoc => ({ _id: "c1", name: "lender", ...(webhook ? { webhook: { url: hookUrl, secret: "s3cret" } } : {}) }) as unknown as ClientDoc;
const settings = { publicUrl: "http://paperwork.test", timeoutMs: 2000 };
const HOUR = 3600_000;

async function refund(ref: string, requestedAt: Date, over: Record<string, unknown> = {}): Promise<RefundDoc> {
	return (await refunds.insert({ client: "c1", loan_id: "L-1", payment_ref: ref, of: "UPI-0", amount: "10.00", paid_at: "2026-01-05T04:30:00Z", ...requestRefund(requestedAt), ...over })) as RefundDoc;
}
const ids = (docs: RefundDoc[]) => docs.map((d) => d.payment_ref).sort();

test("a failed notice is recorded and due again only after its resend delay; once delivered it is never due again", async () => {
	const resend = noticeResendAfterMs({ retries: 5, retryDelayMs: 1000 });
	assert.equal(resend, 15 * 60_000, "the queue's retries (~6 min) are over well within 15 minutes");
	const t0 = new Date(Date.now() - 2 * HOUR);
	const r = await refund("UPI-A", t0);

	answer = 500;
	await assert.rejects(sendRefundNotice(refunds, r._id, async () => client(true), settings), /answered 500/);
	const failed = (await refunds.findById(r._id)) as RefundDoc;
	assert.equal(failed.notice?.lastError, "webhook answered 500");
	assert.ok(failed.notice?.triedAt, "the try is recorded");
	const now = new Date();
	assert.deepEqual(ids(await dueNotices(refunds, resend, now)), [], "just tried: its queue may still be retrying it");
	assert.deepEqual(ids(await dueNotices(refunds, resend, new Date(now.getTime() + resend + 1000))), ["UPI-A"]);

	answer = 204;
	assert.equal(await sendRefundNotice(refunds, r._id, async () => client(true), settings), "delivered");
	assert.equal(await sendRefundNotice(refunds, r._id, async () => client(true), settings), "already");
	assert.deepEqual(calls, [r._id, r._id], "one call a try, none once delivered");
	assert.deepEqual(ids(await dueNotices(refunds, resend, new Date(now.getTime() + 10 * HOUR))), []);
	await refunds.removeMany({});
});

test("never-tried notices are due once their request is older than the delay; timed-out requests too, decided ones never", async () => {
	const resend = 15 * 60_000;
	const now = new Date();
	await refund("UPI-OLD", new Date(now.getTime() - HOUR));
	await refund("UPI-NEW", new Date(now.getTime() - 60_000));
	await refund("UPI-LATE", new Date(now.getTime() - HOUR), { status: "timed_out" });
	await refund("UPI-DONE", new Date(now.getTime() - HOUR), { status: "confirmed" });
	await refund("UPI-TRIED", new Date(now.getTime() - HOUR), { notice: { lastError: "webhook answered 503", triedAt: new Date(now.getTime() - 60_000).toISOString() } });
	await refund("UPI-SENT", new Date(now.getTime() - HOUR), { notice: { deliveredAt: new Date(now.getTime() - 50 * 60_000).toISOString() } });
	assert.deepEqual(ids(await dueNotices(refunds, resend, now)), ["UPI-LATE", "UPI-OLD"]);

	// a client without a webhook: recorded as a try, so the sweep asks again only after the delay (it may add one)
	const r = await refund("UPI-NOHOOK", new Date(now.getTime() - HOUR));
	assert.equal(await sendRefundNotice(refunds, r._id, async () => client(false), settings), "no-webhook");
	const doc = (await refunds.findById(r._id)) as RefundDoc;
	assert.equal(doc.notice?.lastError, "client has no webhook");
	assert.ok(!ids(await dueNotices(refunds, resend, now)).includes("UPI-NOHOOK"));
	assert.ok(ids(await dueNotices(refunds, resend, new Date(now.getTime() + resend + 1000))).includes("UPI-NOHOOK"));
	await refunds.removeMany({});
});

test("a bounced payment withdraws its open request once; the withdrawal is sent only to a client told of the request, and swept like a notice", async () => {
	const now = new Date();
	const hourAgo = new Date(now.getTime() - HOUR);
	const told = await refund("UPI-TOLD", hourAgo, { notice: { deliveredAt: hourAgo.toISOString() } });
	const untold = await refund("UPI-UNTOLD", hourAgo);
	const originalBounced = await refund("UPI-DUP", hourAgo, { of: "UPI-ORIG", status: "timed_out" });
	const decided = await refund("UPI-KEPT", hourAgo, { status: "rejected" });
	const refunded = await refund("UPI-GONE", hourAgo, { status: "confirmed" });
	const paid = await refund("UPI-FINE", hourAgo);
	const pays = [
		{ payment_ref: "UPI-TOLD", status: "bounced" },
		{ payment_ref: "UPI-UNTOLD", status: "bounced" },
		{ payment_ref: "UPI-ORIG", status: "bounced" },
		{ payment_ref: "UPI-KEPT", status: "bounced" },
		{ payment_ref: "UPI-GONE", status: "bounced" },
		{ payment_ref: "UPI-FINE" }
	] as RepaymentRecord[];
	const { withdrawn, flagged } = await withdrawBouncedRefunds(refunds, "c1", ["L-1"], () => pays, now);
	assert.deepEqual(ids(withdrawn), ["UPI-DUP", "UPI-TOLD", "UPI-UNTOLD"], "open requests only; a decided one stays decided");
	// a refund already confirmed cannot be withdrawn: flagged for operators, once
	assert.deepEqual(ids(flagged), ["UPI-GONE"]);
	const mark = ((await refunds.findById(refunded._id)) as RefundDoc).bounced;
	// (the store hands an ISO date back as a Date)
	assert.deepEqual([new Date(mark?.at ?? 0).toISOString(), mark?.payment_ref], [now.toISOString(), "UPI-GONE"]);
	assert.equal(((await refunds.findById(refunded._id)) as RefundDoc).status, "confirmed");
	assert.deepEqual(await withdrawBouncedRefunds(refunds, "c1", ["L-1"], () => pays, now), { withdrawn: [], flagged: [] }, "withdrawn and flagged once");
	assert.equal(((await refunds.findById(originalBounced._id)) as RefundDoc).history.at(-1)?.note, "payment UPI-ORIG bounced");
	assert.equal(((await refunds.findById(decided._id)) as RefundDoc).status, "rejected");
	assert.equal(((await refunds.findById(paid._id)) as RefundDoc).status, "requested");
	assert.equal(noticeKey(withdrawn[0]), `${withdrawn[0]._id}:withdrawn`);

	// the sweep: the withdrawal of the request the client had, once its delay has passed; never the untold one's
	const resend = 15 * 60_000;
	const later = new Date(now.getTime() + resend + 1000);
	assert.deepEqual(ids((await dueNotices(refunds, resend, later)).filter((r) => r.status === "withdrawn")), ["UPI-TOLD"]);
	calls.length = 0;
	answer = 204;
	assert.equal(await sendRefundNotice(refunds, untold._id, async () => client(true), settings), "already", "the client never heard of it");
	assert.equal(await sendRefundNotice(refunds, told._id, async () => client(true), settings), "delivered");
	assert.equal(await sendRefundNotice(refunds, told._id, async () => client(true), settings), "already");
	assert.deepEqual(calls, [`${told._id}:withdrawn`]);
	assert.ok(((await refunds.findById(told._id)) as RefundDoc).withdrawal?.deliveredAt);
	assert.deepEqual(ids((await dueNotices(refunds, resend, later)).filter((r) => r.status === "withdrawn")), []);
	await refunds.removeMany({});
});

test("the resend delay outlasts long queue retries", () => {
	// 8 retries from 1 s, 4x longer each: 21,845 s of retries
	assert.equal(noticeResendAfterMs({ retries: 8, retryDelayMs: 1000 }), 21_845_000 + 60_000);
	assert.equal(noticeResendAfterMs({ retries: 0, retryDelayMs: 1000 }), 15 * 60_000);
});

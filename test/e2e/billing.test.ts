/**
 * Repayments and the passbook through the HTTP API on the embedded default: loans and repayments uploaded as CSV, a
 * suspected duplicate held and its refund requested over the client's signed webhook (also when a billing run finds
 * it, and again by the sweep when it was never delivered), the client's answer, the passbook before and after, what
 * operators read of every client's refunds and passbooks, and the refund timeout mailed to operators.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { createHmac } from "node:crypto";
import { startTestNode, http, bearer, apiKey, type TestNode } from "../helpers/node.ts";
import { waitForBatch } from "../helpers/ingest.ts";
import { startSmtp, type LocalSmtp } from "../helpers/smtp.ts";
import type { Passbook } from "../../lib/billing/passbook.ts";

let node: TestNode;
let smtp: LocalSmtp;
let hooks: Server;
let hookUrl = "";
const received: { body: string; signature: string | undefined; event: string | undefined }[] = [];
const SECRET = "whsec-billing-test";

before(async () => {
	hooks = createServer((req, res) => {
		let body = "";
		req.on("data", (d: Buffer) => (body += d.toString()));
		req.on("end", () => {
			received.push({ body, signature: req.headers["x-paperwork-signature"] as string | undefined, event: req.headers["x-paperwork-event"] as string | undefined });
			res.writeHead(204).end();
		});
	});
	hooks.listen(0, "127.0.0.1");
	await once(hooks, "listening");
	const addr = hooks.address();
	hookUrl = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/hooks`;
	smtp = await startSmtp();
	node = await startTestNode({ INBOX_POLL_MS: "0", QUEUE_RETRY_DELAY_MS: "50", SMTP_URL: smtp.url, ALERT_EMAILS: "ops@lender.example" });
});

after(async () => {
	await node.close();
	hooks.close();
	await smtp.close();
});

const LOANS = [
	"loan_id,applicant_name,language,phone,email,address_line1,address_line2,city,state,postal_code,loan_amount,annual_interest_rate,tenure_months,disbursement_date,first_emi_date,processing_fee",
	"L-100,Asha Rao,en,9876543210,asha@example.com,12 MG Road,,Pune,Maharashtra,411001,3000,0,3,2025-12-01,2026-01-05,0",
	"L-200,Ravi Shah,gu,9876543211,,4 Ring Road,,Surat,Gujarat,395001,12000,12,12,2025-12-01,2026-01-05,100"
].join("\n");
const REPAYMENTS = [
	"payment_ref,loan_id,amount,paid_at,method,payer_ref",
	"UPI-1,L-100,1000.00,2026-01-05 10:00,upi,asha@okbank",
	"UPI-2,L-100,1000.00,2026-01-05 10:04,upi,asha@okbank",
	"UPI-3,L-100,1000.00,2026-02-05 09:00,upi,asha@okbank",
	"NACH-1,L-200,1066.19,2026-01-05 06:00,nach,"
].join("\n");

async function upload(key: string, kind: string, csv: string): Promise<string> {
	const res = await http<{ batchId: string }>(`${node.url}/uploads?kind=${kind}`, { method: "POST", headers: { ...apiKey(key), "Content-Type": "text/csv" }, body: csv });
	assert.equal(res.status, 202, JSON.stringify(res.body));
	const batch = await waitForBatch(node.url, key, res.body.batchId);
	assert.equal(batch.status, "COMPLETED", JSON.stringify(batch));
	assert.equal(batch.counts.rejected, 0, JSON.stringify(batch));
	return res.body.batchId;
}

/** A mail's raw text with quoted-printable soft line breaks undone. */
const unfolded = (raw: string) => raw.replace(/=\r?\n/g, "");

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
	const end = Date.now() + ms;
	while (Date.now() < end) {
		const v = await fn();
		if (v !== undefined) return v;
		await new Promise((r) => setTimeout(r, 100));
	}
	assert.fail(`timed out waiting for ${what}`);
}

test("a duplicate repayment is held, its refund requested once over the signed webhook, and the client's answer lands in the passbook", async () => {
	const c = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name: "lender-billing", webhook: { url: hookUrl, secret: SECRET } } });
	assert.equal(c.status, 201);
	const key = c.body.apiKey;
	await upload(key, "loan", LOANS);
	await upload(key, "repayment", REPAYMENTS);

	const notice = await until("the refund webhook", async () => received.find((r) => r.event === "refund.requested"));
	assert.equal(notice.signature, `sha256=${createHmac("sha256", SECRET).update(notice.body).digest("hex")}`);
	const payload = JSON.parse(notice.body) as { refund: { id: string; payment_ref: string; of: string; loan_id: string; amount: string }; links: { confirm: string } };
	assert.deepEqual([payload.refund.payment_ref, payload.refund.of, payload.refund.loan_id, payload.refund.amount], ["UPI-2", "UPI-1", "L-100", "1000.00"]);
	assert.match(payload.links.confirm, new RegExp(`/refunds/${payload.refund.id}/confirm$`));

	const list = await http<{ total: number; items: { id: string; status: string }[] }>(`${node.url}/refunds?status=requested`, { headers: apiKey(key) });
	assert.equal(list.body.total, 1);

	// while the refund is open the payment is held: two instalments paid, none owed on 5 Feb
	const held = await http<Passbook>(`${node.url}/loans/L-100/passbook?asOf=2026-02-05`, { headers: apiKey(key) });
	assert.equal(held.status, 200, JSON.stringify(held.body));
	assert.equal(held.body.totals.held, "1000.00");
	assert.equal(held.body.totals.paid, "2000.00");
	assert.equal(held.body.totals.balance, "0.00");

	// the same repayments sent again (another file: rows in another order) open no second request and no second notice
	const [header, ...rows] = REPAYMENTS.split("\n");
	await upload(key, "repayment", [header, ...rows.reverse()].join("\n"));
	await new Promise((r) => setTimeout(r, 500));
	assert.equal(received.filter((r) => r.event === "refund.requested").length, 1);
	assert.equal((await http<{ total: number }>(`${node.url}/refunds`, { headers: apiKey(key) })).body.total, 1);

	// the client declines the refund: the payment becomes credit and pays March's instalment when it falls due
	const rejected = await http<{ status: string; history: { status: string; by: string }[] }>(`${node.url}/refunds/${payload.refund.id}/reject`, { method: "POST", headers: apiKey(key), json: { note: "borrower keeps it as an advance" } });
	assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
	assert.equal(rejected.body.status, "rejected");
	assert.deepEqual(rejected.body.history.map((h) => h.status), ["requested", "rejected"]);
	const again = await http(`${node.url}/refunds/${payload.refund.id}/reject`, { method: "POST", headers: apiKey(key), json: {} });
	assert.equal(again.status, 200);
	const flip = await http<{ error: { code: string } }>(`${node.url}/refunds/${payload.refund.id}/confirm`, { method: "POST", headers: apiKey(key), json: {} });
	assert.equal(flip.status, 409);
	const credited = await http<Passbook>(`${node.url}/loans/L-100/passbook?asOf=2026-03-05`, { headers: apiKey(key) });
	assert.equal(credited.body.totals.paid, "3000.00");
	assert.equal(credited.body.totals.balance, "0.00");
	assert.deepEqual(credited.body.instalments.map((i) => i.status), ["paid", "paid", "paid"]);
});

test("a held payment that bounces withdraws its refund: the client is told, can no longer confirm it, and the passbook charges the bounce instead", async () => {
	const c = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name: "lender-bounced-duplicate", webhook: { url: hookUrl, secret: SECRET } } });
	const key = c.body.apiKey;
	await upload(key, "loan", LOANS.replaceAll("L-100", "B-100").replaceAll("L-200", "B-200"));
	// B-100 pays twice within minutes (UPI-B2 held as UPI-B1's duplicate); on B-200 the earlier of two NACH debits bounces later
	const head = "payment_ref,loan_id,amount,paid_at,method,payer_ref,status";
	await upload(key, "repayment", [head, "UPI-B1,B-100,1000.00,2026-01-05 10:00,upi,,", "UPI-B2,B-100,1000.00,2026-01-05 10:04,upi,,", "NACH-B1,B-200,1066.19,2026-01-05 06:00,nach,,", "NACH-B2,B-200,1066.19,2026-01-05 06:05,nach,,"].join("\n"));
	type Refund = { id: string; payment_ref: string; status: string; history: { status: string; by: string; note?: string }[]; noticeDelivered: boolean; withdrawalDelivered?: boolean };
	const refunds = async () => (await http<{ items: Refund[] }>(`${node.url}/refunds?loan_id=B-100`, { headers: apiKey(key) })).body.items.concat((await http<{ items: Refund[] }>(`${node.url}/refunds?loan_id=B-200`, { headers: apiKey(key) })).body.items);
	const opened = await until("both refund notices delivered", async () => {
		const r = await refunds();
		return r.length === 2 && r.every((x) => x.noticeDelivered) ? r : undefined;
	});
	assert.deepEqual(opened.map((r) => r.payment_ref).sort(), ["NACH-B2", "UPI-B2"]);

	// the bank's return file: the held UPI-B2 bounced, and NACH-B1 (the payment NACH-B2 was thought to repeat)
	await upload(key, "repayment", [head, "UPI-B2,B-100,1000.00,2026-01-05 10:04,upi,,bounced", "NACH-B1,B-200,1066.19,2026-01-05 06:00,nach,,bounced"].join("\n"));
	const withdrawn = await until("both withdrawn and the client told", async () => {
		const r = await refunds();
		return r.every((x) => x.status === "withdrawn" && x.withdrawalDelivered) ? r : undefined;
	});
	const byRef = new Map(withdrawn.map((r) => [r.payment_ref, r]));
	assert.deepEqual(byRef.get("UPI-B2")?.history.map((h) => [h.status, h.by, h.note]), [["requested", "billing", undefined], ["withdrawn", "billing", "payment UPI-B2 bounced"]]);
	assert.equal(byRef.get("NACH-B2")?.history.at(-1)?.note, "payment NACH-B1 bounced");
	const told = received.filter((r) => r.event === "refund.withdrawn").map((r) => JSON.parse(r.body) as { refund: Refund; links?: unknown });
	assert.deepEqual(told.filter((t) => byRef.has(t.refund.payment_ref)).map((t) => [t.refund.payment_ref, t.refund.status, t.links]).sort(), [["NACH-B2", "withdrawn", undefined], ["UPI-B2", "withdrawn", undefined]]);
	const signed = received.find((r) => r.event === "refund.withdrawn");
	assert.equal(signed?.signature, `sha256=${createHmac("sha256", SECRET).update(signed?.body ?? "").digest("hex")}`);

	// a confirmation now would refund money never received: refused with the reason
	const late = await http<{ error: { message: string } }>(`${node.url}/refunds/${byRef.get("UPI-B2")?.id}/confirm`, { method: "POST", headers: apiKey(key), json: {} });
	assert.equal(late.status, 409);
	assert.match(late.body.error.message, /withdrawn \(payment UPI-B2 bounced\)/);
	// B-100: UPI-B1 pays January; UPI-B2 is a bounce, neither held nor applied. B-200: NACH-B2 is a payment now, no longer held
	const b100 = await http<Passbook>(`${node.url}/loans/B-100/passbook?asOf=2026-01-31`, { headers: apiKey(key) });
	assert.deepEqual([b100.body.totals.paid, b100.body.totals.held, b100.body.totals.bounced], ["1000.00", "0.00", "1000.00"]);
	const b200 = await http<Passbook>(`${node.url}/loans/B-200/passbook?asOf=2026-01-31`, { headers: apiKey(key) });
	assert.deepEqual([b200.body.totals.paid, b200.body.totals.held, b200.body.totals.bounced], ["1066.19", "0.00", "1066.19"]);
	// the default schedule's bounce charge (500 + 18 % GST) for NACH-B1 is paid first from NACH-B2
	assert.deepEqual(b200.body.charges.map((x) => [x.key, x.ref, x.amount, x.paid]), [["cheque_bounce", "NACH-B1", "590.00", "590.00"]]);
	assert.equal(b200.body.instalments[0].paid, "476.19");
	// the return file again: nothing withdrawn twice, no second notice
	const before_ = received.filter((r) => r.event === "refund.withdrawn").length;
	await upload(key, "repayment", [head, "UPI-B2,B-100,1000.00,2026-01-05 10:04,upi,,bounced"].join("\n"));
	await new Promise((r) => setTimeout(r, 500));
	assert.equal(received.filter((r) => r.event === "refund.withdrawn").length, before_);
	const list = await http<{ total: number }>(`${node.url}/refunds?status=withdrawn`, { headers: apiKey(key) });
	assert.equal(list.body.total, 2);
});

test("a payment that bounces after its refund was confirmed alerts operators once (refund_bounced); the refund stays confirmed", async () => {
	const c = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name: "lender-refunded-bounce" } });
	const key = c.body.apiKey;
	await upload(key, "loan", LOANS.replaceAll("L-100", "C-100").replaceAll("L-200", "C-200"));
	const head = "payment_ref,loan_id,amount,paid_at,method,payer_ref,status";
	await upload(key, "repayment", [head, "UPI-C1,C-100,1000.00,2026-01-05 10:00,upi,,", "UPI-C2,C-100,1000.00,2026-01-05 10:04,upi,,"].join("\n"));
	const refund = await until("the refund request", async () => (await http<{ items: { id: string }[] }>(`${node.url}/refunds?loan_id=C-100`, { headers: apiKey(key) })).body.items[0]);
	assert.equal((await http(`${node.url}/refunds/${refund.id}/confirm`, { method: "POST", headers: apiKey(key), json: {} })).status, 200);
	// the refunded payment comes back in a return file: the lender refunded money it never received
	await upload(key, "repayment", [head, "UPI-C2,C-100,1000.00,2026-01-05 10:04,upi,,bounced"].join("\n"));
	const mailsOf = () => smtp.mails.filter((m) => unfolded(m.raw).includes(refund.id) && /^Subject: \[Paperwork\] a payment bounced after its refund was confirmed/m.test(m.raw));
	const mail = await until("the refund_bounced alert mail", async () => mailsOf()[0]);
	assert.match(unfolded(mail.raw), /the refunded payment itself bounced: the borrower was refunded money never received/);
	const now = await http<{ status: string }>(`${node.url}/refunds/${refund.id}`, { headers: apiKey(key) });
	assert.equal(now.body.status, "confirmed");
	// the bounce reported again in the next file (with February's payment): no second alert
	await upload(key, "repayment", [head, "UPI-C2,C-100,1000.00,2026-01-05 10:04,upi,,bounced", "UPI-C3,C-100,1000.00,2026-02-05 10:00,upi,,"].join("\n"));
	await new Promise((r) => setTimeout(r, 500));
	assert.equal(mailsOf().length, 1);
});

test("the passbook: interest-bearing loan with the default 2 % penalty, 404 for another client's loan, 400 for a bad date", async () => {
	const a = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name: "lender-a" } });
	const b = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name: "lender-b" } });
	await upload(a.body.apiKey, "loan", LOANS);
	await upload(a.body.apiKey, "repayment", REPAYMENTS);
	const pb = await http<Passbook>(`${node.url}/loans/L-200/passbook?asOf=2026-03-05`, { headers: apiKey(a.body.apiKey) });
	assert.equal(pb.status, 200);
	// 12,000 at 12 % over 12 months: EMI 1,066.19; January paid, February not: 2 % of 1,066.19 on 5 March
	assert.equal(pb.body.emi, "1066.19");
	assert.deepEqual(pb.body.penalties.map((p) => [p.date, p.amount]), [["2026-03-05", "21.32"]]);
	assert.equal(pb.body.totals.overdue, "1087.51");
	assert.equal(pb.body.totals.balance, "2153.70");
	const other = await http(`${node.url}/loans/L-200/passbook`, { headers: apiKey(b.body.apiKey) });
	assert.equal(other.status, 404);
	const bad = await http(`${node.url}/loans/L-200/passbook?asOf=2026-02-30`, { headers: apiKey(a.body.apiKey) });
	assert.equal(bad.status, 400);
});

test("a refund request unanswered past BILLING_REFUND_TIMEOUT_H is timed out once, and a late answer is still taken", async () => {
	const c = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name: "lender-slow" } });
	const refunds = node.platform.store.adapter("refunds");
	const old = new Date(Date.now() - 80 * 3600_000).toISOString();
	const doc = await refunds.insert({ client: c.body.id, loan_id: "L-9", payment_ref: "UPI-9", of: "UPI-8", amount: "10.00", paid_at: "2026-01-05T04:30:00Z", status: "requested", requestedAt: old, history: [{ status: "requested", at: old, by: "billing" }] });
	const svc = node.broker.getLocalService("billing") as unknown as { sweepRefunds(): Promise<number> };
	assert.equal(await svc.sweepRefunds(), 1);
	assert.equal(await svc.sweepRefunds(), 0);
	const view = await http<{ status: string }>(`${node.url}/refunds/${doc._id}`, { headers: apiKey(c.body.apiKey) });
	assert.equal(view.body.status, "timed_out");
	// operators are told by mail (ALERT_EMAILS), once
	const mailsOf = () => smtp.mails.filter((m) => unfolded(m.raw).includes(String(doc._id)) && /^Subject: \[Paperwork\] a refund request had no answer/m.test(m.raw));
	const mail = await until("the refund_timeout alert mail", async () => mailsOf()[0]);
	assert.deepEqual(mail.to, ["ops@lender.example"]);
	assert.match(unfolded(mail.raw), /no answer from the client in 72 h/);
	await new Promise((r) => setTimeout(r, 300));
	assert.equal(mailsOf().length, 1);
	const late = await http<{ status: string }>(`${node.url}/refunds/${doc._id}/confirm`, { method: "POST", headers: apiKey(c.body.apiKey), json: {} });
	assert.equal(late.body.status, "confirmed");
});

/** The refund notices the hook server received for one client, in order. */
function noticesOf(clientId: string): { refund: { id: string; clientId: string; payment_ref: string; loan_id: string }; signature: string | undefined; body: string }[] {
	return received
		.filter((r) => r.event === "refund.requested")
		.map((r) => ({ ...(JSON.parse(r.body) as { refund: { id: string; clientId: string; payment_ref: string; loan_id: string } }), signature: r.signature, body: r.body }))
		.filter((n) => n.refund.clientId === clientId);
}

test("a refund a billing run opens is sent to the client's signed webhook at once, not at the client's next batch", async () => {
	const c = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name: "lender-run-refund", webhook: { url: hookUrl, secret: SECRET }, billing: { statementDay: 10 } } });
	await upload(c.body.apiKey, "loan", LOANS);
	await upload(c.body.apiKey, "repayment", REPAYMENTS);
	const first = await until("the batch's refund notice", async () => noticesOf(c.body.id)[0]);
	// the check after the batch missed it (its message dead-lettered, say): the run's duplicates step finds it
	const refunds = node.platform.store.adapter("refunds");
	assert.equal(await refunds.removeMany({ client: c.body.id }), 1);
	const start = await http<{ id: string }>(`${node.url}/billing/runs`, { method: "POST", headers: bearer(node.operatorToken), json: { clientId: c.body.id, cycleTo: "2026-02-10", pdf: false } });
	assert.equal(start.status, 202, JSON.stringify(start.body));
	const notice = await until("the run's refund notice", async () => noticesOf(c.body.id).find((n) => n.refund.id !== first.refund.id));
	assert.equal(notice.signature, `sha256=${createHmac("sha256", SECRET).update(notice.body).digest("hex")}`);
	assert.deepEqual([notice.refund.payment_ref, notice.refund.loan_id], ["UPI-2", "L-100"]);
	const item = (await node.platform.store.adapter("billing_items").findById(`${c.body.id}:2026-02-10:L-100`)) as { results: { duplicates?: { refundsOpened: number } } } | null;
	assert.deepEqual(item?.results.duplicates, { refundsOpened: 1 });
	const view = await until("the notice recorded as delivered", async () => {
		const r = await http<{ noticeDelivered: boolean; status: string }>(`${node.url}/refunds/${notice.refund.id}`, { headers: apiKey(c.body.apiKey) });
		return r.body.noticeDelivered ? r.body : undefined;
	});
	assert.equal(view.status, "requested");
	await new Promise((r) => setTimeout(r, 300));
	assert.equal(noticesOf(c.body.id).length, 2, "one notice per refund request");
});

test("a notice never delivered is queued again by the refund sweep; one tried a moment ago or delivered is not", async () => {
	const c = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name: "lender-resend", webhook: { url: hookUrl, secret: SECRET } } });
	const refunds = node.platform.store.adapter("refunds");
	const hourAgo = new Date(Date.now() - 3600_000).toISOString();
	const doc = (ref: string, notice?: Record<string, unknown>) => ({ client: c.body.id, loan_id: "L-7", payment_ref: ref, of: "UPI-0", amount: "10.00", paid_at: "2026-01-05T04:30:00Z", status: "requested", requestedAt: hourAgo, history: [{ status: "requested", at: hourAgo, by: "billing" }], ...(notice ? { notice } : {}) });
	// never queued (its handler died after the insert), given up by its queue an hour ago, tried just now, delivered
	const lost = await refunds.insert(doc("UPI-LOST"));
	const gaveUp = await refunds.insert(doc("UPI-GAVE-UP", { lastError: "webhook answered 503", triedAt: hourAgo }));
	await refunds.insert(doc("UPI-TRYING", { lastError: "webhook answered 503", triedAt: new Date().toISOString() }));
	await refunds.insert(doc("UPI-SENT", { deliveredAt: hourAgo }));
	const svc = node.broker.getLocalService("billing") as unknown as { sweepRefunds(): Promise<number> };
	await svc.sweepRefunds();
	await until("both notices", async () => (noticesOf(c.body.id).length >= 2 ? true : undefined));
	await new Promise((r) => setTimeout(r, 300));
	assert.deepEqual(noticesOf(c.body.id).map((n) => n.refund.payment_ref).sort(), ["UPI-GAVE-UP", "UPI-LOST"]);
	for (const id of [lost._id, gaveUp._id]) {
		const r = await http<{ noticeDelivered: boolean; noticeError?: string }>(`${node.url}/refunds/${id}`, { headers: apiKey(c.body.apiKey) });
		assert.equal(r.body.noticeDelivered, true);
		assert.equal(r.body.noticeError, undefined);
	}
	// delivered now: the next sweep sends nothing more
	await svc.sweepRefunds();
	await new Promise((r) => setTimeout(r, 300));
	assert.equal(noticesOf(c.body.id).length, 2);
});

test("operators read every client's refunds and passbooks, or one client's; a client reads only its own", async () => {
	const mk = async (name: string) => (await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name } })).body;
	const x = await mk("lender-ops-x");
	const y = await mk("lender-ops-y");
	// y has the same loan IDs as x, and loans of its own (M-...) with a duplicate payment of M-100
	const mine = (csv: string) => csv.split("\n").slice(1).map((l) => l.replace(/\bL-/g, "M-").replace(/\b(UPI|NACH)-/g, "$1-M"));
	await upload(x.apiKey, "loan", LOANS);
	await upload(x.apiKey, "repayment", REPAYMENTS);
	await upload(y.apiKey, "loan", [LOANS, ...mine(LOANS)].join("\n"));
	await upload(y.apiKey, "repayment", [REPAYMENTS.split("\n")[0], ...mine(REPAYMENTS)].join("\n"));
	type Refunds = { total: number; items: { id: string; clientId: string; loan_id: string; status: string }[] };
	const list = (query: string, headers: Record<string, string>) => http<Refunds>(`${node.url}/refunds${query}`, { headers });
	const ofX = await until("x's refund", async () => ((await list("", apiKey(x.apiKey))).body.total === 1 ? (await list("", apiKey(x.apiKey))).body.items[0] : undefined));
	const ofY = await until("y's refund", async () => ((await list("", apiKey(y.apiKey))).body.total === 1 ? (await list("", apiKey(y.apiKey))).body.items[0] : undefined));
	assert.deepEqual([ofX.clientId, ofX.loan_id, ofY.clientId, ofY.loan_id], [x.id, "L-100", y.id, "M-100"]);

	// an operator: every client's, one client's with ?clientId=, by status (open: requested or timed out)
	const op = bearer(node.operatorToken);
	const all = await list("?limit=500", op);
	assert.equal(all.status, 200, JSON.stringify(all.body));
	assert.ok([ofX.id, ofY.id].every((id) => all.body.items.some((r) => r.id === id)), "both clients' refunds");
	assert.ok(new Set(all.body.items.map((r) => r.clientId)).size >= 2);
	const onlyY = await list(`?clientId=${y.id}`, op);
	assert.deepEqual(onlyY.body.items.map((r) => r.id), [ofY.id]);
	assert.equal((await list(`?clientId=${y.id}&status=open`, op)).body.total, 1);
	assert.equal((await list(`?clientId=${y.id}&status=timed_out`, op)).body.total, 0);
	const one = await http<{ id: string; clientId: string }>(`${node.url}/refunds/${ofY.id}`, { headers: op });
	assert.deepEqual([one.status, one.body.clientId], [200, y.id]);
	assert.equal((await http(`${node.url}/refunds/${ofY.id}?clientId=${x.id}`, { headers: op })).status, 404, "not of the client named");

	// a client: its own only, whatever clientId it sends
	assert.deepEqual((await list(`?clientId=${y.id}`, apiKey(x.apiKey))).body.items.map((r) => r.id), [ofX.id]);
	assert.equal((await http(`${node.url}/refunds/${ofY.id}`, { headers: apiKey(x.apiKey) })).status, 404);
	assert.equal((await http(`${node.url}/refunds`)).status, 401);
	// deciding stays the client's: an operator cannot confirm on its behalf
	assert.ok([401, 403].includes((await http(`${node.url}/refunds/${ofY.id}/confirm`, { method: "POST", headers: op, json: {} })).status));

	// passbooks: an operator names the client, or not when the loan ID is the client's alone
	type Pb = Passbook & { client_id: string };
	const pb = (path: string, headers: Record<string, string>) => http<Pb>(`${node.url}/loans/${path}`, { headers });
	const m100 = await pb("M-100/passbook?asOf=2026-02-05", op);
	assert.equal(m100.status, 200, JSON.stringify(m100.body));
	assert.deepEqual([m100.body.client_id, m100.body.loan_id, m100.body.totals.held, m100.body.totals.paid], [y.id, "M-100", "1000.00", "2000.00"]);
	const ambiguous = await http<{ error: { code: string; message: string } }>(`${node.url}/loans/L-100/passbook`, { headers: op });
	assert.equal(ambiguous.status, 400);
	assert.match(ambiguous.body.error.message, /several clients: name one with \?clientId=/);
	const l100 = await pb(`L-100/passbook?asOf=2026-02-05&clientId=${y.id}`, op);
	assert.deepEqual([l100.status, l100.body.client_id, l100.body.totals.held], [200, y.id, "0.00"], "y has no repayments of L-100");
	assert.equal((await pb(`L-100/passbook?asOf=2026-02-05&clientId=${x.id}`, op)).body.totals.held, "1000.00");
	assert.equal((await pb("NOPE/passbook", op)).status, 404);
	assert.equal((await pb("M-100/passbook", apiKey(y.apiKey))).body.client_id, y.id);
	assert.equal((await pb(`M-100/passbook?clientId=${y.id}`, apiKey(x.apiKey))).status, 404, "a client never reads another's loan");
});

test("a NACH return: the status column marks the payment bounced, a bad status is rejected with its reason, and the passbook charges the client's NACH bounce charge plus GST", async () => {
	const c = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name: "lender-bounces" } });
	const key = c.body.apiKey;
	const badTax = await http(`${node.url}/clients/${c.body.id}`, { method: "PATCH", headers: bearer(node.adminToken), json: { charges: { taxRate: "18%", items: [] } } });
	assert.equal(badTax.status, 400);
	const charges = {
		taxRate: "18",
		items: [
			{ key: "late_payment", kind: "percent", rate: "2", basis: "per_month_overdue" },
			{ key: "cheque_bounce", kind: "fixed", amount: "500", basis: "per_instance", plusTax: true },
			{ key: "nach_bounce", kind: "fixed", amount: "400", basis: "per_instance", plusTax: true }
		]
	};
	const set = await http(`${node.url}/clients/${c.body.id}`, { method: "PATCH", headers: bearer(node.adminToken), json: { charges } });
	assert.equal(set.status, 200, JSON.stringify(set.body));
	await upload(key, "loan", LOANS);
	// the debit as presented (old format: no status column, a payment), then the bank's return file reports it bounced
	await upload(key, "repayment", ["payment_ref,loan_id,amount,paid_at,method,payer_ref", "NACH-1,L-200,1066.19,2026-01-05 06:00,nach,"].join("\n"));
	const paid = await http<Passbook>(`${node.url}/loans/L-200/passbook?asOf=2026-01-31`, { headers: apiKey(key) });
	assert.equal(paid.body.totals.paid, "1066.19");
	const returns = ["payment_ref,loan_id,amount,paid_at,method,payer_ref,status", "NACH-1,L-200,1066.19,2026-01-05 06:00,nach,,bounced", "NACH-2,L-200,1066.19,2026-01-06 06:00,nach,,returned"].join("\n");
	const res = await http<{ batchId: string }>(`${node.url}/uploads?kind=repayment`, { method: "POST", headers: { ...apiKey(key), "Content-Type": "text/csv" }, body: returns });
	const batch = await waitForBatch(node.url, key, res.body.batchId);
	assert.deepEqual([batch.counts.updated, batch.counts.rejected], [1, 1]);
	const rejections = await http<{ items: { line: number; field: string; code: string; message: string }[] }>(`${node.url}/batches/${res.body.batchId}/rejections?format=json`, { headers: apiKey(key) });
	assert.deepEqual(rejections.body.items.map((r) => [r.field, r.code, r.message]), [["status", "invalid_status", "status 'returned' is not one of paid, bounced (empty: paid)"]]);

	const pb = await http<Passbook>(`${node.url}/loans/L-200/passbook?asOf=2026-02-05`, { headers: apiKey(key) });
	assert.equal(pb.status, 200, JSON.stringify(pb.body));
	// 400 + 18 % = 472.00 on 5 Jan; January still overdue on 5 Feb: 2 % of 1,066.19 = 21.32
	assert.deepEqual(pb.body.charges.map((x) => [x.date, x.key, x.ref, x.charge, x.tax, x.amount]), [["2026-01-05", "nach_bounce", "NACH-1", "400.00", "72.00", "472.00"]]);
	assert.deepEqual(pb.body.penalties.map((p) => [p.date, p.amount]), [["2026-02-05", "21.32"]]);
	assert.equal(pb.body.instalments[0].status, "overdue");
	// 2 x 1,066.19 + 472.00 + 21.32, nothing paid
	assert.deepEqual([pb.body.totals.paid, pb.body.totals.bounced, pb.body.totals.tax, pb.body.totals.balance], ["0.00", "1066.19", "72.00", "2625.70"]);
});

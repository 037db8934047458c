/**
 * Repayments and the passbook through the HTTP API on the embedded default: loans and repayments uploaded as CSV, a
 * suspected duplicate held and its refund requested over the client's signed webhook, the client's answer, and the
 * passbook before and after.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { createHmac } from "node:crypto";
import { startTestNode, http, bearer, apiKey, type TestNode } from "../helpers/node.ts";
import { waitForBatch } from "../helpers/ingest.ts";
import type { Passbook } from "../../lib/billing/passbook.ts";

let node: TestNode;
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
	node = await startTestNode({ INBOX_POLL_MS: "0", QUEUE_RETRY_DELAY_MS: "50" });
});

after(async () => {
	await node.close();
	hooks.close();
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
	const late = await http<{ status: string }>(`${node.url}/refunds/${doc._id}/confirm`, { method: "POST", headers: apiKey(c.body.apiKey), json: {} });
	assert.equal(late.body.status, "confirmed");
});

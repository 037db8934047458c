/**
 * Intake after crashes, end to end on the embedded default: the same file uploaded again after a crash left its
 * repeat-guard claim without a document is accepted and read (not a 409 naming a document that answers 404); an inbox
 * file whose derived ID holds such a claim is taken, not moved to rejected/; a document whose readings are used up
 * (its last reader died) ends FAILED with the reason and the client's webhook gets intake.failed.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { createHash } from "node:crypto";
import { startTestNode, http, bearer, apiKey, freePort, type TestNode } from "../helpers/node.ts";
import { textPdf } from "../helpers/intake-corpus.ts";
import { getPlatform } from "../../lib/platform.ts";
import { intakeStore } from "../../lib/intake/context.ts";
import { CLAIM_STALE_MS, MAX_READ_ATTEMPTS, READ_LEASE_MS, type IntakeDoc } from "../../lib/intake/documents.ts";
import { inboxBatchId } from "../../lib/ingest/inbox.ts";
import { QUEUES } from "../../config/queues.ts";

interface DocBody {
	id: string;
	status: string;
	source: string;
	error: { code: string; message: string } | null;
}
type ErrorBody = { error: { code: string; details?: { id?: string } } };

let node: TestNode;
let hook: Server;
let hookPort = 0;
const hooks: { event: string; body: { document: DocBody } }[] = [];

before(async () => {
	hookPort = await freePort();
	hook = createServer((req, res) => {
		let body = "";
		req.on("data", (d: Buffer) => (body += d.toString()));
		req.on("end", () => {
			hooks.push({ event: String(req.headers["x-paperwork-event"]), body: JSON.parse(body) as { document: DocBody } });
			res.writeHead(204).end();
		});
	});
	await new Promise<void>((r) => hook.listen(hookPort, "127.0.0.1", r));
	node = await startTestNode({ INBOX_POLL_MS: "0", QUEUE_RETRY_DELAY_MS: "50" });
});

after(async () => {
	await node?.close();
	await new Promise<void>((r) => hook.close(() => r()));
});

async function newClient(name: string, settings: Record<string, unknown> = {}): Promise<{ id: string; key: string }> {
	const res = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name, ...settings } });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	return { id: res.body.id, key: res.body.apiKey };
}

async function waitForDoc(key: string, id: string, timeoutMs = 60_000): Promise<DocBody> {
	const until = Date.now() + timeoutMs;
	let last: DocBody | undefined;
	while (Date.now() < until) {
		const res = await http<DocBody>(`${node.url}/intake/${id}`, { headers: apiKey(key) });
		assert.equal(res.status, 200, JSON.stringify(res.body));
		last = res.body;
		if (!["PENDING", "PROCESSING"].includes(last.status)) return last;
		await new Promise((r) => setTimeout(r, 100));
	}
	assert.fail(`document ${id} was not read in ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

test("the same file uploaded after a crash left its claim without a document is accepted and read", async () => {
	const c = await newClient("recovery-upload");
	const pdf = textPdf(["Recovery Traders", "Invoice No: RC-1", "Total 10.00"]);
	// the crash: the file's SHA-256 claimed for a document that was never created
	const store = await intakeStore();
	await store.claimHash(c.id, sha(pdf), "0123456789abcdef01234567", new Date(Date.now() - CLAIM_STALE_MS - 1000));
	const send = () => http<{ id: string; status: string } & ErrorBody>(`${node.url}/intake`, { method: "POST", headers: { ...apiKey(c.key), "Content-Type": "application/pdf", "X-Filename": "rc-1.pdf" }, body: pdf });
	const res = await send();
	assert.equal(res.status, 202, JSON.stringify(res.body));
	const d = await waitForDoc(c.key, res.body.id);
	assert.notEqual(d.status, "FAILED", JSON.stringify(d));
	// and now the same file is a repeat of a document that exists
	const again = await send();
	assert.equal(again.status, 409);
	assert.equal(again.body.error.details?.id, res.body.id);
	assert.equal((await http(`${node.url}/intake/${res.body.id}`, { headers: apiKey(c.key) })).status, 200);
});

test("an inbox file whose derived ID holds a claim left by a crash is taken, not rejected", async () => {
	const c = await newClient("recovery-inbox");
	const pdf = textPdf(["Inbox Traders", "Invoice No: IB-1", "Total 20.00"]);
	const { objects } = getPlatform();
	const key = `inbox/${c.id}/ib-1.pdf`;
	await objects.put(key, pdf);
	const info = await objects.stat(key);
	assert.ok(info);
	const id = inboxBatchId(info);
	// the scan that crashed had claimed the file for its document
	await (await intakeStore()).claimHash(c.id, sha(pdf), id);
	const scan = await http<{ taken: number }>(`${node.url}/inbox/scan`, { method: "POST", headers: bearer(node.operatorToken) });
	assert.equal(scan.status, 200, JSON.stringify(scan.body));
	assert.equal(scan.body.taken, 1);
	assert.equal(await objects.stat(`rejected/${key}`), null, "not rejected as a repeat of itself");
	const d = await waitForDoc(c.key, id);
	assert.equal(d.source, "inbox");
	assert.notEqual(d.status, "FAILED", JSON.stringify(d));
});

test("a document whose readings are used up ends FAILED with the reason; the webhook gets intake.failed", async () => {
	const c = await newClient("recovery-failed", { webhook: { url: `http://127.0.0.1:${hookPort}/hook`, secret: "recovery-webhook-secret-0123456789" } });
	const store = await intakeStore();
	const id = "f00dfeedf00dfeedf00dfeed";
	// the last reading allowed was under way when its reader was killed
	const file = { key: `intake/${c.id}/${id}/x.pdf`, name: "x.pdf", size: 10, sha256: "0".repeat(64), kind: "pdf" as const, mime: "application/pdf", pages: 1 };
	await store.create({ _id: id, clientId: c.id, status: "PROCESSING", source: "upload", file, attempts: MAX_READ_ATTEMPTS, claimedAt: new Date(Date.now() - READ_LEASE_MS - 1000), receivedAt: new Date().toISOString(), searchText: "" } as unknown as Omit<IntakeDoc, "createdAt" | "updatedAt">);
	// the reader's sweep puts it back on intake.received
	await getPlatform().queues.publish(QUEUES.intakeReceived, { id });
	const d = await waitForDoc(c.key, id);
	assert.equal(d.status, "FAILED");
	assert.equal(d.error?.code, "read_failed");
	assert.match(d.error?.message ?? "", new RegExp(`^reading failed ${MAX_READ_ATTEMPTS} times: the reader stopped while reading`));
	const until = Date.now() + 20_000;
	while (!hooks.some((h) => h.body.document.id === id) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
	const mine = hooks.filter((h) => h.body.document.id === id);
	assert.deepEqual(mine.map((h) => [h.event, h.body.document.status, h.body.document.error?.code]), [["intake.failed", "FAILED", "read_failed"]]);
	const listed = await http<{ items: DocBody[] }>(`${node.url}/intake?status=FAILED`, { headers: apiKey(c.key) });
	assert.deepEqual(listed.body.items.map((i) => i.id), [id]);
});

/**
 * Ingestion across processes on RabbitMQ: the api/ingest/file-picker/batches node, an etl node and a registry node
 * share the store and objects folder (embedded SQLite is safe across processes) and talk over the AMQP transporter
 * and the RabbitMQ work queues. A batch completes with the same counts as in one process; an etl node killed with
 * SIGKILL in the middle of a batch and started again leaves the batch complete with exact counts, no record lost
 * or doubled.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { AMQP_URL, apiKey, bearer, freePort, http, spawnNode, tempDir, deleteNamespaceQueues } from "../helpers/node.ts";
import { debtCsv, debtRow, waitForBatch, type BatchBody } from "../helpers/ingest.ts";
import { signOperatorToken } from "../../lib/api/auth.ts";

const SECRET = "ingest-it-secret-ingest-it-secret";
const namespace = `it-${randomUUID().slice(0, 8)}`;
type Node = Awaited<ReturnType<typeof spawnNode>>;
let port = 0;
let common: Record<string, string>;
let api: Node;
let etl: Node;
let registry: Node;
let base = "";
let key = "";

/** n rows, every 10th with a bad CPF; keys unique from `from`. */
function rows(from: number, n: number) {
	return Array.from({ length: n }, (_, i) => debtRow(from + i, (from + i) % 10 === 0 ? { debtor_cpf: "123" } : {}));
}

before(async () => {
	port = await freePort();
	common = { TRANSPORTER: AMQP_URL, NAMESPACE: namespace, JWT_SECRET: SECRET, DATA_DIR: tempDir(), CHUNK_ROWS: "500", INBOX_POLL_MS: "0", QUEUE_RETRY_DELAY_MS: "200" };
	api = await spawnNode({ ...common, SERVICES: "api,clients,ingest,file-picker,batches", PORT: String(port), NODE_ID: `api-${namespace}` });
	etl = await spawnNode({ ...common, SERVICES: "etl", ETL_CONCURRENCY: "1", NODE_ID: `etl-${namespace}` });
	registry = await spawnNode({ ...common, SERVICES: "registry", NODE_ID: `registry-${namespace}` });
	base = `http://127.0.0.1:${port}/api/v1`;
	const admin = signOperatorToken(SECRET, "it", "admin");
	const c = await http<{ apiKey: string }>(`${base}/clients`, { method: "POST", headers: bearer(admin), json: { name: "it-co" } });
	assert.equal(c.status, 201, JSON.stringify(c.body));
	key = c.body.apiKey;
});

after(async () => {
	await Promise.all([api?.stop(), etl?.stop(), registry?.stop()]);
	await deleteNamespaceQueues(namespace);
});

async function upload(csv: string): Promise<string> {
	const res = await http<{ batchId: string }>(`${base}/uploads?kind=debt`, { method: "POST", headers: { ...apiKey(key), "Content-Type": "text/csv" }, body: csv });
	assert.equal(res.status, 202, JSON.stringify(res.body));
	return res.body.batchId;
}

test("a batch completes with exact counts when etl and registry run in their own processes", async () => {
	const id = await upload(debtCsv(rows(1, 3000)));
	const b = await waitForBatch(base, key, id, 60_000);
	assert.equal(b.status, "COMPLETED", JSON.stringify(b));
	assert.deepEqual(b.counts, { received: 3000, valid: 2700, rejected: 300, skipped: 0, inserted: 2700, updated: 0, unchanged: 0 });
	assert.deepEqual(b.chunks, { total: 6, done: 6 });
});

test("an etl process killed with SIGKILL mid-batch and started again: the batch completes exactly", async () => {
	const n = 60_000;
	const id = await upload(debtCsv(rows(100_000, n)));
	// wait until the etl is well into the batch, then kill it without warning
	let seen: BatchBody | undefined;
	for (let i = 0; i < 600; i++) {
		seen = (await http<BatchBody>(`${base}/batches/${id}`, { headers: apiKey(key) })).body;
		if (seen.counts.received >= 5000) break;
		await new Promise((r) => setTimeout(r, 20));
	}
	assert.ok(seen && seen.counts.received > 0 && seen.counts.received < n, `killed mid-batch (received ${seen?.counts.received})`);
	etl.child.kill("SIGKILL");
	await new Promise((r) => etl.child.once("exit", r));
	const stalled = (await http<BatchBody>(`${base}/batches/${id}`, { headers: apiKey(key) })).body;
	assert.notEqual(stalled.status, "COMPLETED", "the batch cannot finish without an etl");
	etl = await spawnNode({ ...common, SERVICES: "etl", ETL_CONCURRENCY: "2", NODE_ID: `etl2-${namespace}` });
	const b = await waitForBatch(base, key, id, 120_000);
	assert.equal(b.status, "COMPLETED", JSON.stringify(b));
	assert.deepEqual(b.counts, { received: n, valid: n * 0.9, rejected: n * 0.1, skipped: 0, inserted: n * 0.9, updated: 0, unchanged: 0 });
	const rejections = await http<{ total: number }>(`${base}/batches/${id}/rejections?limit=1`, { headers: apiKey(key) });
	assert.equal(rejections.body.total, n * 0.1, "each rejection stored once");
	// every valid row is one record: none lost, none doubled (the first test's 2,700 plus these); the search
	// runs on the registry node, reached through the gateway
	const all = await http<{ total: number }>(`${base}/records?kind=debt&limit=1`, { headers: apiKey(key) });
	assert.equal(all.status, 200, JSON.stringify(all.body));
	assert.equal(all.body.total, 2700 + n * 0.9);
	const mine = await http<{ total: number }>(`${base}/records?batchId=${id}&limit=1`, { headers: apiKey(key) });
	assert.equal(mine.body.total, n * 0.9);
});

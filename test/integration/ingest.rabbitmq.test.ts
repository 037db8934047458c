/**
 * Ingestion across processes on RabbitMQ: the api/ingest/file-picker/batches node, an etl node and a registry node
 * share the store (PostgreSQL: a database of its own for this file, several nodes writing to one server, as in
 * production) and the objects folder, and talk over the AMQP transporter and the RabbitMQ work queues. A batch
 * completes with the same counts as in one process; an etl node killed with SIGKILL in the middle of a batch and
 * started again leaves the batch complete with exact counts, no record lost or doubled; two registry nodes
 * registering overlapping keys at once end with one record per key and counts that add up.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { AMQP_URL, apiKey, bearer, freePort, http, spawnNode, tempDir, deleteNamespaceQueues } from "../helpers/node.ts";
import { debtCsv, debtRow, waitForBatch, type BatchBody } from "../helpers/ingest.ts";
import { signOperatorToken } from "../../lib/api/auth.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres.ts";

const SECRET = "ingest-it-secret-ingest-it-secret";
const namespace = `it-${randomUUID().slice(0, 8)}`;
type Node = Awaited<ReturnType<typeof spawnNode>>;
let port = 0;
let common: Record<string, string>;
let api: Node;
let etl: Node;
let registry: Node;
let registry2: Node | undefined;
let db: TestDatabase;
let base = "";
let key = "";

/** n rows, every 10th with a bad CPF; keys unique from `from`. */
function rows(from: number, n: number) {
	return Array.from({ length: n }, (_, i) => debtRow(from + i, (from + i) % 10 === 0 ? { debtor_cpf: "123" } : {}));
}

before(async () => {
	port = await freePort();
	db = await createTestDatabase();
	common = { TRANSPORTER: AMQP_URL, NAMESPACE: namespace, JWT_SECRET: SECRET, DATA_DIR: tempDir(), DATABASE_URL: db.url, CHUNK_ROWS: "500", INBOX_POLL_MS: "0", QUEUE_RETRY_DELAY_MS: "200" };
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
	await Promise.all([api?.stop(), etl?.stop(), registry?.stop(), registry2?.stop()]);
	await deleteNamespaceQueues(namespace);
	await db?.drop();
});

async function upload(csv: string): Promise<string> {
	const res = await http<{ batchId: string }>(`${base}/uploads?kind=debt`, { method: "POST", headers: { ...apiKey(key), "Content-Type": "text/csv" }, body: csv });
	assert.equal(res.status, 202, JSON.stringify(res.body));
	return res.body.batchId;
}

test("every node stores on PostgreSQL, and health says so", async () => {
	const res = await http<{ dependencies: { store: string }; implementations: { store: string; search: string } }>(`${base}/health`);
	assert.equal(res.status, 200, JSON.stringify(res.body));
	assert.equal(res.body.implementations.store, "postgres");
	assert.equal(res.body.implementations.search, "postgres");
	assert.equal(res.body.dependencies.store, "up");
});

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

test("two registry nodes registering overlapping keys at once: one record per key, counts that add up", async () => {
	registry2 = await spawnNode({ ...common, SERVICES: "registry", NODE_ID: `registry2-${namespace}` });
	// A: keys 300000..303999; B: keys 302000..305999 with other amounts, uploaded together: 2,000 keys in both
	const a = Array.from({ length: 4000 }, (_, i) => debtRow(300_000 + i));
	const b = Array.from({ length: 4000 }, (_, i) => debtRow(302_000 + i, { amount: "9.99" }));
	const [idA, idB] = await Promise.all([upload(debtCsv(a)), upload(debtCsv(b))]);
	const [ba, bb] = await Promise.all([waitForBatch(base, key, idA, 120_000), waitForBatch(base, key, idB, 120_000)]);
	assert.equal(ba.status, "COMPLETED", JSON.stringify(ba));
	assert.equal(bb.status, "COMPLETED", JSON.stringify(bb));
	assert.equal(ba.counts.valid + bb.counts.valid, 8000);
	assert.equal(ba.counts.inserted + bb.counts.inserted, 6000, "each key inserted once");
	assert.equal(ba.counts.updated + bb.counts.updated, 2000, "each shared key updated once, by the batch that came second");
	assert.equal(ba.counts.unchanged + bb.counts.unchanged + ba.counts.skipped + bb.counts.skipped, 0);
	const [ra, rb] = await Promise.all([idA, idB].map((id) => http<{ total: number }>(`${base}/records?batchId=${id}&limit=1`, { headers: apiKey(key) })));
	assert.equal(ra.body.total + rb.body.total, 6000, "one record per key, each last written by one of the batches");
	const all = await http<{ total: number }>(`${base}/records?kind=debt&limit=1`, { headers: apiKey(key) });
	assert.equal(all.body.total, 2700 + 54_000 + 6000);
});

/**
 * Two nodes as separate processes on RabbitMQ, storing on one PostgreSQL database (created for this file): the api
 * node (gateway only) and a worker node (clients). An HTTP request through the gateway reaches the action on the
 * worker, and health reports the transporter and the store.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { AMQP_URL, bearer, freePort, http, spawnNode, tempDir, deleteNamespaceQueues } from "../helpers/node.ts";
import { signOperatorToken } from "../../lib/api/auth.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres.ts";

const SECRET = "multinode-secret-multinode-secret";
const namespace = `test-${randomUUID().slice(0, 8)}`;
let port = 0;
let api: Awaited<ReturnType<typeof spawnNode>>;
let worker: Awaited<ReturnType<typeof spawnNode>>;
let db: TestDatabase;

before(async () => {
	port = await freePort();
	db = await createTestDatabase();
	const common = { TRANSPORTER: AMQP_URL, NAMESPACE: namespace, JWT_SECRET: SECRET, DATA_DIR: tempDir(), DATABASE_URL: db.url };
	worker = await spawnNode({ ...common, SERVICES: "clients", NODE_ID: `worker-${namespace}` });
	api = await spawnNode({ ...common, SERVICES: "api", PORT: String(port), NODE_ID: `api-${namespace}` });
});

after(async () => {
	await Promise.all([api?.stop(), worker?.stop()]);
	await deleteNamespaceQueues(namespace);
	await db?.drop();
});

test("a request through the gateway reaches the clients action on the worker node", async () => {
	const token = signOperatorToken(SECRET, "it", "admin");
	let res = await http<{ id: string; name: string }>(`http://127.0.0.1:${port}/api/v1/clients`, { method: "POST", headers: bearer(token), json: { name: "remote-co" } });
	for (let i = 0; i < 20 && res.status === 503; i++) {
		// the api node may not have discovered the worker yet
		await new Promise((r) => setTimeout(r, 250));
		res = await http(`http://127.0.0.1:${port}/api/v1/clients`, { method: "POST", headers: bearer(token), json: { name: "remote-co" } });
	}
	assert.equal(res.status, 201, JSON.stringify(res.body));
	assert.equal(res.body.name, "remote-co");
	const got = await http<{ id: string }>(`http://127.0.0.1:${port}/api/v1/clients/${res.body.id}`, { headers: bearer(token) });
	assert.equal(got.status, 200);
	assert.equal(got.body.id, res.body.id);
});

test("the api node's health shows the transporter up", async () => {
	const res = await http<{ dependencies: { transporter: string; store: string }; implementations: { transporter: string; store: string } }>(`http://127.0.0.1:${port}/api/v1/health`);
	assert.equal(res.status, 200);
	assert.equal(res.body.dependencies.transporter, "up");
	assert.equal(res.body.implementations.transporter, "amqp");
	assert.equal(res.body.dependencies.store, "up");
	assert.equal(res.body.implementations.store, "postgres");
});

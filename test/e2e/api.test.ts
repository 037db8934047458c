/**
 * End-to-end through the HTTP API on the embedded default: health, docs, errors, request IDs, authentication and
 * the clients routes.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startTestNode, http, bearer, apiKey, spawnNode, tempDir, freePort, type TestNode } from "../helpers/node.ts";
import { issueApiKey } from "../../lib/api/auth.ts";

let node: TestNode;
before(async () => {
	node = await startTestNode();
});
after(async () => {
	await node.close();
});

interface ClientCreated {
	id: string;
	name: string;
	apiKey: string;
	keyId: string;
}

async function createClient(name: string): Promise<ClientCreated> {
	const res = await http<ClientCreated>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name } });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	return res.body;
}

test("GET /health reports every dependency up, with a request ID", async () => {
	const res = await http<{ status: string; dependencies: Record<string, string>; tools: { tool: string; neededBy: string; state: string; path?: string }[] }>(`${node.url}/health`);
	assert.equal(res.status, 200);
	assert.equal(res.body.status, "ok");
	// the node runs every service: the renderer's and the reader's programs are its dependencies too (the set-up installs them)
	assert.deepEqual(res.body.dependencies, { store: "up", objects: "up", queues: "up", search: "up", transporter: "up", tools: "up" });
	assert.deepEqual(res.body.tools.map((t) => `${t.neededBy}:${t.tool}:${t.state}`).sort(), ["reader:pdf-text:up", "reader:pdftoppm:up", "reader:qpdf:up", "reader:tesseract:up", "renderer:chromium:up"]);
	assert.ok(res.body.tools.every((t) => t.path?.startsWith("/")));
	assert.ok(res.headers.get("x-request-id"));
});

test("an incoming X-Request-Id is echoed back", async () => {
	const res = await http(`${node.url}/health`, { headers: { "X-Request-Id": "trace-abc-123" } });
	assert.equal(res.headers.get("x-request-id"), "trace-abc-123");
});

test("the OpenAPI document lists the routes with their security, and the docs page renders it", async () => {
	const res = await http<{ openapi: string; paths: Record<string, Record<string, { security: unknown[] }>> }>(`${node.url}/openapi.json`);
	assert.equal(res.status, 200);
	assert.equal(res.body.openapi, "3.1.0");
	assert.deepEqual(res.body.paths["/clients"].post.security, [{ bearer: [] }]);
	assert.deepEqual(res.body.paths["/health"].get.security, []);
	const docs = await fetch(`${node.url.replace("/v1", "")}/docs`);
	assert.equal(docs.status, 200);
	assert.match(docs.headers.get("content-type") ?? "", /text\/html/);
	assert.match(await docs.text(), /\/clients\/\{id\}\/keys/);
});

test("an unknown route is a JSON 404", async () => {
	const res = await http<{ error: { code: string } }>(`${node.url}/nope`);
	assert.equal(res.status, 404);
	assert.ok(res.body.error.code);
});

test("401 without credentials, with a bad key, with a bad token; the error says what to send", async () => {
	const none = await http<{ error: { code: string; message: string } }>(`${node.url}/clients`);
	assert.equal(none.status, 401);
	assert.equal(none.body.error.code, "UNAUTHORIZED");
	assert.match(none.body.error.message, /X-API-Key|Bearer/);
	assert.equal((await http(`${node.url}/clients`, { headers: apiKey("garbage") })).status, 401);
	assert.equal((await http(`${node.url}/clients`, { headers: apiKey(`pk_abcdefghijkl_${"a".repeat(43)}`) })).status, 401);
	assert.equal((await http(`${node.url}/clients`, { headers: bearer("not.a.jwt") })).status, 401);
});

test("403 for a client key or an operator on admin routes", async () => {
	const c = await createClient("acme-403");
	const asClient = await http<{ error: { code: string } }>(`${node.url}/clients`, { headers: apiKey(c.apiKey) });
	assert.equal(asClient.status, 403);
	assert.equal(asClient.body.error.code, "FORBIDDEN");
	assert.equal((await http(`${node.url}/clients`, { method: "POST", headers: bearer(node.operatorToken), json: { name: "x" } })).status, 403);
});

test("a client reads its own record but not another client's", async () => {
	const a = await createClient("client-a");
	const b = await createClient("client-b");
	const own = await http<{ id: string; name: string; apiKey?: string }>(`${node.url}/clients/${a.id}`, { headers: apiKey(a.apiKey) });
	assert.equal(own.status, 200);
	assert.equal(own.body.name, "client-a");
	assert.equal(own.body.apiKey, undefined, "keys are never shown again");
	const other = await http(`${node.url}/clients/${b.id}`, { headers: apiKey(a.apiKey) });
	assert.equal(other.status, 404);
});

test("admins manage clients: create (key shown once), list, patch, duplicate name 409, validation 400", async () => {
	const c = await createClient("bureau-1");
	assert.match(c.apiKey, /^pk_/);
	const list = await http<{ items: { name: string }[] }>(`${node.url}/clients`, { headers: bearer(node.adminToken) });
	assert.ok(list.body.items.some((i) => i.name === "bureau-1"));
	const patched = await http<{ email: string; webhook: { url: string; secretSet: boolean } }>(`${node.url}/clients/${c.id}`, {
		method: "PATCH",
		headers: bearer(node.adminToken),
		json: { email: "ops@bureau.example", webhook: { url: "https://bureau.example/hook", secret: "0123456789abcdef" } }
	});
	assert.equal(patched.status, 200);
	assert.equal(patched.body.email, "ops@bureau.example");
	assert.deepEqual(patched.body.webhook, { url: "https://bureau.example/hook", secretSet: true });
	assert.equal((await http(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name: "bureau-1" } })).status, 409);
	const bad = await http<{ error: { code: string; details: { field: string }[] } }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name: "x", email: "not-an-email" } });
	assert.equal(bad.status, 400);
	assert.equal(bad.body.error.code, "VALIDATION_ERROR");
	assert.ok(bad.body.error.details.some((d) => d.field === "email"));
});

test("keys: a second key works, a revoked key stops working", async () => {
	const c = await createClient("keys-co");
	const k2 = await http<{ apiKey: string; keyId: string }>(`${node.url}/clients/${c.id}/keys`, { method: "POST", headers: bearer(node.adminToken) });
	assert.equal(k2.status, 201);
	assert.equal((await http(`${node.url}/clients/${c.id}`, { headers: apiKey(k2.body.apiKey) })).status, 200);
	const del = await http(`${node.url}/clients/${c.id}/keys/${c.keyId}`, { method: "DELETE", headers: bearer(node.adminToken) });
	assert.equal(del.status, 200);
	assert.equal((await http(`${node.url}/clients/${c.id}`, { headers: apiKey(c.apiKey) })).status, 401);
	assert.equal((await http(`${node.url}/clients/${c.id}`, { headers: apiKey(k2.body.apiKey) })).status, 200);
});

test("a JSON body over the limit is refused with 413", async () => {
	const big = { name: "x".repeat(6 * 1024 * 1024) };
	const res = await http<{ error: { code: string } }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: big });
	assert.equal(res.status, 413);
});

test("on first start a demo client is created with DEMO_API_KEY, and the banner says how to call the API", async () => {
	const demoKey = issueApiKey().apiKey;
	const dataDir = tempDir();
	const env = { DATA_DIR: dataDir, PORT: "0", DEMO_API_KEY: demoKey, JWT_SECRET: "demo-secret-demo-secret-demo-secret" };
	const first = await spawnNode(env, /try:.*\n/);
	try {
		const out = first.output();
		assert.match(out, /demo client created; its API key \(shown once\): pk_/);
		assert.match(out, /API: +http:\/\/localhost:\d+\/api\/v1/);
		assert.match(out, /docs: +http:\/\/localhost:\d+\/api\/docs/);
		const port = /localhost:(\d+)\/api\/v1/.exec(out)?.[1];
		// the demo key authenticates (404 for an unknown client, not 401)
		assert.equal((await http(`http://127.0.0.1:${port}/api/v1/clients/unknown`, { headers: apiKey(demoKey) })).status, 404);
		assert.equal((await http(`http://127.0.0.1:${port}/api/v1/clients/unknown`, { headers: apiKey(issueApiKey().apiKey) })).status, 401);
	} finally {
		await first.stop();
	}
	const second = await spawnNode(env, /try:.*\n/);
	await second.stop();
	assert.doesNotMatch(second.output(), /demo client created/);
});

test("an object link from the folder store serves the object until it expires; a tampered link is 403", async () => {
	const { objects } = node.platform;
	await objects.put("reports/acme/summary 1.csv", "a,b\n1,2\n", { contentType: "text/csv" });
	const link = new URL(await objects.link("reports/acme/summary 1.csv", 60));
	const url = `${node.url.replace("/api/v1", "")}${link.pathname}${link.search}`;
	const ok = await fetch(url);
	assert.equal(ok.status, 200);
	assert.match(ok.headers.get("content-type") ?? "", /text\/csv/);
	assert.equal(await ok.text(), "a,b\n1,2\n");
	const tampered = await http<{ error: { code: string } }>(url.replace(/signature=[0-9a-f]/, (m) => (m.endsWith("0") ? m.slice(0, -1) + "1" : m.slice(0, -1) + "0")));
	assert.equal(tampered.status, 403);
	const other = await http(url.replace("summary%201.csv", "other.csv"));
	assert.equal(other.status, 403, "a signature is valid for its own key only");
});

test("a node with METRICS_PORT serves Prometheus metrics", async () => {
	const metricsPort = await freePort();
	const env = { DATA_DIR: tempDir(), PORT: "0", METRICS_PORT: String(metricsPort), JWT_SECRET: "metrics-secret-metrics-secret-xx" };
	const child = await spawnNode(env, /try:.*\n/);
	try {
		const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
		assert.equal(res.status, 200);
		const text = await res.text();
		assert.match(text, /# TYPE moleculer_request_total counter|moleculer_node_type|process_cpu/);
		assert.match(text, /nodeID="/);
	} finally {
		await child.stop();
	}
});

test("a client's schedule of charges is checked when it is set", async () => {
	const c = await createClient("charges-co");
	const ok = await http<{ charges: { items: unknown[] } }>(`${node.url}/clients/${c.id}`, {
		method: "PATCH",
		headers: bearer(node.adminToken),
		json: { charges: { currency: "INR", items: [{ key: "late_payment", kind: "percent", rate: "3", basis: "per_month_overdue" }] } }
	});
	assert.equal(ok.status, 200, JSON.stringify(ok.body));
	assert.equal(ok.body.charges.items.length, 1);
	const bad = await http<{ error: { message: string; details: { field: string }[] } }>(`${node.url}/clients/${c.id}`, {
		method: "PATCH",
		headers: bearer(node.adminToken),
		json: { charges: { items: [{ key: "late_payment", kind: "fixed" }] } }
	});
	assert.equal(bad.status, 400);
	assert.match(bad.body.error.message, /charges.items\[0\] is fixed and needs an amount/);
});

test("the OpenAPI document shows each route's own parameters only (no generic or internal ones)", async () => {
	type Op = { parameters: { name: string }[] };
	const res = await http<{ paths: Record<string, Record<string, Op>> }>(`${node.url}/openapi.json`);
	const names = (p: string, m: string) => res.body.paths[p][m].parameters.map((x) => x.name).sort();
	assert.deepEqual(names("/clients", "get"), ["limit", "offset"]);
	assert.deepEqual(names("/clients/{id}", "get"), ["id"]);
	assert.ok(names("/records", "get").includes("clientId"), "operators choose a client with clientId");
	assert.deepEqual(names("/records/{id}", "get"), ["clientId", "id"]);
});

/**
 * Operators as people, end to end on the embedded default: accounts made by `npm run operator`, sign-in with a
 * throttle, rotating refresh tokens, admin routes, operators reading across clients while clients see only their
 * own, the audit log, and an all-or-nothing first start.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { startTestNode, http, bearer, apiKey, spawnNode, tempDir, ROOT, type TestNode } from "../helpers/node.ts";
import { debtCsv, debtRow, waitForBatch } from "../helpers/ingest.ts";
import { issueApiKey } from "../../lib/api/auth.ts";

const JWT_SECRET = "test-secret-test-secret-test-secret";
let node: TestNode;

/** `npm run operator -- ...` against the node's DATA_DIR. */
function operatorCli(dataDir: string, args: string[], password?: string) {
	return spawnSync(process.execPath, ["--disable-warning=ExperimentalWarning", path.join(ROOT, "scripts/operator.ts"), ...args], {
		cwd: ROOT,
		env: { PATH: process.env.PATH, DATA_DIR: dataDir, JWT_SECRET, ...(password ? { OPERATOR_PASSWORD: password } : {}) },
		input: "",
		encoding: "utf8"
	});
}

interface Session {
	accessToken: string;
	refreshToken: string;
	expiresIn: number;
	operator: { id: string; email: string; role: string };
}

const login = (email: string, password: string, headers: Record<string, string> = {}) =>
	http<Session & { error: { code: string; message: string } }>(`${node.url}/auth/login`, { method: "POST", headers, json: { email, password } });

before(async () => {
	node = await startTestNode();
	const made = operatorCli(node.dataDir, ["add", "--email", "Admin@Example.com", "--role", "admin", "--name", "Ada"], "correct horse battery");
	assert.equal(made.status, 0, made.stderr);
	assert.match(made.stdout, /operator admin@example.com \(admin\) created/);
	assert.doesNotMatch(made.stdout + made.stderr, /correct horse/, "the password is never printed");
});
after(async () => {
	await node.close();
});

test("the CLI refuses a duplicate email, a bad role and a short password", () => {
	assert.equal(operatorCli(node.dataDir, ["add", "--email", "admin@example.com", "--role", "admin"], "another long password").status, 1);
	assert.equal(operatorCli(node.dataDir, ["add", "--email", "x@example.com", "--role", "root"], "another long password").status, 2);
	const short = operatorCli(node.dataDir, ["add", "--email", "y@example.com", "--role", "operator"], "short");
	assert.equal(short.status, 2);
	assert.match(short.stderr, /at least 12 characters/);
});

test("sign-in answers an access token the gateway accepts and a refresh token that rotates", async () => {
	const ok = await login("admin@example.com", "correct horse battery");
	assert.equal(ok.status, 200, JSON.stringify(ok.body));
	assert.equal(ok.body.operator.role, "admin");
	assert.equal(ok.body.expiresIn, 900);
	assert.doesNotMatch(JSON.stringify(ok.body), /passwordHash|scrypt/);
	const me = await http<{ sub: string; role: string }>(`${node.url}/auth/me`, { headers: bearer(ok.body.accessToken) });
	assert.deepEqual([me.status, me.body.sub, me.body.role], [200, "admin@example.com", "admin"]);
	assert.equal((await http(`${node.url}/clients`, { headers: bearer(ok.body.accessToken) })).status, 200);

	const r1 = await http<Session>(`${node.url}/auth/refresh`, { method: "POST", json: { refreshToken: ok.body.refreshToken } });
	assert.equal(r1.status, 200);
	assert.notEqual(r1.body.refreshToken, ok.body.refreshToken);
	// the used token is refused, and its reuse ends the session it was stolen from
	assert.equal((await http(`${node.url}/auth/refresh`, { method: "POST", json: { refreshToken: ok.body.refreshToken } })).status, 401);
	assert.equal((await http(`${node.url}/auth/refresh`, { method: "POST", json: { refreshToken: r1.body.refreshToken } })).status, 401);

	const again = await login("admin@example.com", "correct horse battery");
	assert.equal((await http(`${node.url}/auth/logout`, { method: "POST", json: { refreshToken: again.body.refreshToken } })).status, 200);
	assert.equal((await http(`${node.url}/auth/refresh`, { method: "POST", json: { refreshToken: again.body.refreshToken } })).status, 401);
});

test("a wrong password is refused with 401; repeated failures are throttled per account with 429 and Retry-After", async () => {
	const admin = (await login("admin@example.com", "correct horse battery")).body.accessToken;
	const created = await http(`${node.url}/operators`, { method: "POST", headers: bearer(admin), json: { email: "ops1@example.com", role: "operator", password: "operator password 1" } });
	assert.equal(created.status, 201);
	const wrong = await login("ops1@example.com", "nope nope nope");
	assert.equal(wrong.status, 401);
	assert.equal((await login("nobody@example.com", "nope nope nope")).status, 401, "an unknown account looks the same");
	for (let i = 0; i < 4; i++) assert.equal((await login("ops1@example.com", "nope nope nope")).status, 401);
	const locked = await login("ops1@example.com", "operator password 1");
	assert.equal(locked.status, 429, "even the right password waits once the account is throttled");
	assert.equal(locked.body.error.code, "TOO_MANY_REQUESTS");
	assert.ok(Number(locked.headers.get("retry-after")) > 0);
	// another account from the same address is not locked by it
	assert.equal((await login("admin@example.com", "correct horse battery")).status, 200);
});

test("admins list, create and disable operators; an operator cannot; a disabled account cannot sign in", async () => {
	const admin = (await login("admin@example.com", "correct horse battery")).body.accessToken;
	const made = await http<{ id: string; email: string; role: string; disabled: boolean }>(`${node.url}/operators`, {
		method: "POST",
		headers: bearer(admin),
		json: { email: "ops2@example.com", name: "Bo", role: "operator", password: "operator password 2" }
	});
	assert.equal(made.status, 201, JSON.stringify(made.body));
	assert.equal((await http(`${node.url}/operators`, { method: "POST", headers: bearer(admin), json: { email: "ops2@example.com", role: "operator", password: "operator password 2" } })).status, 409);
	const list = await http<{ items: { email: string }[] }>(`${node.url}/operators`, { headers: bearer(admin) });
	assert.ok(list.body.items.some((o) => o.email === "ops2@example.com"));
	const ops = await login("ops2@example.com", "operator password 2");
	assert.equal(ops.status, 200);
	assert.equal((await http(`${node.url}/operators`, { headers: bearer(ops.body.accessToken) })).status, 403);
	const disabled = await http<{ disabled: boolean }>(`${node.url}/operators/${made.body.id}`, { method: "PATCH", headers: bearer(admin), json: { disabled: true } });
	assert.equal(disabled.body.disabled, true);
	assert.equal((await login("ops2@example.com", "operator password 2")).status, 401);
	assert.equal((await http(`${node.url}/auth/refresh`, { method: "POST", json: { refreshToken: ops.body.refreshToken } })).status, 401, "its sessions end");
	const audit = await http<{ items: { action: string; actor: string; items: string[] }[] }>(`${node.url}/audit?action=operator.update`, { headers: bearer(admin) });
	assert.ok(audit.body.items.some((e) => e.actor === "admin@example.com" && e.items[0] === made.body.id));
});

test("machine tokens from `npm run token` keep working", async () => {
	assert.equal((await http(`${node.url}/clients`, { headers: bearer(node.adminToken) })).status, 200);
	assert.equal((await http(`${node.url}/audit`, { headers: bearer(node.operatorToken) })).status, 200);
});

test("operators read every client's batches, rejections and records, or one client's with clientId; clients only their own", async () => {
	const mk = async (name: string) => (await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name } })).body;
	const a = await mk("scope-a");
	const b = await mk("scope-b");
	const upload = async (key: string, csv: string) => {
		const res = await http<{ batchId: string }>(`${node.url}/uploads?kind=debt`, { method: "POST", headers: { ...apiKey(key), "Content-Type": "text/csv" }, body: csv });
		assert.equal(res.status, 202, JSON.stringify(res.body));
		return waitForBatch(node.url, key, res.body.batchId);
	};
	const ba = await upload(a.apiKey, debtCsv([debtRow(9001), debtRow(9002, { debtor_cpf: "123" })]));
	const bb = await upload(b.apiKey, debtCsv([debtRow(9101)]));
	const op = bearer(node.operatorToken);

	const all = await http<{ items: { id: string; clientId: string }[] }>(`${node.url}/batches?limit=200`, { headers: op });
	assert.equal(all.status, 200);
	assert.ok(all.body.items.some((x) => x.id === ba.id) && all.body.items.some((x) => x.id === bb.id));
	const onlyA = await http<{ items: { id: string; clientId: string }[] }>(`${node.url}/batches?clientId=${a.id}`, { headers: op });
	assert.ok(onlyA.body.items.length > 0 && onlyA.body.items.every((x) => x.clientId === a.id));
	// a client's own list ignores a clientId it sends
	const asA = await http<{ items: { clientId: string }[] }>(`${node.url}/batches?clientId=${b.id}`, { headers: apiKey(a.apiKey) });
	assert.ok(asA.body.items.every((x) => x.clientId === a.id));
	assert.equal((await http(`${node.url}/batches/${bb.id}`, { headers: apiKey(a.apiKey) })).status, 404);
	assert.equal((await http(`${node.url}/batches/${bb.id}`, { headers: op })).status, 200);
	assert.equal((await http(`${node.url}/batches/${bb.id}?clientId=${a.id}`, { headers: op })).status, 404);

	// by file name: any part of it, any case, across clients for an operator; a client still sees only its own
	const named = await http<{ batchId: string }>(`${node.url}/uploads?kind=debt&filename=Carteira-Dezembro-2026.csv`, { method: "POST", headers: { ...apiKey(b.apiKey), "Content-Type": "text/csv" }, body: debtCsv([debtRow(9201)]) });
	assert.equal(named.status, 202, JSON.stringify(named.body));
	const byFile = await http<{ total: number; items: { id: string; file?: { name: string } }[] }>(`${node.url}/batches?file=dezembro-2026`, { headers: op });
	assert.equal(byFile.status, 200);
	assert.deepEqual(byFile.body.items.map((x) => x.id), [named.body.batchId]);
	assert.equal(byFile.body.total, 1);
	assert.equal((await http<{ total: number }>(`${node.url}/batches?file=dezembro-2026`, { headers: apiKey(a.apiKey) })).body.total, 0);
	assert.equal((await http<{ total: number }>(`${node.url}/batches?file=dezembro-2026`, { headers: apiKey(b.apiKey) })).body.total, 1);

	const rej = await http<{ total: number; codes: { code: string; count: number }[] }>(`${node.url}/batches/${ba.id}/rejections?codes=true`, { headers: op });
	assert.equal(rej.status, 200);
	assert.equal(rej.body.total, 1);
	assert.equal(rej.body.codes.reduce((n, c) => n + c.count, 0), 1);
	const csvOp = await (await fetch(`${node.url}/batches/${ba.id}/rejections?format=csv`, { headers: op })).text();
	const csvClient = await (await fetch(`${node.url}/batches/${ba.id}/rejections?format=csv`, { headers: apiKey(a.apiKey) })).text();
	assert.equal(csvOp, csvClient);

	const recs = await http<{ items: { id: string; clientId: string }[] }>(`${node.url}/records?contract_id=C009101`, { headers: op });
	assert.equal(recs.body.items.length, 1);
	assert.equal(recs.body.items[0].clientId, b.id);
	assert.equal((await http<{ items: unknown[] }>(`${node.url}/records?contract_id=C009101`, { headers: apiKey(a.apiKey) })).body.items.length, 0);
	assert.equal((await http(`${node.url}/records/${recs.body.items[0].id}`, { headers: op })).status, 200);
	assert.equal((await http(`${node.url}/records/${recs.body.items[0].id}`, { headers: apiKey(a.apiKey) })).status, 404);
	const byEmail = await http<{ items: { clientId: string }[] }>(`${node.url}/records?email=d9101@EXAMPLE.com`, { headers: op });
	assert.equal(byEmail.body.items.length, 1);
});

test("an operator uploads on a client's behalf (clientId required) and the audit log records it", async () => {
	const c = (await http<{ id: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name: "behalf-co" } })).body;
	const op = bearer(node.operatorToken);
	const missing = await http<{ error: { code: string } }>(`${node.url}/uploads?kind=debt`, { method: "POST", headers: { ...op, "Content-Type": "text/csv" }, body: debtCsv([debtRow(9201)]) });
	assert.equal(missing.status, 400);
	assert.equal((await http(`${node.url}/uploads?kind=debt&clientId=nope`, { method: "POST", headers: { ...op, "Content-Type": "text/csv" }, body: debtCsv([debtRow(9201)]) })).status, 404);
	const ok = await http<{ batchId: string }>(`${node.url}/uploads?kind=debt&clientId=${c.id}`, { method: "POST", headers: { ...op, "Content-Type": "text/csv" }, body: debtCsv([debtRow(9201)]) });
	assert.equal(ok.status, 202, JSON.stringify(ok.body));
	const batch = await http<{ clientId: string }>(`${node.url}/batches/${ok.body.batchId}`, { headers: op });
	assert.equal(batch.body.clientId, c.id);
	const audit = await http<{ items: { action: string; actor: string; clientId: string; items: string[]; count: number }[] }>(`${node.url}/audit?clientId=${c.id}`, { headers: op });
	const entry = audit.body.items.find((e) => e.action === "upload");
	assert.ok(entry);
	assert.deepEqual([entry.actor, entry.items, entry.count], ["test-operator", [ok.body.batchId], 1]);
	assert.ok(audit.body.items.some((e) => e.action === "client.create"));
});

test("dead-letter replay is audited with its count; purge needs an admin", async () => {
	const op = bearer(node.operatorToken);
	const replay = await http<{ replayed: number }>(`${node.url}/queues/chunks.ready/dead-letters/replay`, { method: "POST", headers: op, json: { error: "no such error text" } });
	assert.equal(replay.status, 200);
	assert.equal(replay.body.replayed, 0);
	assert.equal((await http(`${node.url}/queues/chunks.ready/dead-letters`, { method: "DELETE", headers: op })).status, 403);
	const purge = await http<{ purged: number }>(`${node.url}/queues/chunks.ready/dead-letters`, { method: "DELETE", headers: bearer(node.adminToken) });
	assert.equal(purge.status, 200);
	const audit = await http<{ items: { action: string; target: string; count: number; actor: string }[] }>(`${node.url}/audit?action=dlq.purge`, { headers: op });
	assert.deepEqual(audit.body.items.map((e) => [e.target, e.count, e.actor]), [["queue:chunks.ready", 0, "test-admin"]]);
});

test("first start: a malformed DEMO_API_KEY creates nothing; the next start with a valid key creates the demo client with it", async () => {
	const dataDir = tempDir();
	const env = { DATA_DIR: dataDir, PORT: "0", JWT_SECRET };
	await assert.rejects(spawnNode({ ...env, DEMO_API_KEY: "pk_not_a_key" }), /exited with 78[\s\S]*DEMO_API_KEY must look like/);
	const good = issueApiKey().apiKey;
	const second = await spawnNode({ ...env, DEMO_API_KEY: good }, /try:.*\n/);
	try {
		const out = second.output();
		assert.match(out, /demo client created; its API key \(shown once\): pk_/);
		const port = /localhost:(\d+)\/api\/v1/.exec(out)?.[1];
		assert.equal((await http(`http://127.0.0.1:${port}/api/v1/batches`, { headers: apiKey(good) })).status, 200, "the key in the banner works");
	} finally {
		await second.stop();
	}
	// a later start with another DEMO_API_KEY does not offer a key this store does not know
	const third = await spawnNode({ ...env, DEMO_API_KEY: issueApiKey().apiKey }, /try:.*\n/);
	try {
		assert.match(third.output(), /DEMO_API_KEY is not a key of this store/);
		assert.doesNotMatch(third.output(), /X-API-Key: pk_/, "a key the store does not know is not offered");
	} finally {
		await third.stop();
	}
});

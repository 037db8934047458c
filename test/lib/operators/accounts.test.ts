/**
 * Operator accounts on the embedded store: scrypt hashes, credentials, rotating refresh tokens with reuse
 * detection, and the login throttle.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { rmSync } from "node:fs";
import type { Context } from "moleculer";
import { SqliteStore } from "../../../lib/store/index.ts";
import { tempDir } from "../../helpers/node.ts";
import { AccountError, checkCredentials, createOperator, hashPassword, issueRefresh, OPERATOR_INDEXES, revokeRefresh, useRefresh, verifyPassword } from "../../../lib/operators/accounts.ts";
import { LoginThrottle } from "../../../lib/operators/throttle.ts";
import { readScope, writeScope } from "../../../lib/api/scope.ts";

const dir = tempDir();
const store = new SqliteStore({ file: path.join(dir, "ops.db") });
after(async () => {
	await store.close();
	rmSync(dir, { recursive: true, force: true });
});

test("passwords are stored as salted scrypt hashes and checked in constant time", async () => {
	const a = await hashPassword("correct horse battery");
	const b = await hashPassword("correct horse battery");
	assert.match(a, /^scrypt\$16384\$8\$1\$/);
	assert.notEqual(a, b, "a fresh salt each time");
	assert.equal(await verifyPassword("correct horse battery", a), true);
	assert.equal(await verifyPassword("correct horse batterY", a), false);
	assert.equal(await verifyPassword("x", "not-a-hash"), false);
});

test("accounts: unique lower-cased email, checked role and password length; disabled accounts cannot sign in", async () => {
	const ops = store.adapter("operators");
	await ops.connect();
	await ops.ensureIndexes(OPERATOR_INDEXES);
	const doc = await createOperator(ops, { email: " Ana@Example.com ", role: "admin", password: "a long password" });
	assert.equal(doc.email, "ana@example.com");
	assert.equal(doc.name, "ana");
	await assert.rejects(createOperator(ops, { email: "ana@example.com", role: "admin", password: "a long password" }), (e: AccountError) => e.reason === "exists");
	await assert.rejects(createOperator(ops, { email: "b@example.com", role: "root", password: "a long password" }), /role must be/);
	await assert.rejects(createOperator(ops, { email: "b@example.com", role: "operator", password: "short" }), /at least 12/);
	assert.equal((await checkCredentials(ops, "ANA@example.com", "a long password"))?._id, doc._id);
	assert.equal(await checkCredentials(ops, "ana@example.com", "wrong password"), null);
	assert.equal(await checkCredentials(ops, "nobody@example.com", "a long password"), null);
	await ops.updateById(doc._id, { $set: { disabledAt: new Date() } });
	assert.equal(await checkCredentials(ops, "ana@example.com", "a long password"), null);
});

test("refresh tokens: stored hashed, used once, a reuse revokes the operator's other tokens, expiry and logout", async () => {
	const r = store.adapter("operator_refresh");
	await r.connect();
	const t1 = await issueRefresh(r, "op1", 60_000);
	const stored = await r.find({ query: { operatorId: "op1" } });
	const secret = /^rt_.{16}_(.{43})$/.exec(t1.token)?.[1] ?? "";
	assert.equal(secret.length, 43);
	assert.ok(!JSON.stringify(stored).includes(secret), "only a hash is stored");
	const t2 = await issueRefresh(r, "op1", 60_000);
	assert.equal(await useRefresh(r, t1.token), "op1");
	assert.equal(await useRefresh(r, t1.token), null, "used up");
	assert.equal(await useRefresh(r, t2.token), null, "the reuse revoked the other session");
	const expired = await issueRefresh(r, "op2", -1);
	assert.equal(await useRefresh(r, expired.token), null);
	const t3 = await issueRefresh(r, "op2", 60_000);
	assert.equal(await revokeRefresh(r, t3.token), true);
	assert.equal(await useRefresh(r, t3.token), null);
	assert.equal(await useRefresh(r, "rt_garbage"), null);
	const forged = t3.token.slice(0, -4) + "AAAA";
	assert.equal(await useRefresh(r, forged), null);
});

test("the throttle refuses after `limit` failures in the window and says how long to wait", () => {
	let now = 1_000_000;
	const t = new LoginThrottle({ limit: 3, windowMs: 60_000 }, () => now);
	for (let i = 0; i < 3; i++) {
		assert.equal(t.retryAfter("k"), 0);
		t.fail("k");
		now += 1000;
	}
	assert.equal(t.retryAfter("k"), 57);
	assert.equal(t.retryAfter("other"), 0);
	now += 57_000;
	assert.equal(t.retryAfter("k"), 0, "the oldest failure aged out");
	t.fail("k");
	t.clear("k");
	assert.equal(t.retryAfter("k"), 0);
});

test("scope: a client reads its own data whatever it sends; an operator all clients' or one; writes need a client", () => {
	const ctx = (auth: unknown) => ({ meta: { auth } }) as unknown as Context;
	const client = ctx({ kind: "client", clientId: "c1", keyId: "k" });
	const op = ctx({ kind: "operator", sub: "o", role: "operator" });
	assert.equal(readScope(client, "c2"), "c1");
	assert.equal(readScope(op, undefined), undefined);
	assert.equal(readScope(op, "c2"), "c2");
	assert.equal(readScope(ctx(undefined), "c3"), "c3");
	assert.throws(() => readScope(ctx(undefined), undefined), /credentials required/);
	assert.equal(writeScope(client, "c2"), "c1");
	assert.equal(writeScope(op, "c2"), "c2");
	assert.throws(() => writeScope(op, undefined), /clientId is required/);
});

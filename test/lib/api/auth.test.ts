import { test } from "node:test";
import assert from "node:assert/strict";
import jwt from "jsonwebtoken";
import { allowed, apiKeyMatches, hashApiKey, issueApiKey, parseApiKey, signOperatorToken, TokenError, verifyOperatorToken } from "../../../lib/api/auth.ts";

test("issued API keys parse, match their hash only, and differ every time", () => {
	const a = issueApiKey();
	const b = issueApiKey();
	assert.notEqual(a.apiKey, b.apiKey);
	assert.deepEqual(parseApiKey(a.apiKey), { keyId: a.keyId });
	assert.ok(apiKeyMatches(a.apiKey, a.hash));
	assert.ok(!apiKeyMatches(b.apiKey, a.hash));
	assert.equal(a.hash, hashApiKey(a.apiKey));
	assert.ok(!a.hash.includes(a.apiKey.slice(16)), "the hash does not contain the secret");
});

test("malformed keys are refused before any look-up; a fixed demo key must be well-formed", () => {
	for (const bad of ["", "abc", "pk_short_x", `pk_ABCDEFGHIJKL_${"a".repeat(43)}`, `pk_abcdefghijkl_${"a".repeat(42)}`]) assert.equal(parseApiKey(bad), null, bad);
	assert.throws(() => issueApiKey("not-a-key"), /DEMO_API_KEY must look like/);
	const fixed = issueApiKey().apiKey;
	assert.equal(issueApiKey(fixed).apiKey, fixed);
});

test("operator tokens verify with the secret and carry sub and role", () => {
	const t = signOperatorToken("s3cret", "alice", "admin");
	assert.deepEqual(verifyOperatorToken("s3cret", t), { sub: "alice", role: "admin" });
	assert.throws(() => verifyOperatorToken("other", t), (e: unknown) => e instanceof TokenError && /signature/.test(e.message));
	const expired = jwt.sign({ role: "admin", exp: Math.floor(Date.now() / 1000) - 10 }, "s3cret", { algorithm: "HS256", subject: "a" });
	assert.throws(() => verifyOperatorToken("s3cret", expired), /expired/);
	const badRole = jwt.sign({ role: "client" }, "s3cret", { algorithm: "HS256", subject: "a" });
	assert.throws(() => verifyOperatorToken("s3cret", badRole), /role must be operator or admin/);
	const none = jwt.sign({ role: "admin" }, "", { algorithm: "none", subject: "a" });
	assert.throws(() => verifyOperatorToken("s3cret", none), TokenError);
});

test("access rules: public, client, operator, admin, self-or-admin", () => {
	const client = { kind: "client" as const, clientId: "c1", keyId: "k" };
	const op = { kind: "operator" as const, sub: "o", role: "operator" as const };
	const admin = { kind: "operator" as const, sub: "a", role: "admin" as const };
	assert.equal(allowed("public", undefined), "ok");
	assert.equal(allowed("client", undefined), "unauthenticated");
	assert.equal(allowed("client", client), "ok");
	assert.equal(allowed("client", admin), "forbidden");
	assert.equal(allowed("operator", op), "ok");
	assert.equal(allowed("admin", op), "forbidden");
	assert.equal(allowed("admin", client), "forbidden");
	assert.equal(allowed("admin", admin), "ok");
	assert.equal(allowed("self-or-admin", client, "c1"), "ok");
	assert.equal(allowed("self-or-admin", client, "c2"), "not-found");
	assert.equal(allowed("self-or-admin", admin, "c2"), "ok");
	assert.equal(allowed("self-or-admin", op, "c2"), "forbidden");
	assert.equal(allowed("client-or-operator", undefined), "unauthenticated");
	assert.equal(allowed("client-or-operator", client), "ok");
	assert.equal(allowed("client-or-operator", op), "ok");
});

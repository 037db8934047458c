import { test } from "node:test";
import assert from "node:assert/strict";
import { normalizeEmail } from "../../../lib/validate/email.ts";

test("valid addresses; the domain is lower-cased", () => {
	assert.deepEqual(normalizeEmail("ana.silva@example.com"), { ok: true, value: "ana.silva@example.com" });
	assert.deepEqual(normalizeEmail(" Ana+bills@Example.COM.br "), { ok: true, value: "Ana+bills@example.com.br" });
	assert.deepEqual(normalizeEmail("x_y-z@sub.domain.co.in"), { ok: true, value: "x_y-z@sub.domain.co.in" });
	assert.deepEqual(normalizeEmail("a@xn--80ak6aa92e.com"), { ok: true, value: "a@xn--80ak6aa92e.com" });
});

test("invalid addresses are rejected", () => {
	for (const raw of ["plain", "@example.com", "a@", "a@b", "a@@b.com", "a b@c.com", "a..b@c.com", ".a@c.com", "a.@c.com", "a@-c.com", "a@c-.com", "a@c.c", "a@c.123", "a@c..com", `${"x".repeat(65)}@c.com`]) {
		const r = normalizeEmail(raw);
		assert.equal(r.ok, false, raw);
		if (!r.ok) assert.equal(r.code, "invalid_email");
	}
});

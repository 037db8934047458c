import { test } from "node:test";
import assert from "node:assert/strict";
import { normalizeBrPhone, normalizeInPhone } from "../../../lib/validate/phone.ts";

test("Brazilian numbers normalise to E.164", () => {
	for (const [raw, e164] of [
		["(11) 98765-4321", "+5511987654321"],
		["11987654321", "+5511987654321"],
		["+55 11 98765-4321", "+5511987654321"],
		["+55 (11) 98765 4321", "+5511987654321"],
		["5511987654321", "+5511987654321"],
		["0 11 98765-4321", "+5511987654321"],
		["011987654321", "+5511987654321"],
		["0 21 11 98765-4321", "+5511987654321"],
		["0055 11 98765-4321", "+5511987654321"],
		["(21) 3456-7890", "+552134567890"],
		["2134567890", "+552134567890"],
		["021 3456-7890", "+552134567890"],
		["+55 21 3456-7890", "+552134567890"],
		["(55) 99876-5432", "+5555998765432"]
	]) {
		assert.deepEqual(normalizeBrPhone(raw), { ok: true, value: e164 }, raw);
	}
});

test("bad Brazilian numbers are rejected", () => {
	for (const raw of [
		"98765-4321", // no area code
		"(10) 98765-4321", // no DDD 10
		"(20) 98765-4321", // no DDD 20
		"(11) 88765-4321", // 9 digits not starting with 9
		"(11) 9876-5432", // 8-digit starting with 9: old mobile format
		"+1 212 555 0100",
		"11 98765-4321 ramal 2",
		"abc",
		"+55 11 98765-43210"
	]) {
		const r = normalizeBrPhone(raw);
		assert.equal(r.ok, false, raw);
		if (!r.ok) assert.equal(r.code, "invalid_phone");
	}
});

test("Indian mobiles normalise to E.164", () => {
	for (const [raw, e164] of [
		["9876543210", "+919876543210"],
		["+91 98765 43210", "+919876543210"],
		["+91-98765-43210", "+919876543210"],
		["919876543210", "+919876543210"],
		["09876543210", "+919876543210"],
		["0091 9876543210", "+919876543210"],
		["6123456789", "+916123456789"]
	]) {
		assert.deepEqual(normalizeInPhone(raw), { ok: true, value: e164 }, raw);
	}
});

test("bad Indian numbers are rejected", () => {
	for (const raw of ["5876543210", "987654321", "98765432101", "+92 9876543210", "022 2345 6789", "call me"]) {
		const r = normalizeInPhone(raw);
		assert.equal(r.ok, false, raw);
		if (!r.ok) assert.equal(r.code, "invalid_phone");
	}
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { cpfCheckDigits, formatCpf, normalizeCpf } from "../../../lib/validate/cpf.ts";

test("valid CPFs, with and without punctuation, are stored as 11 digits", () => {
	for (const [raw, digits] of [
		["529.982.247-25", "52998224725"],
		["52998224725", "52998224725"],
		[" 111.444.777-35 ", "11144477735"],
		["111 444 777 35", "11144477735"],
		["123.456.789-09", "12345678909"],
		["000.000.001-91", "00000000191"]
	]) {
		assert.deepEqual(normalizeCpf(raw), { ok: true, value: digits }, raw);
	}
});

test("check digits are computed per the mod-11 rule", () => {
	assert.deepEqual(cpfCheckDigits("529982247"), [2, 5]);
	assert.deepEqual(cpfCheckDigits("111444777"), [3, 5]);
	assert.deepEqual(cpfCheckDigits("123456789"), [0, 9]);
});

test("wrong check digits are rejected", () => {
	for (const raw of ["529.982.247-24", "52998224735", "12345678900"]) {
		const r = normalizeCpf(raw);
		assert.equal(r.ok, false);
		if (!r.ok) {
			assert.equal(r.code, "invalid_cpf");
			assert.match(r.message, /check digits/);
		}
	}
});

test("all-same-digit numbers are rejected even though their check digits add up", () => {
	for (let d = 0; d <= 9; d++) {
		const r = normalizeCpf(String(d).repeat(11));
		assert.equal(r.ok, false);
		if (!r.ok) assert.match(r.message, /repeats one digit/);
	}
});

test("wrong length and letters are rejected with a message", () => {
	const short = normalizeCpf("5299822472");
	assert.equal(short.ok, false);
	if (!short.ok) assert.match(short.message, /11 digits, it has 10/);
	const letters = normalizeCpf("529.982.247-2X");
	assert.equal(letters.ok, false);
	if (!letters.ok) assert.equal(letters.code, "invalid_cpf");
});

test("formatCpf punctuates 11 digits", () => {
	assert.equal(formatCpf("52998224725"), "529.982.247-25");
});

/**
 * CPF (Brazilian individual taxpayer number): 11 digits, the last two are mod-11 check digits.
 * Accepted with or without punctuation ("123.456.789-09", "123 456 789 09", "12345678909"); stored as 11 digits.
 * Numbers made of one repeated digit ("111.111.111-11") pass the arithmetic but are not issued, so they are rejected.
 */
import { type Check, fail, ok, shown } from "./result.ts";

/** The two check digits of the first 9 digits (each a number 0-9). */
export function cpfCheckDigits(nine: string): [number, number] {
	let s1 = 0;
	let s2 = 0;
	for (let i = 0; i < 9; i++) {
		const d = nine.charCodeAt(i) - 48;
		s1 += d * (10 - i);
		s2 += d * (11 - i);
	}
	const r1 = s1 % 11;
	const d1 = r1 < 2 ? 0 : 11 - r1;
	const r2 = (s2 + d1 * 2) % 11;
	const d2 = r2 < 2 ? 0 : 11 - r2;
	return [d1, d2];
}

export function normalizeCpf(raw: string): Check<string> {
	const t = raw.trim();
	let digits = "";
	for (let i = 0; i < t.length; i++) {
		const c = t.charCodeAt(i);
		if (c >= 48 && c <= 57) digits += t[i];
		else if (c !== 46 && c !== 45 && c !== 32 && c !== 47) {
			return fail("invalid_cpf", `CPF ${shown(t)} must contain only digits, optionally punctuated as 123.456.789-09`);
		}
	}
	if (digits.length !== 11) return fail("invalid_cpf", `CPF ${shown(t)} must have 11 digits, it has ${digits.length}`);
	if (/^(\d)\1{10}$/.test(digits)) return fail("invalid_cpf", `CPF ${shown(t)} repeats one digit and is not a real CPF`);
	const [d1, d2] = cpfCheckDigits(digits);
	if (digits.charCodeAt(9) - 48 !== d1 || digits.charCodeAt(10) - 48 !== d2) {
		return fail("invalid_cpf", `CPF ${shown(t)} has wrong check digits; please check the number`);
	}
	return ok(digits);
}

/** Formats 11 digits as 123.456.789-09 (for documents and messages). */
export function formatCpf(digits: string): string {
	return `${digits.slice(0, 3)}.${digits.slice(3, 6)}.${digits.slice(6, 9)}-${digits.slice(9)}`;
}

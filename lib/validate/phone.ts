/**
 * Phone numbers normalised to E.164, or rejected.
 * Brazil (debts): area code (DDD, one of Anatel's 67) + a 9-digit mobile starting with 9 or an 8-digit landline
 * starting with 2-5; written with or without punctuation, "+55"/"55", the trunk prefix 0 or 0 + a 2-digit carrier
 * code ("0 21 11 98765-4321"). "(11) 98765-4321" -> "+5511987654321".
 * India (loans): 10-digit mobiles starting with 6-9, with or without "+91"/"91"/"0". "098765 43210" -> "+919876543210".
 */
import { type Check, fail, ok, shown } from "./result.ts";

const BR_DDD = new Set([
	11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42, 43, 44, 45, 46, 47, 48, 49,
	51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92,
	93, 94, 95, 96, 97, 98, 99
]);

/** Digits of a phone written with the usual punctuation, with a flag for a leading "+"; null if other characters. */
function digitsOf(raw: string): { plus: boolean; digits: string } | null {
	const t = raw.trim();
	if (!/^\+?[\d\s().\-/]+$/.test(t)) return null;
	return { plus: t.startsWith("+"), digits: t.replace(/\D/g, "") };
}

export function normalizeBrPhone(raw: string): Check<string> {
	const p = digitsOf(raw);
	const bad = (why: string): Check<string> => fail("invalid_phone", `phone ${shown(raw.trim())} ${why}; expected a Brazilian number like (11) 98765-4321`);
	if (!p) return bad("contains characters other than digits and punctuation");
	let d = p.digits;
	if (p.plus) {
		if (!d.startsWith("55")) return bad("is not a Brazilian (+55) number");
		d = d.slice(2);
	} else if (d.startsWith("00")) {
		if (!d.startsWith("0055")) return bad("is not a Brazilian (+55) number");
		d = d.slice(4);
	} else if (d.startsWith("0")) {
		// trunk prefix 0, optionally followed by a 2-digit carrier selection code
		if (d.length === 11 || d.length === 12) d = d.slice(1);
		else if (d.length === 13 || d.length === 14) d = d.slice(3);
	} else if (d.startsWith("55") && (d.length === 12 || d.length === 13)) {
		d = d.slice(2);
	}
	if (d.length !== 10 && d.length !== 11) return bad("has the wrong number of digits");
	const ddd = Number(d.slice(0, 2));
	if (!BR_DDD.has(ddd)) return bad(`has no valid area code (${d.slice(0, 2)})`);
	const sub = d.slice(2);
	if (sub.length === 9 && sub[0] !== "9") return bad("is a 9-digit number that does not start with 9");
	if (sub.length === 8 && !/^[2-5]/.test(sub)) return bad("is an 8-digit number that is not a landline (landlines start with 2-5; mobiles have 9 digits)");
	return ok(`+55${d}`);
}

export function normalizeInPhone(raw: string): Check<string> {
	const p = digitsOf(raw);
	const bad = (why: string): Check<string> => fail("invalid_phone", `phone ${shown(raw.trim())} ${why}; expected an Indian mobile number like +91 98765 43210`);
	if (!p) return bad("contains characters other than digits and punctuation");
	let d = p.digits;
	if (p.plus) {
		if (!d.startsWith("91")) return bad("is not an Indian (+91) number");
		d = d.slice(2);
	} else if (d.startsWith("0091")) {
		d = d.slice(4);
	} else if (d.length === 12 && d.startsWith("91")) {
		d = d.slice(2);
	} else if (d.length === 11 && d.startsWith("0")) {
		d = d.slice(1);
	}
	if (d.length !== 10) return bad("does not have 10 digits");
	if (!/^[6-9]/.test(d)) return bad("is not a mobile number (mobiles start with 6-9)");
	return ok(`+91${d}`);
}

/**
 * Tax IDs found on invoices, each checked by its own rule: GSTIN (India, 15 characters, a base-36 checksum), PAN
 * (India, 10 characters: AAAAA9999A with the holder-type letter in 4th place; PAN has no public check digit, so the
 * format and holder type are its check), CNPJ (Brazil, 14 digits, two mod-11 check digits) and CPF (Brazil, 11 digits,
 * lib/validate/cpf.ts). OCR confuses O with 0 and I with 1: a reading that fails is corrected at the positions where
 * the format wants the other kind of character, and the correction is kept only when the checksum then passes.
 */
import { cpfCheckDigits } from "../validate/cpf.ts";

export type TaxIdKind = "GSTIN" | "PAN" | "CNPJ" | "CPF";

export interface TaxIdReading {
	kind: TaxIdKind;
	/** the normalised ID (no punctuation) */
	value: string;
	valid: boolean;
	/** the characters as read, when an OCR correction made the check pass */
	corrected?: string;
}

const B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** The GSTIN check character of the first 14 characters. */
export function gstinCheckChar(first14: string): string {
	let sum = 0;
	for (let i = 0; i < 14; i++) {
		const v = B36.indexOf(first14[i]);
		if (v < 0) return "";
		const p = v * (i % 2 === 0 ? 1 : 2);
		sum += Math.floor(p / 36) + (p % 36);
	}
	return B36[(36 - (sum % 36)) % 36];
}

const GSTIN_SHAPE = /^[0-9]{2}[A-Z]{5}[0-9]{4}[A-Z][1-9A-Z]Z[0-9A-Z]$/;
const PAN_SHAPE = /^[A-Z]{3}[ABCFGHLJPT][A-Z][0-9]{4}[A-Z]$/;

export function isGstin(v: string): boolean {
	return GSTIN_SHAPE.test(v) && Number(v.slice(0, 2)) >= 1 && Number(v.slice(0, 2)) <= 99 && gstinCheckChar(v.slice(0, 14)) === v[14];
}

export function isPan(v: string): boolean {
	return PAN_SHAPE.test(v);
}

/** The two CNPJ check digits of the first 12 digits. */
export function cnpjCheckDigits(twelve: string): [number, number] {
	const w1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
	const w2 = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
	const digit = (ds: string, w: number[]) => {
		let s = 0;
		for (let i = 0; i < w.length; i++) s += (ds.charCodeAt(i) - 48) * w[i];
		const r = s % 11;
		return r < 2 ? 0 : 11 - r;
	};
	const d1 = digit(twelve, w1);
	return [d1, digit(twelve + String(d1), w2)];
}

export function isCnpj(v: string): boolean {
	if (!/^\d{14}$/.test(v) || /^(\d)\1{13}$/.test(v)) return false;
	const [a, b] = cnpjCheckDigits(v.slice(0, 12));
	return v[12] === String(a) && v[13] === String(b);
}

export function isCpf(v: string): boolean {
	if (!/^\d{11}$/.test(v) || /^(\d)\1{10}$/.test(v)) return false;
	const [a, b] = cpfCheckDigits(v.slice(0, 9));
	return v[9] === String(a) && v[10] === String(b);
}

/** Per position: D a digit, L a letter, A either. */
const SHAPES: Record<TaxIdKind, string> = { GSTIN: "DDLLLLLDDDDLAAA", PAN: "LLLLLDDDDL", CNPJ: "DDDDDDDDDDDDDD", CPF: "DDDDDDDDDDD" };
const CHECK: Record<TaxIdKind, (v: string) => boolean> = { GSTIN: isGstin, PAN: isPan, CNPJ: isCnpj, CPF: isCpf };
const TO_DIGIT: Record<string, string> = { O: "0", I: "1" };
const TO_LETTER: Record<string, string> = { "0": "O", "1": "I" };

/** Removes the punctuation IDs are printed with ("12.345.678/0001-95", "29 ABCDE 1234 F1Z5"). */
export function compactId(raw: string): string {
	return raw.toUpperCase().replace(/[\s./-]/g, "");
}

/**
 * Checks `raw` as a tax ID of `kind`; when it fails, tries the O/0 and I/1 corrections the format allows (every
 * combination at the ambiguous positions) and keeps one only if it passes.
 */
export function checkTaxId(kind: TaxIdKind, raw: string): TaxIdReading {
	const v = compactId(raw);
	const check = CHECK[kind];
	if (check(v)) return { kind, value: v, valid: true };
	const shape = SHAPES[kind];
	if (v.length !== shape.length) return { kind, value: v, valid: false };
	// the forced corrections, then the optional ones (positions that take either kind)
	const base = [...v].map((c, i) => (shape[i] === "D" ? (TO_DIGIT[c] ?? c) : shape[i] === "L" ? (TO_LETTER[c] ?? c) : c));
	const optional = base.map((c, i) => (shape[i] === "A" && (TO_DIGIT[c] || TO_LETTER[c]) ? i : -1)).filter((i) => i >= 0);
	for (let mask = 0; mask < 1 << optional.length; mask++) {
		const chars = [...base];
		optional.forEach((pos, k) => {
			if (mask & (1 << k)) chars[pos] = TO_DIGIT[chars[pos]] ?? TO_LETTER[chars[pos]] ?? chars[pos];
		});
		const candidate = chars.join("");
		if (candidate !== v && check(candidate)) return { kind, value: candidate, valid: true, corrected: v };
	}
	return { kind, value: v, valid: false };
}

/** Every tax ID in a text, in order of appearance, with where it starts (valid or not: a bad check is reported). */
export function findTaxIds(text: string): (TaxIdReading & { index: number; raw: string })[] {
	const out: (TaxIdReading & { index: number; raw: string })[] = [];
	const seen = new Set<number>();
	const scan = (kind: TaxIdKind, re: RegExp) => {
		for (const m of text.matchAll(re)) {
			const index = m.index ?? 0;
			if ([...seen].some((s) => Math.abs(s - index) < 4)) continue;
			const r = checkTaxId(kind, m[1] ?? m[0]);
			// a 14-digit or 11-digit number that fails is only reported when a label says it is one
			if (!r.valid && (kind === "CNPJ" || kind === "CPF") && !new RegExp(`${kind}[^\\n]{0,12}$`, "i").test(text.slice(Math.max(0, index - 16), index))) continue;
			seen.add(index);
			out.push({ ...r, index, raw: m[0] });
		}
	};
	scan("GSTIN", /\b([0-9OI]{2}[A-Z0-9]{5}[0-9OI]{4}[A-Z0-9][A-Z0-9]Z[A-Z0-9])\b/g);
	scan("CNPJ", /(?<![\d])([0-9OI]{2}\.?[0-9OI]{3}\.?[0-9OI]{3}\/?[0-9OI]{4}-?[0-9OI]{2})(?![\d])/g);
	scan("CPF", /(?<![\d./])([0-9OI]{3}\.[0-9OI]{3}\.[0-9OI]{3}-[0-9OI]{2}|\d{11})(?![\d])/g);
	scan("PAN", /\b([A-Z]{3}[ABCFGHLJPT][A-Z][0-9OI]{4}[A-Z])\b/g);
	return out.sort((a, b) => a.index - b.index);
}

/**
 * Decimal numbers parsed exactly, per the client's separators, into canonical decimal strings ("1234.50").
 * Money never passes through binary floating point: "0.1" + "0.2" problems cannot appear, and a 25-digit amount stays
 * exact. Grouping is checked ("1.234.567,89" is fine with thousands ".", "1.2.3" is not); a separator that is not
 * configured, exponent notation ("1e5"), currency symbols and spaces inside the number are rejected.
 */
import { type Check, fail, ok, shown } from "./result.ts";

export interface NumberStyle {
	decimalSeparator: "." | ",";
	/** "" for none */
	thousandsSeparator: string;
}

export const DEFAULT_NUMBER_STYLE: NumberStyle = { decimalSeparator: ".", thousandsSeparator: "" };

/** A parsed decimal: sign, integer digits without leading zeros ("0" at least), fraction digits as written. */
export interface DecimalParts {
	negative: boolean;
	int: string;
	frac: string;
}

const CANONICAL = /^\+?(\d+)(?:\.(\d+))?$/;
const groupRes = new Map<string, RegExp>();

function groupedRe(sep: string): RegExp {
	let re = groupRes.get(sep);
	if (!re) {
		const esc = sep.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
		re = new RegExp(`^\\d{1,3}(?:${esc}\\d{3})+$`);
		groupRes.set(sep, re);
	}
	return re;
}

function describe(style: NumberStyle): string {
	const t = style.thousandsSeparator === "" ? "no thousands separator" : `'${style.thousandsSeparator}' between thousands`;
	return `'${style.decimalSeparator}' before decimals and ${t}`;
}

function stripZeros(int: string): string {
	let i = 0;
	while (i < int.length - 1 && int.charCodeAt(i) === 48) i++;
	return i === 0 ? int : int.slice(i);
}

/** Parses a number written with the given separators; `label` names the field in messages. */
export function parseDecimal(raw: string, style: NumberStyle, label: string): Check<DecimalParts> {
	let t = raw.trim();
	// fast path: the canonical form, whatever the style, when it cannot be misread
	if (style.decimalSeparator === "." && style.thousandsSeparator === "") {
		const m = CANONICAL.exec(t);
		if (m) return ok({ negative: false, int: stripZeros(m[1]), frac: m[2] ?? "" });
	}
	let negative = false;
	if (t.startsWith("-") || t.startsWith("+")) {
		negative = t[0] === "-";
		t = t.slice(1);
	}
	if (style.thousandsSeparator === " ") t = t.replace(/[\u00a0\u202f]/g, " ");
	if (t === "") return fail("invalid_amount", `${label} ${shown(raw)} is not a number`);
	if (/[eE]/.test(t) && /\d/.test(t)) return fail("invalid_amount", `${label} ${shown(raw)} uses exponent notation; write the plain number`);
	const parts = t.split(style.decimalSeparator);
	if (parts.length > 2) return fail("invalid_amount", `${label} ${shown(raw)} has more than one decimal separator; expected ${describe(style)}`);
	let int = parts[0];
	const frac = parts.length === 2 ? parts[1] : "";
	if (!/^\d*$/.test(frac)) return fail("invalid_amount", `${label} ${shown(raw)} is not a number; expected digits with ${describe(style)}`);
	if (style.thousandsSeparator !== "" && int.includes(style.thousandsSeparator)) {
		if (!groupedRe(style.thousandsSeparator).test(int)) {
			return fail("invalid_amount", `${label} ${shown(raw)} has misplaced thousands separators; expected ${describe(style)}`);
		}
		int = int.split(style.thousandsSeparator).join("");
	}
	if (!/^\d*$/.test(int)) return fail("invalid_amount", `${label} ${shown(raw)} is not a number; expected digits with ${describe(style)}`);
	if (int === "" && frac === "") return fail("invalid_amount", `${label} ${shown(raw)} is not a number`);
	return ok({ negative, int: int === "" ? "0" : stripZeros(int), frac });
}

/** True when every fraction digit past `scale` is 0 (so rounding to `scale` loses nothing). */
function fitsScale(frac: string, scale: number): boolean {
	for (let i = scale; i < frac.length; i++) if (frac.charCodeAt(i) !== 48) return false;
	return true;
}

export interface AmountRules {
	/** decimals allowed (default 2); trailing zeros past it are accepted ("10.500") */
	maxDecimals?: number;
	/** accept 0 (e.g. a processing fee); negative numbers are always rejected */
	allowZero?: boolean;
	/** integer digits allowed (default 28: with 2 decimals it fits a decimal128 exactly) */
	maxIntegerDigits?: number;
}

/** A money amount: positive (or zero if allowed), at most `maxDecimals` decimals, as a fixed-scale string "1234.50". */
export function parseAmount(raw: string, style: NumberStyle, label: string, rules: AmountRules = {}): Check<string> {
	const scale = rules.maxDecimals ?? 2;
	const p = parseDecimal(raw, style, label);
	if (!p.ok) return p;
	const { negative, int, frac } = p.value;
	if (!fitsScale(frac, scale)) return fail("too_many_decimals", `${label} ${shown(raw)} has ${frac.replace(/0+$/, "").length} decimals; at most ${scale} are allowed`);
	if (int.length > (rules.maxIntegerDigits ?? 28)) return fail("out_of_range", `${label} ${shown(raw)} is too large`);
	const f = frac.length >= scale ? frac.slice(0, scale) : frac + "0".repeat(scale - frac.length);
	const zero = int === "0" && /^0*$/.test(f);
	if (negative && !zero) return fail("not_positive", `${label} ${shown(raw)} is negative; it must be greater than zero`);
	if (zero && !rules.allowZero) return fail("not_positive", `${label} ${shown(raw)} is zero; it must be greater than zero`);
	return ok(scale === 0 ? int : `${int}.${f}`);
}

/** Compares two non-negative canonical decimal strings ("12.5", "100"): -1, 0 or 1. */
export function compareDecimal(a: string, b: string): number {
	const [ai, af = ""] = a.split(".");
	const [bi, bf = ""] = b.split(".");
	if (ai.length !== bi.length) return ai.length < bi.length ? -1 : 1;
	if (ai !== bi) return ai < bi ? -1 : 1;
	const n = Math.max(af.length, bf.length);
	const x = af.padEnd(n, "0");
	const y = bf.padEnd(n, "0");
	return x === y ? 0 : x < y ? -1 : 1;
}

/**
 * A bounded decimal such as an interest rate: min <= value <= max, at most `maxDecimals` decimals, stored in its
 * shortest exact form ("12.5", "0", "100").
 */
export function parseBoundedDecimal(raw: string, style: NumberStyle, label: string, min: string, max: string, maxDecimals: number): Check<string> {
	const p = parseDecimal(raw, style, label);
	if (!p.ok) return p;
	const { negative, int, frac } = p.value;
	if (!fitsScale(frac, maxDecimals)) return fail("too_many_decimals", `${label} ${shown(raw)} has too many decimals; at most ${maxDecimals} are allowed`);
	const f = frac.slice(0, maxDecimals).replace(/0+$/, "");
	const value = f === "" ? int : `${int}.${f}`;
	const isZero = value === "0";
	if ((negative && !isZero) || compareDecimal(value, min) < 0 || compareDecimal(value, max) > 0) {
		return fail("out_of_range", `${label} ${shown(raw)} must be between ${min} and ${max}`);
	}
	return ok(value);
}

/** A whole number between min and max ("12", "012"; not "12.0" unless the fraction is zero). */
export function parseWholeNumber(raw: string, label: string, min: number, max: number): Check<number> {
	const t = raw.trim();
	const m = /^\+?(\d{1,9})(?:[.,]0*)?$/.exec(t);
	if (!m) return fail("invalid_number", `${label} ${shown(raw)} must be a whole number`);
	const n = Number(m[1]);
	if (n < min || n > max) return fail("out_of_range", `${label} ${n} must be between ${min} and ${max}`);
	return ok(n);
}

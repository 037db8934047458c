/**
 * Text fields: trimmed, Unicode NFC-normalised (so "é" typed as e + combining accent and as one code point compare
 * equal, and Devanagari/Gujarati names are stored in one canonical form), no control characters, bounded length.
 */
import { type Check, fail, ok } from "./result.ts";

const ASCII = /^[\x20-\x7e]*$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;

/** Trims and NFC-normalises; ASCII strings (the common case) skip the normaliser. */
export function cleanText(raw: string | undefined | null): string {
	if (raw === undefined || raw === null) return "";
	const t = raw.trim();
	return ASCII.test(t) ? t : t.normalize("NFC");
}

export interface TextRules {
	maxLength?: number;
	/** allow line breaks inside the value (addresses); tabs and other control characters are always rejected */
	multiline?: boolean;
}

/** A cleaned, non-empty text value (emptiness is checked by the caller as "required"). */
export function checkText(raw: string, label: string, rules: TextRules = {}): Check<string> {
	const value = cleanText(raw);
	const max = rules.maxLength ?? 200;
	if (value.length > max) return fail("too_long", `${label} is ${value.length} characters long; at most ${max} are allowed`);
	if (CONTROL.test(value) || (!rules.multiline && /[\r\n]/.test(value))) {
		return fail("invalid_text", `${label} contains control characters or line breaks; remove them`);
	}
	return ok(value);
}

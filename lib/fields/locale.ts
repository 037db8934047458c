/**
 * Amounts and dates as invoices print them, per locale: "1,23,456.00" (Indian grouping), "R$ 1.234,56" (Brazil),
 * "₹ 12,500.00", "Rs. 500/-"; dates as "15/03/2026", "15-03-2026", "2026-03-15", "15 Mar 2026", "15 de março de 2026".
 * Devanagari digits (०-९) read as ASCII digits. Amounts become numbers with two decimals (cents exact: they are
 * compared in integer cents, never summed as floats).
 */
import { parseDate } from "../validate/dates.ts";

/** Devanagari and other Indic digits to ASCII. */
export function asciiDigits(text: string): string {
	return text.replace(/[\u0966-\u096F]/g, (d) => String(d.charCodeAt(0) - 0x0966)).replace(/[\u0AE6-\u0AEF]/g, (d) => String(d.charCodeAt(0) - 0x0AE6));
}

/** A number written with separators; `decimal` names the decimal separator when known (else it is inferred). */
export function parseAmount(raw: string, decimal?: "." | ","): number | null {
	let t = asciiDigits(raw).replace(/R\$|Rs\.?|INR|BRL|USD|EUR|US\$|[₹$€£]|\/-/gi, "").replace(/[\s\u00a0]/g, "");
	let negative = false;
	if (/^\(.*\)$/.test(t) || t.startsWith("-")) {
		negative = true;
		t = t.replace(/^[(-]|\)$/g, "");
	}
	if (!/^\d[\d.,]*$/.test(t)) return null;
	let dec = decimal;
	if (!dec) {
		const last = Math.max(t.lastIndexOf("."), t.lastIndexOf(","));
		// the last separator is the decimal one when 1 or 2 digits follow it
		dec = last >= 0 && t.length - last - 1 <= 2 ? (t[last] as "." | ",") : undefined;
	}
	let int = t;
	let frac = "";
	if (dec) {
		const at = t.lastIndexOf(dec);
		if (at >= 0) {
			int = t.slice(0, at);
			frac = t.slice(at + 1);
		}
	}
	if (frac && !/^\d{1,3}$/.test(frac)) return null;
	const thousands = dec === "," ? "." : ",";
	const digits = int.split(thousands).join("");
	if (!/^\d+$/.test(digits)) return null;
	const cents = BigInt(digits) * 100n + BigInt(Math.round(Number(`0.${frac || "0"}`) * 100));
	const n = Number(cents) / 100;
	return negative ? -n : n;
}

/** Integer cents of an amount (exact comparison of totals). */
export function cents(n: number): number {
	return Math.round(n * 100);
}

const MONTHS: Record<string, number> = {
	jan: 1, january: 1, janeiro: 1, feb: 2, february: 2, fev: 2, fevereiro: 2, mar: 3, march: 3, "março": 3, marco: 3, apr: 4, april: 4, abr: 4, abril: 4,
	may: 5, mai: 5, maio: 5, jun: 6, june: 6, junho: 6, jul: 7, july: 7, julho: 7, aug: 8, august: 8, ago: 8, agosto: 8, sep: 9, sept: 9, september: 9, set: 9, setembro: 9,
	oct: 10, october: 10, out: 10, outubro: 10, nov: 11, november: 11, novembro: 11, dec: 12, december: 12, dez: 12, dezembro: 12
};

/** Date patterns the generic extractor looks for. */
export const DATE_PATTERN = String.raw`(\d{1,2}[/.\-]\d{1,2}[/.\-]\d{4}|\d{4}-\d{2}-\d{2}|\d{1,2}[ \-](?:de )?[A-Za-zç]{3,9}\.?[ \-](?:de )?\d{4})`;

/** A printed date to "YYYY-MM-DD"; numeric dates are read with `formats` in order (day first by default). */
export function parseLooseDate(raw: string, formats: string[] = ["DD/MM/YYYY", "DD-MM-YYYY", "DD.MM.YYYY", "YYYY-MM-DD"]): string | null {
	const t = asciiDigits(raw).trim();
	const named = /^(\d{1,2})[ -](?:de )?([A-Za-zç]{3,9})\.?[ -](?:de )?(\d{4})$/i.exec(t);
	if (named) {
		const m = MONTHS[named[2].toLowerCase()];
		if (!m) return null;
		const r = parseDate(`${named[3]}-${String(m).padStart(2, "0")}-${named[1].padStart(2, "0")}`, "YYYY-MM-DD", "date");
		return r.ok ? r.value : null;
	}
	for (const f of formats) {
		const r = parseDate(t, f, "date");
		if (r.ok) return r.value;
	}
	return null;
}

/** The currency an invoice's text names by symbol or code, or null. */
export function detectCurrency(text: string): string | null {
	if (/R\$|\bBRL\b|\breais\b/i.test(text)) return "BRL";
	if (/₹|\bRs\.?\s*\d|\bINR\b|रुपये|रु\./i.test(text)) return "INR";
	if (/€|\bEUR\b/.test(text)) return "EUR";
	if (/US\$|\bUSD\b/.test(text)) return "USD";
	return null;
}

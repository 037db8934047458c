/**
 * The generic invoice extractor: labels in English, Hindi and Portuguese, as invoices print them, followed by a
 * value on the same line (or the next). It finds the invoice number, issue and due dates, subtotal, tax amounts
 * (GST/CGST/SGST/IGST, ICMS/ISS/IPI, VAT, "Tax"), the total, the currency, seller and buyer names and their tax
 * IDs. It runs under the issuer templates: a template's field wins; this fills the rest.
 */
import type { FieldValue } from "../intake/documents.ts";
import { DATE_PATTERN, asciiDigits, detectCurrency, parseAmount, parseLooseDate } from "./locale.ts";
import { findTaxIds } from "./taxid.ts";

export interface ExtractOptions {
	decimal?: "." | ",";
	dateFormats?: string[];
	currency?: string;
}

const AMOUNT = String.raw`(-?(?:R\$|US\$|\$|Rs\.?|INR|₹)?\s?\(?\d[\d.,]*\d(?:\)|\/-)?|-?\d)`;
const SEP = String.raw`\s*(?:[:#.\-]|No\.?|Nº|n[ºo°]\.?)?\s*[:#.\-]?\s*`;

const LABELS = {
	invoice_number: [String.raw`invoice\s*(?:no\.?|number|num|#)`, String.raw`bill\s*(?:no\.?|number)`, String.raw`(?:nota fiscal|fatura|nf-?e)\s*(?:n[ºo°]\.?|número|numero)?`, String.raw`(?:चालान|बीजक|बिल)\s*(?:संख्या|सं\.?|नं\.?)`],
	issue_date: [String.raw`(?:invoice|bill|issue)\s*date`, String.raw`date\s*of\s*issue`, String.raw`data\s*(?:de\s*)?emiss\S{1,2}o`, String.raw`(?:चालान|बीजक)?\s*दिनांक`, String.raw`तारीख`, String.raw`(?<!due\s)\bdate`],
	due_date: [String.raw`due\s*date`, String.raw`payment\s*due`, String.raw`(?:data\s*de\s*)?vencimento`, String.raw`देय\s*(?:तिथि|दिनांक|तारीख)`],
	subtotal: [String.raw`sub\s*-?total`, String.raw`taxable\s*(?:value|amount)`, String.raw`valor\s*(?:dos\s*)?(?:produtos|serviços|servicos)`, String.raw`उप\s*-?\s*योग`, String.raw`कर\s*योग्य\s*(?:मूल्य|राशि)`],
	total: [String.raw`grand\s*total`, String.raw`total\s*(?:amount\s*)?(?:due|payable)`, String.raw`amount\s*due`, String.raw`valor\s*total(?:\s*da\s*nota)?`, String.raw`total\s*a\s*pagar`, String.raw`कुल\s*(?:देय\s*)?(?:राशि|योग)`, String.raw`(?<!sub\s?-?)\btotal`]
};

const TAXES: [string, string][] = [
	["cgst", String.raw`CGST`],
	["sgst", String.raw`SGST`],
	["igst", String.raw`IGST`],
	["icms", String.raw`ICMS`],
	["iss", String.raw`ISS(?:QN)?`],
	["ipi", String.raw`IPI`],
	["vat", String.raw`VAT`],
	["gst", String.raw`(?<![CSI])GST(?!IN)`]
];

// (pdftotext may print a space after a Devanagari vowel sign: "विक्रे ता")
const SELLER_LABELS = String.raw`(?<![\p{L}\p{M}])(?:seller|sold\s*by|supplier|from|vendor|emitente|prestador(?:\s*de\s*servi[çc]os)?|विक्रे\s?ता|आपूर्तिकर्ता)(?![\p{L}\p{M}])`;
const BUYER_LABELS = String.raw`(?<![\p{L}\p{M}])(?:bill(?:ed)?\s*to|buyer|customer|client|cliente|sold\s*to|destinat[áa]rio|tomador(?:\s*de\s*servi[çc]os)?|क्रे\s?ता|ग्राहक)(?![\p{L}\p{M}])`;

function line(text: string, index: number): string {
	const start = text.lastIndexOf("\n", index - 1) + 1;
	const end = text.indexOf("\n", index);
	return text.slice(start, end < 0 ? text.length : end);
}

/** The first value after one of the labels: on the same line, else on the next non-empty line. */
function afterLabel(text: string, labels: string[], value: string): { raw: string; sameLine: boolean } | null {
	for (const label of labels) {
		const re = new RegExp(String.raw`(?:^|[^\p{L}])(?:${label})${SEP}(?:[^\n\d₹R$]{0,40}?)${value}`, "imu");
		const m = re.exec(text);
		if (m) return { raw: m[1], sameLine: !m[0].replace(/^\n/, "").includes("\n") };
		const next = new RegExp(String.raw`(?:^|[^\p{L}])(?:${label})[^\n]*\n\s*\n?\s*${value}`, "imu").exec(text);
		if (next) return { raw: next[1], sameLine: false };
	}
	return null;
}

function field(value: string | number, confidence: number, corrected?: string): FieldValue {
	return { value, source: "generic", confidence, ...(corrected ? { corrected } : {}) };
}

/** Names after a label ("Bill To: Rao Stores") or on the line after it. */
function nameAfter(text: string, labels: string): string | null {
	const m = new RegExp(String.raw`(?:^|\n)[ \t]*${labels}(?:\s*/?\s*${labels})?\s*[:\-]?[ \t]*([^\n]*)(?:\n[ \t]*([^\n]+))?`, "iu").exec(text);
	if (!m) return null;
	// the name ends at a wide gap, or where a tax ID's label starts ("Kaveri Caterers, GSTIN: ...")
	const clean = (s: string | undefined) => (s ?? "").split(/\s{3,}/)[0].split(/[,;]?\s*\b(?:GSTIN|GST\s*No|PAN|CNPJ|CPF)\b/i)[0].trim().replace(/[,;:]$/, "");
	const same = clean(m[1]);
	return same && /\p{L}{2}/u.test(same) ? same : clean(m[2]) || null;
}

/** Every field the generic rules find in `text`. */
export function extractGeneric(rawText: string, opts: ExtractOptions = {}): Record<string, FieldValue> {
	const text = asciiDigits(rawText);
	const out: Record<string, FieldValue> = {};
	const num = afterLabel(text, LABELS.invoice_number, String.raw`([A-Z0-9][A-Z0-9/\-]{0,30}\d[A-Z0-9/\-]*)`);
	if (num) out.invoice_number = field(num.raw.replace(/[.\-/]$/, ""), num.sameLine ? 0.9 : 0.7);
	for (const k of ["issue_date", "due_date"] as const) {
		const d = afterLabel(text, LABELS[k], DATE_PATTERN);
		const iso = d ? parseLooseDate(d.raw, opts.dateFormats) : null;
		if (iso) out[k] = field(iso, d?.sameLine ? 0.9 : 0.7);
	}
	for (const k of ["subtotal", "total"] as const) {
		const a = afterLabel(text, LABELS[k], AMOUNT);
		const n = a ? parseAmount(a.raw, opts.decimal) : null;
		if (n !== null) out[k] = field(n, a?.sameLine ? 0.9 : 0.7);
	}
	let taxSum = 0;
	let taxes = 0;
	for (const [name, label] of TAXES) {
		// "CGST @ 9%  1,125.00": the amount is the last number on the tax's line
		const re = new RegExp(String.raw`(?:^|[^\p{L}])${label}\b[^\n]*`, "gmu");
		for (const m of text.matchAll(re)) {
			const amounts = [...m[0].matchAll(new RegExp(AMOUNT, "g"))].map((x) => x[1]).filter((s) => !/%/.test(s));
			const rest = m[0].replace(/\d+(?:[.,]\d+)?\s*%/g, "");
			const candidates = [...rest.matchAll(new RegExp(AMOUNT, "g"))].map((x) => x[1]);
			const raw = candidates.at(-1) ?? amounts.at(-1);
			const n = raw ? parseAmount(raw, opts.decimal) : null;
			if (n !== null && out[name] === undefined) {
				out[name] = field(n, 0.8);
				taxSum += Math.round(n * 100);
				taxes++;
				break;
			}
		}
	}
	if (taxes) out.tax_total = field(taxSum / 100, 0.8);
	const currency = opts.currency ?? detectCurrency(text);
	if (currency) out.currency = field(currency, opts.currency ? 1 : 0.8);
	// tax IDs: a buyer label within the three lines before an ID makes it the buyer's; the first other one is the seller's
	for (const id of findTaxIds(text)) {
		const before = text.slice(Math.max(0, text.lastIndexOf("\n", Math.max(0, id.index - 1)) - 200), id.index);
		const lines = before.split("\n").slice(-3).join("\n");
		const onLine = line(text, id.index);
		const isBuyer = new RegExp(BUYER_LABELS, "iu").test(onLine.slice(0, Math.max(0, onLine.indexOf(id.raw)))) || (new RegExp(BUYER_LABELS, "iu").test(lines) && !new RegExp(SELLER_LABELS, "iu").test(lines.split("\n").slice(-1)[0]));
		const who = isBuyer ? "buyer" : "seller";
		if (out[`${who}_tax_id`]) continue;
		out[`${who}_tax_id`] = { value: id.value, source: "generic", confidence: id.valid ? (id.corrected ? 0.7 : 0.95) : 0.2, ...(id.corrected ? { corrected: id.corrected } : {}) };
		out[`${who}_tax_id_type`] = field(id.kind, 0.95);
		if (!id.valid) out[`${who}_tax_id`].confidence = 0;
	}
	const seller = nameAfter(text, SELLER_LABELS) ?? firstLine(text);
	if (seller) out.seller_name = field(seller, nameAfter(text, SELLER_LABELS) ? 0.8 : 0.5);
	const buyer = nameAfter(text, BUYER_LABELS);
	if (buyer) out.buyer_name = field(buyer, 0.8);
	return out;
}

/** The first line with letters: the issuer's name heads most invoices. */
function firstLine(text: string): string | null {
	for (const l of text.split("\n")) {
		const t = l.trim().split(/\s{3,}/)[0];
		if (/\p{L}{3}/u.test(t) && !/invoice|fatura|nota fiscal|चालान|बीजक|tax/i.test(t)) return t;
	}
	return null;
}

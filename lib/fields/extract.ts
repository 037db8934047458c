/**
 * From a document's text to its fields and its verdict: the issuer template (if one matches) first, the generic
 * extractor under it, then the checks: required fields present, tax IDs whose check digits pass, and totals that
 * add up (subtotal + taxes = total, in exact cents). Any failed check sends the document to NEEDS_REVIEW.
 */
import type { FieldValue } from "../intake/documents.ts";
import { extractGeneric } from "./generic.ts";
import { applyTemplate, matchTemplate, type Template } from "./templates.ts";
import { cents } from "./locale.ts";
import { classify } from "./doctype.ts";

export interface Check {
	code: "missing_field" | "bad_check_digit" | "totals_mismatch";
	field?: string;
	message: string;
}

export interface Extraction {
	type: string;
	template: string | null;
	fields: Record<string, FieldValue>;
	checks: Check[];
}

/** the fields an invoice must have */
export const INVOICE_REQUIRED = ["invoice_number", "issue_date", "total"];
const TAX_FIELDS = ["cgst", "sgst", "igst", "icms", "iss", "ipi", "vat", "gst"];

/** Extracts and checks; `type` is the client's, else an issuer template's "invoice", else detected from the text (lib/fields/doctype.ts). */
export function extractFields(text: string, templates: Template[], type?: string): Extraction {
	const template = matchTemplate(text, templates);
	const opts = template?.options ?? {};
	const generic = extractGeneric(text, { decimal: opts.decimal_separator, dateFormats: opts.date_formats, currency: opts.currency });
	const fields: Record<string, FieldValue> = { ...generic, ...(template ? applyTemplate(template, text) : {}) };
	const docType = type ?? (template ? "invoice" : classify(text));
	return { type: docType, template: template?.issuer ?? null, fields, checks: checkFields(fields, docType, template?.required_fields) };
}

/** The checks on a set of fields (also after a person's corrections). */
export function checkFields(fields: Record<string, FieldValue>, type: string, required?: string[]): Check[] {
	const checks: Check[] = [];
	const need = required ?? (type === "invoice" ? INVOICE_REQUIRED : []);
	for (const f of need) {
		const v = fields[f]?.value;
		if (v === undefined || v === null || v === "") checks.push({ code: "missing_field", field: f, message: `${f} was not found` });
	}
	for (const who of ["seller", "buyer"]) {
		const id = fields[`${who}_tax_id`];
		if (id && id.source !== "manual" && id.confidence === 0) checks.push({ code: "bad_check_digit", field: `${who}_tax_id`, message: `${who}_tax_id ${String(id.value)} fails its ${String(fields[`${who}_tax_id_type`]?.value ?? "")} check digits` });
	}
	const num = (k: string) => (typeof fields[k]?.value === "number" ? (fields[k].value as number) : undefined);
	const total = num("total");
	const subtotal = num("subtotal");
	const taxes = TAX_FIELDS.map(num).filter((n): n is number => n !== undefined);
	if (total !== undefined && subtotal !== undefined) {
		const sum = cents(subtotal) + taxes.reduce((s, n) => s + cents(n), 0);
		if (sum !== cents(total)) checks.push({ code: "totals_mismatch", field: "total", message: `subtotal ${subtotal.toFixed(2)} + taxes ${(taxes.reduce((s, n) => s + cents(n), 0) / 100).toFixed(2)} = ${(sum / 100).toFixed(2)}, but the total reads ${total.toFixed(2)}` });
	}
	return checks;
}

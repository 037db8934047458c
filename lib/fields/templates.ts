/**
 * Per-issuer templates in the invoice2data style, one JSON file each under config/intake-templates/ (a new issuer
 * is a new file, no code change):
 *
 *   { "issuer": "Acme Traders", "keywords": ["Acme Traders", "GSTIN"], "exclude_keywords": ["Credit Note"],
 *     "priority": 10,
 *     "fields": { "invoice_number": { "regex": "Bill No\\.\\s*(\\S+)", "type": "string" },
 *                 "total": { "regex": "Net Payable\\s*([\\d,.]+)", "type": "amount" },
 *                 "seller_name": { "value": "Acme Traders Pvt Ltd" } },
 *     "required_fields": ["invoice_number", "total"],
 *     "options": { "currency": "INR", "decimal_separator": ".", "date_formats": ["DD-MM-YYYY"], "languages": "eng+hin" } }
 *
 * A template applies when every keyword occurs in the text (case-insensitive) and no excluded keyword does; of
 * several, the highest priority wins (then the most keywords). A field's regex is read with its first capture group
 * (or the whole match), then typed: string, date (per date_formats), amount (per decimal_separator), taxid.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import type { FieldValue } from "../intake/documents.ts";
import { asciiDigits, parseAmount, parseLooseDate } from "./locale.ts";
import { checkTaxId, type TaxIdKind } from "./taxid.ts";

export type FieldType = "string" | "date" | "amount" | "taxid";

export interface TemplateField {
	regex?: string;
	value?: string | number;
	type?: FieldType;
	/** taxid fields: which kind */
	taxid?: TaxIdKind;
}

export interface Template {
	issuer: string;
	keywords: string[];
	exclude_keywords?: string[];
	priority?: number;
	fields: Record<string, TemplateField>;
	required_fields?: string[];
	options?: { currency?: string; decimal_separator?: "." | ","; date_formats?: string[]; languages?: string };
	/** the file it came from */
	file?: string;
}

export class TemplateError extends Error {}

/** Checks a parsed template; throws TemplateError naming the file and the problem. */
export function checkTemplate(t: unknown, file: string): Template {
	const bad = (m: string) => new TemplateError(`template ${path.basename(file)}: ${m}`);
	if (!t || typeof t !== "object") throw bad("must be a JSON object");
	const o = t as Template;
	if (typeof o.issuer !== "string" || !o.issuer) throw bad("issuer must be a non-empty string");
	if (!Array.isArray(o.keywords) || o.keywords.length === 0 || o.keywords.some((k) => typeof k !== "string" || !k)) throw bad("keywords must be a non-empty list of strings");
	if (!o.fields || typeof o.fields !== "object") throw bad("fields must be an object");
	for (const [name, f] of Object.entries(o.fields)) {
		if (f.regex === undefined && f.value === undefined) throw bad(`field ${name} needs a regex or a value`);
		if (f.regex !== undefined) {
			try {
				new RegExp(f.regex, "imu");
			} catch (err) {
				throw bad(`field ${name}: regex does not compile: ${(err as Error).message}`);
			}
		}
		if (f.type && !["string", "date", "amount", "taxid"].includes(f.type)) throw bad(`field ${name}: type must be string, date, amount or taxid`);
	}
	return { ...o, file };
}

let cache: { dir: string; mtime: number; templates: Template[] } | undefined;

/** The templates of a folder (re-read when the folder changes); a bad file stops the load with its reason. */
export function loadTemplates(dir: string): Template[] {
	let mtime: number;
	try {
		mtime = statSync(dir).mtimeMs;
	} catch {
		return [];
	}
	if (cache?.dir === dir && cache.mtime === mtime) return cache.templates;
	const templates = readdirSync(dir)
		.filter((f) => f.endsWith(".json"))
		.sort()
		.map((f) => checkTemplate(JSON.parse(readFileSync(path.join(dir, f), "utf8")), path.join(dir, f)));
	cache = { dir, mtime, templates };
	return templates;
}

/** The template for a text, or null. */
export function matchTemplate(text: string, templates: Template[]): Template | null {
	const lower = text.toLowerCase();
	const fits = templates.filter((t) => t.keywords.every((k) => lower.includes(k.toLowerCase())) && !(t.exclude_keywords ?? []).some((k) => lower.includes(k.toLowerCase())));
	fits.sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || b.keywords.length - a.keywords.length);
	return fits[0] ?? null;
}

/** The template's fields found in `text` (typed); a field that does not match is left out. */
export function applyTemplate(t: Template, rawText: string): Record<string, FieldValue> {
	const text = asciiDigits(rawText);
	const out: Record<string, FieldValue> = {};
	for (const [name, f] of Object.entries(t.fields)) {
		let raw: string | number | undefined = f.value;
		if (f.regex !== undefined) {
			const m = new RegExp(f.regex, "imu").exec(text);
			if (!m) continue;
			raw = (m[1] ?? m[0]).trim();
		}
		if (raw === undefined) continue;
		const type = f.type ?? "string";
		const conf = f.regex === undefined ? 1 : 0.95;
		if (type === "amount") {
			const n = typeof raw === "number" ? raw : parseAmount(raw, t.options?.decimal_separator);
			if (n !== null) out[name] = { value: n, source: "template", confidence: conf };
		} else if (type === "date") {
			const iso = parseLooseDate(String(raw), t.options?.date_formats);
			if (iso) out[name] = { value: iso, source: "template", confidence: conf };
		} else if (type === "taxid") {
			const r = checkTaxId(f.taxid ?? "GSTIN", String(raw));
			out[name] = { value: r.value, source: "template", confidence: r.valid ? (r.corrected ? 0.7 : conf) : 0, ...(r.corrected ? { corrected: r.corrected } : {}) };
			out[`${name}_type`] = { value: r.kind, source: "template", confidence: 1 };
		} else {
			out[name] = { value: String(raw).replace(/\s+/g, " "), source: "template", confidence: conf };
		}
	}
	if (t.options?.currency && !out.currency) out.currency = { value: t.options.currency, source: "template", confidence: 1 };
	return out;
}

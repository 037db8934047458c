/**
 * Document templates: loads a template folder, validates a record against its manifest, and turns
 * (template, language, record) into ONE self-contained HTML document (CSS inlined, system fonts, no URLs).
 *
 * A template is a folder under templates/ (adding one needs no code change):
 *   manifest.json      { id, version, kind, languages, required, fields?, compute?, engine? }
 *   template.hbs       the whole document, all parts, page breaks between them
 *   *.css              its styles (after the shared templates/_styles/*.css)
 *   partials/*.hbs     its partials (next to the shared templates/_partials/*.hbs)
 *   messages/<lang>.json  one file per language (over the shared templates/_messages/<lang>.json)
 * A language is a message file, never a copy of the HTML.
 *
 * Escaping: record values are only ever printed through Handlebars' escaping `{{ }}` or the helpers below,
 * which escape them; the data is never compiled, so a value like "{{x}}" prints as text. CSS strings (the
 * @page header/footer) are built by css-t / css-text, which CSS-escape every character that could end a string.
 *
 * Helpers available to templates:
 *   t "key" name=value      translated message, {name} placeholders filled (HTML-escaped)
 *   css-t "key" name=value  the message as a CSS content value; {page}/{pages} become counter(page)/counter(pages)
 *   css-text value          a value as a CSS string
 *   money v [currency]  num v  percent v  date v  dateShort v   formatting for the document's language
 *   default a b             a unless empty, else b
 *   lines v                 an address (string with newlines, or array) as a list of lines
 *   styles                  the template's CSS (shared + own), for the layout's <style>
 */
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import { fileURLToPath } from "node:url";
import Handlebars from "handlebars";
import { emiSchedule, EmiInputError } from "./emi.ts";
import type { EmiSchedule } from "./emi.ts";
import { chargeLines } from "./charges.ts";
import type { ChargesConfig, ChargeLine } from "./charges.ts";
import { formatter, LOCALES } from "./format.ts";
import type { Formatter } from "./format.ts";
import type { EngineName } from "./engine.ts";

/** templates/ of this repository */
export const DEFAULT_TEMPLATES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../templates");

export type FieldType = "text" | "amount" | "rate" | "integer" | "date";
const FIELD_TYPES: readonly FieldType[] = ["text", "amount", "rate", "integer", "date"];

export interface Manifest {
	id: string;
	version: string;
	/** the kind of record the template prints (loan, debt, invoice...) */
	kind: string;
	description?: string;
	languages: string[];
	/** fields that must be present and non-empty */
	required: string[];
	/** types of fields, checked when present */
	fields?: Record<string, FieldType>;
	/** computed parts of the view model, with the record fields they read */
	compute?: {
		emi_schedule?: { principal: string; annual_rate: string; months: string; first_emi_date: string };
		charges?: { processing_fee?: string };
	};
	/** preferred engine; the configuration decides when absent */
	engine?: EngineName;
}

export interface InvalidField {
	field: string;
	expected: string;
	message: string;
}

export interface ValidationResult {
	ok: boolean;
	/** required fields that are absent, null or empty */
	missing: string[];
	/** present fields whose value does not fit their declared type (or the maths) */
	invalid: InvalidField[];
}

/** A client error (HTTP 400): bad template, language or data. */
export class TemplateError extends Error {
	readonly status = 400;
	readonly code: string;
	readonly templateId: string;
	constructor(code: string, templateId: string, message: string) {
		super(message);
		this.name = "TemplateError";
		this.code = code;
		this.templateId = templateId;
	}
}

export class UnknownTemplateError extends TemplateError {
	constructor(templateId: string) {
		super("UNKNOWN_TEMPLATE", templateId, `unknown template '${templateId}'`);
		this.name = "UnknownTemplateError";
	}
}

export class UnknownLanguageError extends TemplateError {
	readonly language: string;
	readonly available: string[];
	constructor(templateId: string, language: string, available: string[]) {
		super("UNKNOWN_LANGUAGE", templateId, `template '${templateId}' has no language '${language}' (available: ${available.join(", ")})`);
		this.name = "UnknownLanguageError";
		this.language = language;
		this.available = available;
	}
}

export class InvalidDataError extends TemplateError {
	readonly missing: string[];
	readonly invalid: InvalidField[];
	constructor(templateId: string, result: ValidationResult) {
		const parts: string[] = [];
		if (result.missing.length) parts.push(`missing fields: ${result.missing.join(", ")}`);
		if (result.invalid.length) parts.push(`invalid fields: ${result.invalid.map((f) => `${f.field} (${f.message})`).join(", ")}`);
		super("INVALID_DATA", templateId, `template '${templateId}': ${parts.join("; ")}`);
		this.name = "InvalidDataError";
		this.missing = result.missing;
		this.invalid = result.invalid;
	}
}

/** A broken template folder (a server-side error, not the client's). */
export class TemplateDefinitionError extends Error {
	readonly templateId: string;
	constructor(templateId: string, message: string) {
		super(`template '${templateId}': ${message}`);
		this.name = "TemplateDefinitionError";
		this.templateId = templateId;
	}
}

export interface ToHtmlOptions {
	/** the client's schedule of charges (DEFAULT_CHARGES when absent) */
	charges?: ChargesConfig;
}

type Messages = Map<string, string>;
type Record_ = Record<string, unknown>;

interface Entry {
	manifest: Manifest;
	template: Handlebars.TemplateDelegate;
	messages: Map<string, Messages>;
	/** shared + own CSS, inlined by the layout */
	css: Handlebars.SafeString;
}

interface Shared {
	partials: Map<string, string>;
	css: string;
	messages: Map<string, Messages>;
}

/** What helpers find in `options.data.rt` while a document renders. */
interface RenderTime {
	lang: string;
	fmt: Formatter;
	message: (key: string) => string;
	css: Handlebars.SafeString;
}

const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const LANG = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;

function readJson(file: string, id: string): unknown {
	try {
		return JSON.parse(fs.readFileSync(file, "utf8"));
	} catch (e) {
		throw new TemplateDefinitionError(id, `cannot read ${path.basename(file)}: ${(e as Error).message}`);
	}
}

/** Nested message objects flattened to dotted keys. */
function flatten(obj: unknown, id: string, file: string, prefix = "", out: Messages = new Map()): Messages {
	if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw new TemplateDefinitionError(id, `${file}: messages must be a JSON object`);
	for (const [k, v] of Object.entries(obj)) {
		const key = prefix ? `${prefix}.${k}` : k;
		if (typeof v === "string") out.set(key, v);
		else flatten(v, id, file, key, out);
	}
	return out;
}

function listFiles(dir: string, ext: string): string[] {
	if (!fs.existsSync(dir)) return [];
	return fs.readdirSync(dir).filter((f) => f.endsWith(ext)).sort().map((f) => path.join(dir, f));
}

function checkManifest(m: unknown, folder: string): Manifest {
	const bad = (msg: string): never => {
		throw new TemplateDefinitionError(folder, `manifest.json: ${msg}`);
	};
	if (typeof m !== "object" || m === null) return bad("not an object");
	const o = m as Record_;
	if (o.id !== folder) bad(`id must be the folder name '${folder}'`);
	if (typeof o.version !== "string" || !o.version) bad("version must be a non-empty string");
	if (typeof o.kind !== "string" || !o.kind) bad("kind must be a non-empty string");
	if (!Array.isArray(o.languages) || !o.languages.length || !o.languages.every((l) => typeof l === "string" && LANG.test(l))) bad("languages must be a non-empty list of language tags");
	if (!Array.isArray(o.required) || !o.required.every((f) => typeof f === "string")) bad("required must be a list of field names");
	if (o.fields !== undefined) {
		if (typeof o.fields !== "object" || o.fields === null) bad("fields must be an object");
		for (const [f, t] of Object.entries(o.fields as Record_)) if (!FIELD_TYPES.includes(t as FieldType)) bad(`fields.${f} must be one of ${FIELD_TYPES.join(", ")}`);
	}
	if (o.engine !== undefined && o.engine !== "chromium" && o.engine !== "weasyprint") bad("engine must be chromium or weasyprint");
	const emi = (o.compute as Manifest["compute"] | undefined)?.emi_schedule;
	if (emi && !["principal", "annual_rate", "months", "first_emi_date"].every((k) => typeof (emi as Record_)[k] === "string")) {
		bad("compute.emi_schedule must name the fields principal, annual_rate, months, first_emi_date");
	}
	return o as unknown as Manifest;
}

// ---- value checks ------------------------------------------------------------------------------------------

function isEmpty(v: unknown): boolean {
	return v === undefined || v === null || (typeof v === "string" && v.trim() === "") || (Array.isArray(v) && v.length === 0);
}

const DECIMAL = /^\d+(\.\d+)?$/;

function checkType(v: unknown, type: FieldType): string | undefined {
	switch (type) {
		case "text":
			if (typeof v === "string" || typeof v === "number") return undefined;
			if (Array.isArray(v) && v.every((x) => typeof x === "string" || typeof x === "number")) return undefined;
			return "text";
		case "amount":
			if (typeof v === "number" ? Number.isFinite(v) && v >= 0 : typeof v === "string" && /^\d+(\.\d{1,2})?$/.test(v.trim())) return undefined;
			return "an amount of 0 or more with at most 2 decimals";
		case "rate":
			if (typeof v === "number" ? Number.isFinite(v) && v >= 0 : typeof v === "string" && DECIMAL.test(v.trim())) return undefined;
			return "a percentage of 0 or more";
		case "integer":
			if (typeof v === "number" ? Number.isInteger(v) && v >= 0 : typeof v === "string" && /^\d+$/.test(v.trim())) return undefined;
			return "a whole number";
		case "date": {
			const m = typeof v === "string" ? /^(\d{4})-(\d{2})-(\d{2})(?:$|T)/.exec(v) : null;
			if (m) {
				const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
				if (d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3])) return undefined;
			}
			return "a date YYYY-MM-DD";
		}
	}
}

function asDecimal(v: unknown): string | number {
	return typeof v === "number" ? v : String(v).trim();
}

function emiFrom(manifest: Manifest, data: Record_): EmiSchedule | undefined {
	const spec = manifest.compute?.emi_schedule;
	if (!spec) return undefined;
	return emiSchedule({
		principal: asDecimal(data[spec.principal]),
		annualRate: asDecimal(data[spec.annual_rate]),
		months: Number(data[spec.months]),
		firstEmiDate: String(data[spec.first_emi_date])
	});
}

// ---- helpers -----------------------------------------------------------------------------------------------

const esc = Handlebars.escapeExpression;

/** A CSS string literal; anything but letters, marks, digits, spaces and harmless punctuation is \HEX-escaped. */
export function cssString(value: string): string {
	return `"${value.replace(/[^\p{L}\p{M}\p{N} .,:!?()\-–—/%₹+#]/gu, (ch) => `\\${ch.codePointAt(0)?.toString(16).toUpperCase()} `)}"`;
}

function rtOf(options: Handlebars.HelperOptions): RenderTime {
	return (options.data as { rt: RenderTime }).rt;
}

/** Splits a message on its {name} placeholders: even indexes are text, odd ones are names. */
function splitMessage(msg: string): string[] {
	return msg.split(/\{([a-z_][a-z0-9_]*)\}/i);
}

/** A value given to a helper as plain text (SafeStrings from other helpers keep their text). */
function plain(v: unknown): string {
	if (v === undefined || v === null) return "";
	if (v instanceof Handlebars.SafeString) return v.toString();
	return String(v);
}

function optionsOf(args: unknown[]): [unknown[], Handlebars.HelperOptions] {
	return [args.slice(0, -1), args[args.length - 1] as Handlebars.HelperOptions];
}

/** Formatting helper: empty values print as nothing. */
function formatting(fn: (fmt: Formatter, v: unknown, rest: unknown[]) => string) {
	return (...args: unknown[]): string => {
		const [params, options] = optionsOf(args);
		const [v, ...rest] = params;
		if (isEmpty(v)) return "";
		return fn(rtOf(options).fmt, v, rest);
	};
}

function registerHelpers(hb: typeof Handlebars): void {
	hb.registerHelper("t", (...args: unknown[]) => {
		const [[key], options] = optionsOf(args);
		const parts = splitMessage(rtOf(options).message(String(key)));
		const hash = options.hash as Record_;
		let html = "";
		for (let i = 0; i < parts.length; i++) {
			if (i % 2 === 0) html += esc(parts[i]);
			else if (parts[i] in hash) {
				const v = hash[parts[i]];
				// SafeStrings come from our helpers and are already escaped; everything else is escaped here.
				html += v instanceof Handlebars.SafeString ? v.toString() : esc(plain(v));
			} else html += esc(`{${parts[i]}}`);
		}
		return new hb.SafeString(html);
	});
	hb.registerHelper("css-t", (...args: unknown[]) => {
		const [[key], options] = optionsOf(args);
		const parts = splitMessage(rtOf(options).message(String(key)));
		const hash = options.hash as Record_;
		const out: string[] = [];
		for (let i = 0; i < parts.length; i++) {
			if (i % 2 === 0) {
				if (parts[i]) out.push(cssString(parts[i]));
			} else if (parts[i] === "page" || parts[i] === "pages") out.push(`counter(${parts[i]})`);
			else out.push(cssString(parts[i] in hash ? plain(hash[parts[i]]) : `{${parts[i]}}`));
		}
		return new hb.SafeString(out.length ? out.join(" ") : '""');
	});
	hb.registerHelper("css-text", (...args: unknown[]) => new hb.SafeString(cssString(plain(optionsOf(args)[0][0]))));
	hb.registerHelper("styles", (...args: unknown[]) => rtOf(optionsOf(args)[1]).css);
	hb.registerHelper("money", formatting((fmt, v, [currency]) => fmt.money(asDecimal(v), isEmpty(currency) ? undefined : String(currency))));
	hb.registerHelper("num", formatting((fmt, v) => fmt.number(asDecimal(v))));
	hb.registerHelper("percent", formatting((fmt, v) => fmt.percent(asDecimal(v))));
	hb.registerHelper("date", formatting((fmt, v) => fmt.date(String(v))));
	hb.registerHelper("dateShort", formatting((fmt, v) => fmt.dateShort(String(v))));
	hb.registerHelper("concat", (...args: unknown[]) => optionsOf(args)[0].map(plain).join(""));
	hb.registerHelper("default", (...args: unknown[]) => {
		const [[a, b]] = optionsOf(args);
		return isEmpty(a) ? b : a;
	});
	hb.registerHelper("lines", (...args: unknown[]) => {
		const [[v]] = optionsOf(args);
		if (isEmpty(v)) return [];
		const list = Array.isArray(v) ? v.map((x) => plain(x)) : plain(v).split(/\r?\n/);
		return list.map((s) => s.trim()).filter(Boolean);
	});
}

// ---- canonical JSON and content hash -----------------------------------------------------------------------

/** JSON with object keys sorted at every level (undefined members dropped, toJSON honoured): a stable text of a value. */
export function canonicalJson(value: unknown): string {
	const walk = (v: unknown): unknown => {
		if (v !== null && typeof v === "object" && typeof (v as { toJSON?: unknown }).toJSON === "function") v = (v as { toJSON: () => unknown }).toJSON();
		if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : walk(x)));
		if (v !== null && typeof v === "object") {
			const out: Record_ = {};
			for (const k of Object.keys(v).sort()) {
				const x = (v as Record_)[k];
				if (x !== undefined && typeof x !== "function") out[k] = walk(x);
			}
			return out;
		}
		return v;
	};
	return JSON.stringify(walk(value)) ?? "null";
}

/**
 * SHA-256 (hex) of (template id, template version, language, canonical JSON of the data[, extra inputs such
 * as the client's charges]): the same inputs always give the same key, so a document is rendered once.
 */
export function contentHash(templateId: string, version: string, language: string, data: unknown, extra?: unknown): string {
	const h = crypto.createHash("sha256");
	h.update(canonicalJson([templateId, version, language, data, extra ?? null]));
	return h.digest("hex");
}

// ---- the registry ------------------------------------------------------------------------------------------

export class TemplateRegistry {
	readonly root: string;
	readonly #entries = new Map<string, Entry>();
	#shared?: Shared;

	constructor(root: string = DEFAULT_TEMPLATES_DIR) {
		this.root = root;
	}

	/** Ids of the template folders (those with a manifest.json; folders starting with "_" are shared parts). */
	list(): string[] {
		return fs
			.readdirSync(this.root, { withFileTypes: true })
			.filter((d) => d.isDirectory() && !d.name.startsWith("_") && ID.test(d.name) && fs.existsSync(path.join(this.root, d.name, "manifest.json")))
			.map((d) => d.name)
			.sort();
	}

	/** The manifest of a template; throws UnknownTemplateError. */
	manifest(templateId: string): Manifest {
		return this.#load(templateId).manifest;
	}

	/** Forgets every compiled template (they are loaded again on next use). */
	reload(): void {
		this.#entries.clear();
		this.#shared = undefined;
	}

	/**
	 * Checks a record against a template's manifest before rendering: required fields present, declared
	 * types respected, EMI inputs usable. Throws UnknownTemplateError / UnknownLanguageError.
	 */
	validate(templateId: string, language: string, data: unknown): ValidationResult {
		return this.#check(templateId, language, data).result;
	}

	#check(templateId: string, language: string, data: unknown): { result: ValidationResult; emi?: EmiSchedule } {
		const entry = this.#load(templateId);
		const m = entry.manifest;
		if (!entry.messages.has(language)) throw new UnknownLanguageError(templateId, language, m.languages);
		const record = (typeof data === "object" && data !== null && !Array.isArray(data) ? data : {}) as Record_;
		const missing = m.required.filter((f) => isEmpty(record[f]));
		const invalid: InvalidField[] = [];
		for (const [field, type] of Object.entries(m.fields ?? {})) {
			if (isEmpty(record[field])) continue;
			const expected = checkType(record[field], type);
			if (expected) invalid.push({ field, expected, message: `must be ${expected}` });
		}
		let emi: EmiSchedule | undefined;
		const spec = m.compute?.emi_schedule;
		if (spec && !missing.length && !invalid.length) {
			try {
				emi = emiFrom(m, record);
			} catch (e) {
				if (!(e instanceof EmiInputError)) throw e;
				const map: Record<string, string> = { principal: spec.principal, annualRate: spec.annual_rate, months: spec.months, firstEmiDate: spec.first_emi_date };
				invalid.push({ field: map[e.field] ?? e.field, expected: e.field, message: e.message.replace(e.field, map[e.field] ?? e.field) });
			}
		}
		return { result: { ok: missing.length === 0 && invalid.length === 0, missing, invalid }, emi };
	}

	/** The document as one HTML string (CSS inlined, no external resources). Throws TemplateError subclasses. */
	toHtml(templateId: string, language: string, data: unknown, options: ToHtmlOptions = {}): string {
		const { result, emi } = this.#check(templateId, language, data);
		if (!result.ok) throw new InvalidDataError(templateId, result);
		const entry = this.#load(templateId);
		const m = entry.manifest;
		const record = data as Record_;
		const messages = entry.messages.get(language) as Messages;
		const message = (key: string): string => {
			const msg = messages.get(key);
			if (msg === undefined) throw new TemplateDefinitionError(templateId, `no message '${key}' in language '${language}'`);
			return msg;
		};
		const fmt = formatter(language);
		const view: Record_ = { ...record, lang: language };
		view.lender = isEmpty(record.lender_name) ? message("lender.name") : plain(record.lender_name);
		if (emi) view.emi = emi;
		if (m.compute?.charges) {
			const feeField = m.compute.charges.processing_fee;
			const fee = feeField && !isEmpty(record[feeField]) ? asDecimal(record[feeField]) : undefined;
			const translate = (key: string, params: Record<string, string> = {}): string =>
				splitMessage(message(key))
					.map((p, i) => (i % 2 === 0 ? p : (params[p] ?? `{${p}}`)))
					.join("");
			view.charges = chargeLines(fee, options.charges, fmt, translate) satisfies ChargeLine[];
		}
		const rt: RenderTime = { lang: language, fmt, message, css: entry.css };
		return entry.template(view, { data: { rt, lang: language } });
	}

	/** SHA-256 storage key of a document: contentHash with the template's current version. */
	contentHash(templateId: string, language: string, data: unknown, extra?: unknown): string {
		return contentHash(templateId, this.manifest(templateId).version, language, data, extra);
	}

	#sharedParts(): Shared {
		if (!this.#shared) {
			const partials = new Map<string, string>();
			for (const f of listFiles(path.join(this.root, "_partials"), ".hbs")) partials.set(path.basename(f, ".hbs"), fs.readFileSync(f, "utf8"));
			const css = listFiles(path.join(this.root, "_styles"), ".css").map((f) => fs.readFileSync(f, "utf8")).join("\n");
			const messages = new Map<string, Messages>();
			for (const f of listFiles(path.join(this.root, "_messages"), ".json")) {
				const lang = path.basename(f, ".json");
				messages.set(lang, flatten(readJson(f, "_messages"), "_messages", path.basename(f)));
			}
			this.#shared = { partials, css, messages };
		}
		return this.#shared;
	}

	#load(templateId: string): Entry {
		const cached = this.#entries.get(templateId);
		if (cached) return cached;
		if (typeof templateId !== "string" || !ID.test(templateId)) throw new UnknownTemplateError(String(templateId));
		const dir = path.join(this.root, templateId);
		const manifestFile = path.join(dir, "manifest.json");
		if (!fs.existsSync(manifestFile)) throw new UnknownTemplateError(templateId);
		const manifest = checkManifest(readJson(manifestFile, templateId), templateId);
		const shared = this.#sharedParts();
		const hb = Handlebars.create();
		registerHelpers(hb);
		for (const [name, src] of shared.partials) hb.registerPartial(name, src);
		for (const f of listFiles(path.join(dir, "partials"), ".hbs")) hb.registerPartial(path.basename(f, ".hbs"), fs.readFileSync(f, "utf8"));
		const templateFile = path.join(dir, "template.hbs");
		if (!fs.existsSync(templateFile)) throw new TemplateDefinitionError(templateId, "template.hbs is missing");
		const source = fs.readFileSync(templateFile, "utf8");
		let template: Handlebars.TemplateDelegate;
		try {
			// Parse now (compile() is lazy) so a syntax error surfaces when the template loads, not mid-batch.
			hb.parse(source);
			template = hb.compile(source, { strict: false, preventIndent: true });
		} catch (e) {
			throw new TemplateDefinitionError(templateId, `template.hbs: ${(e as Error).message}`);
		}
		const messages = new Map<string, Messages>();
		for (const lang of manifest.languages) {
			const file = path.join(dir, "messages", `${lang}.json`);
			if (!fs.existsSync(file)) throw new TemplateDefinitionError(templateId, `messages/${lang}.json is missing (the manifest lists '${lang}')`);
			const own = flatten(readJson(file, templateId), templateId, `${lang}.json`);
			messages.set(lang, new Map([...(shared.messages.get(lang) ?? []), ...own]));
		}
		const css = [shared.css, ...listFiles(dir, ".css").map((f) => fs.readFileSync(f, "utf8"))].join("\n");
		const entry: Entry = { manifest, template, messages, css: new Handlebars.SafeString(css) };
		this.#entries.set(templateId, entry);
		return entry;
	}
}

/** Languages we format natively (others fall back to Intl's defaults for their tag). */
export const KNOWN_LANGUAGES = Object.keys(LOCALES);

/** The registry over this repository's templates/. */
export const templates = new TemplateRegistry();

export const validate = (templateId: string, language: string, data: unknown): ValidationResult => templates.validate(templateId, language, data);
export const toHtml = (templateId: string, language: string, data: unknown, options?: ToHtmlOptions): string => templates.toHtml(templateId, language, data, options);

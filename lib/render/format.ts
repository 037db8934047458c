/**
 * Locale formatting for documents: money (INR by default, with Indian digit grouping 1,00,000.00 and the
 * rupee sign), plain numbers, percentages and dates, per document language (en, hi, mr, gu; any other BCP 47
 * tag falls back to Intl's own rules for it).
 *
 * Amounts are taken as decimal strings (or numbers) and handed to Intl as strings, so they are formatted
 * exactly (Intl.NumberFormat v3 accepts decimal strings; no float rounding). Dates are "YYYY-MM-DD" calendar
 * dates, formatted in UTC so the day never shifts with the server's time zone.
 *
 * What Intl gives (Node 22 ICU), and the one correction made here:
 *   en-IN ₹1,00,000.00 · "31 January 2026"      hi-IN ₹1,00,000.00 · "31 जनवरी 2026"
 *   gu-IN ₹1,00,000.00 · "31 જાન્યુઆરી, 2026"   mr-IN numbers use Devanagari digits (१,००,०००) and Marathi
 *   month names ("३१ जानेवारी, २०२६"), but CLDR's Marathi CURRENCY pattern groups in thousands (₹१००,०००.००);
 *   Marathi money is therefore formatted with the Indian pattern in Devanagari digits (₹१,००,०००.००).
 */

export interface LocaleSpec {
	/** locale for dates and plain numbers */
	locale: string;
	/** locale for money, when it must differ (Marathi: Indian grouping) */
	moneyLocale?: string;
}

/** The document languages we ship messages for; other tags still format with Intl's defaults. */
export const LOCALES: Readonly<Record<string, LocaleSpec>> = {
	en: { locale: "en-IN" },
	hi: { locale: "hi-IN" },
	mr: { locale: "mr-IN", moneyLocale: "hi-IN-u-nu-deva" },
	gu: { locale: "gu-IN" }
};

type Numeric = string | number;

export class FormatError extends Error {
	constructor(message: string) {
		super(message);
		this.name = "FormatError";
	}
}

/** A decimal string Intl accepts exactly; numbers are turned into their shortest round-trip string. */
function decimalString(value: Numeric): `${number}` {
	const s = typeof value === "number" ? (Number.isFinite(value) ? String(value) : "") : value.trim();
	if (!/^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(s)) throw new FormatError(`not a number: '${String(value)}'`);
	return s as `${number}`;
}

function utcDate(iso: string): Date {
	const m = /^(\d{4})-(\d{2})-(\d{2})(?:$|T)/.exec(iso);
	if (!m) throw new FormatError(`not a date YYYY-MM-DD: '${iso}'`);
	const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
	if (d.getUTCDate() !== Number(m[3])) throw new FormatError(`not a calendar date: '${iso}'`);
	return d;
}

export interface Formatter {
	readonly lang: string;
	readonly locale: string;
	/** 100000 -> "₹1,00,000.00" (en); always 2 decimals */
	money(value: Numeric, currency?: string): string;
	/** a number with grouping and up to `maxDecimals` decimals (default 2) */
	number(value: Numeric, maxDecimals?: number): string;
	/** a percentage given in percent: 10.5 -> "10.50%" (2 decimals) */
	percent(value: Numeric): string;
	/** "2026-01-31" -> "31 January 2026" (month name in the language's script) */
	date(iso: string): string;
	/** "2026-01-31" -> "31/01/2026" in the language's digits (tables) */
	dateShort(iso: string): string;
}

/** Moves the decimal point two places left without floats: "10.5" -> "0.105". */
function percentToFraction(s: string): `${number}` {
	const neg = s.startsWith("-");
	const body = neg ? s.slice(1) : s;
	if (/e/i.test(body)) return String(Number(s) / 100) as `${number}`;
	const [int, frac = ""] = body.split(".");
	const padded = int.padStart(3, "0");
	const out = `${padded.slice(0, -2)}.${padded.slice(-2)}${frac}`.replace(/^0+(?=\d)/, "");
	return `${neg ? "-" : ""}${out}` as `${number}`;
}

class IntlFormatter implements Formatter {
	readonly lang: string;
	readonly locale: string;
	readonly #moneyLocale: string;
	readonly #money = new Map<string, Intl.NumberFormat>();
	readonly #numbers = new Map<number, Intl.NumberFormat>();
	readonly #percent: Intl.NumberFormat;
	readonly #date: Intl.DateTimeFormat;
	readonly #dateShort: Intl.DateTimeFormat;

	constructor(lang: string) {
		const spec = LOCALES[lang] ?? { locale: lang };
		this.lang = lang;
		this.locale = spec.locale;
		this.#moneyLocale = spec.moneyLocale ?? spec.locale;
		this.#percent = new Intl.NumberFormat(this.locale, { style: "percent", minimumFractionDigits: 2, maximumFractionDigits: 2 });
		this.#date = new Intl.DateTimeFormat(this.locale, { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
		this.#dateShort = new Intl.DateTimeFormat(this.locale, { day: "2-digit", month: "2-digit", year: "numeric", timeZone: "UTC" });
	}

	money(value: Numeric, currency = "INR"): string {
		let f = this.#money.get(currency);
		if (!f) {
			f = new Intl.NumberFormat(this.#moneyLocale, { style: "currency", currency, minimumFractionDigits: 2, maximumFractionDigits: 2 });
			this.#money.set(currency, f);
		}
		return f.format(decimalString(value));
	}

	number(value: Numeric, maxDecimals = 2): string {
		let f = this.#numbers.get(maxDecimals);
		if (!f) {
			f = new Intl.NumberFormat(this.locale, { maximumFractionDigits: maxDecimals });
			this.#numbers.set(maxDecimals, f);
		}
		return f.format(decimalString(value));
	}

	percent(value: Numeric): string {
		return this.#percent.format(percentToFraction(decimalString(value)));
	}

	date(iso: string): string {
		return this.#date.format(utcDate(iso));
	}

	dateShort(iso: string): string {
		return this.#dateShort.format(utcDate(iso));
	}
}

const cache = new Map<string, Formatter>();

/** The (cached) formatter of a document language. */
export function formatter(lang: string): Formatter {
	let f = cache.get(lang);
	if (!f) {
		f = new IntlFormatter(lang);
		cache.set(lang, f);
	}
	return f;
}

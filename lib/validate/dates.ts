/**
 * Calendar dates written per a client's dateFormat ("YYYY-MM-DD" default, "DD/MM/YYYY", "MM/DD/YYYY", "DD.MM.YYYY",
 * "YYYYMMDD", ...), checked to be real dates (leap years, no 30 February) and stored as "YYYY-MM-DD".
 * Tokens: YYYY (4-digit year), MM / DD (month / day; 1 or 2 digits when the format has separators, exactly 2 when
 * not); anything else in the format is a literal separator. Dates are compared as ISO strings (they sort correctly).
 */
import { type Check, fail, ok, shown } from "./result.ts";

export const DEFAULT_DATE_FORMAT = "YYYY-MM-DD";
/** Years outside this range are almost always typing errors (e.g. 0024 or 20240). */
export const MIN_YEAR = 1900;
export const MAX_YEAR = 2199;

interface CompiledFormat {
	re: RegExp;
	order: ("Y" | "M" | "D")[];
}

const compiled = new Map<string, CompiledFormat>();

/** Checks a dateFormat: null when fine, else what is wrong with it. */
export function dateFormatProblem(format: string): string | null {
	if (typeof format !== "string" || format.length === 0 || format.length > 20) return "must be a non-empty string like 'DD/MM/YYYY'";
	const rest = format.replace(/YYYY|MM|DD/g, "");
	for (const tok of ["YYYY", "MM", "DD"]) {
		if (format.split(tok).length !== 2) return `must contain ${tok} exactly once (e.g. 'DD/MM/YYYY')`;
	}
	if (!/^[-/. ]*$/.test(rest)) return "may only use YYYY, MM, DD and the separators '-', '/', '.', ' '";
	return null;
}

function compile(format: string): CompiledFormat {
	let c = compiled.get(format);
	if (c) return c;
	const problem = dateFormatProblem(format);
	if (problem) throw new Error(`invalid dateFormat '${format}': ${problem}`);
	const hasSeparators = /[-/. ]/.test(format);
	const order: CompiledFormat["order"] = [];
	let src = "^";
	for (let i = 0; i < format.length; ) {
		if (format.startsWith("YYYY", i)) {
			src += "(\\d{4})";
			order.push("Y");
			i += 4;
		} else if (format.startsWith("MM", i) || format.startsWith("DD", i)) {
			src += hasSeparators ? "(\\d{1,2})" : "(\\d{2})";
			order.push(format[i] === "M" ? "M" : "D");
			i += 2;
		} else {
			src += format[i].replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
			i += 1;
		}
	}
	c = { re: new RegExp(src + "$"), order };
	compiled.set(format, c);
	return c;
}

export function isLeapYear(y: number): boolean {
	return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

export function daysInMonth(y: number, m: number): number {
	return m === 2 ? (isLeapYear(y) ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31;
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** Parses a date written as `format` into "YYYY-MM-DD"; `label` names the field in messages. */
export function parseDate(raw: string, format: string, label: string): Check<string> {
	const t = raw.trim();
	const { re, order } = compile(format);
	const m = re.exec(t);
	if (!m) return fail("invalid_date", `${label} ${shown(t)} is not a date in the format ${format}`);
	let y = 0;
	let mo = 0;
	let d = 0;
	for (let i = 0; i < order.length; i++) {
		const n = Number(m[i + 1]);
		if (order[i] === "Y") y = n;
		else if (order[i] === "M") mo = n;
		else d = n;
	}
	if (y < MIN_YEAR || y > MAX_YEAR) return fail("invalid_date", `${label} ${shown(t)} has the year ${y}; expected a year between ${MIN_YEAR} and ${MAX_YEAR}`);
	if (mo < 1 || mo > 12) return fail("invalid_date", `${label} ${shown(t)} has no month ${mo}; expected the format ${format}`);
	if (d < 1 || d > daysInMonth(y, mo)) return fail("invalid_date", `${label} ${shown(t)} is not a real date: ${y}-${pad2(mo)} has no day ${d}`);
	return ok(`${y}-${pad2(mo)}-${pad2(d)}`);
}

/** Writes an ISO date ("2024-03-05") in `format` (used to serialise spreadsheet date cells in the client's format). */
export function formatDate(iso: string, format: string): string {
	compile(format);
	return format.replace("YYYY", iso.slice(0, 4)).replace("MM", iso.slice(5, 7)).replace("DD", iso.slice(8, 10));
}

/** "YYYY-MM-DD" of `now` in a time zone (IANA name, default UTC): "today" for the future-date check. */
export function isoDateIn(now: Date, timeZone = "UTC"): string {
	if (timeZone === "UTC") return now.toISOString().slice(0, 10);
	const parts = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(now);
	const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? "";
	return `${get("year")}-${get("month")}-${get("day")}`;
}

/** "YYYY-MM-DD" of a UTC Date (spreadsheet date cells are decoded as UTC midnight). */
export function isoDateOfUtc(d: Date): string {
	return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

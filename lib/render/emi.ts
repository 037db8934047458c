/**
 * Reducing-balance EMI schedule, exact: the EMI with decimal.js, the rows in whole paise (lib/money/paise.ts), so
 * that no amount ever passes through a float.
 *
 * EMI = P r (1+r)^n / ((1+r)^n - 1) with r = annual rate / 12 / 100, rounded half-up to the paisa
 * (P / n when the rate is 0). Each instalment's interest is the opening balance times r, rounded to the
 * paisa; its principal is EMI - interest. The LAST instalment absorbs every rounding difference: its
 * principal is whatever balance is left, so the principal column sums exactly to the loan amount and the
 * final closing balance is 0. Due dates start at first_emi_date and step one calendar month, anchored on
 * that day of the month and clamped to the month's end (Jan 31 -> Feb 28/29 -> Mar 31).
 * Amounts are returned as strings with 2 decimals; dates as ISO "YYYY-MM-DD".
 */
import decimalDefault from "decimal.js";
import type { Decimal as DecimalClass } from "decimal.js";
import { paise, rateOf, ratio, rupees } from "../money/paise.ts";

// decimal.js ships CommonJS typings for its ESM build: at runtime the default import IS the class, while
// TypeScript (NodeNext) types it as the CommonJS module object; the cast states what Node actually loads.
const DecimalBase = decimalDefault as unknown as typeof DecimalClass;

/**
 * The project's Decimal for money, with ample precision: 40 significant digits keep (1+r)^1200 and amounts up to
 * 10^20 exact far below the paisa (also used by the billing passbook, lib/billing/).
 */
export const Dec = DecimalBase.clone({ precision: 40, rounding: DecimalBase.ROUND_HALF_UP });
export type Dec = InstanceType<typeof Dec>;

/** Longest tenure accepted (100 years of monthly instalments). */
export const MAX_MONTHS = 1200;

export class EmiInputError extends Error {
	readonly field: string;
	constructor(field: string, message: string) {
		super(message);
		this.name = "EmiInputError";
		this.field = field;
	}
}

export interface EmiInput {
	/** the loan amount (principal), > 0, at most 2 decimals are meaningful */
	principal: string | number;
	/** the annual interest rate in percent (12 means 12 % a year), >= 0 */
	annualRate: string | number;
	/** the number of monthly instalments, 1..MAX_MONTHS */
	months: number;
	/** due date of the first instalment, "YYYY-MM-DD" */
	firstEmiDate: string;
}

export interface EmiRow {
	no: number;
	due_date: string;
	opening: string;
	emi: string;
	interest: string;
	principal: string;
	closing: string;
}

export interface EmiSchedule {
	principal: string;
	annual_rate: string;
	months: number;
	/** the regular instalment (every row but possibly the last) */
	emi: string;
	/** the last instalment, which absorbs the rounding */
	last_emi: string;
	rows: EmiRow[];
	first_due_date: string;
	last_due_date: string;
	total_interest: string;
	total_principal: string;
	total_payment: string;
}

function toDec(field: string, value: string | number): Dec {
	if (typeof value === "number" && !Number.isFinite(value)) throw new EmiInputError(field, `${field} must be a finite number`);
	if (typeof value === "string" && !/^\s*-?\d+(\.\d+)?\s*$/.test(value)) throw new EmiInputError(field, `${field} must be a decimal number, got '${value}'`);
	return new Dec(typeof value === "string" ? value.trim() : value);
}

const paisa = (d: Dec): Dec => d.toDecimalPlaces(2, Dec.ROUND_HALF_UP);
const str = (d: Dec): string => d.toFixed(2);

/** Parses "YYYY-MM-DD" (a time part after it is ignored) into [year, month 1..12, day]; throws on an impossible date. */
export function parseIsoDate(value: string, field = "date"): [number, number, number] {
	const m = /^(\d{4})-(\d{2})-(\d{2})(?:$|T)/.exec(value);
	if (!m) throw new EmiInputError(field, `${field} must be a date YYYY-MM-DD, got '${value}'`);
	const y = Number(m[1]);
	const mo = Number(m[2]);
	const d = Number(m[3]);
	if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) throw new EmiInputError(field, `${field} is not a calendar date: '${value}'`);
	return [y, mo, d];
}

function daysInMonth(year: number, month: number): number {
	return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** The date `k` months after (y, m, anchorDay), clamped to the end of that month, as "YYYY-MM-DD". */
export function addMonthsClamped(y: number, m: number, anchorDay: number, k: number): string {
	const idx = y * 12 + (m - 1) + k;
	const year = Math.floor(idx / 12);
	const month = (idx % 12) + 1;
	const day = Math.min(anchorDay, daysInMonth(year, month));
	return `${String(year).padStart(4, "0")}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
}

/** The regular EMI, rounded half-up to the paisa. */
export function emiAmount(principal: string | number, annualRate: string | number, months: number): string {
	return str(computeEmi(toDec("principal", principal), toDec("annualRate", annualRate), months));
}

function computeEmi(p: Dec, annual: Dec, n: number): Dec {
	if (annual.isZero()) return paisa(p.div(n));
	const r = annual.div(1200);
	const f = r.plus(1).pow(n);
	return paisa(p.times(r).times(f).div(f.minus(1)));
}

function checkInput(input: EmiInput): { p: Dec; annual: Dec; n: number; start: [number, number, number] } {
	const p = toDec("principal", input.principal);
	const annual = toDec("annualRate", input.annualRate);
	const n = input.months;
	if (!p.isFinite() || p.lte(0)) throw new EmiInputError("principal", "principal must be greater than 0");
	if (p.decimalPlaces() > 2) throw new EmiInputError("principal", "principal must have at most 2 decimals");
	if (!annual.isFinite() || annual.lt(0)) throw new EmiInputError("annualRate", "annualRate must be 0 or more");
	if (annual.gt(1000)) throw new EmiInputError("annualRate", "annualRate must be at most 1000 (percent a year)");
	if (!Number.isInteger(n) || n < 1 || n > MAX_MONTHS) throw new EmiInputError("months", `months must be a whole number from 1 to ${MAX_MONTHS}`);
	const start = parseIsoDate(input.firstEmiDate, "firstEmiDate");
	return { p, annual, n, start };
}

/** The full schedule; see the module comment for the rules. Throws EmiInputError on bad input. */
export function emiSchedule(input: EmiInput): EmiSchedule {
	const { p, annual, n, start } = checkInput(input);
	const emi = computeEmi(p, annual, n);
	const rows: EmiRow[] = new Array<EmiRow>(n);
	// the rows in whole paise: opening * annual / 1200 is a ratio of integers, rounded half-up to the paisa exactly
	// as the decimal division did (its quotient of 40 digits never crosses a half-paisa the exact one does not)
	const rate = rateOf(annual.toFixed());
	const den = 1200n * rate.den;
	const emiP = paise(str(emi));
	let opening = paise(str(p));
	// an EMI below the first month's interest (absurd rates) grows the balance past any integer: decimal rows then
	if (emiP < ratio(opening, rate.num, den)) return decimalSchedule(p, annual, n, start, emi);
	// the totals of a long, large loan may pass 2^53 paise
	let totalInterest = 0n;
	let totalPrincipal = 0n;
	let lastEmi = emiP;
	for (let i = 0; i < n; i++) {
		const interest = ratio(opening, rate.num, den);
		const last = i === n - 1;
		// The last row takes the remaining balance, whatever rounding left over.
		const principalPart = last ? opening : Math.min(emiP - interest, opening);
		const pay = principalPart + interest;
		const closing = opening - principalPart;
		rows[i] = {
			no: i + 1,
			due_date: addMonthsClamped(start[0], start[1], start[2], i),
			opening: rupees(opening),
			emi: rupees(pay),
			interest: rupees(interest),
			principal: rupees(principalPart),
			closing: rupees(closing)
		};
		totalInterest += BigInt(interest);
		totalPrincipal += BigInt(principalPart);
		if (last) lastEmi = pay;
		opening = closing;
	}
	return {
		principal: str(p),
		annual_rate: annual.toString(),
		months: n,
		emi: str(emi),
		last_emi: rupees(lastEmi),
		rows,
		first_due_date: rows[0].due_date,
		last_due_date: rows[n - 1].due_date,
		total_interest: rupees(totalInterest),
		total_principal: rupees(totalPrincipal),
		total_payment: rupees(totalInterest + totalPrincipal)
	};
}

/** The rows in decimal (the balance grows when the EMI does not cover the interest). */
function decimalSchedule(p: Dec, annual: Dec, n: number, start: [number, number, number], emi: Dec): EmiSchedule {
	const rows: EmiRow[] = new Array<EmiRow>(n);
	let opening = p;
	let totalInterest = new Dec(0);
	let totalPrincipal = new Dec(0);
	let lastEmi = emi;
	for (let i = 0; i < n; i++) {
		// opening * annual / 1200: the product is exact, only the division rounds
		const interest = paisa(opening.times(annual).div(1200));
		const last = i === n - 1;
		// The last row takes the remaining balance, whatever rounding left over.
		const principalPart = last ? opening : Dec.min(emi.minus(interest), opening);
		const pay = principalPart.plus(interest);
		const closing = opening.minus(principalPart);
		rows[i] = {
			no: i + 1,
			due_date: addMonthsClamped(start[0], start[1], start[2], i),
			opening: str(opening),
			emi: str(pay),
			interest: str(interest),
			principal: str(principalPart),
			closing: str(closing)
		};
		totalInterest = totalInterest.plus(interest);
		totalPrincipal = totalPrincipal.plus(principalPart);
		if (last) lastEmi = pay;
		opening = closing;
	}
	return {
		principal: str(p),
		annual_rate: annual.toString(),
		months: n,
		emi: str(emi),
		last_emi: str(lastEmi),
		rows,
		first_due_date: rows[0].due_date,
		last_due_date: rows[n - 1].due_date,
		total_interest: str(totalInterest),
		total_principal: str(totalPrincipal),
		total_payment: str(totalInterest.plus(totalPrincipal))
	};
}

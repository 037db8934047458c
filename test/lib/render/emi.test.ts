import { test } from "node:test";
import assert from "node:assert/strict";
import decimalDefault from "decimal.js";
import type { Decimal as DecimalClass } from "decimal.js";

// decimal.js ships CommonJS typings for its ESM build: at runtime the default import IS the class, while
// TypeScript (NodeNext) types it as the CommonJS module object; the cast states what Node actually loads.
const DecimalBase = decimalDefault as unknown as typeof DecimalClass;
import { emiSchedule, emiAmount, addMonthsClamped, EmiInputError } from "../../../lib/render/emi.ts";
import type { EmiInput, EmiSchedule } from "../../../lib/render/emi.ts";

const D = DecimalBase.clone({ precision: 50 });
const sum = (s: EmiSchedule, k: "principal" | "interest" | "emi"): string => s.rows.reduce((a, r) => a.plus(r[k]), new D(0)).toFixed(2);

/** Invariants every schedule must satisfy, whatever the inputs. */
function checkInvariants(s: EmiSchedule): void {
	assert.equal(s.rows.length, s.months);
	assert.equal(sum(s, "principal"), s.principal, "principal column sums exactly to the loan amount");
	assert.equal(s.total_principal, s.principal);
	assert.equal(s.rows[s.rows.length - 1].closing, "0.00", "closing balance ends at 0");
	assert.equal(sum(s, "interest"), s.total_interest);
	assert.equal(sum(s, "emi"), s.total_payment);
	let opening = s.principal;
	for (const r of s.rows) {
		for (const k of ["opening", "emi", "interest", "principal", "closing"] as const) {
			assert.match(r[k], /^\d+\.\d{2}$/, `row ${r.no} ${k} is a 2-decimal string`);
		}
		assert.equal(r.opening, opening, `row ${r.no} opens at the previous closing`);
		assert.equal(new D(r.interest).plus(r.principal).toFixed(2), r.emi, `row ${r.no}: interest + principal = EMI`);
		assert.equal(new D(r.opening).minus(r.principal).toFixed(2), r.closing);
		assert.ok(new D(r.principal).gte(0), `row ${r.no}: principal is never negative`);
		opening = r.closing;
	}
	// Every instalment but the last is the regular EMI, except once a tiny loan's balance has run out early
	// (an EMI rounded up to the paisa can repay it before the last month): then the row pays what is left.
	for (const r of s.rows.slice(0, -1)) if (r.closing !== "0.00") assert.equal(r.emi, s.emi, "every instalment but the last is the regular EMI");
	assert.equal(s.rows[s.rows.length - 1].emi, s.last_emi);
}

test("1,00,000 at 12 % for 12 months: EMI 8,884.88 and the full schedule", () => {
	// r = 0.01; 1.01^12 = 1.126825030131969...; EMI = 100000 * 0.01 * 1.126825 / 0.126825 = 8884.8789 -> 8884.88.
	const s = emiSchedule({ principal: 100000, annualRate: 12, months: 12, firstEmiDate: "2026-02-05" });
	assert.equal(s.emi, "8884.88");
	assert.deepEqual(s.rows[0], { no: 1, due_date: "2026-02-05", opening: "100000.00", emi: "8884.88", interest: "1000.00", principal: "7884.88", closing: "92115.12" });
	// The last row absorbs the rounding: opening 8796.88, interest round(87.9688) = 87.97, EMI 8884.85.
	assert.deepEqual(s.rows[11], { no: 12, due_date: "2027-01-05", opening: "8796.88", emi: "8884.85", interest: "87.97", principal: "8796.88", closing: "0.00" });
	assert.equal(s.last_emi, "8884.85");
	assert.equal(s.total_interest, "6618.53");
	assert.equal(s.total_principal, "100000.00");
	assert.equal(s.total_payment, "106618.53");
	checkInvariants(s);
});

test("5,00,000 at 10.5 % for 60 months: EMI 10,746.95", () => {
	// Derived independently: r = 10.5 / 1200 = 0.00875; (1.00875)^60 = e^(60 * ln 1.00875) = e^(60 * 0.0087119...)
	// = 1.6866029818...; EMI = 500000 * 0.00875 * 1.6866030 / 0.6866030 = 4375 * 2.4564458 = 10746.9502 -> 10746.95.
	const s = emiSchedule({ principal: "500000", annualRate: "10.5", months: 60, firstEmiDate: "2026-01-10" });
	assert.equal(s.emi, "10746.95");
	assert.equal(s.rows[0].interest, "4375.00");
	assert.equal(s.rows[0].principal, "6371.95");
	assert.equal(s.rows[59].opening, "10653.72");
	assert.equal(s.rows[59].emi, "10746.94");
	assert.equal(s.total_interest, "144816.99");
	assert.equal(s.rows[59].due_date, "2030-12-10");
	checkInvariants(s);
	assert.equal(emiAmount(500000, 10.5, 60), "10746.95");
});

test("due dates anchor on the first day of month and clamp to month end", () => {
	const s = emiSchedule({ principal: 1200, annualRate: 0, months: 5, firstEmiDate: "2027-12-31" });
	assert.deepEqual(s.rows.map((r) => r.due_date), ["2027-12-31", "2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30"]);
	assert.equal(addMonthsClamped(2026, 1, 31, 1), "2026-02-28");
	assert.equal(addMonthsClamped(2026, 1, 30, 13), "2027-02-28");
	assert.equal(addMonthsClamped(2026, 11, 15, 2), "2027-01-15");
});

test("0 % interest divides the principal and the last instalment takes the remainder", () => {
	const s = emiSchedule({ principal: "100.00", annualRate: "0", months: 3, firstEmiDate: "2026-01-01" });
	assert.equal(s.emi, "33.33");
	assert.deepEqual(s.rows.map((r) => r.emi), ["33.33", "33.33", "33.34"]);
	assert.equal(s.total_interest, "0.00");
	checkInvariants(s);
});

test("1 month: one instalment of principal plus one month's interest", () => {
	const s = emiSchedule({ principal: 50000, annualRate: 18, months: 1, firstEmiDate: "2026-03-01" });
	// P (1 + r) = 50000 * 1.015
	assert.equal(s.emi, "50750.00");
	assert.equal(s.rows[0].interest, "750.00");
	checkInvariants(s);
});

test("tiny loans: rounding never breaks the invariants", () => {
	for (const principal of ["0.01", "0.05", "1.00", "9.99", "123.45"]) {
		for (const annualRate of [0, 1, 12, 36, 99.99]) {
			for (const months of [1, 2, 7, 60, 480]) {
				checkInvariants(emiSchedule({ principal, annualRate, months, firstEmiDate: "2026-01-31" }));
			}
		}
	}
	// 1 rupee over 480 months at 0 %: the regular EMI rounds to 0.00, the last one pays everything.
	const s = emiSchedule({ principal: "1", annualRate: 0, months: 480, firstEmiDate: "2026-01-31" });
	assert.equal(s.emi, "0.00");
	assert.equal(s.last_emi, "1.00");
});

test("480 months and high rates", () => {
	// r = 8.75 / 1200; EMI computed with 50-digit decimals in Python: 18804.26; total interest 6526058.16.
	const s = emiSchedule({ principal: 2500000, annualRate: 8.75, months: 480, firstEmiDate: "2026-05-31" });
	assert.equal(s.emi, "18804.26");
	assert.equal(s.total_interest, "6526058.16");
	assert.equal(s.rows[479].emi, "18817.62");
	checkInvariants(s);
	for (const annualRate of [36, 48.5, 120, 600]) {
		for (const months of [12, 84, 360]) checkInvariants(emiSchedule({ principal: 987654.32, annualRate, months, firstEmiDate: "2026-08-29" }));
	}
	// At 600 % a year (r = 0.5) the EMI is practically the monthly interest plus a sliver of principal.
	const h = emiSchedule({ principal: 1000, annualRate: 600, months: 24, firstEmiDate: "2026-01-01" });
	assert.equal(h.rows[0].interest, "500.00");
	assert.ok(new D(h.emi).gt(500));
});

test("sum of principal equals the loan amount for many random loans", () => {
	let seed = 42;
	const rnd = (): number => {
		seed = (seed * 1103515245 + 12345) % 2147483648;
		return seed / 2147483648;
	};
	for (let i = 0; i < 300; i++) {
		const principal = (Math.floor(rnd() * 5_000_000_00) / 100 + 0.01).toFixed(2);
		const annualRate = (Math.floor(rnd() * 4000) / 100).toFixed(2);
		const months = 1 + Math.floor(rnd() * 360);
		const s = emiSchedule({ principal, annualRate, months, firstEmiDate: "2026-01-29" });
		assert.equal(sum(s, "principal"), principal, `${principal} at ${annualRate} for ${months}`);
		assert.equal(s.rows[months - 1].closing, "0.00");
	}
});

test("bad input is refused with EmiInputError naming the field", () => {
	const base: EmiInput = { principal: 1000, annualRate: 10, months: 12, firstEmiDate: "2026-01-01" };
	const cases: [Partial<EmiInput>, string][] = [
		[{ principal: 0 }, "principal"],
		[{ principal: -5 }, "principal"],
		[{ principal: "12.345" }, "principal"],
		[{ principal: "abc" }, "principal"],
		[{ annualRate: -1 }, "annualRate"],
		[{ months: 0 }, "months"],
		[{ months: 1.5 }, "months"],
		[{ firstEmiDate: "2026-02-30" }, "firstEmiDate"],
		[{ firstEmiDate: "01/02/2026" }, "firstEmiDate"]
	];
	for (const [patch, field] of cases) {
		assert.throws(() => emiSchedule({ ...base, ...patch }), (e: unknown) => e instanceof EmiInputError && e.field === field, JSON.stringify(patch));
	}
});

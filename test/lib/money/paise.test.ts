/**
 * Whole-paise money: parsing and printing amounts, exact half-up percentages and ratios (also past 2^53 through
 * BigInt), and what it refuses.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { paise, percentOf, rateOf, ratio, rupees } from "../../../lib/money/paise.ts";
import { emiSchedule } from "../../../lib/render/emi.ts";

test("amounts parse to paise and print back with 2 decimals", () => {
	assert.deepEqual(["1234.56", "-3.25", "100", "0.5", "7.10", "-0.00", "0.01", " 12.30 ", "5.500"].map(paise), [123456, -325, 10000, 50, 710, 0, 1, 1230, 550]);
	assert.deepEqual([123456, -325, 10000, 50, 5, 0, -1, 123456789012345].map((p) => rupees(p)), ["1234.56", "-3.25", "100.00", "0.50", "0.05", "0.00", "-0.01", "1234567890123.45"]);
	assert.equal(rupees(10n ** 20n + 7n), "1000000000000000000.07");
	assert.equal(rupees(-205n), "-2.05");
	for (const bad of ["1.234", "abc", "", "1,000.00", "1e3", "--1.00", ".50", "99999999999999999.00"]) assert.throws(() => paise(bad), /amount/, bad);
});

test("a percentage of an amount is rounded half-up to the paisa, exactly", () => {
	assert.equal(percentOf(100000, rateOf("2")), 2000);
	// 2 % of 0.25: 0.005 -> 0.01 (half up); 1.75 % of 1.00: 0.0175 -> 0.02; 3.333 % of 1.00: 0.03333 -> 0.03
	assert.equal(percentOf(25, rateOf("2")), 1);
	assert.equal(percentOf(100, rateOf("1.75")), 2);
	assert.equal(percentOf(100, rateOf("3.333")), 3);
	assert.equal(percentOf(0, rateOf("2")), 0);
	// 60 paise at 10 % a year for a month: 60 * 10 / 1200 = 0.5 paise, a tie: up
	assert.equal(ratio(60, 10n, 1200n), 1);
	assert.equal(ratio(59, 10n, 1200n), 0);
	// past 2^53 the same through BigInt
	assert.equal(ratio(9_000_000_000_000, 999_999n, 1_200_000n), Number((2n * 9_000_000_000_000n * 999_999n + 1_200_000n) / 2_400_000n));
	assert.throws(() => rateOf("-1"), /rate/);
});

test("an EMI schedule in paise keeps its totals exact past 2^53 paise, and one whose EMI never covers the interest is still computed", () => {
	const big = emiSchedule({ principal: "99999999999.99", annualRate: "36", months: 1200, firstEmiDate: "2026-01-31" });
	assert.equal(big.total_principal, "99999999999.99");
	assert.equal(big.rows[1199].closing, "0.00");
	const interest = big.rows.reduce((acc, r) => acc + BigInt(paise(r.interest)), 0n);
	assert.equal(big.total_interest, rupees(interest));
	// 1000 % a year over 30 years: the balance explodes before the last instalment takes it all
	const absurd = emiSchedule({ principal: "29340291023.25", annualRate: "1000", months: 360, firstEmiDate: "2024-02-29" });
	assert.equal(absurd.rows[359].closing, "0.00");
	assert.ok(absurd.last_emi.length > 40, absurd.last_emi);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { dateFormatProblem, formatDate, isLeapYear, isoDateIn, parseDate } from "../../../lib/validate/dates.ts";

const okDate = (raw: string, format: string): string => {
	const r = parseDate(raw, format, "due_date");
	assert.equal(r.ok, true, `${raw} as ${format}: ${r.ok ? "" : r.message}`);
	return r.ok ? r.value : "";
};
const code = (raw: string, format: string): string => {
	const r = parseDate(raw, format, "due_date");
	assert.equal(r.ok, false, `${raw} should be rejected`);
	return r.ok ? "" : r.code;
};

test("formats", () => {
	assert.equal(okDate("2024-03-05", "YYYY-MM-DD"), "2024-03-05");
	assert.equal(okDate("05/03/2024", "DD/MM/YYYY"), "2024-03-05");
	assert.equal(okDate("03/05/2024", "MM/DD/YYYY"), "2024-03-05");
	assert.equal(okDate("05-03-2024", "DD-MM-YYYY"), "2024-03-05");
	assert.equal(okDate("05.03.2024", "DD.MM.YYYY"), "2024-03-05");
	assert.equal(okDate("20240305", "YYYYMMDD"), "2024-03-05");
	assert.equal(okDate("5/3/2024", "DD/MM/YYYY"), "2024-03-05", "1-digit day and month with separators");
	assert.equal(okDate(" 2024-03-05 ", "YYYY-MM-DD"), "2024-03-05", "trimmed");
});

test("a date in another format than the configured one is rejected", () => {
	assert.equal(code("2024-03-05", "DD/MM/YYYY"), "invalid_date");
	assert.equal(code("05/03/2024", "YYYY-MM-DD"), "invalid_date");
	assert.equal(code("2024035", "YYYYMMDD"), "invalid_date");
	assert.equal(code("2024-03-05T00:00:00Z", "YYYY-MM-DD"), "invalid_date");
	const r = parseDate("32/01/2024", "DD/MM/YYYY", "due_date");
	assert.equal(r.ok, false);
	if (!r.ok) assert.match(r.message, /due_date '32\/01\/2024' is not a real date/);
});

test("leap years and month lengths", () => {
	assert.equal(isLeapYear(2024), true);
	assert.equal(isLeapYear(1900), false);
	assert.equal(isLeapYear(2000), true);
	assert.equal(okDate("29/02/2024", "DD/MM/YYYY"), "2024-02-29");
	assert.equal(okDate("2000-02-29", "YYYY-MM-DD"), "2000-02-29");
	assert.equal(code("29/02/2023", "DD/MM/YYYY"), "invalid_date");
	assert.equal(code("1900-02-29", "YYYY-MM-DD"), "invalid_date");
	assert.equal(code("30/02/2024", "DD/MM/YYYY"), "invalid_date");
	assert.equal(code("31/04/2024", "DD/MM/YYYY"), "invalid_date");
	assert.equal(okDate("31/12/2024", "DD/MM/YYYY"), "2024-12-31");
	assert.equal(code("2024-13-01", "YYYY-MM-DD"), "invalid_date");
	assert.equal(code("2024-00-10", "YYYY-MM-DD"), "invalid_date");
	assert.equal(code("0024-01-10", "YYYY-MM-DD"), "invalid_date");
});

test("date format validation", () => {
	assert.equal(dateFormatProblem("DD/MM/YYYY"), null);
	assert.equal(dateFormatProblem("YYYYMMDD"), null);
	assert.match(String(dateFormatProblem("DD/MM/YY")), /YYYY exactly once/);
	assert.match(String(dateFormatProblem("DD/MM/YYYY hh")), /may only use/);
	assert.match(String(dateFormatProblem("")), /non-empty/);
});

test("formatDate writes ISO dates back in a format", () => {
	assert.equal(formatDate("2024-03-05", "DD/MM/YYYY"), "05/03/2024");
	assert.equal(formatDate("2024-03-05", "YYYYMMDD"), "20240305");
});

test("isoDateIn gives the calendar date in a time zone", () => {
	const now = new Date("2024-03-05T01:30:00Z");
	assert.equal(isoDateIn(now), "2024-03-05");
	assert.equal(isoDateIn(now, "America/Sao_Paulo"), "2024-03-04");
	assert.equal(isoDateIn(new Date("2024-03-05T20:00:00Z"), "Asia/Kolkata"), "2024-03-06");
});

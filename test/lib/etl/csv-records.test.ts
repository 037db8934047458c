import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "csv-parse/sync";
import { readCsvRecords, type CsvRecord } from "../../../lib/etl/csv-records.ts";

function read(text: string, delimiter = ","): CsvRecord[] {
	const out: CsvRecord[] = [];
	readCsvRecords(text, delimiter, (r) => out.push(r));
	return out;
}

test("plain lines: LF and CRLF end records, empty lines are not records, line numbers are physical", () => {
	assert.deepEqual(read("a,b,c\r\n\nd,,f\n\r\ng,h,i"), [
		{ ok: true, line: 0, fields: ["a", "b", "c"] },
		{ ok: true, line: 2, fields: ["d", "", "f"] },
		{ ok: true, line: 4, fields: ["g", "h", "i"] }
	]);
});

test("quoted fields hold delimiters, line breaks and doubled quotes; the next record's line counts them", () => {
	assert.deepEqual(read('"a,1","x\ny\r\nz","say ""hi"""\nnext,"",end\n'), [
		{ ok: true, line: 0, fields: ["a,1", "x\ny\r\nz", 'say "hi"'] },
		{ ok: true, line: 3, fields: ["next", "", "end"] }
	]);
});

test("a quote that does not start a field is an ordinary character; a lone CR is kept", () => {
	assert.deepEqual(read('5" disk,a "b" c,x\ry\n'), [{ ok: true, line: 0, fields: ['5" disk', 'a "b" c', "x\ry"] }]);
	assert.deepEqual(read(' "a",b'), [{ ok: true, line: 0, fields: [' "a"', "b"] }]);
});

test("trailing delimiters give empty fields, with or without a final line break", () => {
	assert.deepEqual(read('a,"b",\n"c",'), [
		{ ok: true, line: 0, fields: ["a", "b", ""] },
		{ ok: true, line: 1, fields: ["c", ""] }
	]);
});

test("the delimiter is the format's", () => {
	assert.deepEqual(read('a;"b;c";d\n', ";"), [{ ok: true, line: 0, fields: ["a", "b;c", "d"] }]);
	assert.deepEqual(read("a\tb\n", "\t"), [{ ok: true, line: 0, fields: ["a", "b"] }]);
	assert.throws(() => read("a", ";;"), RangeError);
});

test("an unclosed quote makes its record malformed, reported at the line it starts on", () => {
	assert.deepEqual(read('ok,1\nbad,"open\nmore\n'), [
		{ ok: true, line: 0, fields: ["ok", "1"] },
		{ ok: false, line: 1, problem: "unclosed_quote" }
	]);
});

test("text after a closing quote makes only that record malformed; the next record is read", () => {
	assert.deepEqual(read('a,"b"c,d\ne,f\n'), [
		{ ok: false, line: 0, problem: "bad_closing_quote" },
		{ ok: true, line: 1, fields: ["e", "f"] }
	]);
});

test("reads well-formed CSV as csv-parse does (generated fields with quotes, delimiters and line breaks)", () => {
	let seed = 7;
	const rand = (n: number) => {
		seed = (seed * 1103515245 + 12345) % 2 ** 31;
		return seed % n;
	};
	const alphabet = ['a', 'b', ' ', ',', '"', "\n", "ç", "1"];
	const lines: string[] = [];
	for (let r = 0; r < 300; r++) {
		const cells: string[] = [];
		for (let c = 0; c < 4; c++) {
			let v = "";
			for (let k = rand(6); k > 0; k--) v += alphabet[rand(alphabet.length)];
			cells.push(/[",\n]/.test(v) || v === "" ? `"${v.replaceAll('"', '""')}"` : v);
		}
		lines.push(cells.join(","));
	}
	const text = lines.join(rand(2) ? "\r\n" : "\n");
	const expected = parse(text, { relax_column_count: true }) as string[][];
	const got = read(text).map((r) => (r.ok ? r.fields : null));
	assert.deepEqual(got, expected);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import ExcelJS from "exceljs";
import { findInvalidUtf8, peek, sniff, sniffStream } from "../../../lib/etl/sniff.ts";

async function xlsxBytes(): Promise<Buffer> {
	const wb = new ExcelJS.Workbook();
	wb.addWorksheet("S").addRow(["a", "b"]);
	return Buffer.from(await wb.xlsx.writeBuffer());
}

/** A minimal zip local file header for one stored entry. */
function zipWith(name: string): Buffer {
	const h = Buffer.alloc(30);
	h.writeUInt32LE(0x04034b50, 0);
	h.writeUInt16LE(Buffer.byteLength(name), 26);
	return Buffer.concat([h, Buffer.from(name), Buffer.from("data")]);
}

test("XLSX by content", async () => {
	assert.deepEqual(sniff(await xlsxBytes()), { type: "xlsx" });
	assert.deepEqual(sniff(zipWith("xl/workbook.xml")), { type: "xlsx" });
});

test("other zips and binaries are unsupported", () => {
	assert.equal(sniff(zipWith("word/document.xml")).type, "unsupported");
	assert.equal(sniff(Buffer.concat([zipWith("[Content_Types].xml"), zipWith("word/document.xml")])).type, "unsupported");
	assert.equal(sniff(zipWith("photos/cat.jpg")).type, "unsupported");
	const xls = sniff(Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0, 0]));
	assert.equal(xls.type, "unsupported");
	assert.match(xls.type === "unsupported" ? xls.message : "", /\.xls/);
	assert.equal(sniff(Buffer.from("%PDF-1.7\n")).type, "unsupported");
	assert.equal(sniff(Buffer.from([0x1f, 0x8b, 8, 0])).type, "unsupported");
	const bin = sniff(Buffer.from("abc\u0000def"));
	assert.deepEqual(bin, { type: "unsupported", message: "the file is binary (a NUL byte at offset 3), not CSV text" });
	assert.equal(sniff(Buffer.from([0xff, 0xfe, 0x61, 0])).type, "unsupported");
});

test("CSV text: valid UTF-8, or latin1 bytes when declared", () => {
	assert.deepEqual(sniff(Buffer.from("a,b\nJoão,1\n")), { type: "csv", empty: false, warnings: [] });
	assert.deepEqual(sniff(Buffer.alloc(0)), { type: "csv", empty: true, warnings: [] });
	const latin = Buffer.from([0x61, 0x0a, 0x63, 0xe7, 0x0a]);
	assert.deepEqual(sniff(latin, "latin1"), { type: "csv", empty: false, warnings: [] });
	const bad = sniff(latin, "utf-8");
	assert.equal(bad.type, "invalid_text");
	if (bad.type === "invalid_text") {
		assert.equal(bad.offset, 3);
		assert.equal(bad.line, 2);
		assert.match(bad.message, /byte 0xE7 at offset 3 \(line 2\)/);
	}
	const utf8AsLatin = sniff(Buffer.from("a\nJoão\n"), "windows-1252");
	assert.equal(utf8AsLatin.type === "csv" && utf8AsLatin.warnings.length, 1);
});

test("UTF-8 validation details", () => {
	assert.equal(findInvalidUtf8(Buffer.from("ok € कुमार 😀")), -1);
	assert.equal(findInvalidUtf8(Buffer.from([0xc0, 0x80])), 0, "overlong");
	assert.equal(findInvalidUtf8(Buffer.from([0x61, 0xed, 0xa0, 0x80])), 1, "surrogate");
	assert.equal(findInvalidUtf8(Buffer.from([0x61, 0xe2, 0x82])), 1, "truncated at the end of the file");
	assert.equal(findInvalidUtf8(Buffer.from([0x61, 0xe2, 0x82]), true), -1, "truncated at the end of a head");
	// a head cut inside a character is still valid
	const big = Buffer.from("€".repeat(30000));
	assert.equal(sniff(big.subarray(0, 65537)).type, "csv");
});

test("peek returns the head and a stream that still starts at byte 0", async () => {
	const data = Buffer.from("x".repeat(200_000));
	const src = Readable.from((function* () {
		for (let i = 0; i < data.length; i += 10_000) yield data.subarray(i, i + 10_000);
	})(), { objectMode: false });
	const { head, stream } = await peek(src, 65_536);
	assert.equal(head.length, 65_536);
	const parts: Buffer[] = [];
	for await (const p of stream) parts.push(p as Buffer);
	assert.deepEqual(Buffer.concat(parts), data);

	const small = await sniffStream(Readable.from([Buffer.from("a,b\n")]));
	assert.equal(small.result.type, "csv");
	const rest: Buffer[] = [];
	for await (const p of small.stream) rest.push(p as Buffer);
	assert.equal(Buffer.concat(rest).toString(), "a,b\n");
});

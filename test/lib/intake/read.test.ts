/**
 * Reading pages without a broker: a born-digital PDF held in memory is read from pdftotext's stdin with no
 * temporary file; a PDF whose second page is only an image gets that page OCRed (the file made on demand) and its
 * first page from the text layer; the same PDF read from a file gives the same.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { deflateSync } from "node:zlib";
import os from "node:os";
import path from "node:path";
import { readPages, type Original } from "../../../lib/intake/read/pages.ts";
import { checkFile } from "../../../lib/intake/checks.ts";
import { Pool } from "../../../lib/intake/run.ts";
import { textPdf } from "../../helpers/intake-corpus.ts";

const opts = { pool: new Pool(2), langs: "eng", timeoutMs: 60_000, maxPixels: 60e6 };
const limits = { maxPages: 10, maxPixels: 60e6, maxSidePx: 20000, timeoutMs: 30_000 };

/** A two-page PDF: page 1 with a text layer, page 2 only a grey image (a scan) of `scanned` lines. */
function mixedPdf(dir: string, scanned: string[]): Buffer {
	const src = path.join(dir, "src.pdf");
	writeFileSync(src, textPdf(scanned));
	execFileSync("pdftoppm", ["-r", "150", "-gray", "-singlefile", src, path.join(dir, "img")]);
	const pgm = readFileSync(path.join(dir, "img.pgm"));
	const [, w, h] = /^P5\s+(\d+)\s+(\d+)\s+255\s/.exec(pgm.toString("latin1", 0, 40)) ?? [];
	const header = /^P5\s+\d+\s+\d+\s+255\s/.exec(pgm.toString("latin1", 0, 40))?.[0].length ?? 0;
	const pixels = deflateSync(pgm.subarray(header));
	const text = "BT /F1 12 Tf 72 740 Td (Invoice No: MX-42 Page one has a text layer) Tj ET";
	const image = "q 612 0 0 792 0 0 cm /Im1 Do Q";
	const objs: Buffer[] = [
		Buffer.from("<< /Type /Catalog /Pages 2 0 R >>"),
		Buffer.from("<< /Type /Pages /Kids [3 0 R 5 0 R] /Count 2 >>"),
		Buffer.from("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 7 0 R >> >> /Contents 4 0 R >>"),
		Buffer.from(`<< /Length ${text.length} >>\nstream\n${text}\nendstream`),
		Buffer.from("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im1 8 0 R >> >> /Contents 6 0 R >>"),
		Buffer.from(`<< /Length ${image.length} >>\nstream\n${image}\nendstream`),
		Buffer.from("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
		Buffer.concat([Buffer.from(`<< /Type /XObject /Subtype /Image /Width ${w} /Height ${h} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /Length ${pixels.length} >>\nstream\n`), pixels, Buffer.from("\nendstream")])
	];
	const parts = [Buffer.from("%PDF-1.4\n")];
	let size = parts[0].length;
	const offsets: number[] = [];
	objs.forEach((o, i) => {
		offsets.push(size);
		const b = Buffer.concat([Buffer.from(`${i + 1} 0 obj\n`), o, Buffer.from("\nendobj\n")]);
		parts.push(b);
		size += b.length;
	});
	parts.push(Buffer.from(`xref\n0 ${objs.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("")}trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${size}\n%%EOF\n`));
	return Buffer.concat(parts);
}

test("a PDF in memory: text layer from stdin, no file; an image-only page OCRed from a file made on demand", async () => {
	const dir = mkdtempSync(path.join(os.tmpdir(), "paperwork-read-test-"));
	try {
		const digital = textPdf(["Invoice No: BD-7", "Total: 99.00", "Seller: Example Traders"]);
		const digitalFile = path.join(dir, "digital.pdf");
		writeFileSync(digitalFile, digital);
		let made = 0;
		const inMemory = (bytes: Buffer, file: string): Original => ({ bytes, file: async () => (made++, file) });
		const d = await readPages(inMemory(digital, digitalFile), await checkFile(digitalFile, digital.length, limits), opts);
		assert.equal(made, 0, "a born-digital PDF needs no file");
		assert.deepEqual(d.pages.map((p) => p.source), ["layer"]);
		assert.match(d.texts[0], /Invoice No: BD-7/);

		const mixed = mixedPdf(dir, ["Scanned Goods Ltd", "Invoice No: SC-9931", "Total: 1,250.00"]);
		const mixedFile = path.join(dir, "mixed.pdf");
		writeFileSync(mixedFile, mixed);
		const checked = await checkFile(mixedFile, mixed.length, limits);
		assert.equal(checked.pages, 2);
		const m = await readPages(inMemory(mixed, mixedFile), checked, opts);
		assert.equal(made, 1, "the file is made once, for the OCR");
		assert.deepEqual(m.pages.map((p) => p.source), ["layer", "ocr"]);
		assert.match(m.texts[0], /MX-42/);
		assert.match(m.texts[1], /SC-9931/);
		assert.ok((m.pages[1].confidence ?? 0) > 50);
		// the same from a file only
		const fromFile = await readPages({ file: async () => mixedFile }, checked, opts);
		assert.deepEqual(fromFile.texts, m.texts);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

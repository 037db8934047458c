/**
 * The in-process PDF check: a sound file gets the same page count and largest page as pdfinfo (classic tables,
 * xref and object streams, incremental updates), and every doubtful file (encrypted, truncated, a broken stream,
 * an object not at its offset) answers null so qpdf and pdfinfo decide; a page tree past the limit answers its count.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { deflateSync } from "node:zlib";
import os from "node:os";
import path from "node:path";
import { inspectPdf } from "../../../lib/intake/pdf-structure.ts";
import { minimalPdf, textPdf } from "../../helpers/intake-corpus.ts";

function withDir(fn: (dir: string) => void): void {
	const dir = mkdtempSync(path.join(os.tmpdir(), "paperwork-pdf-structure-"));
	try {
		fn(dir);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

/** pdfinfo's page count and largest page */
function pdfinfo(file: string): { pages: number; maxPagePt: { width: number; height: number } } {
	const out = execFileSync("pdfinfo", ["-f", "1", "-l", "999", file]).toString();
	let width = 0;
	let height = 0;
	for (const m of out.matchAll(/^Page\s+\d+\s+size:\s+([\d.]+)\s+x\s+([\d.]+)/gm)) {
		width = Math.max(width, Number(m[1]));
		height = Math.max(height, Number(m[2]));
	}
	return { pages: Number(/^Pages:\s+(\d+)/m.exec(out)?.[1]), maxPagePt: { width, height } };
}

/** A PDF from its objects (numbered from 1), with a correct classic cross-reference table. */
function build(objs: Buffer[]): Buffer {
	const parts: Buffer[] = [Buffer.from("%PDF-1.4\n")];
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

const stream = (dict: string, data: Buffer) => Buffer.concat([Buffer.from(`<< ${dict} /Length ${data.length} >>\nstream\n`), data, Buffer.from("\nendstream")]);
const page = (box = "0 0 612 792") => [Buffer.from("<< /Type /Catalog /Pages 2 0 R >>"), Buffer.from("<< /Type /Pages /Kids [3 0 R] /Count 1 >>"), Buffer.from(`<< /Type /Page /Parent 2 0 R /MediaBox [${box}] /Contents 4 0 R >>`)];

test("sound PDFs: the same pages and largest page as pdfinfo, whatever the cross-reference form", () => {
	withDir((dir) => {
		const f = (name: string, b: Buffer) => {
			writeFileSync(path.join(dir, name), b);
			return path.join(dir, name);
		};
		const a = f("a.pdf", textPdf(["Invoice No: A-1", "Total: 10.00"]));
		const b = f("b.pdf", minimalPdf(3));
		// a landscape A4 page, its content deflated
		const wide = f("wide.pdf", build([...page("0 0 842 595"), stream("/Filter /FlateDecode", deflateSync("BT /F1 12 Tf 72 500 Td (wide) Tj ET"))]));
		const merged = path.join(dir, "merged.pdf");
		execFileSync("qpdf", ["--empty", "--pages", a, b, wide, "--", merged]);
		const objStreams = path.join(dir, "objstm.pdf");
		execFileSync("qpdf", ["--object-streams=generate", "--compress-streams=y", merged, objStreams]);
		const linear = path.join(dir, "linear.pdf");
		execFileSync("qpdf", ["--linearize", "--object-streams=generate", merged, linear]);
		// an incremental update: a second xref section whose /Prev points at the first
		const base = readFileSync(a);
		const prev = /startxref\n(\d+)/.exec(base.toString("latin1"))?.[1];
		const upd = "6 0 obj\n<< /Producer (update) >>\nendobj\n";
		const at = base.length + Buffer.byteLength(upd);
		const incremental = f("incremental.pdf", Buffer.concat([base, Buffer.from(`${upd}xref\n6 1\n${String(base.length).padStart(10, "0")} 00000 n \ntrailer\n<< /Size 7 /Root 1 0 R /Info 6 0 R /Prev ${prev} >>\nstartxref\n${at}\n%%EOF\n`, "latin1")]));
		for (const file of [a, b, wide, merged, objStreams, linear, incremental]) {
			assert.deepEqual(inspectPdf(readFileSync(file), 200), pdfinfo(file), path.basename(file));
		}
		// the qpdf-made ones really use xref and object streams
		assert.match(execFileSync("qpdf", ["--show-xref", objStreams]).toString(), /compressed; stream =/);
	});
});

test("doubtful PDFs are left to the tools; a /Count past the limit answers at once", () => {
	withDir((dir) => {
		const content = Buffer.from("BT /F1 12 Tf 72 700 Td (Total: 10.00) Tj ET");
		const good = build([...page(), stream("/Filter /FlateDecode", deflateSync(content))]);
		assert.deepEqual(inspectPdf(good, 200), { pages: 1, maxPagePt: { width: 612, height: 792 } });
		// truncated, garbage after the end, no header at byte 0
		assert.equal(inspectPdf(good.subarray(0, good.length - 40), 200), null);
		assert.equal(inspectPdf(good.subarray(0, Math.floor(good.length / 2)), 200), null);
		assert.equal(inspectPdf(Buffer.concat([Buffer.from("junk\n"), good]), 200), null);
		// an object that is not the one its offset names
		assert.equal(inspectPdf(Buffer.from(good.toString("latin1").replace("3 0 obj", "9 0 obj"), "latin1"), 200), null);
		// a Flate stream that does not inflate, the structure otherwise sound
		assert.equal(inspectPdf(build([...page(), stream("/Filter /FlateDecode", content)]), 200), null);
		// a filter not decoded here, a stream /Length that runs past endstream, a page without a MediaBox
		assert.equal(inspectPdf(build([...page(), stream("/Filter /LZWDecode", content)]), 200), null);
		assert.equal(inspectPdf(build([...page(), Buffer.from(`<< /Length ${content.length + 5} >>\nstream\n${content}\nendstream`)]), 200), null);
		assert.equal(inspectPdf(build([page()[0], page()[1], Buffer.from("<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>"), stream("", content)]), 200), null);
		// a /Count that lies about its leaves
		assert.equal(inspectPdf(build([page()[0], Buffer.from("<< /Type /Pages /Kids [3 0 R] /Count 2 >>"), page()[2], stream("", content)]), 200), null);
		// encrypted (owner-only or user password): qpdf decides
		const g = path.join(dir, "good.pdf");
		writeFileSync(g, good);
		execFileSync("qpdf", ["--encrypt", "", "owner", "256", "--", g, path.join(dir, "enc.pdf")]);
		assert.equal(inspectPdf(readFileSync(path.join(dir, "enc.pdf")), 200), null);
		// a page bomb: its /Count, before any object is read
		assert.deepEqual(inspectPdf(minimalPdf(3000), 200), { pages: 3000 });
	});
});

/**
 * TIFF scans without a broker: every frame is a page. The chain of directories is followed wherever it lies (libtiff
 * writes it after the image data, past any head we read), each frame is held to the pixel limits and their number to
 * the page limit, a looping chain is corrupt, and the frames are OCRed as pages of their own.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { checkFile, IntakeCheckError, tiffFrames } from "../../../lib/intake/checks.ts";
import { readPages } from "../../../lib/intake/read/pages.ts";
import { Pool } from "../../../lib/intake/run.ts";
import { MAX_INSPECT_BYTES } from "../../../lib/intake/pdf-structure.ts";
import { greyTiff, scannedFrame } from "../../helpers/intake-corpus.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "paperwork-tiff-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const limits = { maxPages: 3, maxPixels: 40e6, maxSidePx: 20_000, timeoutMs: 30_000 };

function write(name: string, bytes: Buffer): string {
	const file = path.join(dir, name);
	writeFileSync(file, bytes);
	return file;
}

async function refusal(file: string): Promise<IntakeCheckError> {
	const err = await checkFile(file, statSync(file).size, limits).then(
		() => null,
		(e: unknown) => e
	);
	assert.ok(err instanceof IntakeCheckError, `refused: ${String(err)}`);
	return err;
}

test("a TIFF's frames are read from its chain of directories, even when they lie after megabytes of image data", async () => {
	const big = { width: 1700, height: 1500, data: Buffer.alloc(1700 * 1500, 255) };
	const bytes = greyTiff([big, { ...big }, { width: 800, height: 600, data: Buffer.alloc(800 * 600, 255) }]);
	assert.ok(bytes.length > MAX_INSPECT_BYTES, "larger than what is read whole: the directories are read where they are");
	const frames = await tiffFrames(async (o, n) => bytes.subarray(o, o + n), bytes.length, 10);
	assert.deepEqual(frames, [{ width: 1700, height: 1500 }, { width: 1700, height: 1500 }, { width: 800, height: 600 }]);
	const checked = await checkFile(write("three.tif", bytes), bytes.length, limits);
	assert.equal(checked.kind, "tiff");
	assert.equal(checked.pages, 3);
	assert.deepEqual([checked.width, checked.height], [1700, 1500]);
});

test("every frame is held to the limits: a huge second frame, more frames than pages allowed, and a looping chain are refused", async () => {
	const small = { width: 100, height: 100, data: Buffer.alloc(100 * 100, 255) };
	const huge = await refusal(write("huge-second.tif", greyTiff([small, { width: 50_000, height: 200 }])));
	assert.equal(huge.code, "image_too_large");
	assert.match(huge.message, /50000 x 200 pixels/);
	const many = await refusal(write("many.tif", greyTiff([small, small, small, small, small])));
	assert.equal(many.code, "too_many_pages");
	assert.match(many.message, /TIFF has 4 pages; the limit is 3/, "counting stops one past the limit");
	const loop = await refusal(write("loop.tif", greyTiff([small, small], { loop: true })));
	assert.equal(loop.code, "corrupt");
	const cut = greyTiff([small, small]);
	const truncated = await refusal(write("truncated.tif", cut.subarray(0, cut.length - 100)));
	assert.equal(truncated.code, "corrupt");
});

test("a two-frame scan is read as two pages, each with its own text and OCR confidence", async () => {
	const first = scannedFrame(dir, ["INVOICE NUMBER MX-4711", "Frame one of the scan"]);
	const second = scannedFrame(dir, ["TOTAL DUE 12,500.00", "Frame two of the scan"]);
	const file = write("scan.tif", greyTiff([first, second]));
	const checked = await checkFile(file, statSync(file).size, { ...limits, maxPixels: 60e6 });
	assert.equal(checked.pages, 2);
	const read = await readPages({ file: async () => file }, checked, { pool: new Pool(1), langs: "eng", timeoutMs: 60_000, maxPixels: 60e6 });
	assert.equal(read.pages.length, 2);
	assert.deepEqual(read.pages.map((p) => [p.n, p.source]), [[1, "ocr"], [2, "ocr"]]);
	assert.match(read.texts[0] ?? "", /MX-4711/);
	assert.doesNotMatch(read.texts[0] ?? "", /12,500/);
	assert.match(read.texts[1] ?? "", /12,500\.00/);
	for (const p of read.pages) assert.ok((p.confidence ?? 0) > 50, `page ${p.n} confidence ${p.confidence}`);
});

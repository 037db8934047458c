/**
 * Intake's checks without a broker: type by bytes, image sizes from headers (PNG, JPEG, TIFF), PDF checks with
 * qpdf/pdfinfo, the size cap while spooling, link fetching that refuses internal addresses, Tesseract's TSV, the
 * resolution bound for huge pages, and the process pool.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { checkFile, imageSize, sniffKind, tiffFrames, IntakeCheckError } from "../../../lib/intake/checks.ts";
import { spool, TooLargeError } from "../../../lib/intake/receive.ts";
import { fetchUrl, isPrivateAddress } from "../../../lib/intake/fetch-url.ts";
import { parseTsv, dpiFor, meaningfulChars } from "../../../lib/intake/read/pages.ts";
import { Pool, run } from "../../../lib/intake/run.ts";
import { backoff } from "../../../lib/intake/notify.ts";
import { minimalPdf, whitePng } from "../../helpers/intake-corpus.ts";

const limits = { maxPages: 10, maxPixels: 60e6, maxSidePx: 20000, timeoutMs: 30000 };

function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
	const dir = mkdtempSync(path.join(os.tmpdir(), "paperwork-intake-test-"));
	return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

async function refusal(p: Promise<unknown>): Promise<{ status: number; code: string }> {
	try {
		await p;
	} catch (err) {
		assert.ok(err instanceof IntakeCheckError, String(err));
		return { status: err.status, code: err.code };
	}
	assert.fail("expected a refusal");
}

test("the type comes from the bytes; image sizes from their headers (PNG, JPEG, TIFF)", async () => {
	await withDir(async (dir) => {
		const pdf = path.join(dir, "a.pdf");
		writeFileSync(pdf, minimalPdf(1));
		assert.equal(sniffKind(readFileSync(pdf)), "pdf");
		assert.equal(sniffKind(Buffer.from("junk before %PDF-1.7 header")), "pdf");
		assert.equal(sniffKind(Buffer.from("hello")), null);
		const png = whitePng(321, 123);
		assert.equal(sniffKind(png), "png");
		assert.deepEqual(imageSize("png", png), { width: 321, height: 123 });
		execFileSync("pdftoppm", ["-r", "20", "-jpeg", "-singlefile", pdf, path.join(dir, "p")]);
		execFileSync("pdftoppm", ["-r", "20", "-tiff", "-singlefile", pdf, path.join(dir, "p")]);
		const jpg = readFileSync(path.join(dir, "p.jpg"));
		const tif = readFileSync(path.join(dir, "p.tif"));
		assert.equal(sniffKind(jpg), "jpeg");
		assert.equal(sniffKind(tif), "tiff");
		// 612 x 792 pt at 20 dpi
		assert.deepEqual(imageSize("jpeg", jpg), { width: 170, height: 220 });
		assert.deepEqual(await tiffFrames(async (o, n) => tif.subarray(o, o + n), tif.length, 10), [{ width: 170, height: 220 }], "libtiff's own file");
	});
});

test("PDF checks: pages, the largest page, owner-only encryption read, user password, truncation, page limit, huge images", async () => {
	await withDir(async (dir) => {
		const f = (name: string, bytes: Buffer) => {
			writeFileSync(path.join(dir, name), bytes);
			return path.join(dir, name);
		};
		const three = f("three.pdf", minimalPdf(3));
		assert.deepEqual(await checkFile(three, readFileSync(three).length, limits), { kind: "pdf", mime: "application/pdf", pages: 3, maxPagePt: { width: 612, height: 792 } });
		execFileSync("qpdf", ["--encrypt", "", "owner", "256", "--", three, path.join(dir, "owner.pdf")]);
		execFileSync("qpdf", ["--encrypt", "user", "owner", "256", "--", three, path.join(dir, "user.pdf")]);
		assert.equal((await checkFile(path.join(dir, "owner.pdf"), 1, limits)).encryption, "owner");
		assert.deepEqual(await refusal(checkFile(path.join(dir, "user.pdf"), 1, limits)), { status: 400, code: "password-protected" });
		const bytes = readFileSync(three);
		assert.deepEqual(await refusal(checkFile(f("cut.pdf", bytes.subarray(0, bytes.length - 200)), 1, limits)), { status: 400, code: "corrupt" });
		assert.deepEqual(await refusal(checkFile(f("head.pdf", Buffer.from("%PDF-1.4\n")), 1, limits)), { status: 400, code: "corrupt" });
		assert.deepEqual(await refusal(checkFile(f("many.pdf", minimalPdf(11)), 1, limits)), { status: 400, code: "too_many_pages" });
		assert.deepEqual(await refusal(checkFile(f("zero.pdf", Buffer.alloc(0)), 0, limits)), { status: 400, code: "empty" });
		assert.deepEqual(await refusal(checkFile(f("t.txt", Buffer.from("text")), 4, limits)), { status: 415, code: "unsupported_type" });
		assert.deepEqual(await refusal(checkFile(f("wide.png", whitePng(50_000, 1)), 1, limits)), { status: 400, code: "image_too_large" });
		assert.deepEqual(await refusal(checkFile(f("big.png", whitePng(9000, 9000)), 1, limits)), { status: 400, code: "image_too_large" }, "81 megapixels");
		assert.deepEqual(await refusal(checkFile(f("bad.png", whitePng(10, 10).subarray(0, 12)), 1, limits)), { status: 400, code: "corrupt" });
	});
});

test("spooling cuts an oversized body off while it streams (413) and removes the partial file", async () => {
	let produced = 0;
	const endless = new Readable({
		read() {
			produced += 65536;
			this.push(Buffer.alloc(65536));
		}
	});
	await assert.rejects(spool(endless, 1024 * 1024), TooLargeError);
	assert.ok(produced < 4 * 1024 * 1024, `stopped reading early (${produced} bytes read)`);
	const s = await spool(Readable.from([Buffer.from("%PDF-"), Buffer.from("1.4")]), 1024);
	assert.equal(s.size, 8);
	assert.equal(s.sha256, createHash("sha256").update("%PDF-1.4").digest("hex"));
	assert.equal(readFileSync(s.file, "utf8"), "%PDF-1.4");
	await s.cleanup();
});

test("links to loopback, private, link-local and mapped addresses are refused (also by name, after DNS) unless allowed", async () => {
	for (const a of ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1"]) assert.ok(isPrivateAddress(a), a);
	for (const a of ["8.8.8.8", "1.1.1.1", "2606:4700::1111"]) assert.ok(!isPrivateAddress(a), a);
	let hits = 0;
	const server = createServer((req, res) => {
		hits++;
		if (req.url === "/redirect") res.writeHead(302, { Location: "http://localhost:1/x" }).end();
		else res.writeHead(200, { "Content-Type": "application/pdf" }).end(minimalPdf(1));
	});
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	const port = (server.address() as { port: number }).port;
	try {
		const opts = { allowPrivate: false, timeoutMs: 5000 };
		for (const url of [`http://127.0.0.1:${port}/a.pdf`, `http://localhost:${port}/a.pdf`, `http://[::1]:${port}/`, "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/"]) {
			assert.deepEqual(await refusal(fetchUrl(url, opts)), { status: 400, code: "url_refused" }, url);
		}
		assert.equal(hits, 0, "nothing was fetched");
		assert.deepEqual(await refusal(fetchUrl("file:///etc/passwd", opts)), { status: 400, code: "bad_url" });
		assert.deepEqual(await refusal(fetchUrl("http://user:pw@example.com/", opts)), { status: 400, code: "bad_url" });
		// allowed (tests, closed networks): fetched; a redirect's target is checked again (here: refused port 1)
		const ok = await fetchUrl(`http://127.0.0.1:${port}/a.pdf`, { allowPrivate: true, timeoutMs: 5000 });
		const chunks: Buffer[] = [];
		for await (const c of ok.body) chunks.push(c as Buffer);
		assert.deepEqual(Buffer.concat(chunks), minimalPdf(1));
		assert.equal(ok.filename, "a.pdf");
		assert.deepEqual(await refusal(fetchUrl(`http://127.0.0.1:${port}/redirect`, { allowPrivate: true, timeoutMs: 5000 })), { status: 400, code: "url_unreachable" });
	} finally {
		await new Promise<void>((r) => server.close(() => r()));
	}
});

test("Tesseract TSV: lines in order, blank lines between blocks, mean word confidence", () => {
	const row = (block: number, line: number, word: number, conf: number, text: string) => `5\t1\t${block}\t1\t${line}\t${word}\t0\t0\t10\t10\t${conf}\t${text}`;
	const tsv = ["level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext", "1\t1\t0\t0\t0\t0\t0\t0\t100\t100\t-1\t", row(1, 1, 1, 90, "Invoice"), row(1, 1, 2, 80, "No"), row(1, 2, 1, 70, "GT-0098"), row(2, 1, 1, 100, "कुल"), row(2, 1, 2, -1, "")].join("\n");
	assert.deepEqual(parseTsv(tsv), { text: "Invoice No\nGT-0098\n\nकुल", confidence: 85 });
	assert.deepEqual(parseTsv("level\n"), { text: "" });
	assert.equal(meaningfulChars("  -- 12 ab\n"), 4);
});

test("a huge page is rasterised at a lower resolution so it stays within the pixel limit", () => {
	assert.equal(dpiFor({ maxPagePt: { width: 595, height: 842 } }, 60e6), 300);
	const dpi = dpiFor({ maxPagePt: { width: 14400, height: 14400 } }, 60e6);
	assert.ok(dpi < 300 && (200 * dpi) ** 2 <= 60e6, `${dpi} dpi`);
	assert.equal(dpiFor({}, 60e6), 300);
});

test("the pool runs at most its size at once; a process over its time limit is killed", async () => {
	const pool = new Pool(2);
	let now = 0;
	let peak = 0;
	await Promise.all(
		Array.from({ length: 7 }, () =>
			pool.run(async () => {
				peak = Math.max(peak, ++now);
				await new Promise((r) => setTimeout(r, 10));
				now--;
			})
		)
	);
	assert.equal(peak, 2);
	const r = await run("sleep", ["5"], { timeoutMs: 100 });
	assert.deepEqual([r.code, r.killed], [null, "timeout"]);
	const big = await run("head", ["-c", "100000", "/dev/zero"], { timeoutMs: 5000, maxOutput: 1000 });
	assert.equal(big.killed, "output");
	for (let n = 0; n < 10; n++) assert.ok(backoff(n, 200) < Math.min(30_000, 200 * 2 ** n));
	assert.equal(backoff(3, 200, 30_000, () => 0.5), 800);
});

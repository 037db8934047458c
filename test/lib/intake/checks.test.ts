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
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { checkFile, imageSize, sniffKind, tiffFrames, IntakeCheckError } from "../../../lib/intake/checks.ts";
import { spool, TooLargeError } from "../../../lib/intake/receive.ts";
import { addressBlock, fetchUrl, isPrivateAddress } from "../../../lib/intake/fetch-url.ts";
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
	assert.equal(s.bytes?.toString("utf8"), "%PDF-1.4", "a small body stays in memory");
	const written = await s.path();
	assert.equal(readFileSync(written, "utf8"), "%PDF-1.4", "and is written to a file when a tool needs one");
	await s.cleanup();
	assert.equal(existsSync(written), false, "its file is removed");
});

test("a body past what memory keeps spills to a temporary file as it streams: same bytes, same hash, removed after", async () => {
	const parts = Array.from({ length: 40 }, (_, i) => Buffer.alloc(32 * 1024, i));
	const all = Buffer.concat(parts);
	const s = await spool(Readable.from(parts), 4 * 1024 * 1024, 256 * 1024);
	assert.equal(s.bytes, undefined, "not held in memory");
	assert.equal(s.size, all.length);
	assert.equal(s.sha256, createHash("sha256").update(all).digest("hex"));
	const file = await s.path();
	assert.deepEqual(readFileSync(file), all);
	const streamed: Buffer[] = [];
	for await (const c of s.stream()) streamed.push(c as Buffer);
	assert.deepEqual(Buffer.concat(streamed), all);
	await s.cleanup();
	assert.equal(existsSync(file), false);
	// cut off past the limit after it spilled: the partial file goes too
	const tmp = mkdtempSync(path.join(os.tmpdir(), "spool-test-"));
	try {
		await assert.rejects(spool(Readable.from(parts), 600 * 1024, 256 * 1024, tmp), TooLargeError);
		assert.deepEqual(readdirSync(tmp), [], "no temporary folder left");
	} finally {
		rmSync(tmp, { recursive: true, force: true });
	}
});

test("links to loopback, private, link-local and mapped addresses are refused (also by name, after DNS) unless allowed", async () => {
	for (const a of ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1"]) assert.ok(isPrivateAddress(a), a);
	for (const a of ["8.8.8.8", "1.1.1.1", "2606:4700::1111"]) assert.ok(!isPrivateAddress(a), a);
	let hits = 0;
	const server = createServer((_req, res) => {
		hits++;
		res.writeHead(200, { "Content-Type": "application/pdf" }).end(minimalPdf(1));
	});
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	const port = (server.address() as { port: number }).port;
	try {
		const opts = { allowPrivate: false, timeoutMs: 5000 };
		for (const url of [`http://127.0.0.1:${port}/a.pdf`, `http://localhost:${port}/a.pdf`, `http://[::1]:${port}/`, `http://[::ffff:127.0.0.1]:${port}/`, `http://[2002:7f00:1::1]:${port}/`, "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/"]) {
			assert.deepEqual(await refusal(fetchUrl(url, opts)), { status: 400, code: "url_refused" }, url);
		}
		assert.equal(hits, 0, "nothing was fetched");
		assert.deepEqual(await refusal(fetchUrl("file:///etc/passwd", opts)), { status: 400, code: "bad_url" });
		assert.deepEqual(await refusal(fetchUrl("http://user:pw@example.com/", opts)), { status: 400, code: "bad_url" });
		// allowed (tests, closed networks): fetched
		const ok = await fetchUrl(`http://127.0.0.1:${port}/a.pdf`, { allowPrivate: true, timeoutMs: 5000 });
		assert.deepEqual(await body(ok.body), minimalPdf(1));
		assert.equal(ok.filename, "a.pdf");
	} finally {
		await new Promise<void>((r) => server.close(() => r()));
	}
});

test("IANA's special-purpose ranges are refused; IPv6 forms carrying an IPv4 address are judged by that address", () => {
	const refused: [string, RegExp][] = [
		["0.1.2.3", /this network/],
		["192.0.0.8", /IETF/],
		["192.0.2.10", /documentation/],
		["198.51.100.7", /documentation/],
		["203.0.113.9", /documentation/],
		["192.88.99.1", /6to4 relay/],
		["198.19.255.1", /benchmarking/],
		["224.0.0.251", /multicast/],
		["239.255.255.250", /multicast/],
		["255.255.255.255", /broadcast/],
		["240.0.0.1", /reserved/],
		["::", /unspecified/],
		["::7f00:1", /IPv4-compatible/],
		["::8.8.8.8", /IPv4-compatible/],
		["::ffff:7f00:1", /IPv4-mapped form of 127\.0\.0\.1: loopback/],
		["::ffff:10.0.0.1", /IPv4-mapped form of 10\.0\.0\.1: private/],
		["2002:c0a8:0101::1", /6to4 form of 192\.168\.1\.1: private/],
		["2002:a9fe:a9fe::", /6to4 form of 169\.254\.169\.254: link-local/],
		["64:ff9b::7f00:1", /NAT64 form of 127\.0\.0\.1: loopback/],
		["64:ff9b::192.168.0.1", /NAT64 form of 192\.168\.0\.1/],
		["64:ff9b:1::a00:1", /local-use/],
		["100::1", /discard-only/],
		["2001:0:4136:e378::1", /Teredo/],
		["2001:2::1", /benchmarking/],
		["2001:db8::1", /documentation/],
		["3fff::1", /documentation/],
		["fc00::1", /unique-local/],
		["fe80::1%eth0", /link-local/],
		["fec0::1", /site-local/],
		["feff::1", /site-local/],
		["ff02::1", /multicast/],
		["5f00::1", /outside 2000::\/3/],
		["4000::1", /outside 2000::\/3/],
		["example.com", /not an IP address/]
	];
	for (const [a, why] of refused) assert.match(String(addressBlock(a)), why, a);
	// public: the same forms around public IPv4 addresses are reachable through them
	for (const a of ["93.184.215.14", "100.128.0.1", "198.20.0.1", "223.255.255.255", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:0808:0808::1", "2a00:1450:4001:80b::200e"]) assert.equal(addressBlock(a), null, a);
});

/** A local server answering `handler`, on `host` (port 0: a free one); closed with every connection. */
async function serve(host: string, port: number, handler: Parameters<typeof createServer>[1]): Promise<{ port: number; close(): Promise<void> }> {
	const server = createServer(handler);
	await new Promise<void>((r, j) => server.once("error", j).listen(port, host, () => r()));
	return {
		port: (server.address() as { port: number }).port,
		close: () =>
			new Promise<void>((r) => {
				server.closeAllConnections();
				server.close(() => r());
			})
	};
}

async function body(stream: NodeJS.ReadableStream): Promise<Buffer> {
	const chunks: Buffer[] = [];
	for await (const c of stream) chunks.push(c as Buffer);
	return Buffer.concat(chunks);
}

test("a redirect to a private address is refused when private links are refused: the reason is given and no request reaches the target", async () => {
	const secret: string[] = [];
	const target = await serve("127.0.0.1", 0, (req, res) => {
		secret.push(req.url ?? "");
		res.writeHead(200, { "Content-Type": "application/pdf" }).end(minimalPdf(1));
	});
	// the "public" document server: on 127.0.0.2, let through by allowAddresses as a public host would be
	const redirector = await serve("127.0.0.2", 0, (req, res) => {
		const to = { "/to-ip": `http://127.0.0.1:${target.port}/secret`, "/to-name": `http://internal.test:${target.port}/secret`, "/to-mapped": `http://[::ffff:127.0.0.1]:${target.port}/secret` }[req.url ?? ""];
		res.writeHead(302, { Location: to ?? "/" }).end();
	});
	const lookup = async (host: string) => (host === "internal.test" ? [{ address: "127.0.0.1", family: 4 }] : []);
	const refusedOpts = { allowPrivate: false, timeoutMs: 5000, lookup, allowAddresses: ["127.0.0.2"] };
	try {
		const cases: [string, RegExp][] = [
			["/to-ip", /^the link redirects to 127\.0\.0\.1: loopback, 127\.0\.0\.0\/8; only public addresses are fetched$/],
			["/to-name", /^the link redirects to internal\.test \(127\.0\.0\.1\): loopback/],
			["/to-mapped", /^the link redirects to ::ffff:7f00:1: IPv4-mapped form of 127\.0\.0\.1: loopback/]
		];
		for (const [path, message] of cases) {
			const err = await fetchUrl(`http://127.0.0.2:${redirector.port}${path}`, refusedOpts).then(
				() => assert.fail(`${path} was fetched`),
				(e: unknown) => e
			);
			assert.ok(err instanceof IntakeCheckError, String(err));
			assert.deepEqual([err.status, err.code], [400, "url_refused"], path);
			assert.match(err.message, message, path);
		}
		assert.deepEqual(secret, [], "no request reached the private target");
		// the same redirect is followed when private links are allowed: the refusal above was the guard's
		const ok = await fetchUrl(`http://127.0.0.2:${redirector.port}/to-ip`, { allowPrivate: true, timeoutMs: 5000 });
		assert.deepEqual(await body(ok.body), minimalPdf(1));
		assert.deepEqual(secret, ["/secret"]);
	} finally {
		await target.close();
		await redirector.close();
	}
});

test("DNS rebinding: the connection goes to the address that was checked, whatever a second lookup would answer", async () => {
	const good = await serve("127.0.0.1", 0, (_req, res) => res.writeHead(200, { "Content-Type": "application/pdf" }).end(minimalPdf(1)));
	let rebound = 0;
	// the same port on another loopback address: where a second DNS answer would send the connection
	const evil = await serve("127.0.0.2", good.port, (_req, res) => {
		rebound++;
		res.writeHead(200).end("internal");
	});
	let lookups = 0;
	const lookup = async () => (lookups++ === 0 ? [{ address: "127.0.0.1", family: 4 }] : [{ address: "127.0.0.2", family: 4 }]);
	try {
		const got = await fetchUrl(`http://docs.rebind.test:${good.port}/a.pdf`, { allowPrivate: true, timeoutMs: 5000, lookup });
		assert.deepEqual(await body(got.body), minimalPdf(1));
		assert.equal(lookups, 1, "the host is resolved once");
		assert.equal(rebound, 0, "nothing reached the second answer's address");
		// one private address among a name's answers refuses the link, before any connection
		const mixed = async () => [{ address: "93.184.215.14", family: 4 }, { address: "127.0.0.1", family: 4 }];
		assert.deepEqual(await refusal(fetchUrl(`http://docs.rebind.test:${good.port}/a.pdf`, { allowPrivate: false, timeoutMs: 5000, lookup: mixed })), { status: 400, code: "url_refused" });
	} finally {
		await good.close();
		await evil.close();
	}
});

test("a link that does not answer, or stops sending, within the time limit is url_timeout", async () => {
	const server = await serve("127.0.0.1", 0, (req, res) => {
		if (req.url === "/stall") {
			res.writeHead(200, { "Content-Type": "application/pdf", "Content-Length": "100000" });
			res.write(minimalPdf(1));
		}
		// "/hang": no answer at all
	});
	const opts = { allowPrivate: true, timeoutMs: 300 };
	try {
		const started = Date.now();
		assert.deepEqual(await refusal(fetchUrl(`http://127.0.0.1:${server.port}/hang`, opts)), { status: 400, code: "url_timeout" });
		assert.ok(Date.now() - started < 3000, "given up at the limit");
		const got = await fetchUrl(`http://127.0.0.1:${server.port}/stall`, opts);
		assert.deepEqual(await refusal(body(got.body)), { status: 400, code: "url_timeout" });
	} finally {
		await server.close();
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

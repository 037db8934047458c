/**
 * The long-lived text-layer readers (lib/intake/read/text-layer.ts over build/pdf-text): every page of the corpus
 * (English, Hindi, Portuguese, owner-encrypted, 3,000 pages) reads exactly as `pdftotext -layout` prints it; what
 * poppler cannot open is refused with a reason and readPages then reads it as pdftotext does; a reader that hangs is
 * killed at the time limit and replaced; one that dies answers "crashed", and a program that cannot start or keeps
 * dying before its first answer is "unavailable" (pdftotext reads instead); no more workers than asked for run, and
 * close() ends them.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PDF_TEXT_BINARY, TextLayerReader, parseAnswer } from "../../../lib/intake/read/text-layer.ts";
import { readPages } from "../../../lib/intake/read/pages.ts";
import { checkFile } from "../../../lib/intake/checks.ts";
import { Pool } from "../../../lib/intake/run.ts";
import { buildCorpus, type Corpus } from "../../helpers/intake-corpus.ts";

let dir: string;
let corpus: Corpus;

before(async () => {
	dir = mkdtempSync(path.join(os.tmpdir(), "paperwork-text-layer-test-"));
	corpus = await buildCorpus(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const alive = (pid: number) => {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
};

/** a stand-in program: a shell script */
function script(name: string, body: string): string {
	const file = path.join(dir, name);
	writeFileSync(file, `#!/bin/sh\n${body}\n`);
	chmodSync(file, 0o755);
	return file;
}

test("every page reads exactly as pdftotext -layout prints it", async () => {
	const reader = new TextLayerReader({ binary: PDF_TEXT_BINARY, size: 2 });
	try {
		const files = [...Object.values(corpus.pdf), corpus.hostile.ownerOnly, corpus.hostile.manyPages];
		const outcomes = await Promise.all(files.map((f) => reader.read(readFileSync(f), 60_000)));
		for (const [i, f] of files.entries()) {
			const cli = execFileSync("pdftotext", ["-layout", "-enc", "UTF-8", f, "-"], { maxBuffer: 64 * 1024 * 1024 }).toString("utf8").split("\f");
			const o = outcomes[i];
			assert.ok(o.ok, `${path.basename(f)}: ${JSON.stringify(o)}`);
			assert.deepEqual(o.pages, cli.slice(0, o.pages.length), path.basename(f));
			// pdftotext ends its output with a form feed after the last page
			assert.equal(cli.length, o.pages.length + 1, path.basename(f));
		}
		assert.ok(outcomes.some((o) => o.ok && o.pages.join("").includes("गंगा ट्रेडर्स")), "the Hindi invoice's words");
		assert.ok(reader.pids.length <= 2, `${reader.pids.length} workers for a reader of 2`);
	} finally {
		reader.close();
	}
});

test("a file poppler cannot open is refused with a reason; readPages then reads it as pdftotext does", async () => {
	const reader = new TextLayerReader({ binary: PDF_TEXT_BINARY, size: 1 });
	try {
		for (const f of [corpus.hostile.truncated, corpus.hostile.pngAsPdf, corpus.hostile.userPassword]) {
			const o = await reader.read(readFileSync(f), 30_000);
			assert.equal(o.ok, false, path.basename(f));
			assert.equal(!o.ok && o.reason, "refused", path.basename(f));
			assert.ok(!o.ok && o.detail && o.detail.length > 0);
		}
		// the same worker goes on reading
		const pid = reader.pids[0];
		const ok = await reader.read(readFileSync(Object.values(corpus.pdf)[0]), 30_000);
		assert.ok(ok.ok);
		assert.deepEqual(reader.pids, [pid]);
		// readPages: the text layer of a PDF it opens from the reader, identical to pdftotext's
		const file = Object.values(corpus.pdf)[0];
		const bytes = readFileSync(file);
		const checked = await checkFile(file, bytes.length, { maxPages: 10, maxPixels: 60e6, maxSidePx: 20000, timeoutMs: 30_000 });
		const opts = { pool: new Pool(1), langs: "eng", timeoutMs: 60_000, maxPixels: 60e6 };
		const original = { bytes, file: async () => file };
		const via = await readPages(original, checked, { ...opts, textLayer: reader });
		const cli = await readPages(original, checked, opts);
		assert.equal(via.layer, "pdf-text");
		assert.equal(cli.layer, "pdftotext");
		assert.deepEqual({ ...via, layer: "" }, { ...cli, layer: "" });
		// and where the reader cannot help (not built), pdftotext reads as before
		const missing = new TextLayerReader({ binary: path.join(dir, "no-such-program"), size: 1 });
		assert.match(missing.unavailable ?? "", /not built/);
		assert.deepEqual(await readPages(original, checked, { ...opts, textLayer: missing }), cli);
	} finally {
		reader.close();
	}
});

test("a reader that hangs is killed at the time limit; the next read starts another", async () => {
	const hang = script("hang.sh", "sleep 30");
	const reader = new TextLayerReader({ binary: hang, size: 1 });
	const o = await reader.read(Buffer.from("%PDF-1.4"), 200);
	assert.deepEqual(o, { ok: false, reason: "timeout" });
	const [first] = reader.pids.length ? reader.pids : [0];
	// killed: gone within a moment, and replaced by the next read
	for (let i = 0; i < 50 && reader.pids.length; i++) await sleep(20);
	assert.equal(reader.pids.length, 0);
	if (first) assert.equal(alive(first), false);
	const again = await reader.read(Buffer.from("%PDF-1.4"), 200);
	assert.equal(!again.ok && again.reason, "timeout");
	assert.equal(reader.unavailable, undefined, "a timeout is the file's, not the program's");
	for (let i = 0; i < 50 && reader.pids.length; i++) await sleep(20);
});

test("a reader that dies answers crashed; one that keeps dying before any answer, or cannot start, is unavailable", async () => {
	const dies = new TextLayerReader({ binary: script("dies.sh", "exit 7"), size: 1 });
	const outcomes = [];
	for (let i = 0; i < 4; i++) outcomes.push(await dies.read(Buffer.from("%PDF-1.4"), 5_000));
	assert.deepEqual(
		outcomes.map((o) => !o.ok && o.reason),
		["crashed", "crashed", "crashed", "unavailable"]
	);
	assert.match(dies.unavailable ?? "", /dies before answering/);
	const notExecutable = path.join(dir, "not-executable");
	writeFileSync(notExecutable, "");
	const cannot = new TextLayerReader({ binary: notExecutable, size: 1 });
	const o = await cannot.read(Buffer.from("%PDF-1.4"), 5_000);
	assert.equal(!o.ok && o.reason, "crashed");
	assert.match(cannot.unavailable ?? "", /cannot start pdf-text: EACCES/);
	assert.equal(!(await cannot.read(Buffer.from("%PDF-1.4"), 5_000)).ok, true);
});

test("no more workers than its size; close() ends them", async () => {
	const reader = new TextLayerReader({ binary: PDF_TEXT_BINARY, size: 2 });
	const pdf = readFileSync(Object.values(corpus.pdf)[0]);
	const outcomes = await Promise.all(Array.from({ length: 9 }, () => reader.read(pdf, 30_000)));
	assert.ok(outcomes.every((o) => o.ok && o.pages.length > 0));
	const pids = reader.pids;
	assert.equal(pids.length, 2);
	reader.close();
	for (let i = 0; i < 100 && pids.some(alive); i++) await sleep(20);
	assert.deepEqual(pids.filter(alive), []);
});

test("an answer's body: pages, or a reason; a body that does not add up is not taken for text", () => {
	const text = Buffer.from("Total: ₹ 1,23,456.00");
	assert.deepEqual(parseAnswer(Buffer.concat([u32(0), u32(2), u32(text.length), text, u32(0)])), { ok: true, pages: ["Total: ₹ 1,23,456.00", ""] });
	const reason = Buffer.from("not a readable PDF");
	assert.deepEqual(parseAnswer(Buffer.concat([u32(1), u32(reason.length), reason])), { ok: false, reason: "refused", detail: "not a readable PDF" });
	for (const bad of [Buffer.alloc(0), Buffer.concat([u32(0), u32(3), u32(2), Buffer.from("ab")]), Buffer.concat([u32(0), u32(1), u32(99), text]), Buffer.concat([u32(7), u32(0)])]) {
		assert.equal(parseAnswer(bad).ok, false);
	}
});

test("a garbled answer ends its worker; the next read starts another", async () => {
	const garbled = path.join(dir, "garbled.bin");
	writeFileSync(garbled, Buffer.concat([u32(8), u32(0), u32(5)]));
	const reader = new TextLayerReader({ binary: script("garbled.sh", `while head -c 12 >/dev/null; do cat ${garbled}; done`), size: 1 });
	const first = await reader.read(Buffer.from("%PDF-1.4"), 5_000);
	assert.equal(!first.ok && first.reason, "crashed");
	const [pid] = reader.pids;
	for (let i = 0; i < 100 && (reader.pids.length || (pid && alive(pid))); i++) await sleep(20);
	assert.deepEqual(reader.pids, []);
	const second = await reader.read(Buffer.from("%PDF-1.4"), 5_000);
	assert.equal(!second.ok && second.reason, "crashed");
	assert.equal(reader.unavailable, undefined);
	for (const p of reader.pids) process.kill(p, "SIGKILL");
});

test("a long text arriving in many pieces is one answer", async () => {
	// a stand-in that sends a 2 MiB page in 4 KiB writes
	const page = "x".repeat(2 * 1024 * 1024);
	const body = Buffer.concat([u32(0), u32(1), u32(page.length), Buffer.from(page)]);
	const answer = path.join(dir, "answer.bin");
	writeFileSync(answer, Buffer.concat([u32(body.length), body]));
	const reader = new TextLayerReader({ binary: script("slow-answer.sh", `head -c 12 >/dev/null; dd if=${answer} bs=4096 status=none; sleep 5`), size: 1 });
	const o = await reader.read(Buffer.from("%PDF-1.4"), 30_000);
	assert.ok(o.ok);
	assert.equal(o.pages[0].length, page.length);
	for (const pid of reader.pids) process.kill(pid, "SIGKILL");
});

function u32(n: number): Buffer {
	const b = Buffer.alloc(4);
	b.writeUInt32LE(n, 0);
	return b;
}

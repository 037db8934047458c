/**
 * The local programs a node's services need (lib/tools.ts): found on PATH or at their configured path, missing with
 * what brings them, Tesseract's OCR languages checked; health turns a missing one into "degraded", never "down".
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { checkTools, findExecutable, parseTesseractLanguages, toolNeeds, toolsState } from "../../lib/tools.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "paperwork-tools-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** an executable shell script in `folder` */
function program(folder: string, name: string, script = "exit 0"): string {
	const file = path.join(folder, name);
	writeFileSync(file, `#!/bin/sh\n${script}\n`);
	chmodSync(file, 0o755);
	return file;
}

const config = (over: { chromiumPath?: string; engine?: "chromium" | "weasyprint"; ocrLangs?: string } = {}) =>
	({ render: { engine: over.engine ?? "chromium", chromiumPath: over.chromiumPath ?? "/nonexistent/chromium" }, intake: { ocrLangs: over.ocrLangs ?? "eng+hin" } }) as unknown as Parameters<typeof checkTools>[1];

test("a program is found at its path or along PATH, only when it is executable", () => {
	const bin = mkdtempSync(path.join(dir, "bin-"));
	const exe = program(bin, "qpdf");
	writeFileSync(path.join(bin, "pdftoppm"), "not executable");
	assert.equal(findExecutable("qpdf", `/nonexistent${path.delimiter}${bin}`), exe);
	assert.equal(findExecutable(exe, ""), exe);
	assert.equal(findExecutable("pdftoppm", bin), undefined);
	assert.equal(findExecutable("qpdf", "/nonexistent"), undefined);
});

test("Tesseract's --list-langs answer is read without its heading", () => {
	assert.deepEqual(parseTesseractLanguages('List of available languages in "/usr/share/tesseract-ocr/5/tessdata/" (3):\neng\nhin\nosd\n'), ["eng", "hin", "osd"]);
});

test("each service needs its own programs; a node with neither needs none", () => {
	assert.deepEqual(toolNeeds(["api", "clients"], config()), []);
	assert.deepEqual(toolNeeds(["renderer"], config()).map((n) => n.tool), ["chromium"]);
	assert.deepEqual(toolNeeds(["renderer"], config({ engine: "weasyprint" })).map((n) => n.tool), ["chromium", "weasyprint"]);
	assert.deepEqual(toolNeeds(["reader"], config()).map((n) => n.tool), ["pdf-text", "pdftoppm", "tesseract", "qpdf"]);
});

test("missing programs and OCR languages are named with what brings them, and make the tools degraded", async () => {
	const bin = mkdtempSync(path.join(dir, "bin-"));
	const chromium = program(bin, "chromium-browser");
	program(bin, "qpdf");
	program(bin, "tesseract", 'printf "List of available languages (2):\\neng\\nosd\\n"');
	const checks = await checkTools(["renderer", "reader"], config({ chromiumPath: chromium, ocrLangs: "eng+hin+mar" }), bin);
	const by = Object.fromEntries(checks.map((c) => [c.tool, c]));
	assert.deepEqual(by.chromium, { tool: "chromium", neededBy: "renderer", state: "up", path: chromium });
	assert.equal(by.qpdf?.state, "up");
	assert.equal(by.pdftoppm?.state, "missing");
	assert.match(by.pdftoppm?.detail ?? "", /pdftoppm not found: apt-get install poppler-utils/);
	assert.equal(by.tesseract?.state, "missing");
	assert.match(by.tesseract?.detail ?? "", /OCR languages not installed: hin, mar \(apt-get install tesseract-ocr-hin tesseract-ocr-mar\)/);
	assert.equal(toolsState(checks), "degraded");
	assert.equal(toolsState(checks.filter((c) => c.state === "up")), "up");
	assert.equal(toolsState([]), undefined);
});

test("a Tesseract with every configured language is up", async () => {
	const bin = mkdtempSync(path.join(dir, "bin-"));
	program(bin, "tesseract", 'printf "List of available languages (3):\\neng\\nguj\\nhin\\n"');
	const [t] = (await checkTools(["reader"], config({ ocrLangs: "eng+guj" }), bin)).filter((c) => c.tool === "tesseract");
	assert.equal(t?.state, "up");
});

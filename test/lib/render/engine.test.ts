import { test } from "node:test";
import assert from "node:assert/strict";
import { countPdfPages, pickEngine, ENGINE_NAMES } from "../../../lib/render/engine.ts";

test("page count from page objects, or from the page tree's /Count when objects are compressed", () => {
	const plain = Buffer.from("%PDF-1.4\n1 0 obj <</Type /Pages /Kids [2 0 R 3 0 R] /Count 2>> endobj\n2 0 obj <</Type /Page /Parent 1 0 R>> endobj\n3 0 obj <</Type/Page/Parent 1 0 R>> endobj\n");
	assert.equal(countPdfPages(plain), 2);
	const compressed = Buffer.from("%PDF-1.7\n1 0 obj <</Type /Pages /Count 7 /Kids [4 0 R]>> endobj\n5 0 obj <</Type /ObjStm /N 7>> stream\nxx\nendstream\n");
	assert.equal(countPdfPages(compressed), 7);
	assert.equal(countPdfPages(Buffer.from("not a pdf")), 0);
});

test("engine choice: the manifest's preference, else the configuration, else chromium", () => {
	assert.deepEqual(ENGINE_NAMES, ["chromium", "weasyprint"]);
	assert.equal(pickEngine("weasyprint", "chromium"), "weasyprint");
	assert.equal(pickEngine(undefined, "weasyprint"), "weasyprint");
	assert.equal(pickEngine(), "chromium");
});

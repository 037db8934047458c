/**
 * Reading a document's pages into text. A PDF's text layer comes, when the PDF is held in memory, from a long-lived
 * pdf-text worker (text-layer.ts: poppler's `pdftotext -layout` output without a process start per document), else
 * from one pdftotext call (pages split on form feeds; the PDF on its stdin when held in memory); only pages without one are rasterised (pdftoppm, grey PGM: PNG encoding would double
 * the cost) and OCRed by Tesseract, one single-threaded process per page (OMP_THREAD_LIMIT=1; letting Tesseract
 * thread is slower) in a pool as large as the cores. Images (PNG, JPEG, TIFF) go to Tesseract directly, a TIFF's
 * frames as its pages (one process, its TSV split by page number). Each page
 * records its source and, when OCRed, Tesseract's mean word confidence from its TSV output.
 *
 * Bounds: the resolution drops below 300 dpi when a page would exceed the pixel limit (a PDF bomb with a huge
 * page), every process has a time limit and an output cap, and an OCR failure fails the page, not the process.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { run, type Pool } from "../run.ts";
import type { CheckedFile } from "../checks.ts";
import type { PageInfo } from "../documents.ts";
import { TEXT_CAP, type TextLayerReader, type TextLayerSource } from "./text-layer.ts";

export interface ReadOptions {
	pool: Pool;
	/** Tesseract languages, Latin script first ("eng+hin") */
	langs: string;
	timeoutMs: number;
	maxPixels: number;
	/** long-lived text-layer readers (text-layer.ts) for a PDF held in memory; without them, or when they cannot read it, pdftotext */
	textLayer?: TextLayerReader;
}

/**
 * The document being read: its bytes when held in memory (a PDF's text layer is then read from stdin, with no
 * temporary file), and its path on disk, made on first need (OCR, images, a large file).
 */
export interface Original {
	bytes?: Buffer;
	file(): Promise<string>;
}

export interface ReadResult {
	pages: PageInfo[];
	/** each page's text, in order */
	texts: string[];
	/** what read a PDF's text layer: the long-lived workers, or pdftotext (no workers, or they could not read it) */
	layer?: TextLayerSource;
}

/** a page with fewer letters and digits than this has no usable text layer */
const MIN_LAYER_CHARS = 16;
const DPI = 300;

/** Letters and digits in a text (what decides whether a text layer is usable). */
export function meaningfulChars(text: string): number {
	return (text.match(/[\p{L}\p{N}]/gu) ?? []).length;
}

/** Reads every page of a checked file. */
export async function readPages(original: Original, checked: CheckedFile, opts: ReadOptions): Promise<ReadResult> {
	if (checked.kind !== "pdf") {
		// one Tesseract for the image; a TIFF's frames are its pages, told apart by the TSV's page numbers
		const file = await original.file();
		const frames = Math.max(1, checked.pages);
		const r = await opts.pool.run(() => ocrImage(file, frames, opts));
		const pages: PageInfo[] = [];
		const texts: string[] = [];
		for (let i = 0; i < frames; i++) {
			const p = r.pages[i] ?? { text: "" };
			pages.push({ n: i + 1, source: r.error ? "none" : "ocr", ...(p.confidence !== undefined ? { confidence: p.confidence } : {}), chars: meaningfulChars(p.text), ...(r.error ? { error: r.error } : {}) });
			texts.push(p.text);
		}
		return { pages, texts };
	}
	const { texts: layerPages, by: layer } = await textLayerPages(original, opts);
	const pages: PageInfo[] = [];
	const texts: string[] = [];
	for (let i = 0; i < checked.pages; i++) {
		const t = layerPages[i] ?? "";
		if (meaningfulChars(t) < MIN_LAYER_CHARS) continue;
		pages[i] = { n: i + 1, source: "layer", chars: meaningfulChars(t) };
		texts[i] = t;
	}
	// a born-digital document ends here: no temporary folder, no file
	if (pages.filter(Boolean).length === checked.pages) return { pages, texts, layer };
	const file = await original.file();
	const dpi = dpiFor(checked, opts.maxPixels);
	const dir = await mkdtemp(path.join(os.tmpdir(), "paperwork-read-"));
	try {
		await Promise.all(
			Array.from({ length: checked.pages }, async (_v, i) => {
				const n = i + 1;
				if (pages[i]) return;
				const r = await opts.pool.run(() => ocrPdfPage(file, n, dpi, dir, opts));
				pages[i] = { n, source: r.error ? "none" : "ocr", ...(r.confidence !== undefined ? { confidence: r.confidence } : {}), chars: meaningfulChars(r.text), ...(r.error ? { error: r.error } : {}) };
				texts[i] = r.text;
			})
		);
	} finally {
		await rm(dir, { recursive: true, force: true });
	}
	return { pages, texts, layer };
}

/** Each page's text layer (empty when it cannot be read): from a long-lived reader when it can, else pdftotext. */
async function textLayerPages(original: Original, opts: ReadOptions): Promise<{ texts: string[]; by: TextLayerSource }> {
	const input = original.bytes;
	if (input && opts.textLayer) {
		const r = await opts.textLayer.read(input, opts.timeoutMs);
		if (r.ok) return { texts: r.pages, by: "pdf-text" };
		// as pdftotext would have: too long is too long
		if (r.reason === "timeout") return { texts: [], by: "pdf-text" };
	}
	const layer = await run("pdftotext", ["-layout", "-enc", "UTF-8", input ? "-" : await original.file(), "-"], { timeoutMs: opts.timeoutMs, maxOutput: TEXT_CAP, ...(input ? { input } : {}) });
	return { texts: layer.code === 0 ? layer.stdout.toString("utf8").split("\f") : [], by: "pdftotext" };
}

/** 300 dpi, or less when the largest page would pass the pixel limit at 300. */
export function dpiFor(checked: Pick<CheckedFile, "maxPagePt">, maxPixels: number): number {
	const pt = checked.maxPagePt;
	if (!pt) return DPI;
	const inches2 = (pt.width / 72) * (pt.height / 72);
	const max = Math.floor(Math.sqrt(maxPixels / Math.max(inches2, 1e-6)));
	return Math.max(1, Math.min(DPI, max));
}

interface OcrResult {
	text: string;
	confidence?: number;
	error?: string;
}

async function ocrPdfPage(file: string, n: number, dpi: number, dir: string, opts: ReadOptions): Promise<OcrResult> {
	const prefix = path.join(dir, `p${n}`);
	const r = await run("pdftoppm", ["-f", String(n), "-l", String(n), "-r", String(dpi), "-gray", "-singlefile", file, prefix], { timeoutMs: opts.timeoutMs, maxOutput: 1024 });
	if (r.code !== 0) return { text: "", error: r.killed === "timeout" ? "rasterising the page took too long" : "the page could not be rasterised" };
	try {
		return await tesseract(`${prefix}.pgm`, opts);
	} finally {
		await rm(`${prefix}.pgm`, { force: true });
	}
}

/** An image's pages (a TIFF's frames) in one Tesseract process, whose time limit grows with the frames. */
async function ocrImage(file: string, frames: number, opts: ReadOptions): Promise<{ pages: { text: string; confidence?: number }[]; error?: string }> {
	const r = await runTesseract(file, { ...opts, timeoutMs: opts.timeoutMs * frames });
	if ("error" in r) return { pages: [], error: r.error };
	return { pages: parseTsvPages(r.tsv) };
}

async function tesseract(image: string, opts: ReadOptions): Promise<OcrResult> {
	const r = await runTesseract(image, opts);
	return "error" in r ? { text: "", error: r.error } : parseTsv(r.tsv);
}

async function runTesseract(image: string, opts: ReadOptions): Promise<{ tsv: string } | { error: string }> {
	const r = await run("tesseract", [image, "stdout", "-l", opts.langs, "--psm", "3", "tsv"], { timeoutMs: opts.timeoutMs, maxOutput: 16 * 1024 * 1024, env: { OMP_THREAD_LIMIT: "1" } });
	if (r.code !== 0) return { error: r.killed === "timeout" ? "OCR took too long" : `OCR failed: ${r.stderr.split("\n").find((l) => /error/i.test(l))?.slice(0, 160) ?? `exit ${r.code}`}` };
	return { tsv: r.stdout.toString("utf8") };
}

/** Tesseract's TSV of a multi-page image split by its page numbers (column 2, from 1): each page's text and confidence. */
export function parseTsvPages(tsv: string): { text: string; confidence?: number }[] {
	const rows = tsv.split("\n");
	const byPage = new Map<number, string[]>();
	for (const row of rows.slice(1)) {
		const page = Number(row.split("\t", 2)[1]);
		if (!Number.isInteger(page) || page < 1) continue;
		let list = byPage.get(page);
		if (!list) byPage.set(page, (list = []));
		list.push(row);
	}
	const out: { text: string; confidence?: number }[] = [];
	for (const [page, list] of byPage) out[page - 1] = parseTsv([rows[0] ?? "", ...list].join("\n"));
	for (let i = 0; i < out.length; i++) out[i] ??= { text: "" };
	return out;
}

/** Text (lines in reading order, blank lines between blocks) and mean word confidence from Tesseract's TSV. */
export function parseTsv(tsv: string): { text: string; confidence?: number } {
	const lines = new Map<string, string[]>();
	const blockOf = new Map<string, string>();
	let sum = 0;
	let words = 0;
	for (const row of tsv.split("\n").slice(1)) {
		const c = row.split("\t");
		if (c.length < 12 || c[0] !== "5") continue;
		const conf = Number(c[10]);
		const word = c.slice(11).join("\t").trim();
		if (!word || conf < 0) continue;
		const key = `${c[1]}.${c[2]}.${c[3]}.${c[4]}`;
		let line = lines.get(key);
		if (!line) {
			line = [];
			lines.set(key, line);
			blockOf.set(key, `${c[1]}.${c[2]}.${c[3]}`);
		}
		line.push(word);
		sum += conf;
		words++;
	}
	const out: string[] = [];
	let lastBlock = "";
	for (const [key, ws] of lines) {
		const block = blockOf.get(key) ?? "";
		if (out.length && block !== lastBlock) out.push("");
		lastBlock = block;
		out.push(ws.join(" "));
	}
	return { text: out.join("\n"), ...(words ? { confidence: Math.round((sum / words) * 10) / 10 } : {}) };
}

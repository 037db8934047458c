/**
 * The PDF engine port: one interface for the Chromium tab pool and the WeasyPrint workers, so the renderer
 * picks an engine per template (manifest "engine") or by configuration, and tests/benchmarks treat both alike.
 * Engines are long-lived: create one per process, render many documents, close() on shutdown.
 */
import type { ChromiumOptions } from "./chromium.ts";
import type { WeasyPrintOptions } from "./weasyprint.ts";

export type EngineName = "chromium" | "weasyprint";
export const ENGINE_NAMES: readonly EngineName[] = ["chromium", "weasyprint"];

export interface RenderOptions {
	/** per-document timeout; the engine's default when absent */
	timeoutMs?: number;
}

export interface RenderResult {
	pdf: Buffer;
	/** number of pages of the PDF */
	pages: number;
}

/** A document waiting in an engine's queue (both engines queue the same way). */
export interface RenderJob {
	html: string;
	timeoutMs: number;
	/** already retried once after its browser tab or worker died */
	retried: boolean;
	resolve: (r: RenderResult) => void;
	reject: (e: unknown) => void;
}

export interface Engine {
	readonly name: EngineName;
	/** Renders one self-contained HTML document (CSS inlined, no external URLs) to PDF. */
	render(html: string, options?: RenderOptions): Promise<RenderResult>;
	/** Stops accepting work, lets in-flight documents finish, and stops the browser / workers. */
	close(): Promise<void>;
}

/** Base of the engine's errors (a render that failed for a server-side reason: retryable later). */
export class RenderError extends Error {
	readonly engine: EngineName;
	constructor(engine: EngineName, message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = "RenderError";
		this.engine = engine;
	}
}

/** A document took longer than its timeout; the tab or worker that rendered it was discarded. */
export class RenderTimeoutError extends RenderError {
	readonly timeoutMs: number;
	constructor(engine: EngineName, timeoutMs: number) {
		super(engine, `${engine} did not finish the document within ${timeoutMs} ms`);
		this.name = "RenderTimeoutError";
		this.timeoutMs = timeoutMs;
	}
}

/** render() called after close(), or pending when close() was called. */
export class EngineClosedError extends RenderError {
	constructor(engine: EngineName) {
		super(engine, `${engine} engine is closed`);
		this.name = "EngineClosedError";
	}
}

export interface EngineOptions {
	chromium?: ChromiumOptions;
	weasyprint?: WeasyPrintOptions;
}

/**
 * The engine for a template: the manifest's preference, else the configured engine, else Chromium
 * (the faster one: DESIGN measured ~10x WeasyPrint's documents/s).
 */
export function pickEngine(manifestEngine?: EngineName, configured?: EngineName): EngineName {
	return manifestEngine ?? configured ?? "chromium";
}

/** Creates an engine by name (each engine's module is loaded only when used). */
export async function createEngine(name: EngineName, options: EngineOptions = {}): Promise<Engine> {
	switch (name) {
		case "chromium": {
			const { ChromiumEngine } = await import("./chromium.ts");
			return new ChromiumEngine(options.chromium);
		}
		case "weasyprint": {
			const { WeasyPrintEngine } = await import("./weasyprint.ts");
			return new WeasyPrintEngine(options.weasyprint);
		}
		default:
			throw new Error(`unknown PDF engine '${String(name)}' (expected ${ENGINE_NAMES.join(" or ")})`);
	}
}

/**
 * Page count of a PDF without a PDF library: counts page objects ("/Type /Page", not "/Pages"); when page
 * objects are hidden in compressed object streams, falls back to the largest "/Count" of the page tree.
 */
export function countPdfPages(pdf: Uint8Array): number {
	const text = Buffer.from(pdf.buffer, pdf.byteOffset, pdf.byteLength).toString("latin1");
	const pages = text.match(/\/Type\s*\/Page(?![A-Za-z])/g)?.length ?? 0;
	if (pages > 0) return pages;
	let max = 0;
	for (const m of text.matchAll(/\/Type\s*\/Pages[^>]*?\/Count\s+(\d+)|\/Count\s+(\d+)[^>]*?\/Type\s*\/Pages/g)) max = Math.max(max, Number(m[1] ?? m[2]));
	return max;
}

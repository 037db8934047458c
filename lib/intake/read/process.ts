/**
 * The reader's work on one document: claim it (PENDING -> PROCESSING, compare-and-set), take the original (in
 * memory: handed over by intake in this process, or read from the store; a temporary file when a tool needs one),
 * read its pages (text layer, OCR for the rest), keep the text (on the document up to INLINE_TEXT_BYTES, else as an
 * object beside the original), extract and check the fields, and finish it COMPLETED, NEEDS_REVIEW or FAILED with the
 * reason. A document already finished is left alone, so a
 * message delivered twice does nothing twice; a reader killed mid-OCR leaves PROCESSING, and the redelivered
 * message takes it over once the claim's lease has passed.
 */
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { buffer } from "node:stream/consumers";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Platform } from "../../platform.ts";
import { READ_HEARTBEAT_MS, type IntakeDoc, type IntakeStatus, type IntakeStore } from "../documents.ts";
import { readPages } from "./pages.ts";
import { MAX_INSPECT_BYTES } from "../pdf-structure.ts";
import type { Pool } from "../run.ts";
import type { TextLayerReader, TextLayerSource } from "./text-layer.ts";
import { extractFields } from "../../fields/extract.ts";
import { loadTemplates } from "../../fields/templates.ts";
import { searchFieldsOf } from "../context.ts";
import { takeHandedOff } from "../handoff.ts";

/** PDFs up to this size are read from memory (as the intake checks are, lib/intake/pdf-structure.ts) */
const IN_MEMORY_BYTES = MAX_INSPECT_BYTES;

/**
 * A text up to this size is kept on the document itself (a few pages: one durable write fewer a document, the
 * object's being a file, its sidecar, two fsyncs and a folder's); a longer one is an object, `textKey`.
 */
export const INLINE_TEXT_BYTES = 16 * 1024;

export interface ProcessDeps {
	platform: Pick<Platform, "config" | "objects">;
	store: IntakeStore;
	pool: Pool;
	/** long-lived text-layer readers (absent: pdftotext for every PDF) */
	textLayer?: TextLayerReader;
	templatesDir: string;
	/** the client's OCR languages, when it set them */
	langs?: string;
	/** told of the document's state while it is read (PROCESSING, or PENDING again after a failed reading), for search */
	moved?(doc: IntakeDoc): Promise<void>;
}

/**
 * `doc`: the document as this call finished it (absent when it found it finished, or another reader moved it);
 * `textLayer`: what read a PDF's text layer in this call
 */
export type ProcessOutcome = { status: IntakeStatus; done: boolean; doc?: IntakeDoc; textLayer?: TextLayerSource };

/**
 * Reads one document; `done` is false when another reader holds it (the caller leaves the message to it). A document
 * whose readings are used up (MAX_READ_ATTEMPTS, lib/intake/documents.ts) is finished FAILED with the last error.
 */
export async function processDocument(id: string, deps: ProcessDeps): Promise<ProcessOutcome> {
	const { store } = deps;
	const doc = await store.get(id);
	if (!doc) return { status: "FAILED", done: true };
	if (doc.status !== "PENDING" && doc.status !== "PROCESSING") return { status: doc.status, done: true };
	if (!(await store.claim(id))) {
		// no reading left (the last one failed or its reader died): FAILED with the reason
		const failed = await store.giveUp(id);
		if (failed) return { status: "FAILED", done: true, doc: failed };
		const now = await store.get(id);
		return { status: now?.status ?? "FAILED", done: now?.status !== "PROCESSING" };
	}
	const claimed: IntakeDoc = { ...doc, status: "PROCESSING", attempts: (doc.attempts ?? 0) + 1 };
	let dir: string | undefined;
	// keep the claim alive while reading (OCR of a long scan takes minutes); a dead reader's claim runs out
	const beat = setInterval(() => void store.heartbeat(id).catch(() => undefined), READ_HEARTBEAT_MS);
	try {
		await deps.moved?.(claimed);
		const { objects } = deps.platform;
		// a PDF up to IN_MEMORY_BYTES is held in memory (its text layer read from stdin); a file is made only when a
		// tool needs one (OCR, images, larger files)
		const handed = takeHandedOff(doc.file.key);
		const bytes = handed ?? (doc.file.kind === "pdf" && doc.file.size <= IN_MEMORY_BYTES ? await buffer(await objects.get(doc.file.key)) : undefined);
		let file: string | undefined;
		const original = {
			...(bytes ? { bytes } : {}),
			async file(): Promise<string> {
				if (file) return file;
				dir = await mkdtemp(path.join(os.tmpdir(), "paperwork-reader-"));
				const f = path.join(dir, "original");
				if (bytes) await writeFile(f, bytes);
				else await pipeline(await objects.get(doc.file.key), createWriteStream(f));
				file = f;
				return f;
			}
		};
		const cfg = deps.platform.config.intake;
		const read = await readPages(original, doc.file, { pool: deps.pool, ...(deps.textLayer ? { textLayer: deps.textLayer } : {}), langs: deps.langs ?? cfg.ocrLangs, timeoutMs: cfg.ocrTimeoutMs, maxPixels: cfg.maxPixels });
		const text = read.texts.join("\n\f\n");
		const kept = await keepText(deps.platform.objects, `intake/${doc.clientId}/${id}/text.txt`, text);
		const failedPages = read.pages.filter((p) => p.error);
		const by = read.layer ? { textLayer: read.layer } : {};
		if (read.pages.every((p) => p.source === "none" || p.chars === 0)) {
			return { ...(await finish(store, doc, "FAILED", { pages: read.pages, ...kept, error: { code: "unreadable", message: failedPages[0]?.error ?? "no text could be read on any page" } }, text)), ...by };
		}
		const ex = extractFields(text, loadTemplates(deps.templatesDir), doc.type);
		const checks = [...ex.checks, ...failedPages.map((p) => ({ code: "page_unread", message: `page ${p.n}: ${p.error}` }))];
		const status: IntakeStatus = checks.length ? "NEEDS_REVIEW" : "COMPLETED";
		return { ...(await finish(store, doc, status, { pages: read.pages, ...kept, fields: ex.fields, template: ex.template, type: ex.type, checks, error: null }, text)), ...by };
	} catch (err) {
		const e = err as Error;
		// an unreadable stored original is final; anything else (the store, objects) is retried by the queue
		if (/ObjectNotFound/.test(e.name)) return finish(store, doc, "FAILED", { error: { code: "original_missing", message: "the stored original is missing" } }, "");
		// the last reading allowed: FAILED with this error; else back to PENDING for the queue's retry
		const failed = await store.giveUp(id, { held: true, error: e.message });
		if (failed) return { status: "FAILED", done: true, doc: failed };
		if (await store.release(id, e.message)) await deps.moved?.({ ...claimed, status: "PENDING", lastError: e.message });
		throw err;
	} finally {
		clearInterval(beat);
		if (dir) await rm(dir, { recursive: true, force: true });
	}
}

/** The text on the document when short, else stored as an object under `key`. */
async function keepText(objects: Platform["objects"], key: string, text: string): Promise<{ text: string } | { textKey: string }> {
	if (Buffer.byteLength(text, "utf8") <= INLINE_TEXT_BYTES) return { text };
	await objects.put(key, text, { contentType: "text/plain; charset=utf-8" });
	return { textKey: key };
}

async function finish(store: IntakeStore, doc: IntakeDoc, status: IntakeStatus, set: Partial<IntakeDoc>, text: string): Promise<ProcessOutcome> {
	const search = searchFieldsOf({ ...doc, ...set }, text);
	const finished = { ...set, ...search, finishedAt: new Date() };
	const moved = await store.transition(doc._id, ["PROCESSING"], status, finished);
	return { status, done: moved, ...(moved ? { doc: { ...doc, ...finished, status } as IntakeDoc } : {}) };
}

/**
 * A document whose reading keeps failing is not read forever: each failed reading goes back to PENDING with its error
 * (for the queue's retry), the last one allowed (MAX_READ_ATTEMPTS) finishes it FAILED with the reason, and a
 * document whose last reader died is failed by the next reader that finds it. The reader is told of each state
 * (PROCESSING, PENDING again) for search. An original handed over by intake in the same process is read from memory,
 * and a short text is kept on the document, a long one as an object.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { loadConfig } from "../../../config/index.ts";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import { FsObjectStore } from "../../../lib/objects/fs.ts";
import { IntakeStore, MAX_READ_ATTEMPTS, READ_LEASE_MS, type IntakeDoc } from "../../../lib/intake/documents.ts";
import { INLINE_TEXT_BYTES, processDocument, type ProcessDeps } from "../../../lib/intake/read/process.ts";
import { handOff, handedOffBytes } from "../../../lib/intake/handoff.ts";
import { Pool } from "../../../lib/intake/run.ts";
import { TEMPLATES_DIR } from "../../../lib/intake/context.ts";
import { tempDir } from "../../helpers/node.ts";
import { textPdf } from "../../helpers/intake-corpus.ts";

/** Objects whose reads fail as a broken disk would (not "not found", which is final at once). */
class BrokenObjects extends FsObjectStore {
	override async get(): Promise<Readable> {
		throw new Error("EIO: i/o error, read");
	}
}

const file = { key: "intake/c1/x/a.pdf", name: "a.pdf", size: 100, sha256: "x", kind: "pdf" as const, mime: "application/pdf", pages: 1 };

/** A reader's dependencies on a temporary folder whose object store fails every read; removed after `body`. */
async function withReader(body: (r: { dir: string; store: IntakeStore; objects: BrokenObjects; deps: ProcessDeps }) => Promise<void>): Promise<void> {
	const dir = tempDir("paperwork-process-");
	const sqlite = new SqliteStore({ file: path.join(dir, "paperwork.db") });
	try {
		const store = await IntakeStore.open((c) => sqlite.adapter(c));
		const config = loadConfig({ DATA_DIR: dir, PATH: process.env.PATH });
		const objects = new BrokenObjects({ dir: path.join(dir, "objects"), linkSecret: "test-link-secret", publicUrl: "http://127.0.0.1" });
		await body({ dir, store, objects, deps: { platform: { config, objects }, store, pool: new Pool(1), templatesDir: TEMPLATES_DIR } });
	} finally {
		await sqlite.close();
		rmSync(dir, { recursive: true, force: true });
	}
}

test("readings that keep failing end FAILED with the reason after MAX_READ_ATTEMPTS; a document whose last reader died too", async () => {
	await withReader(async ({ store, deps: base }) => {
		const states: string[] = [];
		const deps = { ...base, moved: async (d: IntakeDoc) => void states.push(d.status) };
		await store.create({ _id: "r1", clientId: "c1", status: "PENDING", source: "upload", file } as Omit<IntakeDoc, "createdAt" | "updatedAt">);
		for (let i = 1; i < MAX_READ_ATTEMPTS; i++) {
			await assert.rejects(processDocument("r1", deps), /EIO/, `reading ${i} fails and is left to the queue's retry`);
			const d = await store.get("r1");
			assert.equal(d?.status, "PENDING");
			assert.equal(d?.attempts, i);
			assert.equal(d?.lastError, "EIO: i/o error, read");
		}
		assert.deepEqual(states, ["PROCESSING", "PENDING", "PROCESSING", "PENDING"]);
		const last = await processDocument("r1", deps);
		assert.equal(last.status, "FAILED");
		assert.equal(last.done, true);
		assert.deepEqual(last.doc?.error, { code: "read_failed", message: `reading failed ${MAX_READ_ATTEMPTS} times: EIO: i/o error, read` });
		assert.equal((await store.get("r1"))?.status, "FAILED");
		assert.deepEqual(await processDocument("r1", deps), { status: "FAILED", done: true }, "a redelivered message finds it finished");

		// the third reader was killed mid-reading: the next reader to find it fails it with that reason
		const old = new Date(Date.now() - READ_LEASE_MS - 5000);
		await store.create({ _id: "r2", clientId: "c1", status: "PROCESSING", source: "upload", file, attempts: MAX_READ_ATTEMPTS, claimedAt: old } as Omit<IntakeDoc, "createdAt" | "updatedAt">);
		const dead = await processDocument("r2", deps);
		assert.equal(dead.status, "FAILED");
		assert.equal(dead.doc?.error?.code, "read_failed");
		assert.match(dead.doc?.error?.message ?? "", /^reading failed 3 times: the reader stopped while reading/);
		// one whose reader is alive is left to it
		await store.create({ _id: "r3", clientId: "c1", status: "PROCESSING", source: "upload", file, attempts: MAX_READ_ATTEMPTS, claimedAt: new Date() } as Omit<IntakeDoc, "createdAt" | "updatedAt">);
		assert.deepEqual(await processDocument("r3", deps), { status: "PROCESSING", done: false });
	});
});

test("an original handed over in this process is read without the object store; a short text is kept on the document, a long one as an object", async () => {
	// every read of the store fails: what is read came from the handoff
	await withReader(async ({ dir, store, objects, deps }) => {
		const short = textPdf(["Handoff Traders", "Invoice No: HO-1", "Invoice Date: 15/02/2026", "Total: 10.00"]);
		const shortFile = { ...file, key: "intake/c1/h1/a.pdf", size: short.length };
		await store.create({ _id: "h1", clientId: "c1", status: "PENDING", source: "upload", file: shortFile } as Omit<IntakeDoc, "createdAt" | "updatedAt">);
		handOff(shortFile.key, short);
		const done = await processDocument("h1", deps);
		assert.equal(done.status, "COMPLETED", JSON.stringify(done.doc));
		const kept = await store.get("h1");
		assert.match(kept?.text ?? "", /Invoice No: HO-1/);
		assert.equal(kept?.textKey, undefined);
		assert.equal(await objects.stat("intake/c1/h1/text.txt"), null, "no text object for a short text");
		assert.equal(handedOffBytes(), 0, "taken once");

		// a text past INLINE_TEXT_BYTES: an object beside the original, its key on the document
		const line = "Line of a long contract with many words in it, enough to fill the page across";
		const pages = Array.from({ length: 6 }, (_v, p) => {
			const f = path.join(dir, `p${p}.pdf`);
			writeFileSync(f, textPdf(Array.from({ length: 38 }, (_w, i) => `${p}.${i} ${line}`)));
			return f;
		});
		const longPath = path.join(dir, "long.pdf");
		execFileSync("qpdf", ["--empty", "--pages", ...pages, "--", longPath]);
		const long = readFileSync(longPath);
		const longFile = { ...file, key: "intake/c1/h2/long.pdf", size: long.length, pages: 6 };
		await store.create({ _id: "h2", clientId: "c1", status: "PENDING", source: "upload", file: longFile } as Omit<IntakeDoc, "createdAt" | "updatedAt">);
		handOff(longFile.key, long);
		await processDocument("h2", deps);
		const stored = await store.get("h2");
		assert.equal(stored?.text, undefined);
		assert.equal(stored?.textKey, "intake/c1/h2/text.txt");
		const info = await objects.stat("intake/c1/h2/text.txt");
		assert.ok(info && info.size > INLINE_TEXT_BYTES, `the text object holds the long text (${info?.size} bytes)`);

		// nothing handed over (another node's reader, a retry): the store is read, here failing
		await store.create({ _id: "h3", clientId: "c1", status: "PENDING", source: "upload", file: { ...shortFile, key: "intake/c1/h3/a.pdf" } } as Omit<IntakeDoc, "createdAt" | "updatedAt">);
		await assert.rejects(processDocument("h3", deps), /EIO/);
	});
});

/**
 * A document whose reading keeps failing is not read forever: each failed reading goes back to PENDING with its error
 * (for the queue's retry), the last one allowed (MAX_READ_ATTEMPTS) finishes it FAILED with the reason, and a
 * document whose last reader died is failed by the next reader that finds it. The reader is told of each state
 * (PROCESSING, PENDING again) for search.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { loadConfig } from "../../../config/index.ts";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import { FsObjectStore } from "../../../lib/objects/fs.ts";
import { IntakeStore, MAX_READ_ATTEMPTS, READ_LEASE_MS, type IntakeDoc } from "../../../lib/intake/documents.ts";
import { processDocument } from "../../../lib/intake/read/process.ts";
import { Pool } from "../../../lib/intake/run.ts";
import { TEMPLATES_DIR } from "../../../lib/intake/context.ts";
import { tempDir } from "../../helpers/node.ts";

/** Objects whose reads fail as a broken disk would (not "not found", which is final at once). */
class BrokenObjects extends FsObjectStore {
	override async get(): Promise<Readable> {
		throw new Error("EIO: i/o error, read");
	}
}

const file = { key: "intake/c1/x/a.pdf", name: "a.pdf", size: 100, sha256: "x", kind: "pdf" as const, mime: "application/pdf", pages: 1 };

test("readings that keep failing end FAILED with the reason after MAX_READ_ATTEMPTS; a document whose last reader died too", async () => {
	const dir = tempDir("paperwork-process-");
	const sqlite = new SqliteStore({ file: path.join(dir, "paperwork.db") });
	const pool = new Pool(1);
	try {
		const store = await IntakeStore.open((c) => sqlite.adapter(c));
		const config = loadConfig({ DATA_DIR: dir, PATH: process.env.PATH });
		const objects = new BrokenObjects({ dir: path.join(dir, "objects"), linkSecret: "test-link-secret", publicUrl: "http://127.0.0.1" });
		const states: string[] = [];
		const deps = { platform: { config, objects }, store, pool, templatesDir: TEMPLATES_DIR, moved: async (d: IntakeDoc) => void states.push(d.status) };
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
	} finally {
		await sqlite.close();
		rmSync(dir, { recursive: true, force: true });
	}
});

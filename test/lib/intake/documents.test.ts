/**
 * The intake document store on the embedded SQLite store: the repeat guard, compare-and-set claims with a lease,
 * heartbeats, which documents a sweep puts back on the queue, claims left by a crash taken over, and the cap on readings.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import path from "node:path";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import { CLAIM_STALE_MS, IntakeStore, MAX_READ_ATTEMPTS, READ_LEASE_MS, type IntakeDoc } from "../../../lib/intake/documents.ts";
import { tempDir } from "../../helpers/node.ts";

const file = { key: "k", name: "a.pdf", size: 1, sha256: "x", kind: "pdf" as const, mime: "application/pdf", pages: 1 };

test("claims are compare-and-set with a lease; heartbeats keep them; the sweep finds lost messages and dead readers", async () => {
	const dir = tempDir();
	const sqlite = new SqliteStore({ file: path.join(dir, "paperwork.db") });
	try {
		const store = await IntakeStore.open((c) => sqlite.adapter(c));
		assert.equal(await store.claimHash("c1", "h", "d1"), null);
		assert.equal(await store.claimHash("c1", "h", "d2"), "d1", "the same bytes from the same client");
		assert.equal(await store.claimHash("c2", "h", "d3"), null, "another client may send the same file");
		await store.create({ _id: "d1", clientId: "c1", status: "PENDING", source: "upload", file } as Omit<IntakeDoc, "createdAt" | "updatedAt">);
		assert.equal(await store.claim("d1"), true);
		assert.equal(await store.claim("d1"), false, "held by a live reader");
		assert.equal(await store.heartbeat("d1"), true);
		const later = new Date(Date.now() + READ_LEASE_MS + 1000);
		assert.deepEqual((await store.stalled(later)).map((d) => d._id), ["d1"], "a claim older than the lease");
		assert.equal(await store.claim("d1", later), true, "taken over after the lease");
		assert.equal(await store.transition("d1", ["PROCESSING"], "COMPLETED"), true);
		assert.equal(await store.claim("d1", new Date(later.getTime() + 10 * READ_LEASE_MS)), false, "a finished document is never claimed");
		await store.create({ _id: "d2", clientId: "c1", status: "PENDING", source: "upload", file } as Omit<IntakeDoc, "createdAt" | "updatedAt">);
		assert.deepEqual((await store.stalled(new Date())).map((d) => d._id), [], "a fresh PENDING document is left to its message");
		assert.deepEqual((await store.stalled(new Date(Date.now() + 120_000))).map((d) => d._id), ["d2"]);
	} finally {
		await sqlite.close();
		rmSync(dir, { recursive: true, force: true });
	}
});

test("the repeat guard: a claim whose document was never created is the same source's to use, and anyone's once it is stale", async () => {
	const dir = tempDir();
	const sqlite = new SqliteStore({ file: path.join(dir, "paperwork.db") });
	try {
		const store = await IntakeStore.open((c) => sqlite.adapter(c));
		const now = Date.now();
		// a crash between the claim and the document: the claim alone
		assert.equal(await store.claimHash("c1", "h", "lost", new Date(now - 1000)), null);
		assert.equal(await store.claimHash("c1", "h", "lost"), null, "the same derived ID again: its claim, its document to create");
		assert.equal(await store.claimHash("c1", "h", "up1", new Date(now)), "lost", "a young claim without its document is a submission storing it now");
		const taken: string[] = [];
		const later = new Date(now + CLAIM_STALE_MS + 1000);
		assert.equal(await store.claimHash("c1", "h", "up2", later, async (a) => void taken.push(a)), null, "a stale claim without its document is taken over");
		assert.deepEqual(taken, ["lost"]);
		assert.equal((await store.hashes.findById("c1:h"))?.docId, "up2");
		// once its document exists, the claim holds for good
		await store.create({ _id: "up2", clientId: "c1", status: "PENDING", source: "upload", file } as Omit<IntakeDoc, "createdAt" | "updatedAt">);
		assert.equal(await store.claimHash("c1", "h", "up3", new Date(later.getTime() + 10 * CLAIM_STALE_MS)), "up2");
		assert.equal(await store.claimHash("c1", "h", "up2"), "up2", "the same source finds its document");
	} finally {
		await sqlite.close();
		rmSync(dir, { recursive: true, force: true });
	}
});

test("readings are capped: after MAX_READ_ATTEMPTS the document is FAILED with the last error, not claimed again", async () => {
	const dir = tempDir();
	const sqlite = new SqliteStore({ file: path.join(dir, "paperwork.db") });
	try {
		const store = await IntakeStore.open((c) => sqlite.adapter(c));
		const t0 = Date.now();
		const at = (n: number) => new Date(t0 + n * (READ_LEASE_MS + 1000));
		// a reading that fails goes back to PENDING with its error; a reader that dies leaves PROCESSING until its lease runs out
		await store.create({ _id: "e1", clientId: "c1", status: "PENDING", source: "upload", file } as Omit<IntakeDoc, "createdAt" | "updatedAt">);
		assert.equal(await store.claim("e1", at(0)), true);
		assert.equal(await store.release("e1", "pdftotext exploded"), true);
		assert.equal((await store.get("e1"))?.lastError, "pdftotext exploded");
		assert.equal(await store.giveUp("e1", { now: at(0) }), null, "readings left: not due");
		assert.equal(await store.claim("e1", at(1)), true);
		assert.equal(await store.claim("e1", at(2)), true, "the second reader died: taken over after the lease");
		assert.equal(await store.giveUp("e1", { now: at(2) }), null, "a live reader's claim is not failed under it");
		assert.equal((await store.get("e1"))?.attempts, 3);
		// the third reader died too: no reading left
		assert.equal(await store.claim("e1", at(3)), false);
		assert.deepEqual((await store.stalled(at(3))).map((d) => d._id), ["e1"], "the sweep puts it back on the queue, where a reader fails it");
		const failed = await store.giveUp("e1", { now: at(3) });
		assert.equal(failed?.status, "FAILED");
		assert.equal(failed?.error?.code, "read_failed");
		assert.match(failed?.error?.message ?? "", /^reading failed 3 times: the reader stopped while reading/);
		assert.equal((await store.get("e1"))?.status, "FAILED");
		assert.deepEqual((await store.stalled(at(10))).map((d) => d._id), [], "never swept again");
		assert.equal(await store.giveUp("e1", { now: at(4) }), null, "once");

		// the reader holding the last reading fails it with its own error
		await store.create({ _id: "e2", clientId: "c1", status: "PENDING", source: "upload", file } as Omit<IntakeDoc, "createdAt" | "updatedAt">);
		for (let i = 0; i < MAX_READ_ATTEMPTS - 1; i++) {
			assert.equal(await store.claim("e2"), true);
			assert.equal(await store.giveUp("e2", { held: true, error: "boom" }), null);
			assert.equal(await store.release("e2", "boom"), true);
		}
		assert.equal(await store.claim("e2"), true);
		const held = await store.giveUp("e2", { held: true, error: "tesseract: out of memory" });
		assert.deepEqual(held?.error, { code: "read_failed", message: "reading failed 3 times: tesseract: out of memory" });
		assert.equal((await store.get("e2"))?.status, "FAILED");
	} finally {
		await sqlite.close();
		rmSync(dir, { recursive: true, force: true });
	}
});

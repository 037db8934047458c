/**
 * The intake document store on the embedded SQLite store: the repeat guard, compare-and-set claims with a lease,
 * heartbeats, and which documents a sweep puts back on the queue.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import path from "node:path";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import { IntakeStore, READ_LEASE_MS, type IntakeDoc } from "../../../lib/intake/documents.ts";
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

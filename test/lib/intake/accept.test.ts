/**
 * Accepting documents after a crash between the repeat guard's claim on the file's SHA-256 and the document (the
 * crash simulated by writing the claim alone): an upload of the same file goes through once the claim is stale (a
 * younger one is another submission storing it: 409), an inbox file or mail attachment whose derived ID holds the
 * claim goes through at once, and two passes of the same source at once make one document.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { loadConfig } from "../../../config/index.ts";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import { FsObjectStore } from "../../../lib/objects/fs.ts";
import { SqliteSearch } from "../../../lib/search/sqlite.ts";
import { acceptDocument, type AcceptDeps } from "../../../lib/intake/accept.ts";
import { CLAIM_STALE_MS, IntakeStore } from "../../../lib/intake/documents.ts";
import { derivedId, takeMail } from "../../../lib/intake/mail.ts";
import { textPdf } from "../../helpers/intake-corpus.ts";
import { tempDir } from "../../helpers/node.ts";

async function harness() {
	const dir = tempDir("paperwork-accept-");
	const config = loadConfig({ DATA_DIR: dir, PATH: process.env.PATH });
	const sqlite = new SqliteStore({ file: path.join(dir, "paperwork.db") });
	const objects = new FsObjectStore({ dir: path.join(dir, "objects"), linkSecret: "test-link-secret", publicUrl: "http://127.0.0.1" });
	const store = await IntakeStore.open((c) => sqlite.adapter(c));
	const queued: string[] = [];
	const deps: AcceptDeps = { platform: { config, objects, search: new SqliteSearch(sqlite) }, store, received: async (id) => void queued.push(id) };
	return {
		store,
		objects,
		deps,
		queued,
		sqlite,
		async close() {
			await sqlite.close();
			rmSync(dir, { recursive: true, force: true });
		}
	};
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const refusal = (err: unknown) => err as { code: number; data?: { id?: string } };

test("an upload of a file whose claim a crash left without its document is accepted; its orphaned original removed", async () => {
	const h = await harness();
	try {
		const pdf = textPdf(["Invoice No: CR-1", "Total 100.00"]);
		// the crash: the claim is written and the original stored, the document never created
		await h.store.claimHash("c1", sha(pdf), "0123456789abcdef01234567", new Date(Date.now() - CLAIM_STALE_MS - 1000));
		await h.objects.put("intake/c1/0123456789abcdef01234567/cr.pdf", pdf);
		const doc = await acceptDocument({ clientId: "c1", body: Readable.from([pdf]), filename: "cr.pdf", source: "upload" }, h.deps);
		assert.equal(doc.status, "PENDING");
		assert.notEqual(doc._id, "0123456789abcdef01234567");
		assert.deepEqual(h.queued, [doc._id], "on intake.received");
		assert.equal((await h.store.get(doc._id))?.file.sha256, sha(pdf));
		assert.equal(await h.objects.stat("intake/c1/0123456789abcdef01234567/cr.pdf"), null, "the abandoned original is gone");
		assert.ok(await h.objects.stat(doc.file.key));
		// the same file again: 409 naming the document that exists now
		await assert.rejects(acceptDocument({ clientId: "c1", body: Readable.from([pdf]), source: "upload" }, h.deps), (err) => refusal(err).code === 409 && refusal(err).data?.id === doc._id);
	} finally {
		await h.close();
	}
});

test("a young claim without its document is a submission storing it now: 409 until it is stale", async () => {
	const h = await harness();
	try {
		const pdf = textPdf(["Invoice No: CR-2"]);
		await h.store.claimHash("c1", sha(pdf), "aaaaaaaaaaaaaaaaaaaaaaaa");
		await assert.rejects(acceptDocument({ clientId: "c1", body: Readable.from([pdf]), source: "upload" }, h.deps), (err) => refusal(err).code === 409 && refusal(err).data?.id === "aaaaaaaaaaaaaaaaaaaaaaaa");
		assert.equal(await h.store.docs.count(), 0);
	} finally {
		await h.close();
	}
});

test("an inbox file whose derived ID holds a claim without its document is accepted; two passes at once make one document", async () => {
	const h = await harness();
	try {
		const pdf = textPdf(["Invoice No: IN-1"]);
		const id = "bbbbbbbbbbbbbbbbbbbbbbbb";
		// a scan that crashed after the claim: the next scan hands the same file over under the same ID, at once
		await h.store.claimHash("c1", sha(pdf), id);
		const doc = await acceptDocument({ id, clientId: "c1", body: Readable.from([pdf]), filename: "in.pdf", source: "inbox" }, h.deps);
		assert.equal(doc._id, id);
		assert.equal(doc.status, "PENDING");

		const other = textPdf(["Invoice No: IN-2"]);
		const id2 = "cccccccccccccccccccccccc";
		const both = await Promise.all([0, 1].map(() => acceptDocument({ id: id2, clientId: "c1", body: Readable.from([other]), filename: "in2.pdf", source: "inbox" }, h.deps)));
		assert.deepEqual(both.map((d) => d._id), [id2, id2]);
		assert.equal(await h.store.docs.count({ query: { "file.sha256": sha(other) } }), 1);
		assert.equal((await h.store.hashes.findById(`c1:${sha(other)}`))?.docId, id2, "the claim stays with the document");
	} finally {
		await h.close();
	}
});

test("a mail taken again after a crash stores the attachment whose claim was left without its document", async () => {
	const h = await harness();
	try {
		const pdf = textPdf(["Invoice No: ML-1"]);
		const messageId = "<crash-1@bureau.test>";
		const raw = Buffer.from(
			[
				"From: bureau@bureau.test",
				"To: invoices@acme.test",
				"Subject: March invoice",
				`Message-ID: ${messageId}`,
				"MIME-Version: 1.0",
				'Content-Type: multipart/mixed; boundary="b1"',
				"",
				"--b1",
				"Content-Type: text/plain",
				"",
				"Attached.",
				"--b1",
				"Content-Type: application/pdf",
				'Content-Disposition: attachment; filename="march.pdf"',
				"Content-Transfer-Encoding: base64",
				"",
				pdf.toString("base64").replace(/.{76}/g, "$&\r\n"),
				"--b1--",
				""
			].join("\r\n")
		);
		const envelopeId = derivedId("c1", messageId);
		const attachmentId = derivedId(envelopeId, "0");
		const mails = h.sqlite.adapter("intake_mails");
		await mails.connect();
		// the crash: the mail was being received and its attachment's claim written, the document never created
		await mails.insert({ _id: envelopeId, clientId: "c1", messageId, status: "RECEIVING", createdAt: new Date() });
		await h.store.claimHash("c1", sha(pdf), attachmentId);
		const out = await takeMail(raw, null, { ...h.deps, mails, clients: async () => [{ id: "c1", intake: { addresses: ["invoices@acme.test"] } }], log: () => undefined });
		assert.equal(out.status, "STORED", JSON.stringify(out));
		assert.deepEqual(out.status === "STORED" ? out.documents : [], [attachmentId]);
		const doc = await h.store.get(attachmentId);
		assert.equal(doc?.envelope?.messageId, messageId);
		assert.equal(doc?.file.name, "march.pdf");
	} finally {
		await h.close();
	}
});

/**
 * Accepting one document, whatever brought it (upload, link, mail attachment, inbox file): spool and check it
 * (refusals carry their HTTP status and reason), refuse a repeat of the same bytes from the same client (409 with
 * the earlier document's ID), store the original once in objects, create the PENDING document, index it (OpenSearch)
 * and put it on intake.received. Nothing is stored for a refused file.
 *
 * The repeat guard is a claim on the file's SHA-256 taken before the original is stored. A crash between the claim
 * and the document leaves a claim without its document: the same source handing the file over again (a derived ID)
 * uses it, and any other submission takes it over once it is older than CLAIM_STALE_MS (its orphaned original is
 * removed), so a crash never turns into a 409 naming a document that does not exist for good.
 */
import type { Readable } from "node:stream";
import type { Platform } from "../platform.ts";
import { newId } from "../store/ids.ts";
import { httpError } from "../api/errors.ts";
import { safeFileName } from "../ingest/receive.ts";
import { handOff } from "./handoff.ts";
import { IntakeCheckError } from "./checks.ts";
import { receiveDocument } from "./receive.ts";
import type { Envelope, IntakeDoc, IntakeSource, IntakeStore } from "./documents.ts";
import { indexDocument, searchFieldsOf } from "./context.ts";

export interface AcceptInput {
	/** the document's ID when the source derives one (inbox objects, mail attachments); new otherwise */
	id?: string;
	clientId: string;
	body: Readable;
	filename?: string;
	source: IntakeSource;
	type?: string;
	reference?: string;
	url?: string;
	envelope?: Envelope;
}

export interface AcceptDeps {
	platform: Pick<Platform, "config" | "objects" | "search">;
	store: IntakeStore;
	/** puts the document on intake.received (kind: pdf, png, jpeg, tiff, for the metrics) */
	received(id: string, kind: string): Promise<void>;
	/** what the caller should know of (a document OpenSearch could not index at acceptance, a claim taken over) */
	log?(level: "info" | "warn", obj: Record<string, unknown>, msg: string): void;
}

/** An IntakeCheckError as the HTTP error the api answers with ({error: {code, message, details: {reason}}}). */
export function asHttpError(err: unknown): unknown {
	if (!(err instanceof IntakeCheckError)) return err;
	const code = err.status === 413 ? "PAYLOAD_TOO_LARGE" : err.status === 415 ? "UNSUPPORTED_MEDIA_TYPE" : "BAD_REQUEST";
	return httpError(err.status, code, `${err.code}: ${err.message}`, { reason: err.code });
}

/** Checks and stores one document; resolves with the PENDING document or throws an HTTP error (4xx) with the reason. */
export async function acceptDocument(input: AcceptInput, deps: AcceptDeps): Promise<IntakeDoc> {
	const { config, objects } = deps.platform;
	const limits = { maxPages: config.intake.maxPages, maxPixels: config.intake.maxPixels, maxSidePx: config.intake.maxSidePx, timeoutMs: 30_000 };
	let received;
	try {
		received = await receiveDocument(input.body, config.intake.maxBytes, limits);
	} catch (err) {
		throw asHttpError(err);
	}
	const { spooled, checked } = received;
	const { store } = deps;
	try {
		const id = input.id ?? newId();
		// a claim left by a crash: the original stored under the abandoned ID (if it got that far) goes
		const abandoned = async (earlier: string) => {
			deps.log?.("info", { intakeId: id, clientId: input.clientId, abandoned: earlier }, "repeat guard of a document never created taken over");
			for await (const o of objects.list(`intake/${input.clientId}/${earlier}/`)) await objects.delete(o.key);
		};
		const earlier = await store.claimHash(input.clientId, spooled.sha256, id, new Date(), abandoned);
		if (earlier === id) {
			// the same source handed over twice (an inbox scan after a crash): it is held already
			const held = await store.get(id);
			if (held) return held;
		}
		if (earlier) throw httpError(409, "CONFLICT", `this file is identical to document ${earlier}`, { id: earlier });
		const name = safeFileName(input.filename, `document.${checked.kind === "jpeg" ? "jpg" : checked.kind === "tiff" ? "tif" : checked.kind}`);
		const key = `intake/${input.clientId}/${id}/${name}`;
		let doc: IntakeDoc | undefined;
		try {
			// a body held in memory is written in one job on the store's writer thread (lib/objects/fs-writer.ts)
			await objects.put(key, spooled.bytes ?? spooled.stream(), { contentType: checked.mime, metadata: { filename: encodeURIComponent(name) } });
			const fields = {
				_id: id,
				clientId: input.clientId,
				status: "PENDING",
				source: input.source,
				...(input.type ? { type: input.type } : {}),
				...(input.reference ? { reference: input.reference } : {}),
				...(input.url ? { url: input.url } : {}),
				...(input.envelope ? { envelope: input.envelope } : {}),
				file: { key, name, size: spooled.size, sha256: spooled.sha256, kind: checked.kind, mime: checked.mime, pages: checked.pages, ...(checked.encryption ? { encryption: checked.encryption } : {}), ...(checked.width ? { width: checked.width, height: checked.height } : {}), ...(checked.maxPagePt ? { maxPagePt: checked.maxPagePt } : {}) },
				receivedAt: new Date().toISOString()
			} as unknown as IntakeDoc;
			// found by its name, reference and mail before it is read
			doc = await store.create({ ...fields, ...searchFieldsOf(fields, "") });
		} catch (err) {
			// the same derived ID created by another pass of the same source meanwhile: that one holds it
			const held = input.id ? await store.get(id) : null;
			if (held) return held;
			await store.releaseHash(input.clientId, spooled.sha256, id);
			throw err;
		}
		// listed in every status on OpenSearch too; a failure leaves it to the reader's index when it is read
		try {
			await indexDocument(store, id, doc, { wait: false, search: deps.platform.search });
		} catch (err) {
			deps.log?.("warn", { intakeId: id, clientId: input.clientId, err: (err as Error).message }, "document not indexed at acceptance");
		}
		// a reader in this process takes the bytes from memory instead of reading the stored original back
		if (spooled.bytes) handOff(key, spooled.bytes);
		// the document exists: a failure to enqueue it is the reader's sweep's to repair (PENDING is read again)
		await deps.received(id, checked.kind);
		return doc;
	} finally {
		await spooled.cleanup();
	}
}

/**
 * Accepting one document, whatever brought it (upload, link, mail attachment, inbox file): spool and check it
 * (refusals carry their HTTP status and reason), refuse a repeat of the same bytes from the same client (409 with
 * the earlier document's ID), store the original once in objects, create the PENDING document and put it on
 * intake.received. Nothing is stored for a refused file.
 */
import type { Readable } from "node:stream";
import type { Platform } from "../platform.ts";
import { newId } from "../store/ids.ts";
import { httpError } from "../api/errors.ts";
import { safeFileName } from "../ingest/receive.ts";
import { IntakeCheckError } from "./checks.ts";
import { receiveDocument, spooledStream } from "./receive.ts";
import type { Envelope, IntakeDoc, IntakeSource, IntakeStore } from "./documents.ts";

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
	platform: Pick<Platform, "config" | "objects">;
	store: IntakeStore;
	/** puts the document on intake.received (kind: pdf, png, jpeg, tiff, for the metrics) */
	received(id: string, kind: string): Promise<void>;
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
	try {
		const id = input.id ?? newId();
		const earlier = await deps.store.claimHash(input.clientId, spooled.sha256, id);
		if (earlier === id) {
			// the same source handed over twice (an inbox scan after a crash): it is held already
			const held = await deps.store.get(id);
			if (held) return held;
		}
		if (earlier) throw httpError(409, "CONFLICT", `this file is identical to document ${earlier}`, { id: earlier });
		const name = safeFileName(input.filename, `document.${checked.kind === "jpeg" ? "jpg" : checked.kind === "tiff" ? "tif" : checked.kind}`);
		const key = `intake/${input.clientId}/${id}/${name}`;
		try {
			await objects.put(key, spooledStream(spooled), { contentType: checked.mime, metadata: { filename: encodeURIComponent(name) } });
			const doc = await deps.store.create({
				_id: id,
				clientId: input.clientId,
				status: "PENDING",
				source: input.source,
				...(input.type ? { type: input.type } : {}),
				...(input.reference ? { reference: input.reference } : {}),
				...(input.url ? { url: input.url } : {}),
				...(input.envelope ? { envelope: input.envelope } : {}),
				file: { key, name, size: spooled.size, sha256: spooled.sha256, kind: checked.kind, mime: checked.mime, pages: checked.pages, ...(checked.encryption ? { encryption: checked.encryption } : {}), ...(checked.width ? { width: checked.width, height: checked.height } : {}), ...(checked.maxPagePt ? { maxPagePt: checked.maxPagePt } : {}) },
				receivedAt: new Date().toISOString(),
				searchText: ""
			} as unknown as IntakeDoc);
			await deps.received(id, checked.kind);
			return doc;
		} catch (err) {
			await deps.store.releaseHash(input.clientId, spooled.sha256, id);
			throw err;
		}
	} finally {
		await spooled.cleanup();
	}
}

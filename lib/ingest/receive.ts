/**
 * Receiving a client's file: from an HTTP body (raw, or the "file" field of a multipart form) into object storage,
 * streamed, never held whole in memory. The first 64 KB decide the type by content (XLSX, CSV/text, or 415); the
 * size limit is enforced while the bytes arrive (413); the SHA-256 computed on the way is the repeat check (409).
 */
import type { Readable } from "node:stream";
import busboy from "busboy";
import { sniffStream } from "../etl/sniff.ts";
import type { Encoding } from "../etl/format.ts";
import type { ObjectStore } from "../objects/types.ts";
import { ObjectTooLargeError } from "../objects/types.ts";
import { badRequest, payloadTooLarge, unsupportedMediaType } from "../api/errors.ts";

export interface ReceivedFile {
	key: string;
	name: string;
	size: number;
	sha256: string;
	type: "csv" | "xlsx";
}

export interface RequestInfo {
	contentType?: string;
	/** a file name from Content-Disposition, X-Filename or ?filename= */
	filename?: string;
}

/** A safe file name for object keys and reports: no path, no control characters, at most 120 characters. */
export function safeFileName(name: string | undefined, fallback = "upload"): string {
	const base = (name ?? "").split(/[\\/]/).pop() ?? "";
	const cleaned = base.replace(/[\p{Cc}\p{Cf}]/gu, "").replace(/[^\p{L}\p{N} ._()+-]/gu, "_").trim().slice(-120);
	return cleaned && cleaned !== "." && cleaned !== ".." ? cleaned : fallback;
}

/** The file stream of a request: the body itself, or the "file" part of multipart/form-data. */
export function fileStream(body: Readable, info: RequestInfo): Promise<{ stream: Readable; name?: string }> {
	const ct = info.contentType ?? "";
	if (!/^multipart\/form-data/i.test(ct)) return Promise.resolve({ stream: body, name: info.filename });
	return new Promise((resolve, reject) => {
		let bb: busboy.Busboy;
		try {
			bb = busboy({ headers: { "content-type": ct }, limits: { files: 1, fields: 20 } });
		} catch (err) {
			reject(badRequest(`multipart body cannot be read: ${(err as Error).message}`));
			return;
		}
		let found = false;
		bb.on("file", (field, stream, meta) => {
			if (field !== "file" || found) {
				stream.resume();
				return;
			}
			found = true;
			resolve({ stream, name: meta.filename || info.filename });
		});
		bb.on("error", (err: Error) => reject(badRequest(`multipart body cannot be read: ${err.message}`)));
		bb.on("close", () => {
			if (!found) reject(badRequest('multipart upload has no "file" field; send the file as the field named "file", or as the raw body'));
		});
		body.pipe(bb);
	});
}

/**
 * Stores the file under `key` after checking its type by content. Throws 415 for anything but CSV/XLSX,
 * 413 past `maxBytes`. An empty or badly encoded text file is stored: the file-picker fails its batch with the reason.
 */
export async function receiveFile(objects: ObjectStore, body: Readable, info: RequestInfo, opts: { keyFor: (name: string) => string; maxBytes: number; encoding: Encoding }): Promise<ReceivedFile> {
	const { stream: raw, name: partName } = await fileStream(body, info);
	const name = safeFileName(partName);
	const { result, stream } = await sniffStream(raw, opts.encoding);
	if (result.type === "unsupported") {
		stream.destroy();
		raw.resume();
		throw unsupportedMediaType(`${result.message}; send a CSV (text) or an XLSX file`);
	}
	const type = result.type === "xlsx" ? "xlsx" : "csv";
	const key = opts.keyFor(name);
	try {
		const stored = await objects.put(key, stream, {
			maxBytes: opts.maxBytes,
			contentType: type === "xlsx" ? "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" : "text/csv",
			metadata: { filename: encodeURIComponent(name) }
		});
		return { key, name, size: stored.size, sha256: stored.sha256, type };
	} catch (err) {
		if (err instanceof ObjectTooLargeError) {
			raw.resume();
			throw payloadTooLarge(`the file is larger than the limit of ${Math.round(opts.maxBytes / 1024 / 1024)} MiB; split it into several uploads`);
		}
		throw err;
	}
}

/**
 * File type by content, not by name: XLSX (a zip whose entries are a spreadsheet's), CSV/text (no NUL bytes,
 * decodes in the declared encoding), or unsupported (other zips, legacy .xls, PDFs, images, binaries: the api
 * answers 415). Works on the first bytes of a stream: peek() reads them and hands back a stream that still starts
 * at byte 0.
 */
import { Readable } from "node:stream";
import type { Encoding } from "./format.ts";

export const SNIFF_BYTES = 64 * 1024;

export type SniffResult =
	| { type: "xlsx" }
	| { type: "csv"; empty: boolean; warnings: string[] }
	/** text that is not valid in the declared encoding (UTF-8): where the first bad byte is */
	| { type: "invalid_text"; offset: number; line: number; message: string }
	| { type: "unsupported"; message: string };

/**
 * Index of the first byte that is not part of a valid UTF-8 sequence, or -1. A sequence cut off by the end of
 * `bytes` counts as valid when `partialEnd` (the buffer is only the beginning of the file).
 */
export function findInvalidUtf8(bytes: Uint8Array, partialEnd = false): number {
	const n = bytes.length;
	let i = 0;
	while (i < n) {
		const b = bytes[i];
		if (b < 0x80) {
			i++;
			continue;
		}
		let need: number;
		let min: number;
		if (b >= 0xc2 && b <= 0xdf) {
			need = 1;
			min = 0x80;
		} else if (b >= 0xe0 && b <= 0xef) {
			need = 2;
			min = 0x800;
		} else if (b >= 0xf0 && b <= 0xf4) {
			need = 3;
			min = 0x10000;
		} else return i;
		if (i + need >= n) {
			// the sequence runs past the end of the buffer: fine only when the buffer is a file's beginning
			if (!partialEnd) return i;
			for (let k = i + 1; k < n; k++) if ((bytes[k] & 0xc0) !== 0x80) return i;
			return -1;
		}
		let cp = b & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
		for (let k = 1; k <= need; k++) {
			const c = bytes[i + k];
			if ((c & 0xc0) !== 0x80) return i;
			cp = (cp << 6) | (c & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
		i += need + 1;
	}
	return -1;
}

function lineAt(bytes: Uint8Array, offset: number): number {
	let line = 1;
	for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
	return line;
}

/** Names of the zip local file headers found in `head` (entries whose header lies within it). */
export function zipEntryNames(head: Buffer): string[] {
	const names: string[] = [];
	let i = head.indexOf("PK\x03\x04", 0, "latin1");
	while (i >= 0 && i + 30 <= head.length) {
		const nameLen = head.readUInt16LE(i + 26);
		if (i + 30 + nameLen <= head.length) names.push(head.toString("utf8", i + 30, i + 30 + nameLen));
		i = head.indexOf("PK\x03\x04", i + 4, "latin1");
	}
	return names;
}

const startsWith = (head: Buffer, sig: number[]): boolean => sig.every((b, i) => head[i] === b);

/** Classifies a file from its first bytes (at most SNIFF_BYTES are looked at). */
export function sniff(head: Buffer, encoding: Encoding = "utf-8"): SniffResult {
	if (head.length === 0) return { type: "csv", empty: true, warnings: [] };
	if (startsWith(head, [0x50, 0x4b, 0x03, 0x04])) {
		const names = zipEntryNames(head);
		if (names.some((n) => n.startsWith("xl/")) || (names.includes("[Content_Types].xml") && !names.some((n) => /^(word|ppt)\//.test(n)))) {
			return { type: "xlsx" };
		}
		return { type: "unsupported", message: "the file is a zip archive but not an XLSX workbook; upload a CSV or XLSX file" };
	}
	if (startsWith(head, [0x50, 0x4b, 0x05, 0x06]) || startsWith(head, [0x50, 0x4b, 0x07, 0x08])) {
		return { type: "unsupported", message: "the file is an empty or split zip archive; upload a CSV or XLSX file" };
	}
	if (startsWith(head, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])) {
		return { type: "unsupported", message: "legacy Excel 97-2003 (.xls) files are not supported; save the sheet as .xlsx or CSV" };
	}
	if (startsWith(head, [0x25, 0x50, 0x44, 0x46])) return { type: "unsupported", message: "the file is a PDF; upload a CSV or XLSX file" };
	if (startsWith(head, [0x1f, 0x8b])) return { type: "unsupported", message: "the file is gzip-compressed; upload it uncompressed" };
	if (startsWith(head, [0xff, 0xfe]) || startsWith(head, [0xfe, 0xff])) {
		return { type: "unsupported", message: "the file is UTF-16 text; save it as UTF-8 CSV" };
	}
	const view = head.subarray(0, SNIFF_BYTES);
	const nul = view.indexOf(0);
	if (nul >= 0) return { type: "unsupported", message: `the file is binary (a NUL byte at offset ${nul}), not CSV text` };
	const warnings: string[] = [];
	const partial = head.length >= SNIFF_BYTES;
	if (encoding === "utf-8") {
		const bad = findInvalidUtf8(view, partial);
		if (bad >= 0) {
			const line = lineAt(view, bad);
			return {
				type: "invalid_text",
				offset: bad,
				line,
				message: `the file is not valid UTF-8: byte 0x${view[bad].toString(16).toUpperCase()} at offset ${bad} (line ${line}); save it as UTF-8 or set the client format's encoding (e.g. windows-1252)`
			};
		}
	} else {
		// every byte decodes in windows-1252/latin1; warn when the text is clearly UTF-8 instead
		const hasHigh = view.some((b) => b >= 0x80);
		if (hasHigh && findInvalidUtf8(view, partial) < 0) warnings.push(`the file looks like UTF-8 but the format says ${encoding}: accented letters may come out wrong`);
	}
	return { type: "csv", empty: false, warnings };
}

/**
 * Reads the first `bytes` of a stream without losing them: resolves with that head and a stream that yields the
 * whole file from byte 0 (the head, then the rest of the original stream).
 */
export async function peek(input: Readable, bytes: number = SNIFF_BYTES): Promise<{ head: Buffer; stream: Readable }> {
	const parts: Buffer[] = [];
	let size = 0;
	const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
	let done = false;
	while (size < bytes) {
		const r = await it.next();
		if (r.done) {
			done = true;
			break;
		}
		const b = typeof r.value === "string" ? Buffer.from(r.value) : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
		parts.push(b);
		size += b.length;
	}
	const all = Buffer.concat(parts);
	const head = all.subarray(0, bytes);
	async function* replay(): AsyncGenerator<Buffer> {
		if (all.length > 0) yield all;
		if (done) return;
		while (true) {
			const r = await it.next();
			if (r.done) return;
			yield typeof r.value === "string" ? Buffer.from(r.value) : r.value;
		}
	}
	const stream = Readable.from(replay(), { objectMode: false });
	stream.on("close", () => {
		if (!done) void it.return?.();
	});
	return { head, stream };
}

/** peek() + sniff(): the verdict and a stream from byte 0 (destroy it if you reject the file). */
export async function sniffStream(input: Readable, encoding: Encoding = "utf-8"): Promise<{ result: SniffResult; stream: Readable }> {
	const { head, stream } = await peek(input);
	return { result: sniff(head, encoding), stream };
}

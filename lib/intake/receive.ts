/**
 * Taking a document in: its bytes (an HTTP body, a multipart "file" field, a downloaded link, a mail attachment)
 * stream in with their SHA-256, cut off past the size limit (413). A small body (up to MEMORY_SPOOL_BYTES: most
 * born-digital PDFs) is kept in memory; a larger one spills to a temporary file as it streams, so memory stays
 * bounded whatever the upload. The bytes are then checked (lib/intake/checks.ts) and only a good file is stored,
 * once, in objects. The temporary file, if any, is always removed.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, rm, writeFile, type FileHandle } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { checkFile, IntakeCheckError, type CheckedFile, type Limits } from "./checks.ts";

export class TooLargeError extends IntakeCheckError {
	constructor(maxBytes: number) {
		super(413, "too_large", `the file is larger than the limit of ${Math.round(maxBytes / 1024 / 1024)} MiB`);
	}
}

/**
 * Bodies up to this size stay in memory (a temporary file, its folder and their removal cost about as much main-
 * thread time as the rest of accepting a small PDF); larger ones stream to disk. Uploads in flight hold at most this
 * much each.
 */
export const MEMORY_SPOOL_BYTES = 512 * 1024;

export interface Spooled {
	size: number;
	sha256: string;
	/** the whole body, when it was small enough to keep in memory */
	bytes?: Buffer;
	/** a file holding the body (a body kept in memory is written to one on the first call: the tools need a path) */
	path(): Promise<string>;
	/** the body as a stream (to store it) */
	stream(): Readable;
	/** removes the temporary file and its folder, if one was made */
	cleanup(): Promise<void>;
}

/** Reads `body`, hashing it; throws TooLargeError as soon as `maxBytes` is passed. Spills into a folder under `tmpRoot`. */
export async function spool(body: Readable, maxBytes: number, memoryBytes = MEMORY_SPOOL_BYTES, tmpRoot = os.tmpdir()): Promise<Spooled> {
	const hash = createHash("sha256");
	let size = 0;
	let held: Buffer[] = [];
	let dir: string | undefined;
	let file: string | undefined;
	let fh: FileHandle | undefined;
	const cleanup = async () => {
		if (dir) await rm(dir, { recursive: true, force: true });
	};
	const temp = async () => {
		dir = await mkdtemp(path.join(tmpRoot, "paperwork-intake-"));
		file = path.join(dir, "original");
		return file;
	};
	try {
		for await (const c of body) {
			const chunk = Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array);
			size += chunk.length;
			if (size > maxBytes) throw new TooLargeError(maxBytes);
			hash.update(chunk);
			if (fh) await writeFully(fh, chunk);
			else if (size <= memoryBytes) held.push(chunk);
			else {
				// past what memory keeps: everything so far to a temporary file, and the rest as it comes
				fh = await open(await temp(), "wx", 0o600);
				await writeFully(fh, Buffer.concat([...held, chunk]));
				held = [];
			}
		}
		if (fh) await fh.close();
	} catch (err) {
		body.resume();
		await fh?.close().catch(() => undefined);
		await cleanup();
		throw err;
	}
	const sha256 = hash.digest("hex");
	if (file) {
		const onDisk = file;
		return { size, sha256, path: async () => onDisk, stream: () => createReadStream(onDisk), cleanup };
	}
	const bytes = held.length === 1 ? held[0] : Buffer.concat(held, size);
	let written: Promise<string> | undefined;
	return {
		size,
		sha256,
		bytes,
		path: () =>
			(written ??= temp().then(async (f) => {
				await writeFile(f, bytes, { flag: "wx", mode: 0o600 });
				return f;
			})),
		stream: () => Readable.from([bytes]),
		cleanup: async () => {
			await written?.catch(() => undefined);
			await cleanup();
		}
	};
}

async function writeFully(fh: FileHandle, buf: Buffer): Promise<void> {
	let offset = 0;
	while (offset < buf.length) offset += (await fh.write(buf, offset, buf.length - offset)).bytesWritten;
}

/** Spools and checks; the caller stores `spooled.stream()` and then calls cleanup(). On a refusal the file is gone. */
export async function receiveDocument(body: Readable, maxBytes: number, limits: Limits): Promise<{ spooled: Spooled; checked: CheckedFile }> {
	const spooled = await spool(body, maxBytes);
	try {
		return { spooled, checked: await checkFile(spooled, spooled.size, limits) };
	} catch (err) {
		await spooled.cleanup();
		throw err;
	}
}

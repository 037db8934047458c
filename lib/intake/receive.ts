/**
 * Taking a document in: its bytes (an HTTP body, a multipart "file" field, a downloaded link, a mail attachment)
 * stream into a temporary file with their SHA-256, cut off past the size limit (413); the file is then checked
 * (lib/intake/checks.ts) and only a good file is stored, once, in objects. The temporary file is always removed.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { checkFile, IntakeCheckError, type CheckedFile, type Limits } from "./checks.ts";

export class TooLargeError extends IntakeCheckError {
	constructor(maxBytes: number) {
		super(413, "too_large", `the file is larger than the limit of ${Math.round(maxBytes / 1024 / 1024)} MiB`);
	}
}

export interface Spooled {
	file: string;
	size: number;
	sha256: string;
	/** removes the temporary file and its folder */
	cleanup(): Promise<void>;
}

/** Streams `body` into a temporary file, hashing it; throws TooLargeError as soon as `maxBytes` is passed. */
export async function spool(body: Readable, maxBytes: number): Promise<Spooled> {
	const dir = await mkdtemp(path.join(os.tmpdir(), "paperwork-intake-"));
	const file = path.join(dir, "original");
	const cleanup = () => rm(dir, { recursive: true, force: true });
	const hash = createHash("sha256");
	let size = 0;
	const meter = new Transform({
		transform(chunk: Buffer, _enc, cb) {
			size += chunk.length;
			if (size > maxBytes) return cb(new TooLargeError(maxBytes));
			hash.update(chunk);
			cb(null, chunk);
		}
	});
	try {
		await pipeline(body, meter, createWriteStream(file));
	} catch (err) {
		body.resume();
		await cleanup();
		throw err;
	}
	return { file, size, sha256: hash.digest("hex"), cleanup };
}

/** Spools and checks; the caller stores `spooled.file` and then calls cleanup(). On a refusal the file is gone. */
export async function receiveDocument(body: Readable, maxBytes: number, limits: Limits): Promise<{ spooled: Spooled; checked: CheckedFile }> {
	const spooled = await spool(body, maxBytes);
	try {
		return { spooled, checked: await checkFile(spooled.file, spooled.size, limits) };
	} catch (err) {
		await spooled.cleanup();
		throw err;
	}
}

/** A stream of a spooled file (to store it). */
export function spooledStream(s: Spooled): Readable {
	return createReadStream(s.file);
}

/** The size of a file on disk. */
export async function fileSize(file: string): Promise<number> {
	return (await stat(file)).size;
}

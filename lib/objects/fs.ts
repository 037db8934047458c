/**
 * The folder object store (embedded default): objects as files under one root folder.
 *
 * Layout. A key "a/b/c.csv" is the file `<root>/a/b/c.csv~o`, its metadata the sidecar JSON `<root>/a/b/c.csv~m`.
 * Every "~" of a key segment is doubled on disk, so a folder name (a segment: its "~" runs are even) never equals a
 * data, sidecar or temporary name (they end in, or start with, a single "~"): keys "a" and "a/b" can both exist,
 * and no key can collide with a sidecar. Temporary files are "~t<random>" in the object's own folder.
 *
 * put streams into a temporary file while counting and hashing, fsyncs it, writes the sidecar the same way, then
 * renames sidecar and data into place (readers see the old object or the new one, never part of one) and fsyncs
 * the folder. A failed put (ObjectTooLargeError, a source error) removes its temporary files and leaves any
 * previous object untouched. list walks only the folders under the prefix, sorting each folder's entries so keys
 * come out in UTF-8 byte order, as S3 lists them. delete removes folders it leaves empty.
 *
 * Limits of this store: a key segment may take at most 253 bytes on disk (InvalidKeyError beyond), and on a
 * case-insensitive filesystem keys differing only in case are the same object.
 */
import { createHash, randomBytes } from "node:crypto";
import fsp, { type FileHandle } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { InvalidKeyError, ObjectNotFoundError, ObjectTooLargeError, type ObjectInfo, type ObjectStore, type PutOptions } from "./types.ts";
import { normaliseContentType, normaliseMetadata, resolveRange, validateExpiry, validateKey, validatePrefix, DEFAULT_CONTENT_TYPE } from "./keys.ts";
import { Meter, checkBody, checkMaxBytes, discardBody, type Body } from "./meter.ts";
import { buildLink } from "./links.ts";
import { writeOnThread } from "./fs-writer.ts";

const DATA = "~o";
const META = "~m";
const TEMP = "~t";
const MAX_NAME_BYTES = 255;
const WRITE_BATCH = 256 * 1024;
const EVEN_TILDES = /^(?:[^~]|~~)*$/;

interface Sidecar {
	contentType: string;
	metadata: Record<string, string>;
	size: number;
	sha256: string;
}

function escapeSegment(segment: string): string {
	return segment.replaceAll("~", "~~");
}

/** The segment a folder or data-file base name stands for, or undefined for names this store did not write. */
function unescapeName(name: string): string | undefined {
	if (name === "" || !EVEN_TILDES.test(name)) return undefined;
	return name.replaceAll("~~", "~");
}

/** A new temporary file name for the object's own folder. */
function tempName(): string {
	return `${TEMP}${randomBytes(8).toString("hex")}`;
}

function errCode(err: unknown): string | undefined {
	return (err as NodeJS.ErrnoException | undefined)?.code;
}

function compareBytes(a: string, b: string): number {
	return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

export interface FsObjectStoreOptions {
	/** root folder (config.objects.dir) */
	dir: string;
	/** secret signing links (lib/secrets.ts loadLinkSecret) */
	linkSecret: string;
	/** base URL of the api, e.g. http://localhost:3000 */
	publicUrl: string;
}

export class FsObjectStore implements ObjectStore {
	readonly kind = "fs" as const;
	readonly root: string;
	private readonly linkSecret: string;
	private readonly publicUrl: string;

	constructor(options: FsObjectStoreOptions) {
		this.root = path.resolve(options.dir);
		this.linkSecret = options.linkSecret;
		this.publicUrl = options.publicUrl;
	}

	/** Validates the key and returns its escaped folder path and base name. */
	private locate(key: string): { dir: string; base: string; segments: string[] } {
		validateKey(key);
		const segments = key.split("/");
		const escaped = segments.map(escapeSegment);
		for (const e of escaped) {
			if (Buffer.byteLength(e) + DATA.length > MAX_NAME_BYTES) {
				throw new InvalidKeyError(key, `a segment longer than ${MAX_NAME_BYTES - DATA.length} bytes is not supported by the folder store`);
			}
		}
		const base = escaped.pop() as string;
		return { dir: path.join(this.root, ...escaped), base, segments };
	}

	async put(key: string, body: Body, options: PutOptions = {}): Promise<{ key: string; size: number; sha256: string }> {
		if (typeof body === "string" || Buffer.isBuffer(body)) return this.putBytes(key, typeof body === "string" ? Buffer.from(body, "utf8") : body, options);
		let dir: string, base: string, sidecar: Omit<Sidecar, "size" | "sha256">, meter: Meter;
		try {
			({ dir, base } = this.locate(key));
			checkBody(body);
			sidecar = { contentType: normaliseContentType(options.contentType), metadata: normaliseMetadata(options.metadata) };
			meter = new Meter(options.maxBytes);
		} catch (err) {
			discardBody(body);
			throw err;
		}
		const dataTmp = path.join(dir, tempName());
		const metaTmp = path.join(dir, tempName());
		try {
			const fh = await this.createTemp(dir, dataTmp);
			try {
				let batch: Buffer[] = [];
				let batched = 0;
				for await (const chunk of meter.chunks(body)) {
					batch.push(chunk);
					batched += chunk.length;
					if (batched >= WRITE_BATCH) {
						await writeAll(fh, batch);
						batch = [];
						batched = 0;
					}
				}
				if (batched > 0) await writeAll(fh, batch);
				await fh.sync();
			} finally {
				await fh.close();
			}
			const sha256 = meter.digest();
			const full: Sidecar = { ...sidecar, size: meter.size, sha256 };
			await fsp.writeFile(metaTmp, JSON.stringify(full), { flag: "wx", flush: true });
			// sidecar first: a new object becomes visible with its metadata already in place
			await fsp.rename(metaTmp, path.join(dir, base + META));
			await fsp.rename(dataTmp, path.join(dir, base + DATA));
			await syncDir(dir);
			return { key, size: meter.size, sha256 };
		} catch (err) {
			discardBody(body);
			await Promise.all([fsp.rm(dataTmp, { force: true }), fsp.rm(metaTmp, { force: true })]);
			throw err;
		}
	}

	/** A body already in memory: hashed here, its files written by a writer thread in one job (lib/objects/fs-writer.ts). */
	private async putBytes(key: string, bytes: Buffer, options: PutOptions): Promise<{ key: string; size: number; sha256: string }> {
		const { dir, base } = this.locate(key);
		checkMaxBytes(options.maxBytes);
		if (options.maxBytes !== undefined && bytes.length > options.maxBytes) throw new ObjectTooLargeError(options.maxBytes);
		const sha256 = createHash("sha256").update(bytes).digest("hex");
		const sidecar: Sidecar = { contentType: normaliseContentType(options.contentType), metadata: normaliseMetadata(options.metadata), size: bytes.length, sha256 };
		await writeOnThread({ dir, data: base + DATA, meta: base + META, dataTmp: tempName(), metaTmp: tempName(), bytes, sidecar: JSON.stringify(sidecar) });
		return { key, size: bytes.length, sha256 };
	}

	/** Creates the folder and an exclusive temporary file in it (retrying if a concurrent delete pruned the folder). */
	private async createTemp(dir: string, file: string): Promise<FileHandle> {
		for (let attempt = 0; ; attempt++) {
			await fsp.mkdir(dir, { recursive: true });
			try {
				return await fsp.open(file, "wx", 0o644);
			} catch (err) {
				if (errCode(err) !== "ENOENT" || attempt >= 5) throw err;
			}
		}
	}

	async get(key: string, range?: { start: number; end?: number }): Promise<Readable> {
		const { dir, base } = this.locate(key);
		let fh: FileHandle;
		try {
			fh = await fsp.open(path.join(dir, base + DATA), "r");
		} catch (err) {
			if (errCode(err) === "ENOENT" || errCode(err) === "ENOTDIR") throw new ObjectNotFoundError(key);
			throw err;
		}
		try {
			const st = await fh.stat();
			if (!st.isFile()) throw new ObjectNotFoundError(key);
			const span = range ? resolveRange(range, st.size) : undefined;
			if (span && span.end < span.start) {
				await fh.close();
				return Readable.from([]);
			}
			// the open handle pins this version of the object even if a put replaces it meanwhile
			return fh.createReadStream(span ? { start: span.start, end: span.end } : {});
		} catch (err) {
			await fh.close();
			throw err;
		}
	}

	async stat(key: string): Promise<ObjectInfo | null> {
		const { dir, base } = this.locate(key);
		return this.info(key, dir, base);
	}

	private async info(key: string, dir: string, base: string): Promise<ObjectInfo | null> {
		let size: number, lastModified: Date;
		try {
			const st = await fsp.stat(path.join(dir, base + DATA));
			if (!st.isFile()) return null;
			size = st.size;
			lastModified = st.mtime;
		} catch (err) {
			if (errCode(err) === "ENOENT" || errCode(err) === "ENOTDIR") return null;
			throw err;
		}
		let sidecar: Partial<Sidecar> = {};
		try {
			sidecar = JSON.parse(await fsp.readFile(path.join(dir, base + META), "utf8")) as Partial<Sidecar>;
		} catch (err) {
			if (errCode(err) !== "ENOENT" && !(err instanceof SyntaxError)) throw err;
		}
		return { key, size, lastModified, contentType: sidecar.contentType ?? DEFAULT_CONTENT_TYPE, metadata: { ...(sidecar.metadata ?? {}) } };
	}

	async *list(prefix: string): AsyncGenerator<ObjectInfo> {
		validatePrefix(prefix);
		const cut = prefix.lastIndexOf("/");
		const folder = cut < 0 ? [] : prefix.slice(0, cut).split("/");
		const rest = prefix.slice(cut + 1);
		const escaped = folder.map(escapeSegment);
		if (escaped.some((e) => Buffer.byteLength(e) > MAX_NAME_BYTES)) return;
		yield* this.walk(folder, path.join(this.root, ...escaped), rest);
	}

	/** Objects under one folder whose name starts with `start`, in key order, descending into sub-folders. */
	private async *walk(segments: string[], dir: string, start: string): AsyncGenerator<ObjectInfo> {
		let entries;
		try {
			entries = await fsp.readdir(dir, { withFileTypes: true });
		} catch (err) {
			if (errCode(err) === "ENOENT" || errCode(err) === "ENOTDIR") return;
			throw err;
		}
		const items: { segment: string; name: string; folder: boolean; order: string }[] = [];
		for (const e of entries) {
			if (e.isDirectory()) {
				const segment = unescapeName(e.name);
				if (segment !== undefined && segment.startsWith(start)) items.push({ segment, name: e.name, folder: true, order: `${segment}/` });
			} else if (e.isFile() && e.name.endsWith(DATA)) {
				const name = e.name.slice(0, -DATA.length);
				const segment = unescapeName(name);
				if (segment !== undefined && segment.startsWith(start)) items.push({ segment, name, folder: false, order: segment });
			}
		}
		// "a" < "a.txt" < "a/..." < "a0": a folder sorts as its name followed by "/"
		items.sort((x, y) => compareBytes(x.order, y.order));
		for (const item of items) {
			const segs = [...segments, item.segment];
			if (item.folder) {
				yield* this.walk(segs, path.join(dir, item.name), "");
			} else {
				const info = await this.info(segs.join("/"), dir, item.name);
				if (info) yield info;
			}
		}
	}

	async delete(key: string): Promise<void> {
		const { dir, base, segments } = this.locate(key);
		await fsp.rm(path.join(dir, base + DATA), { force: true });
		await fsp.rm(path.join(dir, base + META), { force: true });
		// prune folders left empty, up to (not including) the root
		let folder = dir;
		for (let depth = segments.length - 1; depth > 0; depth--) {
			try {
				await fsp.rmdir(folder);
			} catch {
				break;
			}
			folder = path.dirname(folder);
		}
	}

	async link(key: string, expiresInSeconds: number): Promise<string> {
		this.locate(key);
		validateExpiry(expiresInSeconds);
		return buildLink(this.publicUrl, this.linkSecret, key, expiresInSeconds);
	}

	async ping(): Promise<boolean> {
		try {
			await fsp.mkdir(this.root, { recursive: true });
			await fsp.access(this.root, fsp.constants.R_OK | fsp.constants.W_OK);
			return true;
		} catch {
			return false;
		}
	}

	async close(): Promise<void> {
		// nothing held open between calls
	}
}

/** Writes the batch as one buffer (joining small chunks saves a syscall per chunk). */
async function writeAll(fh: FileHandle, buffers: Buffer[]): Promise<void> {
	const buf = buffers.length === 1 ? buffers[0] : Buffer.concat(buffers);
	let offset = 0;
	while (offset < buf.length) {
		const { bytesWritten } = await fh.write(buf, offset, buf.length - offset);
		offset += bytesWritten;
	}
}

async function syncDir(dir: string): Promise<void> {
	let fh: FileHandle | undefined;
	try {
		fh = await fsp.open(dir, "r");
		await fh.sync();
	} catch {
		// some filesystems cannot fsync a folder; the renames are still atomic
	} finally {
		await fh?.close();
	}
}

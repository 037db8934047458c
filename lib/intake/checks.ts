/**
 * What intake checks before it answers: the type by the bytes (PDF, PNG, JPEG, TIFF), an image's size from its
 * header (a 50,000-pixel-wide image is refused before any decoder sees it; every frame of a TIFF, a page each), and a PDF's soundness with qpdf and
 * pdfinfo: corrupt or truncated, encrypted with a user password (unreadable), owner-only encryption (readable as is),
 * the number of pages and the largest page size (so rasterising it stays bounded). A sound unencrypted PDF is
 * recognised in process first (lib/intake/pdf-structure.ts) and costs no child process; the tools check the rest.
 */
import { open, readFile } from "node:fs/promises";
import { run } from "./run.ts";
import { inspectPdf, MAX_INSPECT_BYTES } from "./pdf-structure.ts";

export type DocKind = "pdf" | "png" | "jpeg" | "tiff";

export const MIME: Record<DocKind, string> = { pdf: "application/pdf", png: "image/png", jpeg: "image/jpeg", tiff: "image/tiff" };

/** The type of a file by its first bytes, or null for anything else. */
export function sniffKind(head: Uint8Array): DocKind | null {
	const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
	// PDF readers accept the header anywhere in the first 1 KB
	if (b.subarray(0, 1024).includes("%PDF-")) return "pdf";
	if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return "png";
	if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
	if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a))) return "tiff";
	return null;
}

/** Width and height from an image's header (PNG IHDR, JPEG SOFn), or null when not found (a TIFF: tiffFrames). */
export function imageSize(kind: "png" | "jpeg", b: Buffer): { width: number; height: number } | null {
	if (kind === "png") return b.length >= 24 ? { width: b.readUInt32BE(16), height: b.readUInt32BE(20) } : null;
	if (kind === "jpeg") {
		let i = 2;
		while (i + 9 < b.length) {
			if (b[i] !== 0xff) {
				i++;
				continue;
			}
			const marker = b[i + 1];
			if (marker === 0xff) {
				i++;
				continue;
			}
			// SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC)
			if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
				return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
			}
			if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
				i += 2;
				continue;
			}
			i += 2 + b.readUInt16BE(i + 2);
		}
		return null;
	}
	return null;
}

/** Why a file is refused: the HTTP status and a stable code for the client. */
export class IntakeCheckError extends Error {
	readonly status: number;
	readonly code: string;
	constructor(status: number, code: string, message: string) {
		super(message);
		this.name = "IntakeCheckError";
		this.status = status;
		this.code = code;
	}
}

export interface Limits {
	maxPages: number;
	maxPixels: number;
	maxSidePx: number;
	/** for the check tools */
	timeoutMs: number;
}

export interface CheckedFile {
	kind: DocKind;
	mime: string;
	pages: number;
	/** PDFs: "owner" when encrypted without a user password (read normally) */
	encryption?: "owner";
	/** images: pixel size */
	width?: number;
	height?: number;
	/** PDFs: the largest page, in points */
	maxPagePt?: { width: number; height: number };
}

/** Reads the first `n` bytes of a file. */
export async function readHead(file: string, n: number): Promise<Buffer> {
	const fh = await open(file, "r");
	try {
		const buf = Buffer.alloc(n);
		const { bytesRead } = await fh.read(buf, 0, n, 0);
		return buf.subarray(0, bytesRead);
	} finally {
		await fh.close();
	}
}

/** A file to check: a path on disk, or bytes in memory that can be written to one when a tool needs a path. */
export type CheckSource = string | { bytes?: Buffer; path(): Promise<string> };

/** Checks a file (on disk, or held in memory); throws IntakeCheckError (400 / 415) with the reason. */
export async function checkFile(source: CheckSource, size: number, limits: Limits): Promise<CheckedFile> {
	if (size === 0) throw new IntakeCheckError(400, "empty", "the file is empty");
	const pathOf = typeof source === "string" ? async () => source : () => source.path();
	const held = typeof source === "string" ? undefined : source.bytes;
	// a file small enough to check in process is read once, whole; of a larger one only its head
	const whole = held ?? (size <= MAX_INSPECT_BYTES ? await readFile(await pathOf()) : undefined);
	const head = whole ? whole.subarray(0, 256 * 1024) : await readHead(await pathOf(), 256 * 1024);
	const kind = sniffKind(head);
	if (!kind) throw new IntakeCheckError(415, "unsupported_type", "the file is not a PDF, PNG, JPEG or TIFF (its content says so, whatever its name)");
	if (kind === "tiff") return checkTiff(whole ?? (await pathOf()), limits);
	if (kind !== "pdf") {
		const dim = imageSize(kind, head);
		if (!dim || dim.width === 0 || dim.height === 0) throw new IntakeCheckError(400, "corrupt", `the ${kind.toUpperCase()} image is corrupt: its size cannot be read`);
		checkPixels(dim.width, dim.height, limits);
		return { kind, mime: MIME[kind], pages: 1, width: dim.width, height: dim.height };
	}
	// a sound unencrypted PDF is checked in process (no child process: lib/intake/pdf-structure.ts); the tools
	// decide every other one
	const facts = whole ? inspectPdf(whole, limits.maxPages) : null;
	if (facts && facts.pages > limits.maxPages) throw tooManyPages(facts.pages, limits);
	if (facts) return { kind, mime: MIME.pdf, pages: facts.pages, ...(facts.maxPagePt ? { maxPagePt: facts.maxPagePt } : {}) };
	return { kind, mime: MIME.pdf, ...(await checkPdf(await pathOf(), limits)) };
}

function tooManyPages(pages: number, limits: Pick<Limits, "maxPages">, what = "PDF"): IntakeCheckError {
	return new IntakeCheckError(400, "too_many_pages", `the ${what} has ${pages} pages; the limit is ${limits.maxPages}`);
}

/** A TIFF frame's pixel size, as its directory (IFD) gives it. */
export interface TiffFrame {
	width: number;
	height: number;
}

/** Reads `length` bytes at `offset` of a file or a buffer (fewer at its end). */
type ReadAt = (offset: number, length: number) => Promise<Buffer>;

/**
 * Every frame of a TIFF by following its chain of directories (IFDs) wherever they are in the file: libtiff writes
 * them after the image data, so a scan's first IFD is often past any head we would read. Stops after `maxFrames`
 * + 1 frames (enough to refuse), at an offset seen before (a loop), or at a directory that does not fit the file
 * (corrupt: null).
 */
export async function tiffFrames(readAt: ReadAt, size: number, maxFrames: number): Promise<TiffFrame[] | null> {
	const header = await readAt(0, 8);
	if (header.length < 8) return null;
	const le = header[0] === 0x49;
	const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
	const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
	const frames: TiffFrame[] = [];
	const seen = new Set<number>();
	let ifd = u32(header, 4);
	while (ifd !== 0 && frames.length <= maxFrames) {
		if (seen.has(ifd) || ifd < 8 || ifd + 2 > size) return null;
		seen.add(ifd);
		const n = u16(await readAt(ifd, 2), 0);
		const dir = await readAt(ifd + 2, n * 12 + 4);
		if (dir.length < n * 12 + 4) return null;
		let width = 0;
		let height = 0;
		for (let k = 0; k < n; k++) {
			const e = k * 12;
			const tag = u16(dir, e);
			const value = u16(dir, e + 2) === 3 ? u16(dir, e + 8) : u32(dir, e + 8);
			if (tag === 256) width = value;
			if (tag === 257) height = value;
		}
		if (!width || !height) return null;
		frames.push({ width, height });
		ifd = u32(dir, n * 12);
	}
	return frames;
}

/** A TIFF: every frame is a page, each checked against the pixel limits, their number against the page limit. */
async function checkTiff(source: Buffer | string, limits: Limits): Promise<CheckedFile> {
	const whole = typeof source === "string" ? undefined : source;
	const fh = typeof source === "string" ? await open(source, "r") : undefined;
	try {
		const size = whole ? whole.length : (await (fh as NonNullable<typeof fh>).stat()).size;
		const readAt: ReadAt = whole
			? async (offset, length) => whole.subarray(offset, offset + length)
			: async (offset, length) => {
					const buf = Buffer.alloc(length);
					const { bytesRead } = await (fh as NonNullable<typeof fh>).read(buf, 0, length, offset);
					return buf.subarray(0, bytesRead);
				};
		const frames = await tiffFrames(readAt, size, limits.maxPages);
		if (!frames || frames.length === 0) throw new IntakeCheckError(400, "corrupt", "the TIFF image is corrupt: its frames cannot be read");
		if (frames.length > limits.maxPages) throw tooManyPages(frames.length, limits, "TIFF");
		for (const f of frames) checkPixels(f.width, f.height, limits);
		const first = frames[0] as TiffFrame;
		return { kind: "tiff", mime: MIME.tiff, pages: frames.length, width: first.width, height: first.height };
	} finally {
		await fh?.close();
	}
}

/** Refuses an image too large to decode safely. */
export function checkPixels(width: number, height: number, limits: Pick<Limits, "maxPixels" | "maxSidePx">): void {
	if (width > limits.maxSidePx || height > limits.maxSidePx || width * height > limits.maxPixels) {
		throw new IntakeCheckError(400, "image_too_large", `the image is ${width} x ${height} pixels; the limit is ${limits.maxSidePx} pixels a side and ${Math.round(limits.maxPixels / 1e6)} megapixels`);
	}
}

async function checkPdf(file: string, limits: Limits): Promise<Omit<CheckedFile, "kind" | "mime">> {
	const opts = { timeoutMs: limits.timeoutMs, maxOutput: 1024 * 1024 };
	// qpdf --requires-password: 0 a user password, 3 owner-only encryption, 2 none (or not readable at all)
	const pw = await run("qpdf", ["--requires-password", file], opts);
	if (pw.killed) throw new IntakeCheckError(400, "corrupt", "the PDF could not be checked in time");
	if (pw.code === 0) throw new IntakeCheckError(400, "password-protected", "the PDF is password-protected; send it without a password");
	const encryption = pw.code === 3 ? ("owner" as const) : undefined;
	// one pdfinfo call: the page count and the size of every page up to the limit
	const info = await run("pdfinfo", ["-f", "1", "-l", String(limits.maxPages), file], opts);
	if (info.code !== 0) throw new IntakeCheckError(400, "corrupt", `the PDF cannot be read${firstLine(info.stderr)}`);
	const text = info.stdout.toString("utf8");
	const pages = Number(/^Pages:\s+(\d+)/m.exec(text)?.[1] ?? 0);
	if (!pages) throw new IntakeCheckError(400, "corrupt", "the PDF has no pages");
	if (pages > limits.maxPages) throw tooManyPages(pages, limits);
	// qpdf --check reads every object (seconds for thousands of pages): only once the page count is within the limit
	const check = await run("qpdf", ["--check", file], opts);
	// exit 2: errors (a truncated file, a broken cross-reference table qpdf cannot rebuild); 3: warnings only
	if (check.code !== 0 && check.code !== 3) throw new IntakeCheckError(400, "corrupt", `the PDF is corrupt or truncated${firstLine(check.stderr || check.stdout.toString())}`);
	if (check.code === 3 && /file is damaged|xref|attempting to reconstruct|unexpected EOF/i.test(check.stderr + check.stdout.toString())) {
		throw new IntakeCheckError(400, "corrupt", `the PDF is corrupt or truncated${firstLine(check.stderr || check.stdout.toString())}`);
	}
	// rasterising is sized from the largest page
	let w = 0;
	let h = 0;
	for (const m of text.matchAll(/^Page\s+\d+\s+size:\s+([\d.]+)\s+x\s+([\d.]+)/gm)) {
		w = Math.max(w, Number(m[1]));
		h = Math.max(h, Number(m[2]));
	}
	if (!w) {
		const m = /^Page size:\s+([\d.]+)\s+x\s+([\d.]+)/m.exec(text);
		if (m) [w, h] = [Number(m[1]), Number(m[2])];
	}
	return { pages, ...(encryption ? { encryption } : {}), ...(w ? { maxPagePt: { width: w, height: h } } : {}) };
}

function firstLine(s: string): string {
	const line = s.split("\n").map((l) => l.trim().replace(/\S*paperwork-intake-[^\s:]*:?\s*/g, "")).find(Boolean);
	return line ? `: ${line.replace(/^.*?: /, "").slice(0, 160)}` : "";
}

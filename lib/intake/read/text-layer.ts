/**
 * PDF text layers from a few long-lived `pdf-text` processes (pdf-text.cc, built by scripts/setup.sh into
 * build/pdf-text) instead of one `pdftotext` per document. pdftotext spent ~70 % of its CPU starting up (~6.5 of
 * ~9.5 ms for a 3-page invoice: loading poppler and its libraries); pdf-text starts once per worker and reads a
 * document with the same poppler text output in physical layout (`pdftotext -layout`), ~1.1 ms for the same file.
 *
 * Each worker reads one document at a time (framed on its stdin and stdout, see pdf-text.cc); at most `size` run,
 * started on first need, and they exit when this process goes (end of their input). A worker that does not answer
 * within the time limit is killed; one that dies while reading is replaced on the next call. The caller gets the
 * pages' texts, or why not:
 * - `unavailable`: the program is not built or cannot start (after 3 workers died before their first answer): the
 *   caller runs pdftotext as before;
 * - `refused` (poppler could not read the file) and `crashed`: the caller tries pdftotext, which may repair what
 *   this reader refused, so a file reads as it did before;
 * - `timeout`: the file took too long, as pdftotext would have.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";

/** what read a PDF's text layer: these workers, or pdftotext (a process a document) */
export type TextLayerSource = "pdf-text" | "pdftotext";

/** most text bytes a PDF's layer may yield, whichever reads it */
export const TEXT_CAP = 32 * 1024 * 1024;

export type LayerOutcome = { ok: true; pages: string[] } | { ok: false; reason: "unavailable" | "refused" | "crashed" | "timeout"; detail?: string };

export interface TextLayerOptions {
	/** the pdf-text program */
	binary: string;
	/** workers at most (one document each at a time) */
	size: number;
	/** text bytes a document may yield (past it: refused) */
	maxTextBytes?: number;
}

/** where scripts/setup.sh builds pdf-text */
export const PDF_TEXT_BINARY = fileURLToPath(new URL("../../../build/pdf-text", import.meta.url));
/** workers that die before answering anything, in a row, before the program counts as unusable */
const MAX_EARLY_DEATHS = 3;

interface Job {
	pdf: Uint8Array;
	timeoutMs: number;
	resolve(o: LayerOutcome): void;
}

/** One pdf-text process and the job it reads now. */
class Worker {
	readonly child: ChildProcessWithoutNullStreams;
	job?: Job;
	answered = false;
	private killed = false;
	private timer?: NodeJS.Timeout;
	private chunks: Buffer[] = [];
	private buffered = 0;

	private readonly done: (w: Worker, died: false | { early: boolean; fatal?: string }) => void;

	constructor(binary: string, maxTextBytes: number, done: (w: Worker, died: false | { early: boolean; fatal?: string }) => void) {
		this.done = done;
		this.child = spawn(binary, [], { stdio: ["pipe", "pipe", "ignore"], env: { PDF_TEXT_MAX_BYTES: String(maxTextBytes) } }) as unknown as ChildProcessWithoutNullStreams;
		// an idle worker does not keep this process alive; a job's timer does while it runs
		this.child.unref();
		(this.child.stdout as unknown as Socket).unref();
		(this.child.stdin as unknown as Socket).unref();
		this.child.stdin.on("error", () => undefined);
		this.child.stdout.on("data", (d: Buffer) => this.data(d));
		this.child.once("error", (err: NodeJS.ErrnoException) => this.exited(err.message, err.code === "ENOENT" || err.code === "EACCES" ? `cannot start pdf-text: ${err.code}` : undefined));
		this.child.once("exit", (code, signal) => this.exited(`pdf-text exited (${signal ?? code})`));
	}

	start(job: Job): void {
		this.job = job;
		this.chunks = [];
		this.buffered = 0;
		this.timer = setTimeout(() => {
			this.finish({ ok: false, reason: "timeout" });
			this.killed = true;
			this.child.kill("SIGKILL");
		}, job.timeoutMs);
		const head = Buffer.alloc(4);
		head.writeUInt32LE(job.pdf.length, 0);
		this.child.stdin.write(head);
		this.child.stdin.write(job.pdf);
	}

	private data(d: Buffer): void {
		if (!this.job) return;
		this.chunks.push(d);
		this.buffered += d.length;
		// an answer is its length, then its body: joined once, when whole
		if (this.buffered < 4) return;
		if (this.chunks[0].length < 4) this.chunks = [Buffer.concat(this.chunks)];
		const size = this.chunks[0].readUInt32LE(0);
		if (this.buffered < 4 + size) return;
		const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
		this.answered = true;
		const outcome = parseAnswer(all.subarray(4, 4 + size));
		this.finish(outcome);
		// an answer that does not add up: this worker is not trusted with another document
		if (!outcome.ok && outcome.reason === "crashed") {
			this.killed = true;
			this.child.kill("SIGKILL");
		}
	}

	private finish(outcome: LayerOutcome): void {
		const job = this.job;
		if (!job) return;
		clearTimeout(this.timer);
		this.job = undefined;
		this.chunks = [];
		this.buffered = 0;
		job.resolve(outcome);
		if (outcome.ok || outcome.reason === "refused") this.done(this, false);
	}

	/** the process went (or never started: `fatal`); a job it was reading ends "crashed" */
	private exited(detail: string, fatal?: string): void {
		if (this.job) this.finish({ ok: false, reason: "crashed", detail });
		this.done(this, { early: !this.answered && !this.killed, ...(fatal ? { fatal } : {}) });
	}
}

/** The body of a pdf-text answer: `u32 0, u32 pages, (u32 len, text)*` or `u32 1, u32 len, reason`. */
export function parseAnswer(body: Buffer): LayerOutcome {
	const u32 = (at: number) => (at + 4 <= body.length ? body.readUInt32LE(at) : Number.NaN);
	const status = u32(0);
	if (status === 1) return { ok: false, reason: "refused", detail: body.toString("utf8", 8, 8 + u32(4)) };
	const count = u32(4);
	if (status !== 0 || !Number.isInteger(count)) return { ok: false, reason: "crashed", detail: "pdf-text answered what it cannot" };
	const pages: string[] = [];
	let at = 8;
	for (let i = 0; i < count; i++) {
		const len = u32(at);
		if (!(at + 4 + len <= body.length)) return { ok: false, reason: "crashed", detail: "pdf-text answered what it cannot" };
		pages.push(body.toString("utf8", at + 4, at + 4 + len));
		at += 4 + len;
	}
	return { ok: true, pages };
}

/** A bounded set of pdf-text workers; jobs past `size` wait in order. */
export class TextLayerReader {
	private readonly idle: Worker[] = [];
	private readonly all = new Set<Worker>();
	private readonly waiting: Job[] = [];
	private earlyDeaths = 0;
	private broken: string | undefined;
	private closed = false;

	private readonly opts: TextLayerOptions;

	constructor(opts: TextLayerOptions) {
		this.opts = opts;
		if (!existsSync(opts.binary)) this.broken = `${opts.binary} is not built (scripts/setup.sh builds it)`;
	}

	/** the pids of the workers alive now */
	get pids(): number[] {
		return [...this.all].map((w) => w.child.pid ?? 0).filter((pid) => pid > 0);
	}

	/** why the program cannot be used, if it cannot */
	get unavailable(): string | undefined {
		return this.broken;
	}

	read(pdf: Uint8Array, timeoutMs: number): Promise<LayerOutcome> {
		if (this.broken) return Promise.resolve({ ok: false, reason: "unavailable", detail: this.broken });
		return new Promise((resolve) => {
			this.closed = false;
			this.waiting.push({ pdf, timeoutMs, resolve });
			this.pump();
		});
	}

	/** Ends every worker (each exits at the end of its input); later reads start new ones. */
	close(): void {
		this.closed = true;
		for (const w of this.idle.splice(0)) w.child.stdin.end();
	}

	private pump(): void {
		while (this.waiting.length) {
			let w = this.idle.pop();
			if (!w) {
				if (this.all.size >= this.opts.size) return;
				w = new Worker(this.opts.binary, this.opts.maxTextBytes ?? TEXT_CAP, (worker, died) => this.released(worker, died));
				this.all.add(w);
			}
			const job = this.waiting.shift();
			if (job) w.start(job);
		}
	}

	private released(w: Worker, died: false | { early: boolean; fatal?: string }): void {
		if (died) {
			if (!this.all.delete(w)) return;
			const i = this.idle.indexOf(w);
			if (i >= 0) this.idle.splice(i, 1);
			if (died.fatal || (died.early && ++this.earlyDeaths >= MAX_EARLY_DEATHS)) {
				this.broken = died.fatal ?? "pdf-text dies before answering";
				for (const job of this.waiting.splice(0)) job.resolve({ ok: false, reason: "unavailable", detail: this.broken });
				return;
			}
		} else {
			this.earlyDeaths = 0;
			if (this.closed) {
				this.all.delete(w);
				w.child.stdin.end();
			} else this.idle.push(w);
		}
		this.pump();
	}
}

/**
 * The WeasyPrint engine: a pool of long-lived `/usr/bin/python3 weasyprint_worker.py` processes that import
 * WeasyPrint once and render documents sent over stdin/stdout (length-prefixed frames, see the worker).
 *
 * Why: spawning `python3 -m weasyprint` per document pays the interpreter + import start-up (~0.5 s) every
 * time (and weasyprint-wrapper returns empty PDFs with WeasyPrint >= 53: never use it). Debian's WeasyPrint
 * only runs under /usr/bin/python3, so that interpreter is used explicitly, whatever python3 is on PATH.
 *
 * One document per worker at a time; the pool defaults to os.availableParallelism() workers. A document that
 * exceeds its timeout rejects with RenderTimeoutError and its worker is killed (SIGKILL) and replaced; a
 * worker that dies fails only its own document; workers are restarted after `recycleAfter` documents.
 */
import { spawn } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { EngineClosedError, RenderError, RenderTimeoutError } from "./engine.ts";
import type { Engine, RenderJob, RenderOptions, RenderResult } from "./engine.ts";

export const WORKER_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "weasyprint_worker.py");

export interface WeasyPrintOptions {
	/** default /usr/bin/python3 (Debian's WeasyPrint runs only there) */
	python?: string;
	/** worker processes; default os.availableParallelism() */
	workers?: number;
	/** per-document timeout, default 60 s */
	timeoutMs?: number;
	/** documents after which a worker is replaced; 0 = never; default 500 */
	recycleAfter?: number;
	/** how long a new worker may take to import WeasyPrint; default 30 s */
	startTimeoutMs?: number;
}

interface FrameHeader {
	id?: number;
	ok?: boolean;
	ready?: boolean;
	pages?: number;
	error?: string;
	version?: string;
}

/** Incremental parser of [u32 header length][JSON][u32 body length][body] frames. */
class FrameReader {
	#chunks: Buffer[] = [];
	#length = 0;

	push(chunk: Buffer): void {
		this.#chunks.push(chunk);
		this.#length += chunk.length;
	}

	/** The next complete frame, or undefined when more bytes are needed. */
	next(): { header: FrameHeader; body: Buffer } | undefined {
		if (this.#length < 4) return undefined;
		const all = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks, this.#length);
		this.#chunks = [all];
		const hLen = all.readUInt32BE(0);
		if (all.length < 8 + hLen) return undefined;
		const bLen = all.readUInt32BE(4 + hLen);
		const end = 8 + hLen + bLen;
		if (all.length < end) return undefined;
		const header = JSON.parse(all.subarray(4, 4 + hLen).toString("utf8")) as FrameHeader;
		const body = Buffer.from(all.subarray(8 + hLen, end));
		const rest = all.subarray(end);
		this.#chunks = rest.length ? [rest] : [];
		this.#length = rest.length;
		return { header, body };
	}
}

function frame(header: object, body: Buffer): Buffer {
	const h = Buffer.from(JSON.stringify(header), "utf8");
	const out = Buffer.allocUnsafe(8 + h.length + body.length);
	out.writeUInt32BE(h.length, 0);
	h.copy(out, 4);
	out.writeUInt32BE(body.length, 4 + h.length);
	body.copy(out, 8 + h.length);
	return out;
}

let nextId = 1;

/** One python process. */
class Worker {
	readonly proc: ChildProcessWithoutNullStreams;
	readonly ready: Promise<void>;
	docs = 0;
	/** true once WeasyPrint is imported and the worker said it is ready */
	started = false;
	job?: RenderJob & { id: number; timer: NodeJS.Timeout };
	dead = false;
	#stderr = "";
	#reader = new FrameReader();
	#onExit: (w: Worker, reason: string) => void;
	#resolveReady!: () => void;
	#rejectReady!: (e: Error) => void;

	constructor(python: string, startTimeoutMs: number, onExit: (w: Worker, reason: string) => void) {
		this.#onExit = onExit;
		this.ready = new Promise<void>((resolve, reject) => {
			this.#resolveReady = resolve;
			this.#rejectReady = reject;
		});
		this.ready.catch(() => undefined);
		this.proc = spawn(python, [WORKER_SCRIPT], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1" } });
		const startTimer = setTimeout(() => this.kill(`did not start within ${startTimeoutMs} ms`), startTimeoutMs);
		this.ready.then(() => clearTimeout(startTimer), () => clearTimeout(startTimer));
		this.proc.stdout.on("data", (chunk: Buffer) => this.#onData(chunk));
		this.proc.stderr.on("data", (chunk: Buffer) => {
			this.#stderr = (this.#stderr + chunk.toString("utf8")).slice(-4000);
		});
		this.proc.stdin.on("error", () => undefined); // EPIPE when the worker died: reported through "exit"
		this.proc.on("error", (e) => this.#exited(`cannot start ${python}: ${e.message}`));
		this.proc.on("exit", (code, signal) => this.#exited(`exited (${signal ?? `code ${code}`})${this.#stderr ? `: ${this.#stderr.trim().split("\n").slice(-3).join(" | ")}` : ""}`));
	}

	get pid(): number | undefined {
		return this.proc.pid;
	}

	send(job: RenderJob & { id: number; timer: NodeJS.Timeout }): void {
		this.job = job;
		this.proc.stdin.write(frame({ id: job.id }, Buffer.from(job.html, "utf8")));
	}

	kill(reason: string): void {
		if (this.dead) return;
		this.#exited(reason);
		this.proc.kill("SIGKILL");
	}

	/** Asks the worker to finish (closes its stdin) and kills it if it lingers. */
	stop(): Promise<void> {
		if (this.proc.pid === undefined || this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve();
		const exited = new Promise<void>((resolve) => this.proc.once("exit", () => resolve()));
		this.dead = true;
		this.proc.stdin.end();
		const t = setTimeout(() => this.proc.kill("SIGKILL"), 3000);
		return exited.finally(() => clearTimeout(t));
	}

	#onData(chunk: Buffer): void {
		this.#reader.push(chunk);
		for (let f = this.#reader.next(); f; f = this.#reader.next()) {
			if (f.header.ready) {
				this.started = true;
				this.#resolveReady();
				continue;
			}
			const job = this.job;
			if (!job || f.header.id !== job.id) continue;
			this.job = undefined;
			clearTimeout(job.timer);
			this.docs++;
			if (f.header.ok) job.resolve({ pdf: f.body, pages: f.header.pages ?? 0 });
			else job.reject(new RenderError("weasyprint", `weasyprint failed to render: ${f.header.error ?? "unknown error"}`));
			this.#onExit(this, "");
		}
	}

	/** Reports the worker's end once (a timeout kill, a crash, or a failed start); a requested stop is silent. */
	#exited(reason: string): void {
		const wasDead = this.dead;
		this.dead = true;
		this.#rejectReady(new RenderError("weasyprint", `worker ${reason}`));
		if (!wasDead || this.job) this.#onExit(this, reason);
	}
}

export class WeasyPrintEngine implements Engine {
	readonly name = "weasyprint" as const;
	readonly #python: string;
	readonly #size: number;
	readonly #timeoutMs: number;
	readonly #recycleAfter: number;
	readonly #startTimeoutMs: number;
	#workers = new Set<Worker>();
	#idle: Worker[] = [];
	#queue: RenderJob[] = [];
	#starting = 0;
	#startFailures = 0;
	#closed = false;

	constructor(options: WeasyPrintOptions = {}) {
		this.#python = options.python ?? "/usr/bin/python3";
		this.#size = Math.max(1, options.workers ?? os.availableParallelism());
		this.#timeoutMs = options.timeoutMs ?? 60_000;
		this.#recycleAfter = Math.max(0, options.recycleAfter ?? 500);
		this.#startTimeoutMs = options.startTimeoutMs ?? 30_000;
	}

	/** Process ids of the live workers (monitoring, tests). */
	get pids(): number[] {
		return [...this.#workers].map((w) => w.pid).filter((p): p is number => p !== undefined);
	}

	/** Starts every worker now rather than on demand. */
	async warmUp(): Promise<void> {
		while (this.#workers.size < this.#size) this.#spawn();
		await Promise.all([...this.#workers].map((w) => w.ready));
	}

	render(html: string, options: RenderOptions = {}): Promise<RenderResult> {
		if (this.#closed) return Promise.reject(new EngineClosedError(this.name));
		return new Promise<RenderResult>((resolve, reject) => {
			this.#queue.push({ html, timeoutMs: options.timeoutMs ?? this.#timeoutMs, retried: false, resolve, reject });
			this.#pump();
		});
	}

	async close(): Promise<void> {
		this.#closed = true;
		for (const job of this.#queue.splice(0)) job.reject(new EngineClosedError(this.name));
		// Let in-flight documents finish (their timeouts bound the wait), then stop every worker.
		const busy = [...this.#workers].filter((w) => w.job);
		await Promise.all(busy.map((w) => new Promise<void>((resolve) => {
			const check = setInterval(() => {
				if (!w.job || w.dead) {
					clearInterval(check);
					resolve();
				}
			}, 20);
		})));
		const all = [...this.#workers];
		this.#workers.clear();
		this.#idle = [];
		await Promise.all(all.map((w) => w.stop()));
	}

	#spawn(): Worker {
		const w = new Worker(this.#python, this.#startTimeoutMs, (worker, reason) => this.#workerEvent(worker, reason));
		this.#workers.add(w);
		this.#starting++;
		w.ready.then(
			() => {
				this.#starting--;
				this.#startFailures = 0;
				if (this.#closed || w.dead) return;
				this.#idle.push(w);
				this.#pump();
			},
			(e: unknown) => {
				this.#starting--;
				this.#workers.delete(w);
				// A worker that cannot even start (no python, no WeasyPrint): fail the waiting documents
				// rather than respawning forever.
				if (++this.#startFailures >= 3 || this.#workers.size === 0) {
					for (const job of this.#queue.splice(0)) job.reject(e);
				}
				if (!this.#closed) this.#pump();
			}
		);
		return w;
	}

	/** A worker finished a document (reason ""), or died (reason says why). */
	#workerEvent(w: Worker, reason: string): void {
		if (reason) {
			this.#workers.delete(w);
			this.#idle = this.#idle.filter((x) => x !== w);
			const job = w.job;
			if (job) {
				w.job = undefined;
				clearTimeout(job.timer);
				if (!job.retried && !this.#closed) {
					// The worker died under this document (killed, crashed): run it once more on another worker.
					this.#queue.unshift({ html: job.html, timeoutMs: job.timeoutMs, retried: true, resolve: job.resolve, reject: job.reject });
				} else {
					job.reject(new RenderError(this.name, `weasyprint worker ${reason}`));
				}
			}
			// Keep the pool at full size (a worker that never started is handled by #spawn's failure path).
			if (!this.#closed && w.started && this.#workers.size < this.#size) this.#spawn();
		} else if (this.#recycleAfter > 0 && w.docs >= this.#recycleAfter) {
			this.#workers.delete(w);
			void w.stop();
			if (!this.#closed) this.#spawn();
		} else if (!this.#closed) {
			this.#idle.push(w);
		}
		if (!this.#closed) this.#pump();
	}

	#pump(): void {
		while (this.#queue.length > 0 && this.#idle.length > 0) {
			const w = this.#idle.pop() as Worker;
			if (w.dead) continue;
			const job = this.#queue.shift() as RenderJob;
			const id = nextId++;
			const timer = setTimeout(() => {
				// Kill the stuck worker; #workerEvent would report a crash, so detach the job first.
				if (w.job?.id !== id) return;
				w.job = undefined;
				w.kill(`timed out after ${job.timeoutMs} ms`);
				job.reject(new RenderTimeoutError(this.name, job.timeoutMs));
			}, job.timeoutMs);
			w.send({ ...job, id, timer });
		}
		// Start workers for the documents still waiting, up to the pool size.
		const missing = Math.min(this.#queue.length - this.#starting, this.#size - this.#workers.size);
		for (let i = 0; i < missing; i++) this.#spawn();
	}
}

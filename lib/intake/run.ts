/**
 * Running the command-line tools intake relies on (qpdf, pdfinfo, pdftotext, pdftoppm, tesseract): each call has a
 * time limit (then SIGKILL), a cap on what it may print, and reports its exit code instead of throwing, since these
 * tools use exit codes as answers (`qpdf --requires-password`: 0, 2 or 3). A pool bounds how many run at once.
 *
 * The tools are started by a small helper process (run-helper.ts), not by this one: spawning from a node of a few
 * hundred MB blocks its main thread while the kernel copies its page tables (measured 60-140 ms a spawn on the
 * shared 2-core machine, more than pdftotext's own ~25 ms), so a born-digital document cost more in spawning than
 * in reading. The helper is forked once per process, on first use; if it dies, what it ran runs here and the next
 * call forks another (after 5 deaths, or when it cannot be forked, every call runs here).
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { HelperAnswer, HelperRequest } from "./run-helper.ts";

export interface RunResult {
	/** exit code; null when killed (time limit, output cap) */
	code: number | null;
	stdout: Buffer;
	stderr: string;
	/** why the process was killed, if it was */
	killed?: "timeout" | "output";
}

export interface RunOptions {
	timeoutMs: number;
	/** most stdout bytes kept; past it the process is killed (default 64 MiB) */
	maxOutput?: number;
	env?: Record<string, string>;
	/** written to the tool's stdin (e.g. a PDF for `pdftotext - -`), so no temporary file is needed */
	input?: Uint8Array;
}

/** Runs `cmd args` without a shell; never rejects for a non-zero exit (only when the command cannot start). */
export function run(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
	return helper().run(cmd, args, opts);
}

/** run() in this process (the helper's own way; `started` sees each child, so the helper can kill them). */
export function runHere(cmd: string, args: string[], opts: RunOptions, started?: (c: ChildProcess) => void): Promise<RunResult> {
	return new Promise((resolve, reject) => {
		const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...opts.env } });
		started?.(child);
		// a tool that exits before reading all its input (a broken file) closes the pipe: its exit code tells
		child.stdin.on("error", () => undefined);
		child.stdin.end(opts.input);
		const out: Buffer[] = [];
		let outBytes = 0;
		let err = "";
		let killed: RunResult["killed"];
		const max = opts.maxOutput ?? 64 * 1024 * 1024;
		const timer = setTimeout(() => {
			killed = "timeout";
			child.kill("SIGKILL");
		}, opts.timeoutMs);
		child.stdout.on("data", (d: Buffer) => {
			outBytes += d.length;
			if (outBytes > max) {
				killed ??= "output";
				child.kill("SIGKILL");
				return;
			}
			out.push(d);
		});
		child.stderr.on("data", (d: Buffer) => {
			if (err.length < 8192) err += d.toString("utf8");
		});
		child.once("error", (e) => {
			clearTimeout(timer);
			reject(e);
		});
		child.once("close", (code) => {
			clearTimeout(timer);
			resolve({ code: killed ? null : code, stdout: Buffer.concat(out), stderr: err.slice(0, 8192), ...(killed ? { killed } : {}) });
		});
	});
}

const HELPER = fileURLToPath(new URL("./run-helper.ts", import.meta.url));
const MAX_DEATHS = 5;

/** The process's link to its helper: requests by id; the helper is referenced only while calls are pending. */
class Helper {
	private child?: ChildProcess;
	private next = 1;
	private readonly pending = new Map<number, { req: HelperRequest; resolve(r: RunResult): void; reject(e: Error): void }>();
	private broken = false;
	/** helpers that died; past MAX_DEATHS tools run here (a helper that cannot live is not forked for every call) */
	private deaths = 0;

	run(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
		const child = this.start();
		if (!child) return runHere(cmd, args, opts);
		const req: HelperRequest = { id: this.next++, cmd, args, opts };
		return new Promise((resolve, reject) => {
			// the helper enforces the time limit; this only guards against a helper that stopped answering
			const guard = setTimeout(() => this.settle(req.id, () => Promise.resolve({ code: null, stdout: Buffer.alloc(0), stderr: "", killed: "timeout" })), opts.timeoutMs + 10_000);
			guard.unref();
			const done = <T>(f: (v: T) => void) => (v: T) => {
				clearTimeout(guard);
				f(v);
			};
			this.pending.set(req.id, { req, resolve: done(resolve), reject: done(reject) });
			if (this.pending.size === 1) this.ref(child, true);
			child.send(req, (err) => {
				if (err) this.settle(req.id, () => runHere(cmd, args, opts));
			});
		});
	}

	private start(): ChildProcess | undefined {
		if (this.child || this.broken) return this.child;
		let child: ChildProcess;
		try {
			// the parent's own flags (e.g. --test) are not the helper's; node strips the types of the .ts file
			child = fork(HELPER, [], { execArgv: ["--disable-warning=ExperimentalWarning"], serialization: "advanced", stdio: ["ignore", "ignore", "inherit", "ipc"], env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
		} catch {
			this.broken = true;
			return undefined;
		}
		this.child = child;
		child.on("message", (m: HelperAnswer) => {
			this.settle(m.id, () => ("result" in m ? Promise.resolve(m.result) : Promise.reject(new Error(m.error))));
		});
		child.once("error", () => this.lost(child));
		child.once("exit", () => this.lost(child));
		this.ref(child, false);
		return child;
	}

	private settle(id: number, outcome: () => Promise<RunResult>): void {
		const p = this.pending.get(id);
		if (!p) return;
		this.pending.delete(id);
		if (this.pending.size === 0 && this.child) this.ref(this.child, false);
		outcome().then(p.resolve, p.reject);
	}

	/** the helper died: what it was running runs here; the next call forks a new helper */
	private lost(child: ChildProcess): void {
		if (this.child !== child) return;
		this.child = undefined;
		if (++this.deaths >= MAX_DEATHS) this.broken = true;
		for (const [id, p] of [...this.pending]) this.settle(id, () => runHere(p.req.cmd, p.req.args, p.req.opts));
	}

	/** an idle helper does not keep the process alive */
	private ref(child: ChildProcess, on: boolean): void {
		const channel = child.channel as { ref(): void; unref(): void } | null | undefined;
		if (on) {
			child.ref();
			channel?.ref();
		} else {
			child.unref();
			channel?.unref();
		}
	}
}

let shared: Helper | undefined;
function helper(): Helper {
	shared ??= new Helper();
	return shared;
}

/** At most `size` tasks at once; the others wait in order. */
export class Pool {
	readonly size: number;
	private active = 0;
	private readonly waiting: (() => void)[] = [];

	constructor(size: number) {
		this.size = Math.max(1, size);
	}

	async run<T>(task: () => Promise<T>): Promise<T> {
		if (this.active >= this.size) await new Promise<void>((r) => this.waiting.push(r));
		else this.active++;
		try {
			return await task();
		} finally {
			const next = this.waiting.shift();
			if (next) next();
			else this.active--;
		}
	}

	/** tasks running now */
	get busy(): number {
		return this.active;
	}
}

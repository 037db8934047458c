/**
 * Running the command-line tools intake relies on (qpdf, pdfinfo, pdftotext, pdftoppm, tesseract): each call has a
 * time limit (then SIGKILL), a cap on what it may print, and reports its exit code instead of throwing, since these
 * tools use exit codes as answers (`qpdf --requires-password`: 0, 2 or 3). A pool bounds how many run at once.
 */
import { spawn } from "node:child_process";

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
}

/** Runs `cmd args` without a shell; never rejects for a non-zero exit (only when the command cannot start). */
export function run(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
	return new Promise((resolve, reject) => {
		const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...opts.env } });
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

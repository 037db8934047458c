/**
 * WAL checkpoints off the main thread. SQLite in WAL mode appends each commit to `<file>-wal` and, by default, the
 * commit that takes the log past 1,000 pages copies them into the database file and fsyncs it: that commit then takes
 * ~15 ms instead of ~0.5 (measured in bench:dispatch: 133 of 3,731 commits, 60 % of all the main thread's commit time).
 * With background checkpoints the store's connections only checkpoint past a far larger log (a safety net), and a
 * worker thread with connections of its own runs PASSIVE checkpoints every CHECKPOINT_EVERY_MS: it copies what the log
 * holds without waiting for or blocking the writers and readers, and SQLite starts the log over at the next write once
 * all of it is copied. One worker per store; it never keeps the process alive.
 *
 * The worker side is this same module, started with workerData { role: "sqlite-checkpoints" }.
 */
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { loadSqlite } from "./sqlite-module.ts";
import type { DatabaseSync } from "node:sqlite";

/** how often the worker checkpoints (a checkpoint with nothing to copy costs next to nothing) */
export const CHECKPOINT_EVERY_MS = 100;
/** the store's own connections checkpoint only past this many pages (64 MiB of 8 KiB pages): if the worker falls behind */
export const SAFETY_NET_PAGES = 8192;

type ToWorker = { add: string } | { stop: true };
type FromWorker = { error: string; file: string } | { stopped: true };

/** The store's handle on its checkpoint worker. */
export class BackgroundCheckpoints {
	readonly #worker: Worker;
	#closed = false;

	constructor(onError: (file: string, message: string) => void) {
		this.#worker = new Worker(new URL(import.meta.url), { workerData: { role: "sqlite-checkpoints" }, name: "sqlite-checkpoints" });
		this.#worker.unref();
		this.#worker.on("message", (m: FromWorker) => {
			if ("error" in m) onError(m.file, m.error);
		});
		this.#worker.on("error", (err) => onError("(worker)", err.message));
	}

	/** Checkpoints this database file from now on. */
	add(file: string): void {
		if (!this.#closed) this.#worker.postMessage({ add: file } satisfies ToWorker);
	}

	/** Stops the worker (its connections closed). */
	async close(): Promise<void> {
		if (this.#closed) return;
		this.#closed = true;
		await this.#worker.terminate();
	}
}

/** The worker: a connection per file, a PASSIVE checkpoint of each every CHECKPOINT_EVERY_MS. */
function serve(): void {
	const port = parentPort;
	if (!port) return;
	const { DatabaseSync: Database } = loadSqlite();
	const conns = new Map<string, DatabaseSync>();
	const failing = new Set<string>();
	port.on("message", (m: ToWorker) => {
		if ("add" in m && !conns.has(m.add)) {
			const db = new Database(m.add);
			// never wait: a checkpoint that cannot get its lock now runs at the next tick
			db.exec("PRAGMA busy_timeout = 0");
			conns.set(m.add, db);
		}
	});
	setInterval(() => {
		for (const [file, db] of conns) {
			try {
				db.exec("PRAGMA wal_checkpoint(PASSIVE)");
				failing.delete(file);
			} catch (err) {
				// told once per failing streak (SQLITE_BUSY from another checkpoint is not worth a word)
				const message = (err as Error).message;
				if (!/busy|locked/i.test(message) && !failing.has(file)) port.postMessage({ error: message, file } satisfies FromWorker);
				failing.add(file);
			}
		}
	}, CHECKPOINT_EVERY_MS);
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === "sqlite-checkpoints") serve();

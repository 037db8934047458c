/**
 * The folder object store's writer thread: a put whose body is already in memory (a rendered PDF, an uploaded
 * document intake holds, a short text) is written here with synchronous file calls, all of one put in one job.
 * Done with fs/promises on the main thread the same put was ~15 round trips through libuv's pool (mkdir, open,
 * write, fsync, close, the sidecar's four, two renames, the folder's open, fsync, close): ~0.7-1.3 ms of the main
 * thread and ~1.8 ms of CPU in all for a 6 KB object (measured), against one message each way here. Two threads,
 * so one put's fsyncs do not hold up the next. The layout, order and atomicity are the store's (lib/objects/fs.ts):
 * data and sidecar fsynced in temporary files, sidecar renamed into place first, then data, then the folder fsynced.
 */
import fs from "node:fs";
import path from "node:path";
import { isMainThread, workerData } from "node:worker_threads";
import { ThreadPool, serveJobs } from "../threads.ts";

export interface WriteJob {
	dir: string;
	/** final names of the data file and the sidecar */
	data: string;
	meta: string;
	/** temporary names in `dir` */
	dataTmp: string;
	metaTmp: string;
	bytes: Uint8Array;
	sidecar: string;
}

/** Writes one object's files (see the module comment); removes its temporary files when it fails. */
export function writeObjectFiles(job: WriteJob): void {
	const dataTmp = path.join(job.dir, job.dataTmp);
	const metaTmp = path.join(job.dir, job.metaTmp);
	try {
		writeSynced(job.dir, dataTmp, job.bytes);
		writeSynced(job.dir, metaTmp, Buffer.from(job.sidecar, "utf8"));
		// sidecar first: a new object becomes visible with its metadata already in place
		fs.renameSync(metaTmp, path.join(job.dir, job.meta));
		fs.renameSync(dataTmp, path.join(job.dir, job.data));
		syncDirSync(job.dir);
	} catch (err) {
		fs.rmSync(dataTmp, { force: true });
		fs.rmSync(metaTmp, { force: true });
		throw err;
	}
}

/** An exclusive new file with these bytes, fsynced; its folder made first (again if a concurrent delete pruned it). */
function writeSynced(dir: string, file: string, bytes: Uint8Array): void {
	let fd: number | undefined;
	for (let attempt = 0; fd === undefined; attempt++) {
		fs.mkdirSync(dir, { recursive: true });
		try {
			fd = fs.openSync(file, "wx", 0o644);
		} catch (err) {
			if ((err as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= 5) throw err;
		}
	}
	try {
		let offset = 0;
		while (offset < bytes.length) offset += fs.writeSync(fd, bytes, offset, bytes.length - offset);
		fs.fsyncSync(fd);
	} finally {
		fs.closeSync(fd);
	}
}

function syncDirSync(dir: string): void {
	let fd: number | undefined;
	try {
		fd = fs.openSync(dir, "r");
		fs.fsyncSync(fd);
	} catch {
		// some filesystems cannot fsync a folder; the renames are still atomic
	} finally {
		if (fd !== undefined) fs.closeSync(fd);
	}
}

const OBJECT_WRITER = "object-writer";
let pool: ThreadPool<WriteJob, void> | undefined;

/** Runs a write on the process's writer threads (started on first use; idle, they keep no process alive). */
export function writeOnThread(job: WriteJob): Promise<void> {
	pool ??= new ThreadPool<WriteJob, void>({ url: new URL(import.meta.url), size: 2, name: OBJECT_WRITER, workerData: { role: OBJECT_WRITER } });
	return pool.run(job);
}

// only in the writer's own threads (other threads that load the store, the registry's, must not answer its jobs)
if (!isMainThread && (workerData as { role?: string } | null)?.role === OBJECT_WRITER) serveJobs(async (job: WriteJob) => writeObjectFiles(job));

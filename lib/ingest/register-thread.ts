/**
 * The registry's write thread, used on the embedded SQLite store. node:sqlite writes are synchronous: on the main
 * thread a 5,000-row chunk held the event loop for tens of milliseconds and the store writes took turns with
 * everything else the process does. On its own thread, with its own connections to the same files (WAL; writers
 * wait for each other through busy_timeout), registering runs on a core of its own beside the parse threads and
 * the main thread. MongoDB writes are I/O and stay on the main thread.
 */
import { ThreadPool } from "../threads.ts";
import type { Config } from "../../config/index.ts";
import type { BatchDoc, ChunkDoc } from "./batches.ts";
import type { RegisterResult } from "./register.ts";

export interface RegisterJob {
	batch: BatchDoc;
	chunks: ChunkDoc[];
}

export type RegisterThread = ThreadPool<RegisterJob, RegisterResult[]>;

/**
 * One thread (SQLite has one writer at a time: more threads would only wait for each other). `onCpu`: the CPU
 * seconds it used, reported after each group of chunks (the thread CPU metric).
 */
export function createRegisterThread(config: Config, onCpu?: (seconds: number) => void): RegisterThread {
	return new ThreadPool<RegisterJob, RegisterResult[]>({ url: new URL("./register-worker.ts", import.meta.url), size: 1, name: "register", workerData: { config }, onCpu });
}

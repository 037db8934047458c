/**
 * The etl parses chunks on worker threads, so parsing and validating (CPU) runs beside the store writes of the
 * registry and the I/O of the main thread instead of taking turns with them: in the embedded default that is what
 * lets one process use more than one core. One pool per etl service; a thread that dies is replaced and its job
 * fails (the queue retries it).
 */
import { Worker } from "node:worker_threads";
import type { ClientFormat } from "../etl/format.ts";
import type { Chunk } from "../etl/chunk.ts";
import type { Rejection } from "../etl/parse-chunk.ts";

export interface ParseJob {
	format: ClientFormat;
	header: { text: string; delimiter: string };
	chunk: Pick<Chunk, "text" | "firstLine" | "lines">;
}

export interface ParseOutput {
	/** the valid rows ([{line, key, record}]) as JSON text, ready to be stored */
	staged: string;
	valid: number;
	rejections: Rejection[];
	rows: number;
	rejectedRows: number;
	skipped: number;
}

interface Pending {
	resolve(out: ParseOutput): void;
	reject(err: Error): void;
}

interface Slot {
	worker: Worker;
	busy: number;
	pending: Map<number, Pending>;
}

const WORKER_URL = new URL("./parse-worker.ts", import.meta.url);

export class ParsePool {
	private readonly slots: Slot[] = [];
	private nextId = 1;
	private closed = false;

	constructor(size: number) {
		for (let i = 0; i < Math.max(1, size); i++) this.slots.push(this.spawn());
	}

	private spawn(): Slot {
		const slot: Slot = { worker: new Worker(WORKER_URL), busy: 0, pending: new Map() };
		slot.worker.unref();
		slot.worker.on("message", (msg: { id: number; out?: ParseOutput; error?: { message: string } }) => {
			const p = slot.pending.get(msg.id);
			if (!p) return;
			slot.pending.delete(msg.id);
			slot.busy--;
			if (msg.out) p.resolve(msg.out);
			else p.reject(new Error(msg.error?.message ?? "parse failed"));
		});
		const fail = (err: Error) => {
			for (const p of slot.pending.values()) p.reject(err);
			slot.pending.clear();
			slot.busy = 0;
			const i = this.slots.indexOf(slot);
			if (i >= 0 && !this.closed) this.slots[i] = this.spawn();
		};
		slot.worker.on("error", fail);
		slot.worker.on("exit", (code) => {
			if (!this.closed && code !== 0) fail(new Error(`parse thread exited with code ${code}`));
		});
		return slot;
	}

	/** Parses one chunk on the least busy thread. */
	run(job: ParseJob): Promise<ParseOutput> {
		if (this.closed) return Promise.reject(new Error("parse pool is closed"));
		const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
		const id = this.nextId++;
		slot.busy++;
		return new Promise((resolve, reject) => {
			slot.pending.set(id, { resolve, reject });
			slot.worker.postMessage({ id, job });
		});
	}

	async close(): Promise<void> {
		this.closed = true;
		await Promise.all(this.slots.map((s) => s.worker.terminate()));
	}
}

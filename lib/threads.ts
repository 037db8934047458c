/**
 * A small pool of worker threads that run one kind of job (the etl's parse threads, the registry's write thread).
 * Jobs go to the least busy thread; a thread that dies is replaced and the jobs it held fail (the queue that asked
 * for them retries). The worker side answers with serveJobs(); each answer carries the thread's CPU time so far,
 * so the pool can report the CPU its threads use (onCpu: the metric that shows which pool is saturated).
 */
import { Worker, parentPort } from "node:worker_threads";

interface Pending<O> {
	resolve(out: O): void;
	reject(err: Error): void;
}

interface Slot<O> {
	worker: Worker;
	busy: number;
	pending: Map<number, Pending<O>>;
	/** the thread's CPU time (microseconds, user + system) at its last answer */
	cpuUs: number;
}

/** A thread's answer to one job, with its CPU time so far (process.threadCpuUsage, user + system, microseconds). */
type Reply<O> = { id: number; out?: O; error?: { message: string; name: string }; cpuUs?: number };

export interface ThreadPoolOptions {
	/** the worker module (it calls serveJobs) */
	url: URL;
	size: number;
	name: string;
	/** handed to every thread the pool starts */
	workerData?: unknown;
	/** called after each answer with the CPU seconds the thread used since its previous answer */
	onCpu?: (seconds: number) => void;
}

export class ThreadPool<J, O> {
	private readonly slots: Slot<O>[] = [];
	private nextId = 1;
	private closed = false;
	private readonly url: URL;
	private readonly name: string;
	private readonly workerData: unknown;
	private readonly onCpu?: (seconds: number) => void;

	constructor(options: ThreadPoolOptions) {
		this.url = options.url;
		this.name = options.name;
		this.workerData = options.workerData;
		this.onCpu = options.onCpu;
		for (let i = 0; i < Math.max(1, options.size); i++) this.slots.push(this.spawn());
	}

	private spawn(): Slot<O> {
		const slot: Slot<O> = { worker: new Worker(this.url, { workerData: this.workerData, name: this.name }), busy: 0, pending: new Map(), cpuUs: 0 };
		slot.worker.on("message", (msg: Reply<O>) => {
			if (typeof msg.cpuUs === "number" && msg.cpuUs > slot.cpuUs) {
				this.onCpu?.((msg.cpuUs - slot.cpuUs) / 1e6);
				slot.cpuUs = msg.cpuUs;
			}
			const p = slot.pending.get(msg.id);
			if (!p) return;
			slot.pending.delete(msg.id);
			slot.busy--;
			if (slot.busy === 0) slot.worker.unref();
			if (msg.error) p.reject(Object.assign(new Error(msg.error.message), { name: msg.error.name }));
			else p.resolve(msg.out as O);
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
			if (!this.closed && code !== 0) fail(new Error(`${this.name} thread exited with code ${code}`));
		});
		// after the listeners (adding a "message" listener refs the worker's port again): an idle thread keeps no
		// process alive
		slot.worker.unref();
		return slot;
	}

	/** Runs one job on the least busy thread. */
	run(job: J): Promise<O> {
		if (this.closed) return Promise.reject(new Error(`${this.name} threads are closed`));
		const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
		const id = this.nextId++;
		// an idle thread does not keep the process alive; one with a job does
		if (slot.busy++ === 0) slot.worker.ref();
		return new Promise((resolve, reject) => {
			slot.pending.set(id, { resolve, reject });
			slot.worker.postMessage({ id, job });
		});
	}

	/** Jobs sent and not answered yet. */
	get busy(): number {
		return this.slots.reduce((n, s) => n + s.busy, 0);
	}

	async close(): Promise<void> {
		this.closed = true;
		await Promise.all(this.slots.map((s) => s.worker.terminate()));
	}
}

/** This thread's CPU time so far, user + system, in microseconds. */
function threadCpuUs(): number {
	const u = process.threadCpuUsage();
	return u.user + u.system;
}

/** The worker side: answers every job message with `handle`'s result (or its error) and the thread's CPU time. */
export function serveJobs<J, O>(handle: (job: J) => Promise<O>): void {
	parentPort?.on("message", (msg: { id: number; job: J }) => {
		handle(msg.job).then(
			(out) => parentPort?.postMessage({ id: msg.id, out, cpuUs: threadCpuUs() } satisfies Reply<O>),
			(err: Error) => parentPort?.postMessage({ id: msg.id, error: { message: err.message, name: err.name }, cpuUs: threadCpuUs() } satisfies Reply<O>)
		);
	});
}

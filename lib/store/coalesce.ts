/**
 * Groups the calls made within one turn of the event loop (or within `lingerMs`) into one call of a batch function:
 * many cases in flight each ask for one compare-and-set or one insert, and the store gets one transaction for all of
 * them. Lingering a few milliseconds gathers the calls that arrive spread out (webhooks, provider answers over
 * HTTP): a transaction costs far more than a statement in it, and a few milliseconds more per step cost nothing.
 * Each caller gets its own result, and its promise settles only after the batch call (the transaction) settled,
 * so a caller never goes on before its write is committed; a failed batch rejects every caller in it.
 * Coalescers of one FlushGroup flush together, their batch calls inside one transaction of the store.
 */
/** `fn` once, `lingerMs` after the first ask (in the next turn when 0), however often it is asked until it runs. */
function lingering(lingerMs: number, fn: () => void): () => void {
	let scheduled = false;
	const go = (): void => {
		scheduled = false;
		fn();
	};
	return () => {
		if (scheduled) return;
		scheduled = true;
		if (lingerMs > 0) setTimeout(go, lingerMs);
		else setImmediate(go);
	};
}

export class Coalescer<I, O> {
	readonly #run: (items: I[]) => Promise<O[]>;
	readonly #max: number;
	readonly #schedule: () => void;
	#pending: { item: I; resolve: (o: O) => void; reject: (err: unknown) => void }[] = [];
	readonly #group: FlushGroup | undefined;

	/** `run` gets the items in call order and returns one result per item, in the same order. */
	constructor(run: (items: I[]) => Promise<O[]>, options: { max?: number; lingerMs?: number; group?: FlushGroup } = {}) {
		this.#run = run;
		this.#max = Math.max(1, options.max ?? 500);
		this.#schedule = lingering(Math.max(0, options.lingerMs ?? 0), () => this.flush());
		this.#group = options.group;
		this.#group?.add(this);
	}

	call(item: I): Promise<O> {
		return new Promise<O>((resolve, reject) => {
			this.#pending.push({ item, resolve, reject });
			if (this.#pending.length >= this.#max) this.flush();
			else if (this.#group) this.#group.schedule();
			else this.#schedule();
		});
	}

	/** Answers every pending caller with `err`, running nothing (the group's transaction could not start). */
	fail(err: unknown): void {
		const batch = this.#pending;
		this.#pending = [];
		for (const b of batch) b.reject(err);
	}

	/** Runs the pending batch now; its callers wait for `gate` too (the group's commit) before they are answered. */
	flush(gate?: Promise<void>): void {
		const batch = this.#pending;
		if (batch.length === 0) return;
		this.#pending = [];
		let done: Promise<O[]>;
		try {
			done = this.#run(batch.map((b) => b.item));
		} catch (err) {
			done = Promise.reject(err);
		}
		(gate ? Promise.all([done, gate]).then(([out]) => out) : done).then(
			(out) => {
				if (out.length !== batch.length) {
					const err = new Error(`a batch of ${batch.length} got ${out.length} results`);
					for (const b of batch) b.reject(err);
					return;
				}
				batch.forEach((b, i) => b.resolve(out[i] as O));
			},
			(err: unknown) => {
				for (const b of batch) b.reject(err);
			}
		);
	}
}

/** What a FlushGroup needs of its members. */
interface GroupMember {
	flush(gate: Promise<void>): void;
	fail(err: unknown): void;
}

/**
 * Coalescers that flush together: one linger for all of them, then every member's batch call inside one
 * `together` (the store's one transaction across collections, StoreAdapter.together), so that a turn of the delivery
 * state machine (compare-and-sets on cases and attempts, attempt and event inserts) costs one commit, not one per
 * collection; on a file shared by several processes, one write lock taken instead of four. A member's callers are
 * answered once its own call settled and the group's transaction committed; a failed commit rejects them all.
 * Without `together` (a store whose calls commit on their own) the members just flush at the same moment.
 */
export class FlushGroup {
	readonly #members: GroupMember[] = [];
	readonly #together: (fn: () => void) => void;
	/** A member has a pending call: flush the group after the linger (once for all calls until then). */
	readonly schedule: () => void;

	constructor(together: ((fn: () => void) => void) | undefined, options: { lingerMs?: number } = {}) {
		this.#together = together ?? ((fn) => fn());
		this.schedule = lingering(Math.max(0, options.lingerMs ?? 0), () => this.flush());
	}

	add(member: GroupMember): void {
		this.#members.push(member);
	}


	flush(): void {
		let commit!: () => void;
		let abort!: (err: unknown) => void;
		const gate = new Promise<void>((resolve, reject) => {
			commit = resolve;
			abort = reject;
		});
		// every member waits on the gate and answers its callers: this handler only keeps an abort from going unhandled
		gate.catch(() => undefined);
		let started = false;
		try {
			this.#together(() => {
				started = true;
				for (const m of this.#members) m.flush(gate);
			});
			commit();
		} catch (err) {
			if (!started) for (const m of this.#members) m.fail(err);
			abort(err);
		}
	}
}

/**
 * Groups the calls made within one turn of the event loop (or within `lingerMs`) into one call of a batch function:
 * many cases in flight each ask for one compare-and-set or one insert, and the store gets one transaction for all of
 * them. Lingering a few milliseconds gathers the calls that arrive spread out (webhooks, provider answers over
 * HTTP): a transaction costs far more than a statement in it, and a few milliseconds more per step cost nothing.
 * Each caller gets its own result, and its promise settles only after the batch call (the transaction) settled,
 * so a caller never goes on before its write is committed; a failed batch rejects every caller in it.
 */
export class Coalescer<I, O> {
	readonly #run: (items: I[]) => Promise<O[]>;
	readonly #max: number;
	readonly #lingerMs: number;
	#pending: { item: I; resolve: (o: O) => void; reject: (err: unknown) => void }[] = [];
	#scheduled = false;

	/** `run` gets the items in call order and returns one result per item, in the same order. */
	constructor(run: (items: I[]) => Promise<O[]>, options: { max?: number; lingerMs?: number } = {}) {
		this.#run = run;
		this.#max = Math.max(1, options.max ?? 500);
		this.#lingerMs = Math.max(0, options.lingerMs ?? 0);
	}

	call(item: I): Promise<O> {
		return new Promise<O>((resolve, reject) => {
			this.#pending.push({ item, resolve, reject });
			if (this.#pending.length >= this.#max) this.#flush();
			else if (!this.#scheduled) {
				this.#scheduled = true;
				const go = (): void => {
					this.#scheduled = false;
					this.#flush();
				};
				if (this.#lingerMs > 0) setTimeout(go, this.#lingerMs);
				else setImmediate(go);
			}
		});
	}

	#flush(): void {
		const batch = this.#pending;
		if (batch.length === 0) return;
		this.#pending = [];
		this.#run(batch.map((b) => b.item)).then(
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

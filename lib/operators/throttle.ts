/**
 * Failed-login throttling, per account and per address: after `limit` failures within `windowMs`, further attempts
 * are refused (HTTP 429 with Retry-After) until the oldest failure of the window ages out. A successful login clears
 * the account's failures (not the address's). Kept in the memory of the node that answers the login: a deployment
 * with several api nodes allows each node its own `limit`, which still bounds guessing to a handful per minute.
 */
export interface ThrottleOptions {
	limit: number;
	windowMs: number;
}

export class LoginThrottle {
	readonly #failures = new Map<string, number[]>();
	readonly #opts: ThrottleOptions;
	readonly #now: () => number;

	constructor(opts: ThrottleOptions, now: () => number = Date.now) {
		this.#opts = opts;
		this.#now = now;
	}

	#recent(key: string): number[] {
		const cutoff = this.#now() - this.#opts.windowMs;
		const list = (this.#failures.get(key) ?? []).filter((t) => t > cutoff);
		if (list.length) this.#failures.set(key, list);
		else this.#failures.delete(key);
		return list;
	}

	/** Seconds to wait before `key` may try again; 0 when it may try now. */
	retryAfter(key: string): number {
		const list = this.#recent(key);
		if (list.length < this.#opts.limit) return 0;
		return Math.max(1, Math.ceil((list[list.length - this.#opts.limit] + this.#opts.windowMs - this.#now()) / 1000));
	}

	fail(key: string): void {
		const list = this.#recent(key);
		list.push(this.#now());
		this.#failures.set(key, list);
		// bound memory under a spray of distinct keys
		if (this.#failures.size > 100_000) this.#failures.delete(this.#failures.keys().next().value as string);
	}

	clear(key: string): void {
		this.#failures.delete(key);
	}
}

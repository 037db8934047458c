/**
 * The cluster-wide half of the alert throttle. Every notifier, scheduler (and any other process that raises
 * alerts) builds its own sink, so an in-memory throttle alone mails once per kind per interval per process. Before a
 * sink mails an alert of kind K in the interval starting at W (intervals aligned on the epoch, ALERT_INTERVAL_S
 * long), it claims `alert:K:<W as ISO time>` by inserting a document under that `_id` in the platform's store
 * (`alert_claims`, insert-if-absent: one insert wins on SQLite, MongoDB and PostgreSQL alike, as a dispatch run's
 * slot): only the winner mails; the others log, count and hold their alerts for a later interval's summary.
 *
 * Claims are tiny and short-lived: the winner of a claim removes the claims of its kind older than the previous
 * interval (one indexed delete per kind per interval across the cluster), so at most about two claims per kind are
 * ever stored.
 */
import { hostname } from "node:os";
import type { IndexSpec, StoreAdapter } from "../store/types.ts";

export interface AlertClaims {
	/** true when this caller took the interval starting at `windowStart` for `kind` (it mails), false when another sink has */
	claim(kind: string, windowStart: number, intervalMs: number): Promise<boolean>;
}

export const ALERT_CLAIMS_COLLECTION = "alert_claims";

const INDEXES: IndexSpec[] = [{ fields: ["kind", "windowStart"], name: "alert_claims_kind_window" }];

/** The claim's key: `alert:<kind>:<interval start, ISO>`. */
export function claimId(kind: string, windowStart: number): string {
	return `alert:${kind}:${new Date(windowStart).toISOString()}`;
}

/** Start of the interval (aligned on the epoch) that `t` falls in. */
export function windowOf(t: number, intervalMs: number): number {
	return Math.floor(t / intervalMs) * intervalMs;
}

type Owner = { adapter(collection: string): StoreAdapter };

/** Per store (the platform's StoreFactory): its alert_claims collection, opened with its index once per process. */
const opened = new WeakMap<object, Promise<StoreAdapter>>();

function claimsCollection(owner: Owner): Promise<StoreAdapter> {
	let p = opened.get(owner);
	if (!p) {
		p = (async () => {
			const a = owner.adapter(ALERT_CLAIMS_COLLECTION);
			await a.connect();
			await a.ensureIndexes(INDEXES);
			return a;
		})();
		opened.set(owner, p);
		p.catch(() => opened.delete(owner));
	}
	return p;
}

/** Claims on the platform's store. A store error rejects: the caller decides (lib/alerts mails anyway). */
export function storeAlertClaims(owner: Owner): AlertClaims {
	const by = `${hostname()}:${process.pid}`;
	return {
		async claim(kind, windowStart, intervalMs) {
			const claims = await claimsCollection(owner);
			const [won] = await claims.insertManyIfAbsent([{ _id: claimId(kind, windowStart), kind, windowStart, by, at: new Date() }]);
			if (won) {
				// the previous interval's claim stays (a node whose clock lags may still be in it); older ones go. A failed
				// clean-up only leaves them for the next winner
				await claims.removeMany({ kind, windowStart: { $lt: windowStart - intervalMs } }).catch(() => undefined);
			}
			return won === true;
		}
	};
}

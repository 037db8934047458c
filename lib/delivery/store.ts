/**
 * Delivery's collections on the platform's store (SQLite or MongoDB), opened once per process with their indexes:
 *   cases               unique (clientId, loanKey, documentType): a case is created once, by insert, never by check-then-insert
 *   delivery_attempts   _id = our attempt ID; by case, by provider message ID, open attempts by deadline (the timeout sweep)
 *   delivery_events     every status event as it came (duplicates and late ones too)
 *   dispatch_runs       unique slot: one scheduled run per cron slot, whichever scheduler node claims it first
 *   sandbox_outbox      what the sandbox provider would have sent
 */
import type { Doc, IndexSpec, Query, StoreAdapter, Update } from "../store/types.ts";

export const COLLECTIONS = {
	cases: "cases",
	attempts: "delivery_attempts",
	events: "delivery_events",
	runs: "dispatch_runs",
	outbox: "sandbox_outbox"
} as const;

export const INDEXES: Record<keyof typeof COLLECTIONS, IndexSpec[]> = {
	cases: [
		{ fields: ["clientId", "loanKey", "documentType"], unique: true, name: "cases_client_loan_type" },
		{ fields: ["runId", "status"], name: "cases_run_status" },
		{ fields: ["clientId", "status", "dueDate"], name: "cases_client_status_due" },
		{ fields: ["status", "dueDate"], name: "cases_status_due" },
		// the case lists (GET /cases, the console), newest first: across clients, per client, per status or channel, by loan
		{ fields: ["-createdAt"], name: "cases_created" },
		{ fields: ["clientId", "-createdAt"], name: "cases_client_created" },
		{ fields: ["status", "-createdAt"], name: "cases_status_created" },
		{ fields: ["channel", "-createdAt"], name: "cases_channel_created" },
		{ fields: ["loanKey"], name: "cases_loan" }
	],
	attempts: [
		{ fields: ["caseId"], name: "attempts_case" },
		{ fields: ["providerMessageId"], name: "attempts_provider_message" },
		{ fields: ["open", "deadline"], name: "attempts_open_deadline" }
	],
	events: [{ fields: ["attemptId"], name: "events_attempt" }, { fields: ["caseId"], name: "events_case" }],
	runs: [
		{ fields: ["slot"], unique: true, name: "runs_slot" },
		{ fields: ["startedAt"], name: "runs_started" }
	],
	outbox: [{ fields: ["attemptId"], name: "outbox_attempt" }, { fields: ["caseId"], name: "outbox_case" }, { fields: ["at"], name: "outbox_at" }]
};

/** The delivery collections, with a compare-and-set helper. */
export class DeliveryStore {
	readonly cases: StoreAdapter;
	readonly attempts: StoreAdapter;
	readonly events: StoreAdapter;
	readonly runs: StoreAdapter;
	readonly outbox: StoreAdapter;

	private constructor(open: (collection: string) => StoreAdapter) {
		this.cases = open(COLLECTIONS.cases);
		this.attempts = open(COLLECTIONS.attempts);
		this.events = open(COLLECTIONS.events);
		this.runs = open(COLLECTIONS.runs);
		this.outbox = open(COLLECTIONS.outbox);
	}

	/** Opens the collections and ensures their indexes (idempotent). */
	static async open(open: (collection: string) => StoreAdapter): Promise<DeliveryStore> {
		const s = new DeliveryStore(open);
		for (const [name, indexes] of Object.entries(INDEXES) as [keyof typeof COLLECTIONS, IndexSpec[]][]) {
			const a = s[name];
			await a.connect();
			await a.ensureIndexes(indexes);
		}
		return s;
	}

	/** Changes one document only if it still matches `expect` (compare-and-set); true when it changed. */
	async cas(adapter: StoreAdapter, id: string, expect: Query, update: Update): Promise<boolean> {
		return (await adapter.updateMany({ ...expect, _id: id }, update)) === 1;
	}

	async getCase<T extends Doc>(id: string): Promise<T | null> {
		return (await this.cases.findById(id)) as T | null;
	}
}

/** Per StoreFactory-like opener: one DeliveryStore per process (the services of a node share it). */
const opened = new WeakMap<object, Promise<DeliveryStore>>();

/** The DeliveryStore of `owner` (the platform's store factory), opened on first use. */
export function deliveryStore(owner: { adapter(collection: string): StoreAdapter }): Promise<DeliveryStore> {
	let p = opened.get(owner);
	if (!p) {
		p = DeliveryStore.open((c) => owner.adapter(c));
		opened.set(owner, p);
		p.catch(() => opened.delete(owner));
	}
	return p;
}

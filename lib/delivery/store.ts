/**
 * Delivery's collections on the platform's store (SQLite or MongoDB), opened once per process with their indexes:
 *   cases               unique (clientId, loanKey, documentType): a case is created once, by insert, never by check-then-insert
 *   delivery_attempts   _id = our attempt ID; by case, by provider message ID, open attempts by deadline (the timeout sweep)
 *   delivery_events     every status event as it came (duplicates and late ones too)
 *   dispatch_runs       unique slot: one scheduled run per cron slot, whichever scheduler node claims it first
 *   dispatch_digests    _id = "digest:<day>": one daily digest per day, whichever scheduler node claims it first
 *   sandbox_outbox      what the sandbox provider would have sent
 *
 * The writes of the delivery state machine (compare-and-sets, attempt inserts, events) go through coalescers: the
 * writes many cases in flight ask for within 10 ms become one store call per collection (compareAndSetMany,
 * insertManyIfAbsent, insertMany), and the calls of all collections one transaction where the store spans them
 * (SQLite: StoreAdapter.together, a FlushGroup), each caller still getting its own answer once it is committed.
 */
import type { CompareAndSetOp, Doc, IndexSpec, NewDoc, Query, StoreAdapter, Update } from "../store/types.ts";
import { Coalescer, FlushGroup } from "../store/coalesce.ts";

export const COLLECTIONS = {
	cases: "cases",
	attempts: "delivery_attempts",
	events: "delivery_events",
	runs: "dispatch_runs",
	/** the daily digests sent, one per day (`_id` "digest:<YYYY-MM-DD>"): the claim that makes one node send it */
	digests: "dispatch_digests",
	outbox: "sandbox_outbox",
	/** per channel and phone, the last inbound message (WhatsApp's 24 h customer-service window, across nodes) */
	inbound: "delivery_inbound"
} as const;

export const INDEXES: Record<keyof typeof COLLECTIONS, IndexSpec[]> = {
	cases: [
		{ fields: ["clientId", "loanKey", "documentType"], unique: true, name: "cases_client_loan_type" },
		{ fields: ["runId", "status"], name: "cases_run_status" },
		{ fields: ["clientId", "status", "dueDate"], name: "cases_client_status_due" },
		{ fields: ["status", "dueDate"], name: "cases_status_due" },
		// the sweep's cases left in "sending" (oldest first): without it, every sweep read every case in flight
		{ fields: ["status", "updatedAt"], name: "cases_status_updated" },
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
	digests: [],
	outbox: [{ fields: ["attemptId"], name: "outbox_attempt" }, { fields: ["caseId"], name: "outbox_case" }, { fields: ["at"], name: "outbox_at" }],
	inbound: []
};

/**
 * How the writes of cases in flight are grouped: gathered over 4 ms, up to 500 per call (a full batch goes at once).
 * A callback waits for two or three of these rounds in turn (attempt, case, event), and a provider keeps a bounded
 * number of callbacks in flight, so the linger sets how fast callbacks can come. A commit costs about what its pages
 * cost, not a fixed price, so shorter rounds add few commits' worth of work: in bench:dispatch --http, 4 ms instead of
 * 10 took cases/s from ~840 to ~900-940 (1 ms and 0 were no better), and bench:billing's SMS from ~1,130 to ~1,400
 * loans/s.
 */
const LINGER_MS = 4;
const MAX_BATCH = 500;

/** The delivery collections, with batched compare-and-set and insert helpers. */
export class DeliveryStore {
	readonly cases: StoreAdapter;
	readonly attempts: StoreAdapter;
	readonly events: StoreAdapter;
	readonly runs: StoreAdapter;
	readonly digests: StoreAdapter;
	readonly outbox: StoreAdapter;
	readonly inbound: StoreAdapter;
	readonly #cas = new Map<StoreAdapter, Coalescer<CompareAndSetOp, boolean>>();
	readonly #newAttempts: Coalescer<NewDoc, boolean>;
	readonly #inserts = new Map<StoreAdapter, Coalescer<NewDoc, Doc>>();
	/** every coalescer above: flushed together, in one transaction where the store has one across collections */
	readonly #group: FlushGroup;

	private constructor(open: (collection: string) => StoreAdapter) {
		this.cases = open(COLLECTIONS.cases);
		this.attempts = open(COLLECTIONS.attempts);
		this.events = open(COLLECTIONS.events);
		this.runs = open(COLLECTIONS.runs);
		this.digests = open(COLLECTIONS.digests);
		this.outbox = open(COLLECTIONS.outbox);
		this.inbound = open(COLLECTIONS.inbound);
		this.#group = new FlushGroup(this.cases.together ? (fn) => this.cases.together?.(fn) : undefined, { lingerMs: LINGER_MS });
		this.#newAttempts = new Coalescer((docs) => this.attempts.insertManyIfAbsent(docs), { max: MAX_BATCH, group: this.#group });
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

	/**
	 * Changes one document only if it still matches `expect` (compare-and-set); true when it changed. Batched with
	 * the other compare-and-sets on the collection asked for in the same turn (one transaction).
	 */
	cas(adapter: StoreAdapter, id: string, expect: Query, update: Update): Promise<boolean> {
		let c = this.#cas.get(adapter);
		if (!c) {
			c = new Coalescer((ops) => adapter.compareAndSetMany(ops), { max: MAX_BATCH, group: this.#group });
			this.#cas.set(adapter, c);
		}
		return c.call({ id, expect, update });
	}

	/** Inserts an attempt unless its ID is taken: true when this call inserted it (batched like cas). */
	insertAttempt(doc: NewDoc & { _id: string }): Promise<boolean> {
		return this.#newAttempts.call(doc);
	}

	/** Inserts a document with a generated ID (events, outbox entries), batched like cas. */
	add(adapter: StoreAdapter, doc: NewDoc): Promise<Doc> {
		let c = this.#inserts.get(adapter);
		if (!c) {
			c = new Coalescer((docs) => adapter.insertMany(docs), { max: MAX_BATCH, group: this.#group });
			this.#inserts.set(adapter, c);
		}
		return c.call(doc);
	}

	/** Records an inbound message from a phone (digits) on a channel; a later one replaces an earlier one, never the reverse. */
	async recordInbound(channel: string, phoneDigits: string, at: Date): Promise<void> {
		const _id = `${channel}:${phoneDigits}`;
		const [inserted] = await this.inbound.insertManyIfAbsent([{ _id, at }]);
		if (!inserted) await this.inbound.updateMany({ _id, at: { $lt: at } }, { $set: { at } });
	}

	/** When the last inbound message from a phone (digits) on a channel was received, or null. */
	async lastInbound(channel: string, phoneDigits: string): Promise<Date | null> {
		const d = await this.inbound.findById(`${channel}:${phoneDigits}`);
		return d?.at instanceof Date ? d.at : null;
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

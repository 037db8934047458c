/**
 * Intake documents in the store. One document per file received (an upload, a link, a mail attachment, an inbox
 * file); a mail's attachments share an envelope. Status moves by compare-and-set, so a queue message handled twice
 * moves nothing twice:
 *
 *   PENDING (stored, on intake.received) -> PROCESSING (a reader claimed it) -> COMPLETED | NEEDS_REVIEW | FAILED
 *   NEEDS_REVIEW -> COMPLETED (a person corrected the fields: PATCH /intake/:id)
 *
 * A reader that died leaves PROCESSING behind; the message comes back (at-least-once) and a claim older than the
 * lease is taken over. Every claim counts an attempt: after MAX_READ_ATTEMPTS readings that failed (threw, or whose
 * reader died) the document is FAILED with the reason instead of being read again.
 */
import type { StoreAdapter, Doc, Query } from "../store/types.ts";
import type { DocKind } from "./checks.ts";

export type IntakeStatus = "PENDING" | "PROCESSING" | "COMPLETED" | "NEEDS_REVIEW" | "FAILED";
export const INTAKE_STATUSES: IntakeStatus[] = ["PENDING", "PROCESSING", "COMPLETED", "NEEDS_REVIEW", "FAILED"];
export type IntakeSource = "upload" | "link" | "email" | "inbox";

/**
 * How long a reader's claim holds before another reader may take the document over. A reader renews its claim
 * every READ_HEARTBEAT_MS while it works, so only a dead reader's claim runs out.
 */
export const READ_LEASE_MS = 60_000;
export const READ_HEARTBEAT_MS = 15_000;
/** Readings of one document that may fail (an error, or a reader that died) before it is FAILED with the last error. */
export const MAX_READ_ATTEMPTS = 3;
/**
 * How long a file's SHA-256 claim may point at a document that does not exist before another submission of the same
 * file takes it over: between the claim and the document only the original is stored (seconds), so an older claim
 * without its document was left by a crash.
 */
export const CLAIM_STALE_MS = 120_000;
/** How many tax IDs of a document its search fields keep (the filter `taxId=`). */
export const MAX_TAX_IDS = 4;
/** what is recorded when a reader's claim ran out: it died (or hung) while reading */
const READER_LOST = "the reader stopped while reading (it crashed or was stopped)";

export interface PageInfo {
	n: number;
	source: "layer" | "ocr" | "none";
	/** Tesseract's mean word confidence (0-100) for OCRed pages */
	confidence?: number;
	chars: number;
	error?: string;
}

export interface FieldValue {
	value: string | number | null;
	source: "template" | "generic" | "manual";
	confidence: number;
	/** a corrected OCR reading, e.g. "O" read for "0" in a tax ID */
	corrected?: string;
}

export interface Correction {
	field: string;
	old: FieldValue | null;
	value: string | number | null;
	by: string;
	at: Date;
}

export interface Envelope {
	id: string;
	from?: string;
	to?: string[];
	subject?: string;
	date?: string;
	messageId?: string;
	emlKey?: string;
}

export interface IntakeDoc extends Doc {
	clientId: string;
	status: IntakeStatus;
	type?: string;
	reference?: string;
	source: IntakeSource;
	url?: string;
	file: { key: string; name: string; size: number; sha256: string; kind: DocKind; mime: string; pages: number; encryption?: "owner"; width?: number; height?: number; maxPagePt?: { width: number; height: number } };
	envelope?: Envelope;
	pages?: PageInfo[];
	/** the text read (form feed between pages) when short (lib/intake/read/process.ts INLINE_TEXT_BYTES) */
	text?: string;
	/** else the object holding it */
	textKey?: string;
	fields?: Record<string, FieldValue>;
	template?: string | null;
	checks?: { code: string; message: string; field?: string }[];
	error?: { code: string; message: string } | null;
	corrections?: Correction[];
	claimedAt?: Date;
	attempts?: number;
	/** why the last reading failed (kept while the document is read again) */
	lastError?: string;
	createdAt: Date;
	updatedAt: Date;
	finishedAt?: Date;
}

export class IntakeStore {
	readonly docs: StoreAdapter;
	readonly hashes: StoreAdapter;
	/** every try to tell a client's webhook about a document (lib/intake/notify.ts) */
	readonly deliveries: StoreAdapter;

	private constructor(docs: StoreAdapter, hashes: StoreAdapter, deliveries: StoreAdapter) {
		this.docs = docs;
		this.hashes = hashes;
		this.deliveries = deliveries;
	}

	static async open(adapter: (collection: string) => StoreAdapter): Promise<IntakeStore> {
		const s = new IntakeStore(adapter("intake_documents"), adapter("intake_hashes"), adapter("intake_deliveries"));
		await Promise.all([s.docs.connect(), s.hashes.connect(), s.deliveries.connect()]);
		await s.docs.ensureIndexes([{ fields: ["clientId", "-createdAt"] }, { fields: ["status"] }, { fields: ["envelope.id"] }]);
		await s.deliveries.ensureIndexes([{ fields: ["deliveryId", "at"] }]);
		return s;
	}

	/**
	 * Claims a file's SHA-256 for a client: null when the claim is `docId`'s to use, else the earlier document's ID
	 * (the 409). A claim is `docId`'s when it is new, when it already names `docId` and that document does not exist
	 * yet (a derived ID handed over again after a crash between the claim and the document), or when the document it
	 * names does not exist and the claim is older than CLAIM_STALE_MS (taken over by compare-and-set: a crash left it).
	 * `taken` is called with the abandoned document's ID when a claim is taken over.
	 */
	async claimHash(clientId: string, sha256: string, docId: string, now = new Date(), taken?: (abandoned: string) => Promise<void>): Promise<string | null> {
		const id = `${clientId}:${sha256}`;
		for (let tries = 0; ; tries++) {
			try {
				await this.hashes.insert({ _id: id, docId, createdAt: now });
				return null;
			} catch (err) {
				const existing = await this.hashes.findById(id);
				// released in between: try the insert again
				if (!existing) {
					if (tries < 3) continue;
					throw err;
				}
				const earlier = String(existing.docId);
				if (await this.docs.findById(earlier)) return earlier;
				if (earlier === docId) return null;
				const at = existing.createdAt instanceof Date ? existing.createdAt.getTime() : Date.parse(String(existing.createdAt));
				// a younger claim without its document is another submission storing it right now
				if (!(now.getTime() - at > CLAIM_STALE_MS)) return earlier;
				if ((await this.hashes.updateMany({ _id: id, docId: earlier }, { $set: { docId, createdAt: now } })) > 0) {
					await taken?.(earlier);
					return null;
				}
				// another submission took it over first: decide again on what it holds now
				if (tries >= 3) return earlier;
			}
		}
	}

	async releaseHash(clientId: string, sha256: string, docId: string): Promise<void> {
		await this.hashes.removeMany({ _id: `${clientId}:${sha256}`, docId });
	}

	async create(fields: Omit<IntakeDoc, "createdAt" | "updatedAt">): Promise<IntakeDoc> {
		const now = new Date();
		return (await this.docs.insert({ ...fields, createdAt: now, updatedAt: now })) as IntakeDoc;
	}

	async get(id: string): Promise<IntakeDoc | null> {
		return (await this.docs.findById(id)) as IntakeDoc | null;
	}

	/** Moves a document from one of `from` to `to` (plus `set`); false when someone else moved it. */
	async transition(id: string, from: IntakeStatus[], to: IntakeStatus, set: Record<string, unknown> = {}, extra: Query = {}): Promise<boolean> {
		const n = await this.docs.updateMany({ _id: id, status: { $in: from }, ...extra }, { $set: { ...set, status: to, updatedAt: new Date() } });
		return n > 0;
	}

	/** Renews a reader's claim (false when the document is no longer PROCESSING). */
	async heartbeat(id: string): Promise<boolean> {
		return (await this.docs.updateMany({ _id: id, status: "PROCESSING" }, { $set: { claimedAt: new Date() } })) > 0;
	}

	/** Documents to put back on intake.received: PENDING for over `pendingMs`, or PROCESSING whose claim ran out. */
	async stalled(now = new Date(), pendingMs = 60_000): Promise<IntakeDoc[]> {
		return (await this.docs.find({
			query: { $or: [{ status: "PENDING", createdAt: { $lt: new Date(now.getTime() - pendingMs) } }, { status: "PROCESSING", claimedAt: { $lt: new Date(now.getTime() - READ_LEASE_MS) } }] },
			sort: "createdAt",
			limit: 1000
		})) as IntakeDoc[];
	}

	/**
	 * A reader's claim: PENDING, or PROCESSING whose claim is older than the lease (its reader died: recorded as the
	 * last error), while fewer than MAX_READ_ATTEMPTS readings were tried; counts the attempt in the same write.
	 */
	async claim(id: string, now = new Date()): Promise<boolean> {
		const update = (set: Record<string, unknown> = {}) => ({ $set: { status: "PROCESSING", claimedAt: now, updatedAt: now, ...set }, $inc: { attempts: 1 } });
		const left = { $or: [{ attempts: null }, { attempts: { $lt: MAX_READ_ATTEMPTS } }] };
		if ((await this.docs.updateMany({ _id: id, status: "PENDING", ...left }, update())) > 0) return true;
		return (await this.docs.updateMany({ _id: id, status: "PROCESSING", claimedAt: { $lt: new Date(now.getTime() - READ_LEASE_MS) }, ...left }, update({ lastError: READER_LOST }))) > 0;
	}

	/** A reading failed with `error`: back to PENDING (to be read again) with the error kept; false when not held. */
	async release(id: string, error: string): Promise<boolean> {
		return this.transition(id, ["PROCESSING"], "PENDING", { lastError: error.slice(0, 500) });
	}

	/**
	 * Fails a document whose readings are used up (MAX_READ_ATTEMPTS): PENDING, or PROCESSING held by this reader
	 * (`held`) or by one whose claim ran out. Returns the FAILED document, or null when it was not due (or someone
	 * else moved it).
	 */
	async giveUp(id: string, opts: { now?: Date; held?: boolean; error?: string } = {}): Promise<IntakeDoc | null> {
		const now = opts.now ?? new Date();
		const doc = await this.get(id);
		if (!doc || (doc.attempts ?? 0) < MAX_READ_ATTEMPTS) return null;
		const lost = doc.status === "PROCESSING" && !opts.held;
		if (lost && !(doc.claimedAt && doc.claimedAt.getTime() < now.getTime() - READ_LEASE_MS)) return null;
		if (doc.status !== "PENDING" && doc.status !== "PROCESSING") return null;
		const last = opts.error ?? (lost ? READER_LOST : doc.lastError) ?? "unknown error";
		const error = { code: "read_failed", message: `reading failed ${doc.attempts ?? MAX_READ_ATTEMPTS} times: ${last}`.slice(0, 600) };
		const set = { error, lastError: last.slice(0, 500), finishedAt: now };
		const cas: Query = lost ? { claimedAt: doc.claimedAt } : {};
		if (!(await this.transition(id, [doc.status], "FAILED", set, cas))) return null;
		return { ...doc, ...set, status: "FAILED", updatedAt: now };
	}
}

/** What a client sees of a document. */
export function intakeView(d: IntakeDoc): Record<string, unknown> {
	return {
		id: d._id,
		clientId: d.clientId,
		status: d.status,
		// "document": what "other" was called before the types were detected
		type: d.type === "document" ? "other" : (d.type ?? null),
		reference: d.reference ?? null,
		source: d.source,
		...(d.url ? { url: d.url } : {}),
		file: { name: d.file.name, size: d.file.size, sha256: d.file.sha256, mime: d.file.mime, pages: d.file.pages, ...(d.file.encryption ? { encryption: d.file.encryption } : {}) },
		pages: d.pages ?? [],
		fields: d.fields ?? {},
		template: d.template ?? null,
		checks: d.checks ?? [],
		envelope: d.envelope ?? null,
		error: d.error ?? null,
		corrections: d.corrections ?? [],
		createdAt: d.createdAt,
		updatedAt: d.updatedAt,
		finishedAt: d.finishedAt ?? null
	};
}

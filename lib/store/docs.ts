/**
 * Document helpers shared by the store adapters: sort and search-field parsing, the update forms,
 * Date revival for JSON-stored documents, and the content comparison bulkUpsert uses.
 */
import type { BulkUpsertOptions, Doc, NewDoc, UpsertOutcome, Update } from "./types.ts";
import { newId } from "./ids.ts";

/** A full ISO-8601 UTC timestamp with milliseconds, exactly as Date.prototype.toJSON writes it. */
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Turns an ISO timestamp string back into a Date; other values are returned as they are. */
function revive(value: unknown): unknown {
	if (typeof value === "string") {
		return value.length === 24 && value.charCodeAt(10) === 84 && ISO_TIMESTAMP.test(value) ? new Date(value) : value;
	}
	if (value !== null && typeof value === "object") reviveInPlace(value as Record<string, unknown>);
	return value;
}

/**
 * Replaces, in place and recursively, every string that is a full ISO timestamp with milliseconds and "Z"
 * (e.g. "2026-01-31T10:00:00.000Z") by a Date. This is how Dates survive a trip through JSON in SQLite;
 * the price is that a string of exactly that form also comes back as a Date.
 */
export function reviveInPlace<T extends Record<string, unknown> | unknown[]>(obj: T): T {
	if (Array.isArray(obj)) {
		for (let i = 0; i < obj.length; i++) obj[i] = revive(obj[i]);
	} else {
		for (const k in obj) {
			const v = obj[k];
			if (typeof v === "string" || (v !== null && typeof v === "object")) (obj as Record<string, unknown>)[k] = revive(v);
		}
	}
	return obj;
}

/** moleculer-db sort ("-createdAt name", "createdAt,-name" or an array) as [field, direction] pairs. */
export function parseSort(sort: string | string[] | undefined): [string, 1 | -1][] {
	if (!sort) return [];
	const parts = Array.isArray(sort) ? sort.flatMap((s) => s.split(/[\s,]+/)) : sort.split(/[\s,]+/);
	return parts.filter(Boolean).map((p) => (p.startsWith("-") ? [p.slice(1), -1] : [p.startsWith("+") ? p.slice(1) : p, 1]));
}

/** moleculer-db searchFields ("name email" or an array) as a list; empty means "every top-level field". */
export function parseSearchFields(fields: string | string[] | undefined): string[] {
	if (!fields) return [];
	return (Array.isArray(fields) ? fields : fields.split(/[\s,]+/)).filter(Boolean);
}

/** An update in its explicit form: a plain object without operators means $set. */
export function normaliseUpdate(update: Update | Record<string, unknown>): Required<Update> {
	const keys = Object.keys(update);
	const hasOps = keys.some((k) => k.startsWith("$"));
	if (!hasOps) return { $set: { ...update }, $inc: {}, $unset: {} };
	for (const k of keys) {
		if (k !== "$set" && k !== "$inc" && k !== "$unset") throw new Error(`unsupported update operator '${k}' (supported: $set, $inc, $unset)`);
	}
	const u = update as Update;
	const set = { ...(u.$set ?? {}) };
	delete set._id;
	return { $set: set, $inc: { ...(u.$inc ?? {}) }, $unset: { ...(u.$unset ?? {}) } };
}

/** The value at a dotted path, or undefined. */
export function getPath(doc: Record<string, unknown>, path: string): unknown {
	if (!path.includes(".")) return doc[path];
	let cur: unknown = doc;
	for (const part of path.split(".")) {
		if (cur === null || typeof cur !== "object") return undefined;
		cur = (cur as Record<string, unknown>)[part];
	}
	return cur;
}

/** Fields never compared by bulkUpsert. */
const ALWAYS_IGNORED = ["_id", "version", "previous"];

/** The fields of `doc` that bulkUpsert compares (a shallow copy without _id, version, previous and `ignore`). */
export function comparedFields(doc: Record<string, unknown>, ignore: ReadonlySet<string>): Record<string, unknown> {
	const out: Record<string, unknown> = {};
	for (const k in doc) {
		if (!ALWAYS_IGNORED.includes(k) && !ignore.has(k) && doc[k] !== undefined) out[k] = doc[k];
	}
	return out;
}

/** Deep equality as JSON would see it: Dates by time, undefined object members absent, key order irrelevant. */
export function sameValue(a: unknown, b: unknown): boolean {
	if (a === b) return true;
	if (a instanceof Date || b instanceof Date) {
		const ta = a instanceof Date ? a.getTime() : typeof a === "string" ? Date.parse(a) : NaN;
		const tb = b instanceof Date ? b.getTime() : typeof b === "string" ? Date.parse(b) : NaN;
		return ta === tb && !Number.isNaN(ta);
	}
	if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
	if (Array.isArray(a) !== Array.isArray(b)) return false;
	if (Array.isArray(a)) {
		const bb = b as unknown[];
		if (a.length !== bb.length) return false;
		for (let i = 0; i < a.length; i++) if (!sameValue(a[i], bb[i])) return false;
		return true;
	}
	const ao = a as Record<string, unknown>;
	const bo = b as Record<string, unknown>;
	let na = 0;
	for (const k in ao) {
		if (ao[k] === undefined) continue;
		na++;
		if (!sameValue(ao[k], bo[k])) return false;
	}
	let nb = 0;
	for (const k in bo) if (bo[k] !== undefined) nb++;
	return na === nb;
}

/** True when the compared content of `incoming` equals that of `stored`. */
export function sameContent(stored: Record<string, unknown>, incoming: NewDoc, ignore: ReadonlySet<string>): boolean {
	return sameValue(comparedFields(stored, ignore), comparedFields(incoming, ignore));
}

/** The business-key values of a document, in key order; throws when a key field is missing or null. */
export function keyOf(doc: NewDoc, key: string[], index: number): unknown[] {
	return key.map((k) => {
		const v = getPath(doc, k);
		if (v === undefined || v === null) throw new Error(`bulkUpsert: document #${index} has no value for key field '${k}'`);
		return v;
	});
}

/** What bulkUpsert needs to decide each write, computed once per call. */
export interface UpsertPlan {
	ignore: ReadonlySet<string>;
	keepPrevious: boolean;
	alwaysSet: readonly string[];
	outcomeField?: string;
	skip?: BulkUpsertOptions["skip"];
}

export function upsertPlan(options: BulkUpsertOptions): UpsertPlan {
	const alwaysSet = options.alwaysSet ?? [];
	const ignore = new Set([...(options.ignoreFields ?? []), ...alwaysSet, ...(options.outcomeField ? [options.outcomeField] : [])]);
	return { ignore, keepPrevious: options.keepPrevious === true, alwaysSet, outcomeField: options.outcomeField, skip: options.skip };
}

/**
 * One bulkUpsert step, shared by the adapters: given the stored document (or null) and the incoming one, the
 * outcome and the document to write (undefined: nothing to write).
 * - none stored: inserted, version 1;
 * - same content: unchanged; rewritten only when an alwaysSet field differs (version kept);
 * - different: updated, version + 1, `previous` = the replaced compared fields when keepPrevious.
 */
export function planWrite(plan: UpsertPlan, stored: Doc | null, incoming: NewDoc, index: number): { outcome: UpsertOutcome; doc?: Doc } {
	if (stored && plan.skip?.(stored, incoming, index)) return { outcome: "skipped" };
	const mark = (doc: Doc, outcome: UpsertOutcome): Doc => {
		if (plan.outcomeField) doc[plan.outcomeField] = outcome;
		return doc;
	};
	if (!stored) {
		const id = incoming._id === undefined || incoming._id === null ? newId() : String(incoming._id);
		return { outcome: "inserted", doc: mark({ ...incoming, _id: id, version: 1 }, "inserted") };
	}
	if (sameValue(comparedFields(stored, plan.ignore), comparedFields(incoming, plan.ignore))) {
		const changed = plan.alwaysSet.filter((f) => !sameValue(stored[f], incoming[f]));
		if (changed.length === 0) return { outcome: "unchanged" };
		const doc: Doc = { ...stored };
		for (const f of plan.alwaysSet) {
			if (incoming[f] === undefined) delete doc[f];
			else doc[f] = incoming[f];
		}
		return { outcome: "unchanged", doc: mark(doc, "unchanged") };
	}
	const version = (typeof stored.version === "number" ? stored.version : 1) + 1;
	const doc: Doc = { ...incoming, _id: stored._id, version };
	if (plan.keepPrevious) doc.previous = comparedFields(stored, plan.ignore);
	else delete doc.previous;
	return { outcome: "updated", doc: mark(doc, "updated") };
}

/** moleculer-db's ID hooks, for a service whose idField is not "_id": its value is stored as `_id`. */
export function toStoredId(doc: NewDoc, idField: string): NewDoc {
	const out: NewDoc = { ...doc };
	if (idField !== "_id" && doc[idField] !== undefined) {
		out._id = String(doc[idField]);
		delete out[idField];
	}
	return out;
}

/** ...and `_id` is shown as the service's idField. */
export function fromStoredId(doc: Doc, idField: string): Record<string, unknown> {
	if (idField === "_id") return doc;
	const out: Record<string, unknown> = { ...doc, [idField]: doc._id };
	delete out._id;
	return out;
}

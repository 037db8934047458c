/**
 * The audit log: every change an operator makes (dead letters replayed or purged, keys issued or revoked, clients
 * and operators created or changed, uploads on a client's behalf): who, when, what, on which items, how many.
 * Written straight to the `audit` collection of the store by the action that made the change (every node has the
 * store), so it needs no service to be running; read through `GET /api/v1/audit` (audit.service.ts).
 * Entries hold IDs, never secrets or personal data.
 */
import type { Context } from "moleculer";
import type { Caller } from "../api/auth.ts";
import type { StoreAdapter, StoreFactory } from "../store/types.ts";
import { getPlatform } from "../platform.ts";

export interface AuditEntry {
	/** e.g. "dlq.replay", "dlq.purge", "key.issue", "key.revoke", "client.create", "client.update", "operator.create", "operator.update", "upload" */
	action: string;
	/** what was acted on, e.g. "queue:chunks.ready", "client:<id>", "operator:<id>" */
	target: string;
	/** the items concerned (IDs), at most MAX_ITEMS kept */
	items?: string[];
	/** how many items the action changed */
	count?: number;
	/** the client concerned, when there is one (lets a list filter by client) */
	clientId?: string;
	/** small, non-secret details (parameters of the action) */
	details?: Record<string, unknown>;
}

export interface AuditDoc extends Record<string, unknown> {
	_id: string;
	at: Date;
	actor: string;
	role: string;
	action: string;
	target: string;
	items: string[];
	count: number;
	clientId: string | null;
	details: Record<string, unknown> | null;
	requestId: string | null;
}

const MAX_ITEMS = 1000;
export const AUDIT_COLLECTION = "audit";
export const AUDIT_INDEXES = [{ fields: ["-at"] }, { fields: ["actor", "-at"] }, { fields: ["action", "-at"] }, { fields: ["clientId", "-at"] }];

const opened = new WeakMap<StoreFactory, Promise<StoreAdapter>>();

/** The audit collection of a store, with its indexes (opened once per store). */
export function auditStore(store: StoreFactory = getPlatform().store): Promise<StoreAdapter> {
	let p = opened.get(store);
	if (!p) {
		p = (async () => {
			const a = store.adapter(AUDIT_COLLECTION);
			await a.connect();
			await a.ensureIndexes(AUDIT_INDEXES);
			return a;
		})();
		opened.set(store, p);
	}
	return p;
}

/** Writes an entry for the operator calling `ctx`; a call by a client or by a service is not an operator action. */
export async function audit(ctx: Context, entry: AuditEntry): Promise<void> {
	const caller = (ctx.meta as { auth?: Caller }).auth;
	if (caller?.kind !== "operator") return;
	await writeAudit({ actor: caller.sub, role: caller.role, requestId: ctx.requestID ?? null }, entry);
}

/** Writes an entry for an actor (also used by the command line, e.g. `npm run operator -- add`). */
export async function writeAudit(who: { actor: string; role: string; requestId?: string | null }, entry: AuditEntry, store?: StoreFactory): Promise<void> {
	const a = await auditStore(store);
	const items = entry.items ?? [];
	await a.insert({
		at: new Date(),
		actor: who.actor,
		role: who.role,
		action: entry.action,
		target: entry.target,
		items: items.slice(0, MAX_ITEMS),
		count: entry.count ?? items.length,
		clientId: entry.clientId ?? null,
		details: entry.details ?? null,
		requestId: who.requestId ?? null
	});
}

export function toAuditView(d: AuditDoc): Omit<AuditDoc, "_id"> & { id: string } {
	const { _id, ...rest } = d;
	return { id: _id, ...rest };
}

/**
 * What the ingestion actors share in one process: the batch store (opened once on the platform's store), the
 * records collection, and the caller's client ID.
 */
import type { Context, ServiceBroker } from "moleculer";
import type { ClientDoc } from "../clients.ts";
import { getPlatform, type Platform } from "../platform.ts";
import { BatchStore, type BatchDoc } from "./batches.ts";
import { openRecords } from "./register.ts";
import type { StoreAdapter } from "../store/types.ts";
import type { Caller } from "../api/auth.ts";
import { notFound, unauthorized } from "../api/errors.ts";
import { inScope, readScope } from "../api/scope.ts";

interface Opened {
	platform: Platform;
	store: Promise<BatchStore>;
	records: Promise<StoreAdapter>;
}
let opened: Opened | undefined;

function open(): Opened {
	const platform = getPlatform();
	if (opened?.platform === platform) return opened;
	opened = { platform, store: BatchStore.open((c) => platform.store.adapter(c)), records: openRecords(platform.store, platform.search) };
	return opened;
}

export function batchStore(): Promise<BatchStore> {
	return open().store;
}

export function recordsStore(): Promise<StoreAdapter> {
	return open().records;
}

/** The client calling a client route (the gateway put it in ctx.meta.auth); 401 otherwise. */
export function clientOf(ctx: Context): string {
	const auth = (ctx.meta as { auth?: Caller }).auth;
	if (auth?.kind !== "client") throw unauthorized("this route needs a client API key (X-API-Key)");
	return auth.clientId;
}

/** A batch of the calling client; 404 for another client's batch, as for one that does not exist. */
export async function ownBatch(ctx: Context, id: string): Promise<BatchDoc> {
	const clientId = clientOf(ctx);
	const batch = await (await batchStore()).get(id);
	if (!batch || batch.clientId !== clientId) throw notFound("batch", id);
	return batch;
}

/**
 * A batch the caller may read: a client's own, or for an operator any batch (of `clientId` when given); 404 otherwise.
 */
export async function readableBatch(ctx: Context, id: string, clientId?: string): Promise<BatchDoc> {
	const scope = readScope(ctx, clientId);
	const batch = await (await batchStore()).get(id);
	if (!batch || !inScope(scope, batch.clientId)) throw notFound("batch", id);
	return batch;
}

/**
 * The client whose data an internal call reads: the caller's own when a client calls through the gateway (a
 * `clientId` parameter is then ignored), else the `clientId` parameter of a service-to-service call.
 */
export function clientFor(ctx: Context, paramClientId: string | undefined): string {
	const auth = (ctx.meta as { auth?: Caller }).auth;
	if (auth?.kind === "client") return auth.clientId;
	if (auth?.kind === "operator" && paramClientId) return paramClientId;
	if (!auth && paramClientId) return paramClientId;
	throw unauthorized("a client is needed: call with a client API key");
}

/** A client's stored settings (format, webhook, email...), or null when the client does not exist. */
export async function clientSettings(broker: ServiceBroker, id: string): Promise<ClientDoc | null> {
	try {
		return (await broker.call("clients.settings", { id })) as ClientDoc;
	} catch (err) {
		if ((err as { code?: number }).code === 404) return null;
		throw err;
	}
}

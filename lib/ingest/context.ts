/**
 * What the ingestion actors share in one process: the batch store (opened once on the platform's store), the
 * records collection, and the caller's client ID.
 */
import type { Context, ServiceBroker } from "moleculer";
import type { ClientDoc } from "../clients.ts";
import { getPlatform, type Platform } from "../platform.ts";
import { BatchStore } from "./batches.ts";
import { RECORDS, RECORD_KEY, SEARCH_FIELDS, SEARCH_INDEX, SEARCH_VIEW } from "./register.ts";
import type { StoreAdapter } from "../store/types.ts";
import type { Caller } from "../api/auth.ts";
import { unauthorized } from "../api/errors.ts";

interface Opened {
	platform: Platform;
	store: Promise<BatchStore>;
	records: Promise<StoreAdapter>;
}
let opened: Opened | undefined;

function open(): Opened {
	const platform = getPlatform();
	if (opened?.platform === platform) return opened;
	const records = (async () => {
		const a = platform.store.adapter(RECORDS);
		await a.connect();
		// the business key, and debtors by CPF (a collector's first question); other filters scan the client's records
		await a.ensureIndexes([{ fields: RECORD_KEY, unique: true }, { fields: ["client", "data.debtor_cpf"] }]);
		await platform.search.ensureIndex(SEARCH_INDEX, SEARCH_FIELDS, SEARCH_VIEW);
		return a;
	})();
	opened = { platform, store: BatchStore.open((c) => platform.store.adapter(c)), records };
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

/**
 * The process-wide ports: one store, one object store, one queue backend and one search index per process,
 * chosen from the configuration (embedded defaults, or the real servers when their URLs are set).
 * Mixins reach them through getPlatform(); plain modules take them as arguments.
 */
import type { Logger } from "pino";
import type { Config } from "../config/index.ts";
import type { StoreFactory } from "./store/types.ts";
import type { ObjectStore } from "./objects/types.ts";
import type { QueueBackend } from "./queues/types.ts";
import type { SearchIndex } from "./search/types.ts";
import { createStore } from "./store/index.ts";
import { createObjectStore } from "./objects/index.ts";
import { createQueueBackend } from "./queues/index.ts";
import { createSearch } from "./search/index.ts";
import { loadLinkSecret } from "./secrets.ts";

export interface Platform {
	config: Config;
	logger: Logger;
	store: StoreFactory;
	objects: ObjectStore;
	queues: QueueBackend;
	search: SearchIndex;
}

/**
 * The store, object store and search index chosen from the configuration, without queues: what initPlatform
 * builds on, and what a worker thread that writes (the registry's) opens for itself.
 */
export function createDataPorts(config: Config, logger: Logger): Pick<Platform, "store" | "objects" | "search"> {
	const store = createStore(config, logger.child({ port: "store" }));
	const objects = createObjectStore(config, { linkSecret: loadLinkSecret(config), publicUrl: config.http.publicUrl });
	return { store, objects, search: createSearch(config, store) };
}

let current: Platform | undefined;
let starting: Promise<Platform> | undefined;

/** Creates and connects the ports once per process; later calls return the same platform. */
export function initPlatform(config: Config, logger: Logger): Promise<Platform> {
	if (current) return Promise.resolve(current);
	starting ??= (async () => {
		const { store, objects, search } = createDataPorts(config, logger);
		// a server store connects (retrying while the server starts) and migrates before any service uses it
		await store.open?.();
		const queues = createQueueBackend(config, logger.child({ port: "queues" }));
		await queues.connect();
		current = { config, logger, store, objects, queues, search };
		return current;
	})();
	return starting;
}

/** The platform of this process; throws when initPlatform() has not run. */
export function getPlatform(): Platform {
	if (!current) throw new Error("platform not initialised: call initPlatform(config, logger) before starting services");
	return current;
}

/** Closes every port (queues first so no handler writes into a closed store). */
export async function closePlatform(): Promise<void> {
	const p = current;
	current = undefined;
	starting = undefined;
	if (!p) return;
	await p.queues.close();
	await Promise.allSettled([p.search.close(), p.objects.close()]);
	await p.store.close();
}

/**
 * The search port for services: `this.search` is the platform's SearchIndex (store queries or OpenSearch).
 * Resolved on each access, so services may be created before initPlatform() has run.
 */
import type { Service, ServiceSchema } from "moleculer";
import type { SearchIndex } from "../lib/search/types.ts";
import { getPlatform } from "../lib/platform.ts";

/** What the mixin adds to a service's `this`. */
export interface SearchMixinThis {
	search: SearchIndex;
}
export type SearchService = Service & SearchMixinThis;

/** A Moleculer mixin giving `this.search`; `search` overrides the platform's index (tests, tools). */
export function searchMixin(search?: SearchIndex): Partial<ServiceSchema> {
	return {
		created(this: Service) {
			Object.defineProperty(this, "search", {
				configurable: true,
				enumerable: false,
				get: () => search ?? getPlatform().search
			});
		}
	};
}

/**
 * Gives a service `this.objects`: the process's object store (folder or S3, see lib/objects), taken from the
 * platform. The property is a lazy getter, so a service may be created before initPlatform() has run; reading it
 * before then throws getPlatform()'s error. Services type it with `ObjectsThis`.
 */
import type { Service, ServiceSchema } from "moleculer";
import type { ObjectStore } from "../lib/objects/types.ts";
import { getPlatform } from "../lib/platform.ts";

export interface ObjectsThis {
	readonly objects: ObjectStore;
}

export const objectsMixin: Partial<ServiceSchema> = {
	created(this: Service) {
		Object.defineProperty(this, "objects", {
			get: (): ObjectStore => getPlatform().objects,
			configurable: true,
			enumerable: false
		});
	}
};

export default objectsMixin;

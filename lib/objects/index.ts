/**
 * Chooses the object store from the configuration: S3/MinIO when S3_ENDPOINT is set, else the folder store under
 * DATA_DIR/objects. Re-exports what callers of the port need (errors, link checking).
 */
import type { Config } from "../../config/index.ts";
import type { ObjectStore } from "./types.ts";
import { FsObjectStore } from "./fs.ts";
import { S3ObjectStore } from "./s3.ts";

export { InvalidKeyError, ObjectNotFoundError, ObjectTooLargeError } from "./types.ts";
export type { ObjectInfo, ObjectStore, PutOptions } from "./types.ts";
export { verifyLink, decodeKeyPath, LINK_ROUTE } from "./links.ts";
export { validateKey, isValidKey } from "./keys.ts";

export function createObjectStore(config: Config, opts: { linkSecret: string; publicUrl: string }): ObjectStore {
	if (config.s3) return new S3ObjectStore(config.s3);
	return new FsObjectStore({ dir: config.objects.dir, linkSecret: opts.linkSecret, publicUrl: opts.publicUrl });
}

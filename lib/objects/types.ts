/**
 * The objects port: raw files, chunks and PDFs. A folder under DATA_DIR by default; MinIO/S3 when S3_ENDPOINT is set.
 * Keys are "/"-separated relative paths ("inbox/<client>/file.csv"); a key with "..", a leading "/", a backslash,
 * an empty segment or a control character is rejected with InvalidKeyError, so no key escapes the bucket/folder.
 */
import type { Readable } from "node:stream";

export class InvalidKeyError extends Error {
	constructor(key: string, reason: string) {
		super(`invalid object key '${key}': ${reason}`);
		this.name = "InvalidKeyError";
	}
}

export interface ObjectInfo {
	key: string;
	size: number;
	lastModified: Date;
	contentType?: string;
	/** user metadata (lower-case keys, string values) */
	metadata: Record<string, string>;
}

export interface PutOptions {
	contentType?: string;
	metadata?: Record<string, string>;
	/** when given, put fails with ObjectTooLargeError once more bytes than this arrive (the partial object is removed) */
	maxBytes?: number;
}

export class ObjectTooLargeError extends Error {
	readonly limit: number;
	constructor(limit: number) {
		super(`object is larger than the limit of ${limit} bytes`);
		this.name = "ObjectTooLargeError";
		this.limit = limit;
	}
}

export interface ObjectStore {
	readonly kind: "fs" | "s3";
	/** Streams the body into the store; resolves once it is durably stored. Returns its size and SHA-256 (hex). */
	put(key: string, body: Readable | Buffer | string, options?: PutOptions): Promise<{ key: string; size: number; sha256: string }>;
	/** A stream of the object's bytes; rejects with ObjectNotFoundError if absent. `range` is inclusive, in bytes. */
	get(key: string, range?: { start: number; end?: number }): Promise<Readable>;
	/** Metadata, or null if absent. */
	stat(key: string): Promise<ObjectInfo | null>;
	/** Every object whose key starts with `prefix`, in key order. */
	list(prefix: string): AsyncIterable<ObjectInfo>;
	/** Removes the object; no error if absent. */
	delete(key: string): Promise<void>;
	/**
	 * A URL that reads the object until `expiresInSeconds` from now. S3: a presigned URL.
	 * Folder store: `${PUBLIC_URL}/api/v1/objects/<key>?expires=<unix>&signature=<hmac>` served by the api (see verifyLink).
	 */
	link(key: string, expiresInSeconds: number): Promise<string>;
	/** True when the store answers. */
	ping(): Promise<boolean>;
	close(): Promise<void>;
}

export class ObjectNotFoundError extends Error {
	constructor(key: string) {
		super(`object '${key}' not found`);
		this.name = "ObjectNotFoundError";
	}
}

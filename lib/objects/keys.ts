/**
 * Object key and metadata validation shared by every object store, so a key that one store accepts every store
 * accepts, and no key can escape the folder or bucket.
 *
 * A key is a "/"-separated relative path of at most 1024 UTF-8 bytes. Rejected: the empty key, a leading "/",
 * an empty segment ("a//b", "a/"), a "." or ".." segment, a backslash, a control character (C0, DEL, C1) and
 * unpaired UTF-16 surrogates (they have no UTF-8 form). Dots inside a name ("a..b", "...", "%2e%2e") are ordinary
 * characters: they never resolve to a parent folder.
 *
 * Metadata: keys are lower-cased and must be HTTP-header safe (letters, digits, "-", "_", "."), not a standard
 * header name (content-type, ...) nor "x-amz-*"; values are strings without control characters; keys plus values
 * at most 2 KB, the S3 limit for user metadata.
 */
import { InvalidKeyError } from "./types.ts";

export const MAX_KEY_BYTES = 1024;
export const MAX_METADATA_BYTES = 2048;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function isWellFormed(s: string): boolean {
	return !LONE_SURROGATE.test(s);
}

function reasonOf(key: string, allowPrefix: boolean): string | undefined {
	if (typeof key !== "string") return "not a string";
	if (key === "") return allowPrefix ? undefined : "empty";
	if (!isWellFormed(key)) return "contains an unpaired surrogate";
	if (Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES) return `longer than ${MAX_KEY_BYTES} bytes`;
	if (CONTROL.test(key)) return "contains a control character";
	if (key.includes("\\")) return "contains a backslash";
	if (key.startsWith("/")) return "starts with '/'";
	const segments = key.split("/");
	// a prefix may end with "/" (its last segment is then empty) or with a partial name ("a/.." matches "a/..b")
	const last = allowPrefix ? segments.length - 1 : segments.length;
	for (let i = 0; i < segments.length; i++) {
		const s = segments[i];
		if (s === "" && i < last) return "has an empty segment";
		if ((s === "." || s === "..") && i < last) return `has a '${s}' segment`;
	}
	return undefined;
}

/** Throws InvalidKeyError unless `key` is a valid object key. */
export function validateKey(key: string): string {
	const reason = reasonOf(key, false);
	if (reason) throw new InvalidKeyError(String(key), reason);
	return key;
}

/** Throws InvalidKeyError unless `prefix` is "" or a valid key, optionally ending with "/" or part of a name. */
export function validatePrefix(prefix: string): string {
	const reason = reasonOf(prefix, true);
	if (reason) throw new InvalidKeyError(String(prefix), reason);
	return prefix;
}

/** True when `key` is a valid object key. */
export function isValidKey(key: string): boolean {
	return reasonOf(key, false) === undefined;
}

const META_KEY = /^[a-z0-9][a-z0-9_.-]*$/;
/** names S3 clients report beside user metadata (a user name equal to one would be lost on S3) */
const RESERVED_META = new Set(["content-type", "cache-control", "content-encoding", "content-disposition", "content-language", "content-length", "expires", "if-match", "if-none-match", "etag", "last-modified"]);

/** Lower-cases metadata keys and checks them; throws TypeError on a bad name, a non-string value or > 2 KB. */
export function normaliseMetadata(metadata: Record<string, string> | undefined): Record<string, string> {
	const out: Record<string, string> = {};
	if (!metadata) return out;
	let bytes = 0;
	for (const [rawKey, value] of Object.entries(metadata)) {
		const k = rawKey.toLowerCase();
		if (!META_KEY.test(k)) throw new TypeError(`invalid metadata name '${rawKey}': use letters, digits, '-', '_' or '.'`);
		if (RESERVED_META.has(k) || k.startsWith("x-amz-")) throw new TypeError(`metadata name '${rawKey}' is reserved (an HTTP or S3 header)`);
		if (typeof value !== "string") throw new TypeError(`metadata '${rawKey}' must be a string`);
		if (CONTROL.test(value)) throw new TypeError(`metadata '${rawKey}' contains a control character`);
		if (!isWellFormed(value)) throw new TypeError(`metadata '${rawKey}' contains an unpaired surrogate`);
		if (k in out) throw new TypeError(`metadata '${rawKey}' is given twice (names are case-insensitive)`);
		bytes += Buffer.byteLength(k) + Buffer.byteLength(value);
		out[k] = value;
	}
	if (bytes > MAX_METADATA_BYTES) throw new TypeError(`metadata is larger than ${MAX_METADATA_BYTES} bytes`);
	return out;
}

export const DEFAULT_CONTENT_TYPE = "application/octet-stream";

/** The content type to store: the given one (checked to be a header-safe string) or application/octet-stream. */
export function normaliseContentType(contentType: string | undefined): string {
	if (contentType === undefined || contentType === "") return DEFAULT_CONTENT_TYPE;
	if (typeof contentType !== "string" || !/^[\u0020-\u007e]+$/.test(contentType) || !contentType.includes("/")) {
		throw new TypeError(`invalid content type '${String(contentType)}'`);
	}
	return contentType;
}

/** Checks a link lifetime: whole seconds from 1 to 7 days (the S3 presigning limit, kept by every store). */
export function validateExpiry(expiresInSeconds: number): number {
	if (!Number.isInteger(expiresInSeconds) || expiresInSeconds < 1 || expiresInSeconds > 604800) {
		throw new RangeError(`link lifetime must be a whole number of seconds from 1 to 604800, got ${expiresInSeconds}`);
	}
	return expiresInSeconds;
}

/**
 * Checks a byte range and returns it with `end` clamped to size - 1 (end < start only for an empty object);
 * RangeError when it cannot be satisfied.
 */
export function resolveRange(range: { start: number; end?: number }, size: number): { start: number; end: number } {
	const { start, end } = range;
	if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`range start must be a whole number >= 0, got ${start}`);
	if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) throw new RangeError(`range end must be a whole number >= start, got ${end}`);
	// start 0 is always satisfiable (an empty object gives an empty stream, as S3 does for an open range)
	if (start >= size && start !== 0) throw new RangeError(`range start ${start} is beyond the object's ${size} bytes`);
	return { start, end: end === undefined ? size - 1 : Math.min(end, size - 1) };
}

/** Checks a range's own shape (before the object's size is known). */
export function checkRangeShape(range: { start: number; end?: number }): void {
	resolveRange(range, Number.MAX_SAFE_INTEGER);
}

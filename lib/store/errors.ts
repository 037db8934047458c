/**
 * Errors the store adapters share, so callers handle them the same way on SQLite and MongoDB.
 * A unique index (or `_id`) violation is a DuplicateKeyError with `code` 11000, MongoDB's own code.
 */
export class DuplicateKeyError extends Error {
	readonly code = 11000;
	readonly collection: string;
	constructor(collection: string, detail: string, options?: { cause?: unknown }) {
		super(`duplicate key in collection '${collection}': ${detail}`, options);
		this.name = "DuplicateKeyError";
		this.collection = collection;
	}
}

/** True for our DuplicateKeyError and for raw MongoDB duplicate-key errors. */
export function isDuplicateKeyError(err: unknown): boolean {
	return typeof err === "object" && err !== null && (err as { code?: unknown }).code === 11000;
}

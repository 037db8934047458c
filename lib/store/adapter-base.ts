/**
 * What every store adapter (SQLite, PostgreSQL, MongoDB) does the same way: moleculer-db's entity and ID hooks
 * (documents are plain objects keyed by `_id`) and `increment` as an update. Each adapter extends it.
 */
import type { Doc, NewDoc, Update } from "./types.ts";
import { fromStoredId, toStoredId } from "./docs.ts";

export abstract class AdapterBase {
	abstract updateById(id: string, update: Update | Record<string, unknown>): Promise<Doc | null>;

	entityToObject(doc: Doc): Record<string, unknown> {
		return { ...doc };
	}

	beforeSaveTransformID(doc: NewDoc, idField: string): NewDoc {
		return toStoredId(doc, idField);
	}

	afterRetrieveTransformID(doc: Doc, idField: string): Record<string, unknown> {
		return fromStoredId(doc, idField);
	}

	async increment(id: string, inc: Record<string, number>, set?: Record<string, unknown>): Promise<Doc | null> {
		return this.updateById(id, { $inc: inc, $set: set ?? {} });
	}
}

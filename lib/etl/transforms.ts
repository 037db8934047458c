/**
 * "Custom format by code": a client whose files need more than a column mapping names a transform module,
 * config/formats/<name>.ts, that rewrites each parsed row before validation. This module loads them (dynamic
 * import, cached per process) and defines their contract.
 *
 * The module contract (see config/formats/README.md and config/formats/split-name.ts):
 *   export default function transform(row: Record<string, string>, ctx: TransformContext): Record<string, string> | null
 *   export const provides: string[]   (optional) canonical fields it fills, so the file need not have those columns
 *   export const requires: string[]   (optional) fields (from the format's `columns`) that must be in the file
 * - `row` maps field names (canonical fields and the format's extra column names) to the raw strings of one row;
 *   the function returns the row to validate (it may mutate and return `row`), or null to skip the row on purpose
 *   (a subtotal or footer line; skipped rows are counted, not rejected).
 * - It must be synchronous, fast and pure (it runs once per row, millions of times). A throw rejects that row with
 *   code "transform_failed" and the error's message, so throw messages a client can act on.
 * - Only canonical fields of the kind are kept after the transform; extra fields are dropped.
 */
import { access } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Kind } from "../records/index.ts";
import { TRANSFORM_NAME } from "./format.ts";

export interface TransformContext {
	kind: Kind;
	/** the row's line in the file (1 = header) */
	line: number;
}

export type TransformFn = (row: Record<string, string>, ctx: TransformContext) => Record<string, string> | null;

export interface TransformModule {
	name: string;
	transform: TransformFn;
	provides: string[];
	requires: string[];
}

export class TransformError extends Error {
	readonly transform: string;
	constructor(name: string, message: string) {
		super(message);
		this.name = "TransformError";
		this.transform = name;
	}
}

export const FORMATS_DIR = fileURLToPath(new URL("../../config/formats/", import.meta.url));

const cache = new Map<string, Promise<TransformModule>>();

function fileOf(name: string, dir: string): string {
	if (typeof name !== "string" || !TRANSFORM_NAME.test(name)) {
		throw new TransformError(String(name), `invalid transform name '${String(name)}': use lower-case letters, digits and '-'`);
	}
	return path.join(dir, `${name}.ts`);
}

function stringList(v: unknown, name: string, what: string): string[] {
	if (v === undefined) return [];
	if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new TransformError(name, `transform '${name}': export '${what}' must be an array of field names`);
	return v as string[];
}

async function load(name: string, dir: string): Promise<TransformModule> {
	const file = fileOf(name, dir);
	try {
		await access(file);
	} catch {
		throw new TransformError(name, `unknown transform '${name}': there is no ${path.join(path.basename(dir), `${name}.ts`)}`);
	}
	const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
	if (typeof mod.default !== "function") throw new TransformError(name, `transform '${name}' must export a default function transform(row, ctx)`);
	return {
		name,
		transform: mod.default as TransformFn,
		provides: stringList(mod.provides, name, "provides"),
		requires: stringList(mod.requires, name, "requires")
	};
}

/** Loads config/formats/<name>.ts (or `<dir>/<name>.ts`) once per process; rejects with TransformError. */
export function loadTransform(name: string, dir: string = FORMATS_DIR): Promise<TransformModule> {
	let file: string;
	try {
		file = fileOf(name, dir);
	} catch (err) {
		return Promise.reject(err);
	}
	let p = cache.get(file);
	if (!p) {
		p = load(name, dir);
		cache.set(file, p);
		p.catch(() => cache.delete(file));
	}
	return p;
}

/** True when a transform module of that name exists (for the clients API to answer 400 early). */
export async function transformExists(name: string, dir: string = FORMATS_DIR): Promise<boolean> {
	try {
		await access(fileOf(name, dir));
		return true;
	} catch {
		return false;
	}
}

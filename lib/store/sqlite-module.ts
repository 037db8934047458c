/** node:sqlite, loaded once per thread (the store's connections and the checkpoint worker's). */
import { createRequire } from "node:module";

type SqliteModule = typeof import("node:sqlite");

let sqliteModule: SqliteModule | undefined;

/**
 * Loads node:sqlite, dropping only the "SQLite is an experimental feature" warning Node 22 prints on first
 * load (every other warning still goes through).
 */
export function loadSqlite(): SqliteModule {
	if (sqliteModule) return sqliteModule;
	const original = process.emitWarning;
	process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]): void {
		const text = typeof warning === "string" ? warning : warning.message;
		if (/SQLite is an experimental feature/i.test(text)) return;
		return (original as (...a: unknown[]) => void).call(this, warning, ...rest);
	} as typeof process.emitWarning;
	try {
		sqliteModule = createRequire(import.meta.url)("node:sqlite") as SqliteModule;
	} finally {
		process.emitWarning = original;
	}
	return sqliteModule;
}

/**
 * Chooses the store for this process: PostgreSQL when DATABASE_URL is set (config.postgres), MongoDB when
 * MONGO_URL is set (config.mongo), else the embedded
 * SQLite file `${DATA_DIR}/paperwork.db` (its folder is created), with the records in `${DATA_DIR}/records.db`.
 */
import path from "node:path";
import { isMainThread } from "node:worker_threads";
import type { Logger } from "pino";
import type { Config } from "../../config/index.ts";
import type { StoreFactory } from "./types.ts";
import { SqliteStore } from "./sqlite.ts";
import { MongoStore } from "./mongo.ts";
import { PostgresStore } from "./postgres.ts";

/**
 * Collections in a file of their own: the registered records (lib/ingest/register.ts), written by the registry in
 * long transactions that must not hold up the batch bookkeeping in paperwork.db.
 */
export function ownFiles(dataDir: string): Record<string, string> {
	return { records: path.join(dataDir, "records.db") };
}

export function createStore(config: Config, logger: Logger): StoreFactory {
	if (config.postgres) return new PostgresStore({ url: config.postgres.url, poolSize: config.postgres.poolSize, logger });
	if (config.mongo) return new MongoStore({ url: config.mongo.url, db: config.mongo.db, logger });
	// the process's main thread checkpoints from a worker; the registry's write thread (a worker itself) in its commits
	return new SqliteStore({ file: path.join(config.dataDir, "paperwork.db"), ownFiles: ownFiles(config.dataDir), logger, backgroundCheckpoints: isMainThread });
}

export { SqliteStore } from "./sqlite.ts";
export { MongoStore } from "./mongo.ts";
export { PostgresStore } from "./postgres.ts";
export { DuplicateKeyError, isDuplicateKeyError } from "./errors.ts";

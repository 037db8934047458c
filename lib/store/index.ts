/**
 * Chooses the store for this process: MongoDB when MONGO_URL is set (config.mongo), else the embedded
 * SQLite file `${DATA_DIR}/paperwork.db` (its folder is created).
 */
import path from "node:path";
import type { Logger } from "pino";
import type { Config } from "../../config/index.ts";
import type { StoreFactory } from "./types.ts";
import { SqliteStore } from "./sqlite.ts";
import { MongoStore } from "./mongo.ts";

export function createStore(config: Config, logger: Logger): StoreFactory {
	if (config.mongo) return new MongoStore({ url: config.mongo.url, db: config.mongo.db, logger });
	return new SqliteStore({ file: path.join(config.dataDir, "paperwork.db"), logger });
}

export { SqliteStore } from "./sqlite.ts";
export { MongoStore } from "./mongo.ts";
export { DuplicateKeyError, isDuplicateKeyError } from "./errors.ts";

/**
 * The registry's write thread (see register-thread.ts): opens its own store, object store and search index from
 * the process's configuration (handed over as workerData) and registers the chunks it is given with registerChunks.
 */
import { workerData } from "node:worker_threads";
import type { Config } from "../../config/index.ts";
import { serveJobs } from "../threads.ts";
import { createLogger } from "../log.ts";
import { createDataPorts } from "../platform.ts";
import { BatchStore } from "./batches.ts";
import { openRecords, registerChunks, type RegistryDeps } from "./register.ts";
import type { RegisterJob } from "./register-thread.ts";

const { config } = workerData as { config: Config };
let deps: Promise<RegistryDeps> | undefined;

function open(): Promise<RegistryDeps> {
	deps ??= (async () => {
		const logger = createLogger({ level: config.log.level, format: "json" }).child({ thread: "register" });
		const { store, objects, search } = createDataPorts(config, logger);
		const [batches, records] = await Promise.all([BatchStore.open((c) => store.adapter(c)), openRecords(store, search)]);
		return { objects, store: batches, records, search };
	})();
	deps.catch(() => (deps = undefined));
	return deps;
}

serveJobs(async (job: RegisterJob) => registerChunks(await open(), job.batch, job.chunks));

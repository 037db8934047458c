/**
 * Starts one Paperwork node: loads the configuration, opens the ports (store, objects, queues, search), creates the
 * broker with the services this node runs (SERVICES, or all) plus `ops`, and starts it. Used by `npm start`,
 * the REPL, and the tests (which start nodes in-process or as child processes).
 */
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import type { Logger } from "pino";
import { ConfigError, loadConfig, type Config } from "../config/index.ts";
import { brokerOptions } from "../moleculer.config.ts";
import { createLogger } from "./log.ts";
import { closePlatform, initPlatform, type Platform } from "./platform.ts";

/**
 * The flags a node's process starts with (`npm start`, the image's CMD, the tests' and benchmarks' child nodes; the
 * benchmarks that run the platform in their own process are started with them too, in package.json).
 * --max-semi-space-size=64 (MiB, V8's default is 16): a node keeps thousands of short-lived objects in flight (cases
 * waiting on a batch of writes, callbacks, provider calls), and a young generation of 16 MiB filled every ~60 ms, each
 * scavenge copying what was still in flight (7-12 ms each, 15-20 % of the main thread in bench:dispatch --http). With
 * 64, bench:dispatch --http went from ~900 to ~1,140 cases/s (30,000 cases) at about the same peak RSS; 32 gave ~1,090,
 * 128 ~1,170.
 */
export const NODE_FLAGS = ["--disable-warning=ExperimentalWarning", "--max-semi-space-size=64"] as const;

const SERVICES_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "services");

/** The names of every service file (services/<name>.service.ts). */
export function availableServices(): string[] {
	return readdirSync(SERVICES_DIR)
		.filter((f) => f.endsWith(".service.ts"))
		.map((f) => f.slice(0, -".service.ts".length))
		.sort();
}

/** The services this node runs: `ops` always, plus SERVICES or all; unknown names fail with ConfigError. */
export function selectServices(config: Config): string[] {
	const all = availableServices();
	if (!config.services) return all;
	const unknown = config.services.filter((s) => !all.includes(s));
	if (unknown.length) throw new ConfigError("SERVICES", `SERVICES names unknown service(s) ${unknown.map((u) => `'${u}'`).join(", ")}; available: ${all.join(", ")}`);
	return [...new Set(["ops", ...config.services])];
}

export interface RunningNode {
	broker: ServiceBroker;
	platform: Platform;
	config: Config;
	logger: Logger;
	services: string[];
	/** the api's HTTP port when this node runs the api */
	httpPort?: number;
	stop(): Promise<void>;
}

export interface StartOptions {
	env?: Record<string, string | undefined>;
	/** run these services instead of SERVICES (an empty list: a node with only `ops`, e.g. the REPL) */
	services?: string[];
	logger?: Logger;
}

export async function startNode(options: StartOptions = {}): Promise<RunningNode> {
	const config = loadConfig(options.env ?? process.env);
	const logger = options.logger ?? createLogger(config.log);
	const names = options.services ? [...new Set(["ops", ...options.services])] : selectServices(config);
	const platform = await initPlatform(config, logger);
	const broker = new ServiceBroker(brokerOptions(config, logger, { stopped: () => closePlatform() }));
	for (const name of names) {
		const mod = (await import(pathToFileURL(path.join(SERVICES_DIR, `${name}.service.ts`)).href)) as { default: ServiceSchema };
		broker.createService(mod.default);
	}
	try {
		await broker.start();
	} catch (err) {
		await broker.stop().catch(() => undefined);
		await closePlatform();
		throw err;
	}
	const api = names.includes("api") ? (broker.getLocalService("api") as unknown as { server?: { address(): { port: number } | string | null } }) : undefined;
	const addr = api?.server?.address();
	return {
		broker,
		platform,
		config,
		logger,
		services: names,
		httpPort: addr && typeof addr === "object" ? addr.port : undefined,
		stop: () => broker.stop()
	};
}

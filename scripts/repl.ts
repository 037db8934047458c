/**
 * `npm run repl`: the Moleculer REPL with Paperwork's operator commands (health, queues, dlq, clients).
 * Distributed (TRANSPORTER set): joins the running cluster as a node with no services of its own (only `ops`).
 * Embedded (no TRANSPORTER): there is no cluster to join, so it runs the whole platform in this process with the
 * REPL attached — use it instead of `npm start`.
 */
import { ConfigError, loadConfig } from "../config/index.ts";
import { startNode } from "../lib/node.ts";
import type { ReplOptions } from "moleculer";
import { replCommands } from "../lib/repl-commands.ts";

async function main(): Promise<void> {
	const config = loadConfig();
	const env = { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "warn", ...(config.transporter ? { METRICS_PORT: process.env.METRICS_PORT ?? "0", NODE_ID: process.env.NODE_ID ?? `repl-${process.pid}` } : {}) };
	const node = await startNode({ env, services: config.transporter ? [] : undefined });
	if (node.services.includes("clients")) await node.broker.call("clients.ensureDemo");
	// moleculer-repl passes the parsed arguments as an object (the typings say string[])
	node.broker.options.replOptions = { customCommands: replCommands() as unknown as ReplOptions["customCommands"], delimiter: "paperwork $" };
	await node.broker.repl();
}

main().catch((err: unknown) => {
	process.stderr.write(err instanceof ConfigError ? `configuration error: ${err.message}\n` : `repl failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
	process.exit(err instanceof ConfigError ? 78 : 1);
});

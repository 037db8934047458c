/**
 * `npm start`: runs a Paperwork node. With no TRANSPORTER set, every service runs in this one process on the
 * embedded store, objects and queues under DATA_DIR (no server needed). Prints a banner with the API URL, the docs
 * URL and a ready-to-paste curl line. SIGINT/SIGTERM stop it gracefully (in-flight work finishes first), within
 * SHUTDOWN_TIMEOUT_MS plus a margin (lib/shutdown.ts).
 */
import { ConfigError } from "../config/index.ts";
import { startNode } from "../lib/node.ts";
import { armShutdownDeadline } from "../lib/shutdown.ts";

async function main(): Promise<void> {
	let node;
	try {
		node = await startNode();
	} catch (err) {
		if (err instanceof ConfigError) {
			process.stderr.write(`configuration error: ${err.message}\n`);
			process.exit(78); // EX_CONFIG
		}
		throw err;
	}
	const { broker, config, services, httpPort } = node;
	armShutdownDeadline(config.shutdownTimeoutMs, node.logger);
	let demo: { created: boolean; apiKey?: string } = { created: false };
	if (services.includes("clients")) demo = (await broker.call("clients.ensureDemo")) as typeof demo;
	const mode = config.transporter ? `distributed (AMQP transporter, namespace '${config.namespace}')` : "embedded (one process, no servers)";
	const lines = [
		"",
		`Paperwork node ${broker.nodeID} started: ${mode}`,
		`  services: ${services.join(", ")}`,
		`  data:     ${config.mongo ? "MongoDB" : config.dataDir}`
	];
	if (httpPort !== undefined) {
		const base = config.http.publicUrl.replace(`:${config.http.port}`, `:${httpPort}`);
		// DEMO_API_KEY is shown only when this store knows it (the demo client may have been made with another key)
		const known = !demo.apiKey && config.auth.demoApiKey && services.includes("clients") ? await broker.call("clients.resolveKey", { apiKey: config.auth.demoApiKey }) : null;
		const key = demo.apiKey ?? (known ? config.auth.demoApiKey : undefined) ?? "<your API key>";
		lines.push(`  API:      ${base}/api/v1`, `  docs:     ${base}/api/docs`, `  console:  ${base}/console (sign in with an account from \`npm run operator -- add\`)`, `  health:   curl -s ${base}/api/v1/health`);
		if (demo.created) lines.push(`  demo client created; its API key (shown once): ${demo.apiKey}`);
		else if (config.auth.demoApiKey && services.includes("clients") && !known) lines.push("  DEMO_API_KEY is not a key of this store (the demo client was created earlier with another key); it is not used");
		lines.push(`  try:      curl -s -H 'X-API-Key: ${key}' ${base}/api/v1/batches`);
	}
	if (config.metricsPort > 0) lines.push(`  metrics:  http://localhost:${config.metricsPort}/metrics`);
	process.stdout.write(`${lines.join("\n")}\n\n`);
}

main().catch((err: unknown) => {
	process.stderr.write(`start-up failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
	process.exit(1);
});

/**
 * `npm run init [-- --admin-email <email>]`: first-run set-up of a deployment (the Kubernetes init Job runs it).
 * Opens the ports from the configuration (the same variables as every node), creates what is missing (bucket,
 * collections and indexes, search index, work queues: lib/setup/init.ts) and exits 0. Safe to run twice.
 * Exit codes: 0 done, 78 bad configuration, 1 a server refused or could not be reached (the Job retries).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../config/index.ts";
import { createLogger } from "../lib/log.ts";
import { closePlatform, initPlatform } from "../lib/platform.ts";
import { initialise } from "../lib/setup/init.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * ---- FIRST ADMIN OPERATOR ----
 * Creates the first admin operator with `npm run operator -- add --email <email> --role admin` (its password from
 * OPERATOR_PASSWORD: the Job reads it from the Secret) when an email was given. The command exits 1 when the operator
 * exists already: that counts as done, so that this set-up stays safe to run twice.
 */
function ensureFirstAdmin(email: string | undefined, log: (msg: string) => void): void {
	if (!email) return log("no --admin-email given: no operator created");
	const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts?: Record<string, string> };
	if (!pkg.scripts?.operator) return log("no `operator` script in this build: first admin not created");
	const run = spawnSync("npm", ["run", "--silent", "operator", "--", "add", "--email", email, "--role", "admin"], {
		cwd: ROOT,
		stdio: "inherit",
		env: { ...process.env, npm_config_cache: path.join(process.env.TMPDIR ?? "/tmp", ".npm"), npm_config_update_notifier: "false" }
	});
	if (run.status === 1) return log("the first admin operator exists already");
	if (run.status !== 0) throw new Error(`npm run operator -- add exited with ${run.status ?? run.signal}`);
	log("first admin operator created");
}

async function main(): Promise<void> {
	const { values } = parseArgs({ options: { "admin-email": { type: "string" } } });
	const config = loadConfig(process.env);
	const logger = createLogger(config.log).child({ svc: "init" });
	const platform = await initPlatform(config, logger);
	try {
		const report = await initialise(platform);
		logger.info({ ...report, store: platform.store.kind, objects: platform.objects.kind, queues: platform.queues.kind, search: platform.search.kind }, "set-up done");
		ensureFirstAdmin(values["admin-email"], (msg) => logger.info(msg));
	} finally {
		await closePlatform();
	}
}

main().then(
	() => process.exit(0),
	(err: unknown) => {
		if (err instanceof ConfigError) {
			process.stderr.write(`configuration error: ${err.message}\n`);
			process.exit(78);
		}
		process.stderr.write(`set-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
		process.exit(1);
	}
);

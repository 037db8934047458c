/**
 * Remote calls per second over the AMQP transporter at concurrency 100: our settings (prefetch 100, TCP noDelay,
 * JSONExt) against Moleculer's defaults, callers and callee in separate processes on the local RabbitMQ.
 *   npm run bench:rpc [-- --seconds 10 --concurrency 100]
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ServiceBroker, type BrokerOptions } from "moleculer";
import { pino } from "pino";
import { loadConfig } from "../config/index.ts";
import { brokerOptions } from "../moleculer.config.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "10" }, concurrency: { type: "string", default: "100" }, url: { type: "string", default: process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672" } } });
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const here = path.dirname(fileURLToPath(import.meta.url));

async function run(label: string, defaults: boolean, durationS: number): Promise<number> {
	const namespace = `bench-${randomUUID().slice(0, 8)}`;
	const env = { ...process.env, TRANSPORTER: values.url, NAMESPACE: namespace, METRICS_PORT: "0", LOG_LEVEL: "warn", BENCH_DEFAULTS: defaults ? "1" : "0" };
	const worker = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", path.join(here, "rpc-worker.ts")], { env, stdio: ["ignore", "pipe", "inherit"] });
	await new Promise<void>((resolve) => worker.stdout.on("data", (d: Buffer) => d.toString().includes("ready") && resolve()));
	const config = loadConfig(env);
	const options: BrokerOptions = { ...brokerOptions(config, pino({ level: "warn" })), middlewares: [], nodeID: `bench-caller-${process.pid}` };
	if (defaults) options.transporter = { type: "AMQP", options: { url: config.transporter } };
	const broker = new ServiceBroker(options);
	await broker.start();
	await broker.waitForServices("bench", 20_000);
	let calls = 0;
	let errors = 0;
	const until = Date.now() + durationS * 1000;
	const started = process.hrtime.bigint();
	await Promise.all(
		Array.from({ length: concurrency }, async (_, i) => {
			while (Date.now() < until) {
				try {
					await broker.call("bench.echo", { n: i });
					calls++;
				} catch {
					errors++;
				}
			}
		})
	);
	const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
	const rate = calls / elapsed;
	console.log(`${label.padEnd(44)} ${rate.toFixed(0).padStart(8)} calls/s  (${calls} calls in ${elapsed.toFixed(1)} s, ${errors} errors, concurrency ${concurrency})`);
	await broker.stop();
	worker.kill("SIGTERM");
	await new Promise((r) => worker.once("exit", r));
	return rate;
}

const ours = await run("ours (prefetch 100, noDelay, JSONExt)", false, seconds);
const defaults = await run("Moleculer AMQP defaults (prefetch 1, Nagle)", true, Math.min(seconds, 5));
console.log(`ratio: ${(ours / Math.max(defaults, 0.001)).toFixed(0)}x`);

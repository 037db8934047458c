/**
 * The remote side of bench/rpc.ts: a broker with one `bench.echo` action on the AMQP transporter.
 * BENCH_DEFAULTS=1 uses Moleculer's default AMQP options (prefetch 1, Nagle on) instead of ours.
 */
import { ServiceBroker, type BrokerOptions, type Context } from "moleculer";
import { pino } from "pino";
import { loadConfig } from "../config/index.ts";
import { brokerOptions } from "../moleculer.config.ts";

const config = loadConfig();
const options: BrokerOptions = { ...brokerOptions(config, pino({ level: "warn" })), middlewares: [] };
if (process.env.BENCH_DEFAULTS === "1") options.transporter = { type: "AMQP", options: { url: config.transporter } };
const broker = new ServiceBroker(options);
broker.createService({ name: "bench", actions: { echo: (ctx: Context<{ n: number }>) => ({ n: ctx.params.n, at: Date.now() }) } });
await broker.start();
process.stdout.write("ready\n");
process.on("SIGTERM", () => {
	void broker.stop().then(() => process.exit(0));
});

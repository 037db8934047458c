/**
 * Benchmark: messages/s through our RabbitMQ queue layer (lib/queues/rabbitmq.ts) beside raw rabbitmq-client with
 * the same settings, in the same run: durable quorum queue, persistent messages, publisher confirms with many
 * publishes in flight, 1 KB JSON payloads, one consumer with prefetch 2x its concurrency.
 *
 *   node bench/queues.ts            (AMQP_URL, BENCH_N=50000, BENCH_WINDOW=500, BENCH_CONCURRENCY=100, BENCH_ROUNDS=1)
 *
 * Prints publish and consume rates of both and the ratio ours/raw (goal: >= 70 %), and the client CPU time per
 * message of each (steadier than rates when other work shares the machine).
 */
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { Connection } from "rabbitmq-client";
import { RabbitQueueBackend } from "../lib/queues/rabbitmq.ts";
import { mapWindow } from "../lib/queues/common.ts";

const url = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const N = Number(process.env.BENCH_N ?? 50_000);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 500);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const PREFETCH = 2 * CONCURRENCY;
/** messages per publishMany call (a file-picker sends a file's chunks in slices like this) */
const SLICE = 5000;

/** A ~1 KB JSON payload (like a small chunk reference with some fields). */
function payload(i: number): { seq: number; batchId: string; note: string } {
	return { seq: i, batchId: "bench-batch", note: "x".repeat(1024 - 60) };
}

interface Result {
	publishPerSec: number;
	consumePerSec: number;
	/** client CPU (user + system) in µs per message: steadier than wall time on a busy machine */
	publishCpuUs: number;
	consumeCpuUs: number;
}

const rate = (n: number, ms: number): number => Math.round((n / ms) * 1000);
const cpuPerMsg = (since: NodeJS.CpuUsage): number => {
	const d = process.cpuUsage(since);
	return Math.round(((d.user + d.system) / N) * 10) / 10;
};

async function raw(): Promise<Result> {
	const conn = new Connection({ url, connectionName: "bench-raw", noDelay: true });
	conn.on("error", () => undefined);
	await conn.onConnect(10_000);
	const queue = `bench.raw.${randomUUID()}`;
	await conn.queueDeclare({ queue, durable: true, arguments: { "x-queue-type": "quorum" } });
	const pub = conn.createPublisher({ confirm: true });
	let t = performance.now();
	let cpu = process.cpuUsage();
	// same shape as ours below: slices of SLICE payloads, WINDOW confirms in flight
	for (let start = 0; start < N; start += SLICE) {
		const slice = Array.from({ length: Math.min(SLICE, N - start) }, (_, j) => payload(start + j));
		await mapWindow(slice, WINDOW, (p) => pub.send({ routingKey: queue, durable: true, contentType: "application/json", messageId: randomUUID() }, Buffer.from(JSON.stringify(p))));
	}
	const publishPerSec = rate(N, performance.now() - t);
	const publishCpuUs = cpuPerMsg(cpu);
	await pub.close();

	let got = 0;
	let finish!: () => void;
	const allIn = new Promise<void>((r) => (finish = r));
	t = performance.now();
	cpu = process.cpuUsage();
	const sub = conn.createConsumer({ queue, queueOptions: { queue, durable: true, arguments: { "x-queue-type": "quorum" } }, qos: { prefetchCount: PREFETCH }, concurrency: CONCURRENCY }, async (msg) => {
		if ((msg.body as { seq?: number }).seq === undefined) throw new Error("bad body");
		if (++got === N) finish();
	});
	await allIn;
	const consumePerSec = rate(N, performance.now() - t);
	const consumeCpuUs = cpuPerMsg(cpu);
	await sub.close();
	await conn.queueDelete({ queue });
	await conn.close();
	return { publishPerSec, consumePerSec, publishCpuUs, consumeCpuUs };
}

async function ours(): Promise<Result> {
	const backend = new RabbitQueueBackend({
		url,
		connectionName: "bench-ours",
		defaults: { retries: 3, retryDelayMs: 1000, prefetch: 0 },
		logger: pino({ level: "warn" }),
		publishWindow: WINDOW
	});
	await backend.connect();
	const queue = `bench.ours.${randomUUID()}`;
	await backend.declare(queue);
	let t = performance.now();
	let cpu = process.cpuUsage();
	// the way a file-picker sends a file's chunks: publishMany in slices
	for (let start = 0; start < N; start += SLICE) {
		const slice = Array.from({ length: Math.min(SLICE, N - start) }, (_, j) => ({ payload: payload(start + j) }));
		await backend.publishMany(queue, slice);
	}
	const publishPerSec = rate(N, performance.now() - t);
	const publishCpuUs = cpuPerMsg(cpu);

	let got = 0;
	let finish!: () => void;
	const allIn = new Promise<void>((r) => (finish = r));
	t = performance.now();
	cpu = process.cpuUsage();
	const consumer = await backend.consume<{ seq?: number }>(
		queue,
		async (p) => {
			if (p.seq === undefined) throw new Error("bad body");
			if (++got === N) finish();
		},
		{ concurrency: CONCURRENCY }
	);
	await allIn;
	const consumePerSec = rate(N, performance.now() - t);
	const consumeCpuUs = cpuPerMsg(cpu);
	await consumer.close();
	await backend.deleteQueue(queue, 3);
	await backend.close();
	return { publishPerSec, consumePerSec, publishCpuUs, consumeCpuUs };
}

const fmt = (n: number): string => n.toLocaleString("en-US").padStart(8);
const pct = (a: number, b: number): string => `${Math.round((a / b) * 100)} %`;

console.log(`RabbitMQ queue benchmark: ${N} persistent 1 KB messages, confirms (${WINDOW} in flight), consumer concurrency ${CONCURRENCY}, prefetch ${PREFETCH}`);
const keys = ["publishPerSec", "consumePerSec", "publishCpuUs", "consumeCpuUs"] as const;
const zero = (): Result => ({ publishPerSec: 0, consumePerSec: 0, publishCpuUs: 0, consumeCpuUs: 0 });
const totals = { raw: zero(), ours: zero() };
const report = (label: string, r: Result, o: Result): void => {
	console.log(`${label}  publish msgs/s: raw ${fmt(r.publishPerSec)}  ours ${fmt(o.publishPerSec)}  (${pct(o.publishPerSec, r.publishPerSec)})   client CPU µs/msg: raw ${r.publishCpuUs}  ours ${o.publishCpuUs}`);
	console.log(`${label}  consume msgs/s: raw ${fmt(r.consumePerSec)}  ours ${fmt(o.consumePerSec)}  (${pct(o.consumePerSec, r.consumePerSec)})   client CPU µs/msg: raw ${r.consumeCpuUs}  ours ${o.consumeCpuUs}`);
};
for (let round = 1; round <= ROUNDS; round++) {
	// alternate which goes first, so neither always runs on a warmer (or busier) broker
	const [r, o] = round % 2 ? [await raw(), await ours()] : await ours().then(async (x) => [await raw(), x] as const);
	report(`round ${round}`, r, o);
	for (const k of keys) {
		totals.raw[k] += r[k] / ROUNDS;
		totals.ours[k] += o[k] / ROUNDS;
	}
}
if (ROUNDS > 1) {
	for (const k of keys) {
		const digits = k.endsWith("PerSec") ? 1 : 10;
		totals.raw[k] = Math.round(totals.raw[k] * digits) / digits;
		totals.ours[k] = Math.round(totals.ours[k] * digits) / digits;
	}
	report("mean   ", totals.raw, totals.ours);
}

/**
 * Ingestion end to end: a 1,000,000-row default-format debt CSV (~92 MB, ~3 % bad rows) uploaded over HTTP until
 * its batch is COMPLETED, (1) on the embedded default (one process) and (2) on RabbitMQ with a gateway process and
 * two worker processes (etl + registry each); and, in the same run, csv-parse alone on the same file. Prints rows/s,
 * each process's peak RSS (VmHWM), how fast the API answers GET /batches/:id meanwhile, the ratio to csv-parse, and
 * where the CPU went: each process's CPU time split by thread (the registry's write thread and the etl's parse
 * threads from the paperwork_thread_cpu_seconds_total metric, the main thread from /proc) and the throughput the
 * machine's cores allow at that much CPU a row.
 * (3) On RabbitMQ with the store on PostgreSQL (a database created for the run on the server behind --pg, dropped
 * after), with one and with two registry nodes, and in the same run the floor: PostgreSQL's own COPY of the rows
 * those runs stored into a table with the same indexes (`LIKE records INCLUDING ALL`), through psql's \copy.
 *   node bench/ingest.ts [--rows 1000000] [--only embedded|rabbitmq|postgres] [--keep] [--pg postgres://...]
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { randomUUID } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parse } from "csv-parse";
import { generateDebtCsv } from "./fixtures/debts.ts";
import { signOperatorToken } from "../lib/api/auth.ts";
import { NODE_FLAGS } from "../lib/node.ts";
import { deleteNamespaceQueues, freePort, metricSamples } from "../test/helpers/node.ts";
import { createTestDatabase } from "../test/helpers/postgres.ts";

const { values } = parseArgs({ options: { rows: { type: "string", default: "1000000" }, only: { type: "string" }, keep: { type: "boolean", default: false }, amqp: { type: "string", default: process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672" }, pg: { type: "string" } } });
if (values.pg) process.env.TEST_DATABASE_URL = values.pg;
const ROWS = Number(values.rows);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SECRET = "bench-secret-bench-secret-bench-secret";

function peakRssMb(pid: number | undefined): number {
	if (!pid) return 0;
	try {
		const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
		return m ? Math.round(Number(m[1]) / 1024) : 0;
	} catch {
		return 0;
	}
}

async function csvParseAlone(file: string, columns: boolean): Promise<number> {
	const started = performance.now();
	let n = 0;
	const parser = createReadStream(file).pipe(parse({ columns, relax_column_count: true }));
	for await (const _ of parser) n++;
	const s = (performance.now() - started) / 1000;
	console.log(`csv-parse alone (${columns ? "objects" : "arrays "}):        ${Math.round(n / s).toLocaleString("en").padStart(9)} rows/s  (${n.toLocaleString("en")} rows in ${s.toFixed(1)} s)`);
	return n / s;
}

/** CPU seconds (user + system) of a process and of its main thread (Linux /proc; the clock ticks at USER_HZ = 100). */
function processCpu(pid: number | undefined): { total: number; main: number } {
	const seconds = (stat: string): number => {
		const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
		return (Number(f[11]) + Number(f[12])) / 100;
	};
	try {
		return { total: seconds(readFileSync(`/proc/${pid}/stat`, "utf8")), main: seconds(readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8")) };
	} catch {
		return { total: 0, main: 0 };
	}
}

/** The CPU seconds of each thread pool (parse, register) from a node's paperwork_thread_cpu_seconds_total metric. */
async function poolCpu(metricsPort: string): Promise<Record<string, number>> {
	const out: Record<string, number> = {};
	try {
		for (const { labels, value } of await metricSamples(metricsPort, "paperwork_thread_cpu_seconds_total")) {
			const pool = /pool="([^"]+)"/.exec(labels)?.[1];
			if (pool) out[pool] = (out[pool] ?? 0) + value;
		}
	} catch {
		// metrics not served: the pools' share is left out
	}
	return out;
}

interface CpuSnapshot {
	process: { total: number; main: number };
	pools: Record<string, number>;
}

async function cpuSnapshot(pid: number | undefined, metricsPort: string): Promise<CpuSnapshot> {
	return { process: processCpu(pid), pools: await poolCpu(metricsPort) };
}

/** "33.6 s (33.6 us a row): register thread 17.7 s, parse threads 8.3 s, main thread 3.2 s, other threads 4.4 s" */
function cpuReport(before: CpuSnapshot, after: CpuSnapshot, rows: number): { seconds: number; text: string } {
	const seconds = after.process.total - before.process.total;
	const parts: [string, number][] = [];
	for (const [pool, s] of Object.entries(after.pools)) parts.push([`${pool} thread${pool === "register" ? "" : "s"}`, s - (before.pools[pool] ?? 0)]);
	parts.sort((a, b) => b[1] - a[1]);
	const main = after.process.main - before.process.main;
	parts.push(["main thread", main]);
	// the pools' figures come with each job's answer, so "other" (GC, libuv, the broker) is the rest, never below 0
	parts.push(["other threads (GC, I/O)", Math.max(0, seconds - parts.reduce((a, [, s]) => a + s, 0))]);
	const text = `${seconds.toFixed(1)} s (${((seconds * 1e6) / rows).toFixed(1)} us a row): ${parts.map(([n, s]) => `${n} ${s.toFixed(1)} s`).join(", ")}`;
	return { seconds, text };
}

function start(env: Record<string, string>): Promise<ChildProcess> {
	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, [...NODE_FLAGS, path.join(ROOT, "scripts/start.ts")], {
			cwd: ROOT,
			env: { PATH: process.env.PATH, LOG_LEVEL: "warn", LOG_FORMAT: "json", JWT_SECRET: SECRET, INBOX_POLL_MS: "0", ...(process.env.ETL_CONCURRENCY ? { ETL_CONCURRENCY: process.env.ETL_CONCURRENCY } : {}), ...env },
			stdio: ["ignore", "pipe", "pipe"]
		});
		let out = "";
		const onData = (d: Buffer) => {
			out += d.toString();
			if (/started:/.test(out)) resolve(child);
		};
		child.stdout.on("data", onData);
		child.stderr.on("data", (d: Buffer) => process.stderr.write(d));
		child.once("exit", (code) => reject(new Error(`node exited (${code}): ${out}`)));
	});
}

async function run(label: string, nodes: { name: string; env: Record<string, string> }[], port: number, file: string): Promise<number> {
	const children: { name: string; child: ChildProcess; metricsPort: string }[] = [];
	for (const n of nodes) {
		const metricsPort = String(await freePort());
		children.push({ name: n.name, child: await start({ ...n.env, METRICS_PORT: metricsPort }), metricsPort });
	}
	const base = `http://127.0.0.1:${port}/api/v1`;
	try {
		const admin = signOperatorToken(SECRET, "bench", "admin");
		const c = (await (await fetch(`${base}/clients`, { method: "POST", headers: { Authorization: `Bearer ${admin}`, "Content-Type": "application/json" }, body: JSON.stringify({ name: `bench-${randomUUID().slice(0, 6)}` }) })).json()) as { apiKey: string };
		const cpuBefore = await Promise.all(children.map(({ child, metricsPort }) => cpuSnapshot(child.pid, metricsPort)));
		const started = performance.now();
		const up = await fetch(`${base}/uploads?kind=debt`, {
			method: "POST",
			headers: { "X-API-Key": c.apiKey, "Content-Type": "text/csv", "Content-Length": String(statSync(file).size) },
			body: createReadStream(file) as unknown as ReadableStream,
			duplex: "half"
		} as RequestInit);
		const { batchId } = (await up.json()) as { batchId: string };
		const uploaded = (performance.now() - started) / 1000;
		let batch: { status: string; counts: Record<string, number>; chunks: { total: number; done: number } } | undefined;
		const latencies: number[] = [];
		for (;;) {
			const asked = performance.now();
			batch = (await (await fetch(`${base}/batches/${batchId}`, { headers: { "X-API-Key": c.apiKey } })).json()) as typeof batch;
			latencies.push(performance.now() - asked);
			if (!batch || batch.status === "COMPLETED" || batch.status === "FAILED") break;
			await new Promise((r) => setTimeout(r, 250));
		}
		const s = (performance.now() - started) / 1000;
		const cpuAfter = await Promise.all(children.map(({ child, metricsPort }) => cpuSnapshot(child.pid, metricsPort)));
		const rate = ROWS / s;
		console.log(`${label.padEnd(36)} ${Math.round(rate).toLocaleString("en").padStart(9)} rows/s  (upload ${uploaded.toFixed(1)} s, COMPLETED after ${s.toFixed(1)} s; ${batch?.status} ${JSON.stringify(batch?.counts)})`);
		latencies.sort((a, b) => a - b);
		const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(0);
		console.log(`   GET /batches/:id while ingesting: p50 ${pct(50)} ms, p95 ${pct(95)} ms, max ${pct(100)} ms (${latencies.length} calls)`);
		for (const { name, child } of children) console.log(`   peak RSS ${name.padEnd(28)} ${String(peakRssMb(child.pid)).padStart(5)} MB`);
		let cpu = 0;
		for (const [i, { name }] of children.entries()) {
			const r = cpuReport(cpuBefore[i], cpuAfter[i], ROWS);
			cpu += r.seconds;
			console.log(`   CPU ${name.padEnd(33)} ${r.text}`);
		}
		const cores = os.availableParallelism();
		console.log(`   CPU all processes: ${cpu.toFixed(1)} s in ${s.toFixed(1)} s on ${cores} cores (${Math.round((cpu / (s * cores)) * 100)} % busy); at ${((cpu * 1e6) / ROWS).toFixed(1)} us of CPU a row, ${cores} cores allow at most ${Math.round((cores * ROWS) / cpu).toLocaleString("en")} rows/s`);
		return rate;
	} finally {
		for (const { child } of children.reverse()) {
			child.kill("SIGTERM");
			await new Promise((r) => child.once("exit", r));
		}
	}
}

const file = path.join(os.tmpdir(), `paperwork-bench-debts-${ROWS}.csv`);
if (!existsSync(file)) {
	console.log(`generating ${file} ...`);
	await generateDebtCsv(file, ROWS, 0.03);
}
console.log(`file: ${file} (${(statSync(file).size / 1e6).toFixed(1)} MB, ${ROWS.toLocaleString("en")} rows); ${os.availableParallelism()} cores`);
const parseObjects = await csvParseAlone(file, true);
await csvParseAlone(file, false);
const results: Record<string, number> = {};
if (values.only === undefined || values.only === "embedded") {
	const dir = mkdtempSync(path.join(os.tmpdir(), "paperwork-bench-"));
	const port = await freePort();
	results.embedded = await run("embedded (1 process)", [{ name: "all services", env: { DATA_DIR: dir, PORT: String(port) } }], port, file);
	if (!values.keep) rmSync(dir, { recursive: true, force: true });
}
if (values.only === undefined || values.only === "rabbitmq") {
	const dir = mkdtempSync(path.join(os.tmpdir(), "paperwork-bench-"));
	const port = await freePort();
	const common = { DATA_DIR: dir, TRANSPORTER: values.amqp, NAMESPACE: `bench-${randomUUID().slice(0, 6)}` };
	results.rabbitmq = await run(
		"RabbitMQ (gateway + 2 workers)",
		[
			{ name: "gateway (api,ingest,picker,...)", env: { ...common, SERVICES: "api,clients,ingest,file-picker,batches", PORT: String(port), NODE_ID: "bench-gw" } },
			{ name: "worker 1 (etl,registry)", env: { ...common, SERVICES: "etl,registry", NODE_ID: "bench-w1" } },
			{ name: "worker 2 (etl,registry)", env: { ...common, SERVICES: "etl,registry", NODE_ID: "bench-w2" } }
		],
		port,
		file
	);
	await deleteNamespaceQueues(common.NAMESPACE, values.amqp);
	if (!values.keep) rmSync(dir, { recursive: true, force: true });
}
if (values.only === undefined || values.only === "postgres") {
	const psql = (url: string, command: string): string => execFileSync("psql", [url, "-v", "ON_ERROR_STOP=1", "-Atqc", command], { encoding: "utf8" });
	let lastUrl = "";
	const dbs: { drop(): Promise<void> }[] = [];
	try {
		for (const registries of [1, 2]) {
			const db = await createTestDatabase();
			dbs.push(db);
			lastUrl = db.url;
			const dir = mkdtempSync(path.join(os.tmpdir(), "paperwork-bench-"));
			const port = await freePort();
			const common = { DATA_DIR: dir, TRANSPORTER: values.amqp, NAMESPACE: `bench-${randomUUID().slice(0, 6)}`, DATABASE_URL: db.url };
			results[`postgres, ${registries} registry node${registries > 1 ? "s" : ""}`] = await run(
				`RabbitMQ + PostgreSQL, ${registries} registry`,
				[
					{ name: "gateway (api,ingest,picker,...)", env: { ...common, SERVICES: "api,clients,ingest,file-picker,batches", PORT: String(port), NODE_ID: "bench-gw" } },
					{ name: "worker 1 (etl,registry)", env: { ...common, SERVICES: "etl,registry", NODE_ID: "bench-w1" } },
					{ name: `worker 2 (etl${registries > 1 ? ",registry" : ""})`, env: { ...common, SERVICES: registries > 1 ? "etl,registry" : "etl", NODE_ID: "bench-w2" } }
				],
				port,
				file
			);
			await deleteNamespaceQueues(common.NAMESPACE, values.amqp);
			if (!values.keep) rmSync(dir, { recursive: true, force: true });
		}
		// the floor: the stored rows, copied by PostgreSQL itself into a table with the records' indexes
		const dump = path.join(os.tmpdir(), `paperwork-bench-records-${process.pid}.copy`);
		psql(lastUrl, `\\copy (SELECT _id, doc FROM records) TO '${dump}'`);
		psql(lastUrl, "CREATE TABLE pw_copy_floor (LIKE records INCLUDING ALL)");
		const indexes = psql(lastUrl, "SELECT count(*) FROM pg_indexes WHERE tablename = 'pw_copy_floor'").trim();
		const started = performance.now();
		psql(lastUrl, `\\copy pw_copy_floor FROM '${dump}'`);
		const s = (performance.now() - started) / 1000;
		const n = Number(psql(lastUrl, "SELECT count(*) FROM pw_copy_floor").trim());
		rmSync(dump, { force: true });
		const floor = n / s;
		console.log(`PostgreSQL COPY floor                ${Math.round(floor).toLocaleString("en").padStart(9)} rows/s  (${n.toLocaleString("en")} stored records into a table with the same ${indexes} indexes in ${s.toFixed(1)} s)`);
		for (const [k, v] of Object.entries(results)) {
			// the end-to-end rate counts every input row; COPY writes only the valid ones (the records)
			if (k.startsWith("postgres")) console.log(`${k}: ${((v / floor) * 100).toFixed(0)} % of the COPY floor (${((((v * n) / ROWS) / floor) * 100).toFixed(0)} % counting stored records only)`);
		}
	} finally {
		if (!values.keep) for (const db of dbs) await db.drop();
	}
}
for (const [k, v] of Object.entries(results)) console.log(`${k}: ${((v / parseObjects) * 100).toFixed(0)} % of csv-parse alone (objects)`);

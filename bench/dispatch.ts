/**
 * Delivery benchmark: N cases with a stored PDF go through the notifier, 20 % of them with a phone that fails on
 * WhatsApp, so they fall over to RCS. Prints cases/s from the first cases.rendered message to the last case's final
 * status, provider calls per case, and for every process its peak RSS and CPU ms per case.
 *
 *   node bench/dispatch.ts [--cases 2000] [--concurrency 256] [--http [--callbacks 192]] [--rabbitmq [--notifiers 2] [--pg] [--gateways]]
 *   node bench/dispatch.ts --render [--loans 2000]
 *   node bench/dispatch.ts --compare [--rounds 4] [--cases ...] [--http] [--notifiers 2]
 *
 * - default: one process (the embedded default: in-process queue, SQLite), the sandbox provider with no callback
 *   delay;
 * - --http: WhatsApp and RCS go over HTTP to the local provider servers of test/fixtures/providers (started in a
 *   child process of their own, as a provider is outside), configured by their URL env vars like real providers;
 *   their signed status callbacks come back over HTTP to the api's webhook routes (so this process also runs `api`),
 *   --callbacks at once per server (default 192: a provider posts from a fleet; the gateway answers a callback once
 *   its events are stored, so with 64 in flight the provider, not Paperwork, set the pace at ~630 cases/s; at 256 a
 *   few fresh connections, 0.05-0.4 %, were closed unanswered, cause not found: none at 192 or below);
 * - --rabbitmq: the notifier runs in --notifiers child processes (default 2) on RabbitMQ (queues and transporter),
 *   sharing the SQLite file; this process runs `clients` (and `api` with --http), feeds cases.rendered and watches;
 * - --gateways (with --rabbitmq --http): each notifier process runs `api` too, and the provider servers spread their
 *   callbacks over these gateways in turn (as a load balancer would); this process then runs no gateway. A
 *   callback is then applied by the notifier of the node it reached, with no call over the broker;
 * - --pg: every process's store on PostgreSQL (a database of its own on TEST_DATABASE_URL's server, default the local
 *   one, dropped after) instead of the SQLite file; the server's processes' CPU is printed with the others.
 * - --compare: the one-process run and the RabbitMQ run in turn, --rounds times (their order alternating), each in a
 *   fresh process; prints every pair and the median of their ratios. The goal is a ratio, and on a shared machine
 *   the same command's cases/s drift by a quarter within minutes: a pair run back to back drifts far less.
 * - --render: new loans, end to end on the embedded default (every service, real Chromium, the sandbox): loans
 *   uploaded as CSV, an operator's run, each case rendered then delivered. Prints the run's cases/s to a final status
 *   beside the renderer's own documents/s in the same run (documents stored per second between the first and the
 *   last), so the ratio tells what delivery adds to rendering.
 *
 * Figures from a shared machine are indicative only: run it on a quiet one to compare.
 */
import { fork, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { NODE_FLAGS, startNode } from "../lib/node.ts";
import { loadJwtSecret } from "../lib/secrets.ts";
import { signOperatorToken } from "../lib/api/auth.ts";
import { QUEUES } from "../config/queues.ts";
import { caseIdOf } from "../lib/delivery/notifier.ts";
import { deliveryStore } from "../lib/delivery/store.ts";
import type { CaseDoc } from "../lib/delivery/types.ts";
import { AMQP_URL, deleteNamespaceQueues, freePort, spawnNode } from "../test/helpers/node.ts";
import { createTestDatabase } from "../test/helpers/postgres.ts";
import { startWhatsAppServer } from "../test/fixtures/providers/whatsapp.ts";
import { startRbmServer } from "../test/fixtures/providers/rbm.ts";
import { pidsNamed, processStats } from "./fixtures/process-tree.ts";
import { median } from "./fixtures/median.ts";

const { values: args } = parseArgs({
	options: {
		cases: { type: "string", default: "2000" },
		concurrency: { type: "string" },
		http: { type: "boolean", default: false },
		callbacks: { type: "string", default: "192" },
		rabbitmq: { type: "boolean", default: false },
		pg: { type: "boolean", default: false },
		gateways: { type: "boolean", default: false },
		notifiers: { type: "string", default: "2" },
		render: { type: "boolean", default: false },
		compare: { type: "boolean", default: false },
		// even, so that each run goes first as often
		rounds: { type: "string", default: "4" },
		loans: { type: "string", default: "2000" },
		role: { type: "string", default: "bench" }
	}
});
const N = Number(args.cases);
const SELF = fileURLToPath(import.meta.url);

/** Loan i's phone: every fifth fails on WhatsApp (the sandbox fails phones ending in 0000; the local server by rule). */
function phoneOf(i: number): string {
	// the others end in 2: never in 0000 or 1111 (the sandbox's failing endings), nor a failing phone's number
	return i % 5 === 0 ? `+91987${String(i).padStart(3, "0").slice(-3)}0000` : `+9199${String(10000002 + i * 10)}`;
}

const FIXTURE = { waToken: "bench-wa-token", waSecret: "bench-wa-app-secret", rbmAgent: "bench-agent", rbmClientToken: "bench-rbm-client-token", rbmToken: "bench-rbm-token" };

/** The child process that plays the providers: the WhatsApp and RBM servers, over HTTP on loopback. */
async function fixturesRole(): Promise<void> {
	const wa = await startWhatsAppServer({ token: FIXTURE.waToken, appSecret: FIXTURE.waSecret, record: false, callbackConcurrency: Number(args.callbacks) });
	const rbm = await startRbmServer({ agentId: FIXTURE.rbmAgent, clientToken: FIXTURE.rbmClientToken, staticTokens: [FIXTURE.rbmToken], record: false, callbackConcurrency: Number(args.callbacks) });
	for (let i = 0; i < N; i += 5) wa.fail(phoneOf(i), { kind: "undeliverable", code: 131026 });
	/** `server.webhookUrl` as the next of `bases` at each read (the servers read it once a callback) */
	const spread = (server: { webhookUrl?: string }, bases: string[], path: string): void => {
		let next = 0;
		Object.defineProperty(server, "webhookUrl", { configurable: true, get: () => `${bases[next++ % bases.length]}${path}` });
	};
	process.on("message", (m: { webhookBases?: string[]; done?: boolean }) => {
		if (m.webhookBases) {
			spread(wa, m.webhookBases, "/api/v1/webhooks/whatsapp");
			spread(rbm, m.webhookBases, "/api/v1/webhooks/rcs");
			process.send?.({ ready: true });
		}
		if (m.done) {
			process.send?.({ callbacks: wa.callbacks.length + rbm.callbacks.length, failedCallbacks: [...wa.callbacks, ...rbm.callbacks].filter((c) => c.answer !== 200).length }, () => {
				void Promise.all([wa.close(), rbm.close()]).then(() => process.exit(0));
			});
		}
	});
	process.send?.({ wa: { url: wa.url, version: wa.version, phoneNumberId: wa.phoneNumberId }, rbm: { url: rbm.url } });
}

function once<T>(child: ChildProcess, pick: (m: T) => boolean): Promise<T> {
	return new Promise((resolve, reject) => {
		const onMessage = (m: T) => {
			if (!pick(m)) return;
			child.off("message", onMessage);
			resolve(m);
		};
		child.on("message", onMessage);
		child.once("exit", (code) => reject(new Error(`fixtures process exited with ${code}`)));
	});
}

async function bench(): Promise<void> {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "paperwork-bench-dispatch-"));
	const namespace = `bd-${randomUUID().slice(0, 8)}`;
	const procs: { name: string; pid: number }[] = [{ name: "bench (this process)", pid: process.pid }];
	let fixtures: ChildProcess | undefined;
	const env: Record<string, string> = {
		DATA_DIR: dir,
		PORT: "0",
		METRICS_PORT: "0",
		LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn",
		JWT_SECRET: "bench-secret-bench-secret-bench",
		SANDBOX_CALLBACK_DELAY_MS: "0",
		DELIVERY_SWEEP_MS: "1000"
	};
	if (args.rabbitmq) Object.assign(env, { TRANSPORTER: AMQP_URL, NAMESPACE: namespace });
	const db = args.pg ? await createTestDatabase() : undefined;
	if (db) env.DATABASE_URL = db.url;
	if (args.http) {
		fixtures = fork(SELF, ["--role", "fixtures", "--cases", String(N), "--callbacks", String(args.callbacks)], { execArgv: ["--disable-warning=ExperimentalWarning"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
		procs.push({ name: "provider servers (WhatsApp, RBM)", pid: fixtures.pid as number });
		const urls = await once<{ wa?: { url: string; version: string; phoneNumberId: string }; rbm?: { url: string } }>(fixtures, (m) => !!m.wa);
		Object.assign(env, {
			WHATSAPP_API_URL: urls.wa?.url,
			WHATSAPP_API_VERSION: urls.wa?.version,
			WHATSAPP_PHONE_NUMBER_ID: urls.wa?.phoneNumberId,
			WHATSAPP_TOKEN: FIXTURE.waToken,
			WHATSAPP_APP_SECRET: FIXTURE.waSecret,
			WHATSAPP_VERIFY_TOKEN: "bench-verify",
			WHATSAPP_RATE_PER_S: "0",
			RCS_API_URL: urls.rbm?.url,
			RCS_AGENT_ID: FIXTURE.rbmAgent,
			RCS_CLIENT_TOKEN: FIXTURE.rbmClientToken,
			RCS_TOKEN: FIXTURE.rbmToken,
			RCS_RATE_PER_S: "0"
		});
	}
	const gateways = args.gateways && args.rabbitmq && args.http;
	const here = [args.http && !gateways ? "api" : "", "clients", args.rabbitmq ? "" : "notifier"].filter(Boolean);
	const node = await startNode({ env: { PATH: process.env.PATH, ...env }, services: here, logger: pino({ level: process.env.BENCH_LOG_LEVEL ?? "warn" }) });
	const children: Awaited<ReturnType<typeof spawnNode>>[] = [];
	try {
		if (args.concurrency && !args.rabbitmq) {
			const binding = (node.broker.getLocalService("notifier") as unknown as { schema: { queues: Record<string, { concurrency?: number }> } }).schema.queues[QUEUES.casesRendered];
			binding.concurrency = Number(args.concurrency);
		}
		const bases: string[] = [];
		if (args.rabbitmq) {
			for (let i = 0; i < Number(args.notifiers); i++) {
				const port = gateways ? await freePort() : 0;
				const c = await spawnNode({ ...Object.fromEntries(Object.entries(env).filter(([k]) => k !== "PORT")), SERVICES: gateways ? "notifier,api" : "notifier", NODE_ID: `notifier${i}-${namespace}`, ...(gateways ? { PORT: String(port) } : {}) });
				children.push(c);
				procs.push({ name: `notifier ${i + 1}${gateways ? " (+ api)" : ""}`, pid: c.child.pid as number });
				if (gateways) bases.push(`http://127.0.0.1:${port}`);
			}
		}
		if (fixtures) {
			fixtures.send({ webhookBases: gateways ? bases : [`http://127.0.0.1:${node.httpPort}`] });
			await once<{ ready?: boolean }>(fixtures, (m) => !!m.ready);
		}
		const ds = await deliveryStore(node.platform.store);
		const delivery = { plan: ["whatsapp", "rcs", "sms", "email"], whatsapp: { templates: { en: { name: "welcome_letter", language: "en" } } } };
		const clientId = ((await node.broker.call("clients.create", { name: "bench", delivery })) as { id: string }).id;
		const key = `documents/${clientId}/bench/letter.pdf`;
		await node.platform.objects.put(key, Buffer.alloc(60_000, 1), { contentType: "application/pdf" });
		const now = new Date();
		const docs: CaseDoc[] = [];
		for (let i = 0; i < N; i++) {
			docs.push({
				_id: caseIdOf(clientId, `L-${i}`, "welcome-letter"),
				clientId,
				loanKey: `L-${i}`,
				documentType: "welcome-letter",
				template: "welcome-letter",
				recordId: `r${i}`,
				dueDate: "2026-11-20",
				language: "en",
				recipient: { name: "Asha", phone: phoneOf(i), email: `b${i}@example.com`, language: "en" },
				status: "pending",
				runId: "bench",
				runIds: ["bench"],
				try: 1,
				createdAt: now,
				updatedAt: now
			});
		}
		for (let i = 0; i < docs.length; i += 1000) await ds.cases.insertMany(docs.slice(i, i + 1000));
		// the servers' CPU is the run's too (their peak RSS is their lifetime's, so not printed): RabbitMQ's, and
		// PostgreSQL's processes (a backend a pool opens during the run counts from its start)
		const servers = [...(args.rabbitmq ? [{ comm: "beam.smp", name: "RabbitMQ (beam.smp, all its work)" }] : []), ...(db ? [{ comm: "postgres", name: "PostgreSQL (every server process)" }] : [])];
		const serverCpu = (comm: string): Map<number, number> => new Map(pidsNamed(comm).map((pid) => [pid, processStats(pid).cpuS]));
		const servers0 = servers.map((s) => serverCpu(s.comm));
		const cpu0 = new Map(procs.map((p) => [p.pid, processStats(p.pid).cpuS]));
		const t0 = performance.now();
		const msgs = docs.map((c) => ({ payload: { caseId: c._id, clientId, documentId: "doc-bench", key, pages: 4, bytes: 60_000, template: "welcome-letter", language: "en" }, options: { key: `${c._id}:rendered` } }));
		for (let i = 0; i < msgs.length; i += 1000) await node.platform.queues.publishMany(QUEUES.casesRendered, msgs.slice(i, i + 1000));
		let done = 0;
		let wait = 100;
		while (done < N) {
			await new Promise((r) => setTimeout(r, wait));
			done = await ds.cases.count({ query: { status: { $in: ["delivered", "sent", "failed"] } } });
			// a count scans the status index of every case: every 100 ms it cost this process 2-5 % of a core in a 50,000-case
			// run, which the run under test then lacked. Poll up to a second apart while the end is far (by the rate so far),
			// every 100 ms near it, so the end is still seen within 100 ms.
			const elapsed = performance.now() - t0;
			wait = done > 0 ? Math.min(1000, Math.max(100, ((N - done) * elapsed) / done / 4)) : 100;
		}
		const seconds = (performance.now() - t0) / 1000;
		// a run started by --compare reports its rate to it
		process.send?.({ casesPerS: N / seconds });
		const stats: { name: string; cpuS: number; cpu0: number; peakMiB: number; server?: boolean }[] = procs.map((p) => ({ ...p, ...processStats(p.pid), cpu0: cpu0.get(p.pid) ?? 0 }));
		servers.forEach((s, i) => {
			let cpu = 0;
			for (const [pid, now] of serverCpu(s.comm)) cpu += now - (servers0[i]?.get(pid) ?? 0);
			stats.push({ name: s.name, cpuS: cpu, cpu0: 0, peakMiB: 0, server: true });
		});
		const attempts = await ds.attempts.count({});
		const sandboxCalls = await ds.outbox.count({});
		const byChannel: Record<string, number> = {};
		for (const ch of ["whatsapp", "rcs", "sms", "email"]) byChannel[ch] = await ds.cases.count({ query: { channel: ch, status: "delivered" } });
		const failed = await ds.cases.count({ query: { status: "failed" } });
		const mode = `${args.rabbitmq ? `RabbitMQ, notifier in ${args.notifiers} processes${gateways ? " (each with a gateway)" : ""}` : "embedded default (one process)"}${db ? ", store on PostgreSQL" : ""}, ${args.http ? `providers over HTTP (local WhatsApp and RBM servers, ${args.callbacks} callbacks in flight each)` : "sandbox provider"}`;
		console.log(`cases: ${N} (20 % fail on WhatsApp), ${mode}, notifier concurrency ${args.concurrency ?? "default"}, ${os.availableParallelism()} cores`);
		console.log(`to a final status: ${seconds.toFixed(2)} s = ${(N / seconds).toFixed(0)} cases/s`);
		console.log(`delivered by channel: ${JSON.stringify(byChannel)}, failed: ${failed}`);
		console.log(`provider calls: ${attempts} attempts = ${(attempts / N).toFixed(2)} per case${args.http ? "" : ` (sandbox outbox: ${sandboxCalls})`}`);
		if (fixtures) {
			const exited = new Promise((r) => fixtures?.once("exit", r));
			fixtures.send({ done: true });
			const r = await once<{ callbacks?: number; failedCallbacks?: number }>(fixtures, (m) => m.callbacks !== undefined);
			await exited;
			console.log(`status callbacks over HTTP: ${r.callbacks} = ${((r.callbacks ?? 0) / N).toFixed(2)} per case, ${r.failedCallbacks} not answered 200`);
		}
		let total = 0;
		for (const s of stats) {
			const ms = ((s.cpuS - s.cpu0) * 1000) / N;
			total += ms;
			console.log(`  ${s.name.padEnd(34)} CPU ${ms.toFixed(2)} ms per case${s.server ? "" : `, peak RSS ${s.peakMiB.toFixed(0)} MiB`}`);
		}
		console.log(`CPU of all processes: ${total.toFixed(2)} ms per case (at most ~${(1000 / total).toFixed(0)} cases/s per free core)`);
	} finally {
		for (const c of children) await c.stop();
		await node.stop();
		if (fixtures && fixtures.exitCode === null && fixtures.signalCode === null) {
			const exited = new Promise((r) => fixtures?.once("exit", r));
			if (fixtures.connected) fixtures.send({ done: true });
			else fixtures.kill("SIGTERM");
			await exited;
		}
		if (args.rabbitmq) await deleteNamespaceQueues(namespace);
		await db?.drop();
		fs.rmSync(dir, { recursive: true, force: true });
	}
}

/** --render: loans -> run -> rendered -> delivered, beside the renderer's own documents/s. */
async function renderBench(): Promise<void> {
	const loans = Number(args.loans);
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "paperwork-bench-render-dispatch-"));
	const env = { PATH: process.env.PATH, DATA_DIR: dir, PORT: "0", METRICS_PORT: "0", LOG_LEVEL: "warn", JWT_SECRET: "bench-secret-bench-secret-bench", SANDBOX_CALLBACK_DELAY_MS: "0", DELIVERY_SWEEP_MS: "1000", SCHEDULER_CRON: "0 0 1 1 *" };
	const node = await startNode({ env, logger: pino({ level: "warn" }) });
	try {
		const base = `http://127.0.0.1:${node.httpPort}/api/v1`;
		const secret = loadJwtSecret(node.config);
		const admin = { authorization: `Bearer ${signOperatorToken(secret, "bench-admin", "admin")}` };
		const operator = { authorization: `Bearer ${signOperatorToken(secret, "bench-operator", "operator")}` };
		const json = async <T>(res: Response): Promise<T> => {
			if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
			return (await res.json()) as T;
		};
		const client = await json<{ id: string; apiKey: string }>(await fetch(`${base}/clients`, { method: "POST", headers: { ...admin, "content-type": "application/json" }, body: JSON.stringify({ name: "bench-render" }) }));
		const header = "loan_id,applicant_name,language,phone,email,address_line1,address_line2,city,state,postal_code,loan_amount,annual_interest_rate,tenure_months,disbursement_date,first_emi_date,processing_fee";
		const rows = Array.from({ length: loans }, (_, i) => [`L-${i}`, "Asha Verma", "en", phoneOf(i), `b${i}@example.com`, "12 MG Road", "", "Pune", "Maharashtra", "411001", "120000", "11.5", "60", "2026-11-20", "2026-12-20", "1000"].join(","));
		const upload = await json<{ batchId: string }>(await fetch(`${base}/uploads?kind=loan`, { method: "POST", headers: { "x-api-key": client.apiKey, "content-type": "text/csv" }, body: `${header}\n${rows.join("\n")}\n` }));
		for (;;) {
			const b = await json<{ status: string }>(await fetch(`${base}/batches/${upload.batchId}`, { headers: { "x-api-key": client.apiKey } }));
			if (b.status === "COMPLETED") break;
			if (b.status === "FAILED") throw new Error(`loan upload failed: ${JSON.stringify(b)}`);
			await new Promise((r) => setTimeout(r, 200));
		}
		const ds = await deliveryStore(node.platform.store);
		const documents = node.platform.store.adapter("documents");
		const t0 = performance.now();
		const started = Date.now();
		const run = await json<{ id: string }>(await fetch(`${base}/dispatch/runs`, { method: "POST", headers: { ...operator, "content-type": "application/json" }, body: JSON.stringify({ from: "2026-11-01", to: "2026-11-30", includePending: true, clientId: client.id }) }));
		let done = 0;
		while (done < loans) {
			await new Promise((r) => setTimeout(r, 500));
			done = await ds.cases.count({ query: { runId: run.id, status: { $in: ["delivered", "sent", "failed"] } } });
		}
		const seconds = (performance.now() - t0) / 1000;
		const docs = (await documents.find({ query: { createdAt: { $gte: new Date(started) } }, sort: "createdAt" })) as unknown as { createdAt: Date }[];
		const first = docs[0]?.createdAt.getTime() ?? started;
		const last = docs.at(-1)?.createdAt.getTime() ?? started;
		// n documents stored over (last - first): n - 1 intervals
		const docsPerS = docs.length > 1 ? (docs.length - 1) / ((last - first) / 1000) : NaN;
		const casesPerS = loans / seconds;
		console.log(`new loans: ${loans}, embedded default (one process, Chromium, sandbox provider), ${os.availableParallelism()} cores`);
		console.log(`run to a final status: ${seconds.toFixed(1)} s = ${casesPerS.toFixed(2)} cases/s (documents rendered: ${docs.length})`);
		console.log(`the renderer's own rate in the same run: ${docsPerS.toFixed(2)} documents/s (first to last document stored)`);
		console.log(`delivery keeps ${((casesPerS / docsPerS) * 100).toFixed(0)} % of the renderer's rate`);
	} finally {
		await node.stop();
		fs.rmSync(dir, { recursive: true, force: true });
	}
}

/** One run of this benchmark in a process of its own (as `npm run bench:dispatch` starts it); its cases/s. */
function runOnce(rabbitmq: boolean): Promise<number> {
	const argv = ["--cases", String(N), "--callbacks", String(args.callbacks), "--notifiers", String(args.notifiers), ...(args.http ? ["--http"] : []), ...(rabbitmq ? ["--rabbitmq", ...(args.pg ? ["--pg"] : []), ...(args.gateways ? ["--gateways"] : [])] : []), ...(args.concurrency ? ["--concurrency", args.concurrency] : [])];
	return new Promise((resolve, reject) => {
		const child = fork(SELF, argv, { execArgv: [...NODE_FLAGS], stdio: ["ignore", "inherit", "inherit", "ipc"] });
		let rate: number | undefined;
		child.on("message", (m: { casesPerS?: number }) => {
			if (typeof m.casesPerS === "number") rate = m.casesPerS;
		});
		child.once("error", reject);
		child.once("exit", (code) => (rate !== undefined && code === 0 ? resolve(rate) : reject(new Error(`the ${rabbitmq ? "RabbitMQ" : "one-process"} run exited with ${code}`))));
	});
}

/** --compare: the ratio of the RabbitMQ run to the one-process run, from pairs run back to back. */
async function compare(): Promise<void> {
	const rounds = Math.max(1, Number(args.rounds));
	const ratios: number[] = [];
	const lines: string[] = [];
	for (let r = 0; r < rounds; r++) {
		// alternate which run goes first, so that a machine slowing down or speeding up favours neither
		const order = r % 2 === 0 ? [false, true] : [true, false];
		const rate: Record<string, number> = {};
		for (const rabbitmq of order) rate[String(rabbitmq)] = await runOnce(rabbitmq);
		const one = rate.false as number;
		const rabbit = rate.true as number;
		ratios.push(rabbit / one);
		lines.push(`round ${r + 1}: one process ${one.toFixed(0)} cases/s, RabbitMQ with ${args.notifiers} notifiers ${rabbit.toFixed(0)} cases/s = ${((rabbit / one) * 100).toFixed(0)} %`);
	}
	console.log(`\ncompare: ${N} cases${args.http ? ", providers over HTTP" : ""}, ${rounds} rounds`);
	for (const l of lines) console.log(`  ${l}`);
	console.log(`RabbitMQ against one process: median ${(median(ratios) * 100).toFixed(0)} % (goal: at least 80 %)`);
}

if (args.role === "fixtures") await fixturesRole();
else if (args.compare) await compare();
else if (args.render) await renderBench();
else {
	await bench();
	// started by --compare: let go of its channel, or this process would wait on it
	if (process.connected) process.disconnect();
}

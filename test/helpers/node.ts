/**
 * Test helpers: a Paperwork node in this process on a temp DATA_DIR (embedded default), an operator token, and
 * child-process nodes for multi-node tests.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { NODE_FLAGS, startNode, type RunningNode } from "../../lib/node.ts";
import { signOperatorToken } from "../../lib/api/auth.ts";
import { RabbitQueueBackend } from "../../lib/queues/rabbitmq.ts";
import { QUEUE_NAMES } from "../../config/queues.ts";
import type { PublishOptions } from "../../lib/queues/types.ts";
import { loadJwtSecret } from "../../lib/secrets.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const AMQP_URL = process.env.TEST_AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";

export function tempDir(prefix = "paperwork-test-"): string {
	return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface TestNode extends RunningNode {
	url: string;
	dataDir: string;
	adminToken: string;
	operatorToken: string;
	close(): Promise<void>;
}

/** Starts an embedded node (all services, or `services`) on a free port and a fresh DATA_DIR. */
export async function startTestNode(env: Record<string, string> = {}, services?: string[]): Promise<TestNode> {
	const dataDir = env.DATA_DIR ?? tempDir();
	const fullEnv = { PATH: process.env.PATH, DATA_DIR: dataDir, PORT: "0", METRICS_PORT: "0", LOG_LEVEL: "warn", LOG_FORMAT: "json", JWT_SECRET: "test-secret-test-secret-test-secret", ...env };
	const node = await startNode({ env: fullEnv, services, logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }) });
	const secret = loadJwtSecret(node.config);
	return {
		...node,
		url: `http://127.0.0.1:${node.httpPort}/api/v1`,
		dataDir,
		adminToken: signOperatorToken(secret, "test-admin", "admin"),
		operatorToken: signOperatorToken(secret, "test-operator", "operator"),
		async close() {
			await node.stop();
			if (!env.DATA_DIR) rmSync(dataDir, { recursive: true, force: true });
		}
	};
}

export interface JsonResponse<T = Record<string, unknown>> {
	status: number;
	headers: Headers;
	body: T;
}

/** fetch + JSON body (or text when not JSON). */
export async function http<T = Record<string, unknown>>(url: string, init: RequestInit & { json?: unknown } = {}): Promise<JsonResponse<T>> {
	const headers = new Headers(init.headers);
	let body = init.body;
	if (init.json !== undefined) {
		headers.set("Content-Type", "application/json");
		body = JSON.stringify(init.json);
	}
	const res = await fetch(url, { ...init, headers, body });
	const text = await res.text();
	let parsed: unknown = text;
	if ((res.headers.get("content-type") ?? "").includes("json") && text) parsed = JSON.parse(text);
	return { status: res.status, headers: res.headers, body: parsed as T };
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
export const apiKey = (key: string) => ({ "X-API-Key": key });

/** A node in a child process (`scripts/start.ts`), for multi-node tests; resolves once its banner is printed. */
export function spawnNode(env: Record<string, string>, readyPattern = /started:/): Promise<{ child: ChildProcess; output: () => string; stop(): Promise<void> }> {
	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, [...NODE_FLAGS, path.join(ROOT, "scripts/start.ts")], {
			cwd: ROOT,
			env: { PATH: process.env.PATH, METRICS_PORT: "0", LOG_LEVEL: "warn", LOG_FORMAT: "json", ...env },
			stdio: ["ignore", "pipe", "pipe"]
		});
		let out = "";
		// a node that does not start in time is killed, so that a failed test leaves no process behind
		const timer = setTimeout(() => {
			child.kill("SIGKILL");
			reject(new Error(`node did not start in 30 s; output:\n${out}`));
		}, 30_000);
		const onData = (d: Buffer) => {
			out += d.toString();
			if (readyPattern.test(out)) {
				clearTimeout(timer);
				resolve({
					child,
					output: () => out,
					stop: () =>
						new Promise<void>((done) => {
							if (child.exitCode !== null || child.signalCode !== null) return done();
							child.once("exit", () => done());
							child.kill("SIGTERM");
						})
				});
			}
		};
		child.stdout?.on("data", onData);
		child.stderr?.on("data", onData);
		child.once("exit", (code) => {
			clearTimeout(timer);
			reject(new Error(`node exited with ${code} before it started; output:\n${out}`));
		});
	});
}

/** A TCP port free on loopback right now. */
export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const s = createServer();
		s.once("error", reject);
		s.listen(0, "127.0.0.1", () => {
			const p = (s.address() as { port: number }).port;
			s.close(() => resolve(p));
		});
	});
}

/**
 * Deletes the work queues of a test deployment (`<namespace>.<queue>`, with their DLQs and retry queues) from the
 * shared RabbitMQ, so test runs leave no quorum queues behind.
 */
export async function deleteNamespaceQueues(namespace: string, url = AMQP_URL): Promise<void> {
	const backend = new RabbitQueueBackend({ url, defaults: { retries: 0, retryDelayMs: 1000, prefetch: 0 }, logger: pino({ level: "silent" }) });
	try {
		await backend.connect();
		for (const q of QUEUE_NAMES) await backend.deleteQueue(`${namespace}.${q}`, 8);
	} finally {
		await backend.close();
	}
}

/** One sample of a Prometheus text exposition: its label set as written (`a="1",b="2"`) and its value. */
export interface MetricSample {
	labels: string;
	value: number;
}

/** The samples of metric `name` on a node's /metrics (`http://127.0.0.1:<port>/metrics`). */
export async function metricSamples(metricsPort: number | string, name: string): Promise<MetricSample[]> {
	const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
	const out: MetricSample[] = [];
	for (const line of text.split("\n")) {
		if (!line.startsWith(`${name}{`)) continue;
		const close = line.lastIndexOf("}");
		out.push({ labels: line.slice(name.length + 1, close), value: Number(line.slice(close + 1).trim()) });
	}
	return out;
}

/**
 * Makes `node`'s queues drop what is published to the queues named in `lost` (looked up at each publish), as the
 * in-process queue of a process that stops loses its messages: the work stays stored and unsent.
 */
export function losePublishes<N extends { platform: { queues: RunningNode["platform"]["queues"] } }>(node: N, lost: ReadonlySet<string>): N {
	const q = node.platform.queues;
	const publish = q.publish.bind(q);
	const publishMany = q.publishMany.bind(q);
	q.publish = async (queue: string, payload: unknown, options?: PublishOptions) => (lost.has(queue) ? "lost" : publish(queue, payload, options));
	q.publishMany = async (queue: string, items: { payload: unknown; options?: PublishOptions }[]) => (lost.has(queue) ? items.map(() => "lost") : publishMany(queue, items));
	return node;
}

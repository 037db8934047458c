/**
 * scripts/init.ts (the Kubernetes set-up Job): creates the bucket, collections, indexes and queues, exits 0, and
 * does so again on a second run; a bad configuration exits 78.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { AMQP_URL, ROOT, deleteNamespaceQueues, tempDir } from "../helpers/node.ts";
import { RabbitQueueBackend } from "../../lib/queues/rabbitmq.ts";
import { pino } from "pino";
import { createObjectStore } from "../../lib/objects/index.ts";
import { loadConfig } from "../../config/index.ts";

function runInit(env: Record<string, string>, args: string[] = []): { status: number | null; output: string } {
	const r = spawnSync(process.execPath, ["--disable-warning=ExperimentalWarning", path.join(ROOT, "scripts/init.ts"), ...args], {
		cwd: ROOT,
		env: { PATH: process.env.PATH, LOG_FORMAT: "json", LOG_LEVEL: "info", JWT_SECRET: "init-test-secret-init-test-secret", ...env },
		encoding: "utf8",
		timeout: 60_000
	});
	return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test("init creates the bucket, the collections with their indexes and the queues, and runs again without harm", async (t) => {
	const dataDir = tempDir();
	t.after(() => rmSync(dataDir, { recursive: true, force: true }));
	for (const run of [1, 2]) {
		const r = runInit({ DATA_DIR: dataDir });
		assert.equal(r.status, 0, `run ${run}: ${r.output}`);
		assert.match(r.output, /set-up done/);
		assert.match(r.output, /no --admin-email given/);
	}
	const objects = createObjectStore(loadConfig({ DATA_DIR: dataDir }), { linkSecret: "x".repeat(32), publicUrl: "http://localhost" });
	t.after(() => objects.close());
	assert.ok(await objects.stat("system/init.json"), "the marker object (whose write creates the bucket) is stored");
	const db = new DatabaseSync(path.join(dataDir, "paperwork.db"), { readOnly: true });
	t.after(() => db.close());
	const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all() as { name: string }[]).map((r) => r.name).join(" ");
	for (const collection of ["batches", "chunks", "rejections", "documents", "clients", "api_keys"]) assert.match(indexes, new RegExp(collection), `an index on ${collection}`);
});

test("init declares every work queue on RabbitMQ (what the queue-length autoscalers read)", async (t) => {
	const namespace = `init-${randomUUID().slice(0, 8)}`;
	const dataDir = tempDir();
	t.after(async () => {
		rmSync(dataDir, { recursive: true, force: true });
		await deleteNamespaceQueues(namespace);
	});
	for (const run of [1, 2]) {
		const r = runInit({ DATA_DIR: dataDir, AMQP_URL, NAMESPACE: namespace });
		assert.equal(r.status, 0, `run ${run}: ${r.output}`);
	}
	const backend = new RabbitQueueBackend({ url: AMQP_URL, defaults: { retries: 0, retryDelayMs: 1000, prefetch: 0 }, logger: pino({ level: "silent" }) });
	await backend.connect();
	t.after(() => backend.close());
	const stats = await backend.stats(`${namespace}.chunks.ready`);
	assert.equal(stats.ready, 0);
	assert.equal(stats.consumers, 0);
	const declared = await backend.stats(`${namespace}.cases.dispatch`);
	assert.equal(declared.queue, `${namespace}.cases.dispatch`);
});

test("init creates the first admin operator once, and a second run leaves it as it is", async (t) => {
	const dataDir = tempDir();
	t.after(() => rmSync(dataDir, { recursive: true, force: true }));
	const env = { DATA_DIR: dataDir, OPERATOR_PASSWORD: "correct horse battery staple" };
	const first = runInit(env, ["--admin-email", "ana@example.com"]);
	assert.equal(first.status, 0, first.output);
	assert.match(first.output, /first admin operator created/);
	const second = runInit(env, ["--admin-email", "ana@example.com"]);
	assert.equal(second.status, 0, second.output);
	assert.match(second.output, /first admin operator exists already/);
	assert.ok(!second.output.includes(env.OPERATOR_PASSWORD), "the password is never printed");
});

test("init exits 78 on a bad configuration", () => {
	const r = runInit({ DATA_DIR: tempDir(), S3_ENDPOINT: "not a url" });
	assert.equal(r.status, 78, r.output);
	assert.match(r.output, /S3_ENDPOINT/);
});

/**
 * Liveness and readiness probes on the metrics port (lib/probes.ts): every node answers /healthz and /readyz next to
 * /metrics, with or without the api; /readyz is 503 while a queue the node's services bind is not consumed, or its
 * store is unreachable, and names the reason. Run on the embedded default and on RabbitMQ (real consumers).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { AMQP_URL, deleteNamespaceQueues, freePort, http, startTestNode, type TestNode } from "../helpers/node.ts";
import type { Readiness } from "../../lib/health.ts";
import type { Consumer } from "../../lib/queues/types.ts";

interface WithConsumers {
	$queueConsumers?: Consumer[];
}

async function probe(port: number, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
	const res = await http(`http://127.0.0.1:${port}${path}`);
	return { status: res.status, body: res.body };
}

/** Closes the consumers of a local service, as a consumer that died would leave it. */
async function dropConsumers(node: TestNode, service: string): Promise<void> {
	const svc = node.broker.getLocalService(service) as unknown as WithConsumers;
	for (const c of svc.$queueConsumers ?? []) await c.close();
}

test("a worker node without the api answers /healthz, /readyz and /metrics on its metrics port", async (t) => {
	const port = await freePort();
	const node = await startTestNode({ METRICS_PORT: String(port) }, ["etl"]);
	t.after(() => node.close());
	assert.equal(node.httpPort, undefined, "no api on this node");

	const live = await probe(port, "/healthz");
	assert.equal(live.status, 200);
	assert.equal(live.body.status, "alive");

	const ready = await probe(port, "/readyz");
	assert.equal(ready.status, 200, JSON.stringify(ready.body));
	const r = ready.body as unknown as Readiness;
	assert.equal(r.ready, true);
	assert.deepEqual(r.queues, [{ queue: "chunks.ready", consuming: true }]);

	const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
	assert.equal(metrics.status, 200);
	assert.match(await metrics.text(), /moleculer_node_type/);
	assert.equal((await fetch(`http://127.0.0.1:${port}/nothing`)).status, 404);
});

test("/readyz is 503 and names the queue once a bound queue is no longer consumed; /healthz stays 200", async (t) => {
	const port = await freePort();
	const node = await startTestNode({ METRICS_PORT: String(port) }, ["etl"]);
	t.after(() => node.close());
	await dropConsumers(node, "etl");
	const ready = await probe(port, "/readyz");
	assert.equal(ready.status, 503);
	const r = ready.body as unknown as Readiness;
	assert.equal(r.ready, false);
	assert.deepEqual(r.reasons, ["queue chunks.ready not consumed"]);
	assert.equal((await probe(port, "/healthz")).status, 200, "liveness does not depend on the queues");
});

test("/readyz is 503 while the store is unreachable", async (t) => {
	const port = await freePort();
	const node = await startTestNode({ METRICS_PORT: String(port) }, ["clients"]);
	t.after(() => node.close());
	assert.equal((await probe(port, "/readyz")).status, 200);
	const store = node.platform.store;
	const ping = store.ping.bind(store);
	store.ping = () => Promise.resolve(false);
	t.after(() => {
		store.ping = ping;
	});
	const ready = await probe(port, "/readyz");
	assert.equal(ready.status, 503);
	assert.deepEqual((ready.body as unknown as Readiness).reasons, ["store (sqlite) unreachable"]);
});

test("on RabbitMQ, a worker is ready once its consumers hold a subscription, and not after they stop", async (t) => {
	const namespace = `probes-${randomUUID().slice(0, 8)}`;
	const port = await freePort();
	const node = await startTestNode({ METRICS_PORT: String(port), TRANSPORTER: AMQP_URL, NAMESPACE: namespace }, ["registry"]);
	t.after(async () => {
		await node.close();
		await deleteNamespaceQueues(namespace);
	});
	const ready = await probe(port, "/readyz");
	assert.equal(ready.status, 200, JSON.stringify(ready.body));
	assert.deepEqual((ready.body as unknown as Readiness).queues, [{ queue: "chunks.staged", consuming: true }]);
	assert.deepEqual(
		node.platform.queues.consumers().map((c) => c.queue),
		["chunks.staged"],
		"the backend reports its consumers with the plain queue names"
	);
	await dropConsumers(node, "registry");
	const after = await probe(port, "/readyz");
	assert.equal(after.status, 503);
	assert.deepEqual((after.body as unknown as Readiness).reasons, ["queue chunks.staged not consumed"]);
});

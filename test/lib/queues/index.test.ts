/**
 * createQueueBackend: RabbitMQ when AMQP_URL (or an AMQP TRANSPORTER) is set, else the in-process backend.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { loadConfig } from "../../../config/index.ts";
import { createQueueBackend, RabbitQueueBackend } from "../../../lib/queues/index.ts";
import { AMQP_URL, silentLogger } from "../../fixtures/queue-helpers.ts";

describe("createQueueBackend", () => {
	it("is in-process without AMQP_URL", async () => {
		const backend = createQueueBackend(loadConfig({}), silentLogger);
		assert.equal(backend.kind, "memory");
		await backend.connect();
		assert.equal(await backend.ping(), true);
		await backend.close();
		assert.equal(await backend.ping(), false);
	});

	it("is RabbitMQ with AMQP_URL, with queue names in the namespace", async () => {
		const ns = `ns${Date.now()}`;
		const backend = createQueueBackend(loadConfig({ AMQP_URL, NODE_ID: "node-7", QUEUE_RETRIES: "3", NAMESPACE: ns }), silentLogger);
		assert.equal(backend.kind, "rabbitmq");
		await backend.connect();
		const raw = new RabbitQueueBackend({ url: AMQP_URL, defaults: { retries: 0, retryDelayMs: 10, prefetch: 0 }, logger: silentLogger });
		await raw.connect();
		await backend.declare("probe");
		await backend.publish("probe", { n: 1 });
		assert.equal((await raw.stats(`${ns}.probe`)).ready, 1, "the message sits in <namespace>.probe");
		assert.equal((await backend.stats("probe")).queue, "probe");
		await raw.deleteQueue(`${ns}.probe`);
		await raw.close();
		assert.equal(await backend.ping(), true);
		await backend.close();
		assert.equal(await backend.ping(), false);
	});

	it("uses an AMQP TRANSPORTER when AMQP_URL is unset", async () => {
		const backend = createQueueBackend(loadConfig({ TRANSPORTER: AMQP_URL }), silentLogger);
		assert.equal(backend.kind, "rabbitmq");
		await backend.close();
	});
});

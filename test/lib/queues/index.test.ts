/**
 * createQueueBackend: RabbitMQ when AMQP_URL (or an AMQP TRANSPORTER) is set, else the in-process backend.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { loadConfig } from "../../../config/index.ts";
import { createQueueBackend } from "../../../lib/queues/index.ts";
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

	it("is RabbitMQ with AMQP_URL, named after the node, with the config's defaults", async () => {
		const backend = createQueueBackend(loadConfig({ AMQP_URL, NODE_ID: "node-7", QUEUE_RETRIES: "3" }), silentLogger);
		assert.equal(backend.kind, "rabbitmq");
		assert.equal((backend as unknown as { connectionName: string }).connectionName, "paperwork:queues:node-7");
		assert.equal((backend as unknown as { defaults: { retries: number } }).defaults.retries, 3);
		await backend.connect();
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

/**
 * The queues mixin in a real Moleculer broker (in-process queue backend): handlers declared in `queues` run with
 * `this` = the service and the messageId in the log context, `this.enqueue`/`this.enqueueMany` send, consumers start
 * after the service's own `started` and stop (waiting for handlers in flight) before its own `stopped`.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ServiceBroker } from "moleculer";
import { MemoryQueueBackend } from "../../lib/queues/memory.ts";
import { currentLogIds } from "../../lib/log.ts";
import type { DeliveryInfo } from "../../lib/queues/types.ts";
import { createQueuesMixin, type QueueServiceSchema } from "../../mixins/queues.mixin.ts";
import { eventually, gate, silentLogger } from "../fixtures/queue-helpers.ts";

interface Own {
	ready: boolean;
	log: string[];
}

describe("queues mixin", () => {
	it("consumes declared queues with this = the service, sends with this.enqueue, and stops gracefully", async () => {
		const backend = new MemoryQueueBackend({ retries: 1, retryDelayMs: 5, prefetch: 0 }, silentLogger);
		await backend.connect();
		const broker = new ServiceBroker({ logger: false });
		const release = gate();
		const slowStarted = gate();
		const log: string[] = [];
		const seen: { name: string; ready: boolean; messageId: string; logMessageId?: string; payload: unknown; info: DeliveryInfo }[] = [];

		const schema: QueueServiceSchema<Own> = {
			name: "worker",
			mixins: [createQueuesMixin(() => backend)],
			queues: {
				"jobs.in": {
					concurrency: 2,
					async handler(payload: { n: number; slow?: boolean }, info) {
						seen.push({ name: this.name, ready: this.ready, messageId: info.messageId, logMessageId: currentLogIds().messageId, payload, info });
						if (payload.slow) {
							slowStarted.open();
							await release.promise;
							this.log.push("slow handler finished");
						}
						await this.enqueue("jobs.out", { doubled: payload.n * 2 }, { key: `out-${info.messageId}` });
					}
				},
				"jobs.out": {
					async handler(payload) {
						this.log.push(`out ${JSON.stringify(payload)}`);
					}
				}
			},
			created() {
				this.ready = false;
				this.log = log;
			},
			async started() {
				// consumers must not run before this finishes
				await new Promise((r) => setTimeout(r, 20));
				this.ready = true;
			},
			async stopped() {
				this.log.push("service stopped");
			}
		};
		// a message waiting before the service starts
		await backend.publish("jobs.in", { n: 1 }, { key: "early" });
		broker.createService(schema);
		await broker.start();

		await eventually(() => assert.equal(seen.length, 1));
		const [first] = seen;
		assert.equal(first?.name, "worker");
		assert.equal(first?.ready, true, "the handler ran only after the service's own started()");
		assert.equal(first?.messageId, "early");
		assert.equal(first?.logMessageId, "early", "logs inside a handler carry its messageId");
		await eventually(() => assert.ok(log.includes('out {"doubled":2}')));

		const svc = broker.getLocalService("worker") as unknown as { enqueueMany(q: string, items: { payload: unknown }[]): Promise<string[]> };
		const ids = await svc.enqueueMany("jobs.in", [{ payload: { n: 2 } }, { payload: { n: 3 } }]);
		assert.equal(ids.length, 2);
		await eventually(() => assert.ok(log.includes('out {"doubled":4}') && log.includes('out {"doubled":6}')));

		await backend.publish("jobs.in", { n: 5, slow: true }, { key: "slow" });
		await slowStarted.promise;
		const stopping = broker.stop();
		await new Promise((r) => setTimeout(r, 30));
		assert.ok(!log.includes("service stopped"), "consumers stop (waiting for the slow handler) before the service's own stopped()");
		release.open();
		await stopping;
		const finished = log.indexOf("slow handler finished");
		assert.ok(finished >= 0 && finished < log.indexOf("service stopped"), log.join(" | "));
		assert.equal((await backend.stats("jobs.in")).consumers, 0);
		await backend.close();
	});
});

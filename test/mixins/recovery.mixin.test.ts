import { test } from "node:test";
import assert from "node:assert/strict";
import { ServiceBroker, type Service } from "moleculer";
import { recoveryMixin } from "../../mixins/recovery.mixin.ts";

test("recover() runs once after the whole node has started, and a failure is logged, not fatal", async () => {
	const calls: string[] = [];
	const broker = new ServiceBroker({ logger: false, transporter: null });
	broker.createService({
		name: "worker",
		mixins: [recoveryMixin],
		recover(this: Service) {
			// the other local service is already started when recovery runs
			calls.push(`recover:${String(broker.getLocalService("other") !== undefined)}`);
			return Promise.resolve(3);
		}
	} as Parameters<ServiceBroker["createService"]>[0]);
	broker.createService({
		name: "other",
		started() {
			calls.push("other-started");
			return Promise.resolve();
		}
	});
	broker.createService({
		name: "broken",
		mixins: [recoveryMixin],
		recover() {
			return Promise.reject(new Error("store down"));
		}
	} as Parameters<ServiceBroker["createService"]>[0]);
	await broker.start();
	await new Promise((r) => setTimeout(r, 50));
	assert.deepEqual(calls, ["other-started", "recover:true"]);
	await broker.stop();
});

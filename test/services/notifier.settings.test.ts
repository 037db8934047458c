/**
 * The notifier reads a client's delivery settings once for the cases in flight: a run's first chunk asks for them
 * hundreds of times at once, and each node used to send that many clients.settings calls (256 per notifier in
 * bench:dispatch on RabbitMQ). A failed read is not kept.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { startTestNode } from "../helpers/node.ts";

type Notifier = { clientSettings(clientId: string): Promise<{ plan?: string[] } | undefined>; settingsCache: Map<string, unknown> };

test("cases in flight share one clients.settings call; a failed one is asked again", async () => {
	const node = await startTestNode({}, ["notifier", "clients"]);
	try {
		const client = (await node.broker.call("clients.create", { name: "settings-once", delivery: { plan: ["sms", "email"] } })) as { id: string };
		const notifier = node.broker.getLocalService("notifier") as unknown as Notifier;
		const call = node.broker.call.bind(node.broker);
		let asked = 0;
		let fail = false;
		(node.broker as { call: typeof call }).call = ((name: string, ...rest: unknown[]) => {
			if (name === "clients.settings") {
				asked++;
				if (fail) return Promise.reject(new Error("clients unreachable"));
			}
			return (call as (n: string, ...r: unknown[]) => Promise<unknown>)(name, ...rest);
		}) as typeof call;
		const many = await Promise.all(Array.from({ length: 50 }, () => notifier.clientSettings(client.id)));
		assert.equal(asked, 1, "one call for 50 cases asking at once");
		assert.ok(many.every((s) => s?.plan?.join(",") === "sms,email"));
		assert.equal((await notifier.clientSettings(client.id))?.plan?.length, 2);
		assert.equal(asked, 1, "answered from the cache while fresh");

		notifier.settingsCache.clear();
		fail = true;
		const failed = await Promise.allSettled([notifier.clientSettings(client.id), notifier.clientSettings(client.id)]);
		assert.deepEqual(
			failed.map((f) => f.status),
			["rejected", "rejected"]
		);
		assert.equal(asked, 2, "the two callers shared the failed call");
		fail = false;
		assert.equal((await notifier.clientSettings(client.id))?.plan?.length, 2, "not cached: asked again");
		assert.equal(asked, 3);
	} finally {
		await node.close();
	}
});

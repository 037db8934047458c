/**
 * The first start of a node leaves nothing half-made: the demo client and its key are stored together or not at all,
 * and a demo client an older version left without a key gets its key. (A node of its own: the platform is per process.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { startTestNode, http, apiKey } from "../helpers/node.ts";
import { issueApiKey } from "../../lib/api/auth.ts";

test("ensureDemo is all or nothing: a key that cannot be stored leaves no client; a keyless demo client gets its key", async () => {
	const key = issueApiKey().apiKey;
	const keyId = key.split("_")[1];
	const n = await startTestNode({ DEMO_API_KEY: key });
	try {
		const keys = n.platform.store.adapter("api_keys");
		const clients = n.platform.store.adapter("clients");
		// a key of that ID already stored (by anything): storing the demo key fails, and no demo client is left
		await keys.insert({ _id: keyId, clientId: "someone-else", hash: "x", createdAt: new Date() });
		await assert.rejects(n.broker.call("clients.ensureDemo"));
		assert.equal(await clients.count({}), 0);
		await keys.removeById(keyId);
		// a demo client without a key (left by an older version's failed start) is completed
		await clients.insert({ name: "demo", createdAt: new Date(), updatedAt: new Date() });
		const out = (await n.broker.call("clients.ensureDemo")) as { created: boolean; apiKey: string };
		assert.equal(out.created, true);
		assert.equal(out.apiKey, key);
		assert.equal((await http(`${n.url}/batches`, { headers: apiKey(key) })).status, 200);
		assert.deepEqual(await n.broker.call("clients.ensureDemo"), { created: false });
	} finally {
		await n.close();
	}
});

/**
 * Intake's webhook deliveries: each try recorded, and a target that keeps failing paused by its circuit breaker (no
 * request while open, recorded as paused), then probed once the cool-down has passed; one target's trouble does not
 * pause another.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import { deliver, WEBHOOK_BREAKER, WebhookTargets } from "../../../lib/intake/notify.ts";

const servers: Server[] = [];
after(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

/** A webhook target answering `status()` and counting its requests. */
async function target(status: () => number): Promise<{ url: string; requests: () => number }> {
	let n = 0;
	const s = createServer((req, res) => {
		n++;
		req.resume();
		req.on("end", () => res.writeHead(status()).end());
	});
	servers.push(s);
	await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
	const port = (s.address() as { port: number }).port;
	return { url: `http://127.0.0.1:${port}/hook`, requests: () => n };
}

test("a target failing WEBHOOK_BREAKER.failureThreshold times in a row is paused without a request, then probed after the cool-down", async () => {
	const store = new SqliteStore({ file: ":memory:" });
	try {
		const deliveries = store.adapter("intake_deliveries");
		let now = 1_000_000;
		const targets = new WebhookTargets({ now: () => now, sleep: async () => undefined, random: () => 0.5 });
		let answer = 500;
		const down = await target(() => answer);
		const healthy = await target(() => 204);
		const deps = { deliveries, timeoutMs: 2000, tries: 1, targets };
		for (let i = 0; i < WEBHOOK_BREAKER.failureThreshold; i++) await assert.rejects(deliver(down.url, "s", "intake.completed", `d${i}:COMPLETED`, {}, deps), /answered 500/);
		assert.equal(down.requests(), WEBHOOK_BREAKER.failureThreshold);
		// open: refused without a request, and the refusal is recorded
		await assert.rejects(deliver(down.url, "s", "intake.completed", "dx:COMPLETED", {}, deps), /paused/);
		assert.equal(down.requests(), WEBHOOK_BREAKER.failureThreshold);
		const paused = await deliveries.find({ query: { deliveryId: "dx:COMPLETED" } });
		assert.deepEqual(paused.map((r) => [r.ok, r.status, String(r.error).startsWith("paused:")]), [[false, null, true]]);
		// another target is not paused
		await deliver(healthy.url, "s", "intake.completed", "h1:COMPLETED", {}, deps);
		assert.equal(healthy.requests(), 1);
		// after the cool-down one probe goes; it succeeds and the target is open again for everything
		now += WEBHOOK_BREAKER.coolDownMs;
		answer = 204;
		await deliver(down.url, "s", "intake.completed", "dy:COMPLETED", {}, deps);
		await deliver(down.url, "s", "intake.completed", "dz:COMPLETED", {}, deps);
		assert.equal(down.requests(), WEBHOOK_BREAKER.failureThreshold + 2);
	} finally {
		await store.close();
	}
});

/**
 * When a dependency last changed, as one node's checks saw it: the first check is no change, a flip is one, and a
 * check that finds the same state keeps the earlier time. The providers dependency from the notifiers' circuits.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkHealth, circuitsOf, healthStatusCode, providersState, trackChanges, type HealthReport } from "../../lib/health.ts";
import type { Platform } from "../../lib/platform.ts";

test("a dependency's last change: none at the first check, then each flip with its time", () => {
	const platform = {} as Platform;
	const up = { store: "up", objects: "up", queues: "up", search: "up", transporter: "up" } as const;
	const t0 = new Date("2026-12-02T08:00:00Z");
	const t1 = new Date("2026-12-02T08:01:00Z");
	const t2 = new Date("2026-12-02T08:02:00Z");
	assert.deepEqual(trackChanges(platform, up, t0).store, { at: t0, seen: false });
	const down = trackChanges(platform, { ...up, store: "down" }, t1);
	assert.deepEqual([down.store, down.queues], [{ at: t1, seen: true }, { at: t0, seen: false }]);
	assert.deepEqual(trackChanges(platform, { ...up, store: "down" }, t2).store, { at: t1, seen: true }, "the same state keeps the time it changed");
	assert.deepEqual(trackChanges(platform, up, t2).store, { at: t2, seen: true });
	// another node's platform has its own memory
	assert.deepEqual(trackChanges({} as Platform, up, t2).store, { at: t2, seen: false });
});

test("providers: real ones only, dates revived; degraded while a circuit is not closed, which answers 200, not 503", () => {
	const circuits = circuitsOf("n1", {
		whatsapp: { provider: "whatsapp-cloud", sandbox: false, circuit: { state: "open", failures: 5, since: "2026-12-02T08:00:00.000Z", lastFailure: { at: "2026-12-02T08:00:00.000Z", reason: "HTTP 503" } } },
		rcs: { provider: "sandbox", sandbox: true, circuit: { state: "closed", failures: 0 } }
	});
	assert.deepEqual(circuits, [{ node: "n1", channel: "whatsapp", provider: "whatsapp-cloud", state: "open", failures: 5, since: new Date("2026-12-02T08:00:00.000Z"), lastFailure: { at: new Date("2026-12-02T08:00:00.000Z"), reason: "HTTP 503" } }]);
	assert.equal(providersState(circuits), "degraded");
	assert.equal(providersState([{ ...circuits[0], state: "half-open" }]), "degraded", "a probe has not closed it yet");
	assert.equal(providersState([{ ...circuits[0], state: "closed" }]), "up");
	assert.equal(providersState([]), undefined, "no real provider: no such dependency");
	const ports = { store: "up", objects: "up", queues: "up", search: "up", transporter: "up" } as const;
	const report = (dependencies: HealthReport["dependencies"]): HealthReport => ({ status: "degraded", node: "n1", uptimeSeconds: 1, dependencies, implementations: { store: "", objects: "", queues: "", search: "", transporter: "" }, lastChange: {}, providers: [], tools: [] });
	assert.equal(healthStatusCode(report({ ...ports, providers: "degraded" })), 200);
	assert.equal(healthStatusCode(report({ ...ports, search: "down", providers: "up" })), 503);
});

test("a missing program makes the node degraded, still 200; a node without programs has no tools dependency", async () => {
	const ping = async () => true;
	const platform = { store: { ping, kind: "sqlite" }, objects: { ping, kind: "fs" }, queues: { ping, kind: "memory" }, search: { ping, kind: "sqlite" } } as unknown as Platform;
	const missing = await checkHealth(platform, "n1", null, 500, undefined, async () => [
		{ tool: "chromium", neededBy: "renderer", state: "up", path: "/usr/bin/chromium" },
		{ tool: "tesseract", neededBy: "reader", state: "missing", detail: "tesseract not found: apt-get install tesseract-ocr" }
	]);
	assert.equal(missing.dependencies.tools, "degraded");
	assert.equal(missing.status, "degraded");
	assert.equal(healthStatusCode(missing), 200);
	assert.equal(missing.tools.length, 2);
	const none = await checkHealth(platform, "n2", null, 500, undefined, async () => []);
	assert.equal(none.dependencies.tools, undefined);
	assert.equal(none.status, "ok");
	// a check of the programs that hangs is cut at the time limit, like a port's
	const hung = await checkHealth(platform, "n3", null, 100, undefined, () => new Promise(() => undefined));
	assert.deepEqual(hung.tools, []);
});

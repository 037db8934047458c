/**
 * When a dependency last changed, as one node's checks saw it: the first check is no change, a flip is one, and a
 * check that finds the same state keeps the earlier time.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { trackChanges } from "../../lib/health.ts";
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

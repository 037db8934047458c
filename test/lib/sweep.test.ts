import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { startSweep } from "../../lib/sweep.ts";

test("a sweep runs again after each run ends, survives a failure, never overlaps, and stops", async () => {
	let runs = 0;
	let running = 0;
	let overlapped = false;
	const errors: string[] = [];
	const sweep = startSweep(
		10,
		async () => {
			running++;
			if (running > 1) overlapped = true;
			runs++;
			await sleep(25);
			running--;
			if (runs === 2) throw new Error("boom");
		},
		(err) => errors.push(err.message)
	);
	await sleep(200);
	sweep.stop();
	const seen = runs;
	assert.ok(seen >= 3, `ran ${seen} times`);
	assert.deepEqual(errors, ["boom"]);
	assert.equal(overlapped, false);
	await sleep(100);
	assert.ok(runs <= seen + 1, "no run starts after stop()");
});

/**
 * The handoff of just-accepted originals to a reader in the same process: each taken once, bounded in bytes with the
 * oldest dropped first (their readers then read the object store), a body past the bound never held, none past
 * HANDOFF_MS.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { HANDOFF_MS, handOff, handedOffBytes, takeHandedOff } from "../../../lib/intake/handoff.ts";

test("taken once; the oldest dropped past the bound; a body past the bound never held", () => {
	const b = (n: number, fill: number) => Buffer.alloc(n, fill);
	handOff("a", b(40, 1), 100);
	handOff("b", b(40, 2), 100);
	assert.equal(handedOffBytes(), 80);
	handOff("c", b(40, 3), 100);
	assert.equal(handedOffBytes(), 80, "a dropped to make room");
	assert.equal(takeHandedOff("a"), undefined, "its reader reads the store");
	assert.deepEqual(takeHandedOff("b"), b(40, 2));
	assert.equal(takeHandedOff("b"), undefined, "taken once");
	handOff("big", b(101, 4), 100);
	assert.equal(takeHandedOff("big"), undefined);
	// the same key handed over again replaces its bytes, counted once
	handOff("c", b(10, 5), 100);
	assert.equal(handedOffBytes(), 10);
	assert.deepEqual(takeHandedOff("c"), b(10, 5));
	assert.equal(handedOffBytes(), 0);
});

test("an original its reader has not taken within HANDOFF_MS is dropped by the next handoff", () => {
	const t = Date.now();
	handOff("old", Buffer.alloc(10), 100, t);
	handOff("new", Buffer.alloc(10), 100, t + HANDOFF_MS + 1);
	assert.equal(takeHandedOff("old"), undefined);
	assert.equal(takeHandedOff("new")?.length, 10);
	assert.equal(handedOffBytes(), 0);
});

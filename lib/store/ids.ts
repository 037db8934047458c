/**
 * Document IDs for both store adapters: 24 lower-case hex characters that sort by creation time.
 * 12 hex of milliseconds since the epoch, 6 hex of per-process randomness, 6 hex of a per-process counter,
 * so IDs made by one process are strictly increasing and IDs from different processes practically never collide.
 */
import { randomBytes } from "node:crypto";

const processPart = randomBytes(3).toString("hex");
// starts in the lower half so a short-lived process never wraps (wrapping only matters within one millisecond)
let counter = randomBytes(3).readUIntBE(0, 3) >> 1;
let lastMs = 0;
let lastPrefix = "";

/** A new time-sortable random ID, e.g. "019a2b3c4d5e" + "a1b2c3" + "000001". */
export function newId(): string {
	const ms = Date.now();
	if (ms !== lastMs) {
		lastMs = ms;
		lastPrefix = ms.toString(16).padStart(12, "0") + processPart;
	}
	counter = (counter + 1) & 0xffffff;
	return lastPrefix + counter.toString(16).padStart(6, "0");
}

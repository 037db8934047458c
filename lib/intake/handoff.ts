/**
 * Originals just accepted, handed to a reader in the same process so that it need not read them back from the
 * object store: on the embedded default intake and reader share one process, and reading each original back was
 * ~5 % of the node's main thread a born-digital document (bench:intake's CPU profile). Only bodies intake already
 * holds in memory (up to 512 KiB, lib/intake/receive.ts) are handed over, at most HANDOFF_BYTES in all, oldest
 * dropped first, none kept past HANDOFF_MS (a node running intake without a reader holds little, briefly); each is
 * taken once. A reader on another node, a retry, or an entry dropped meanwhile reads the
 * store as before: the handoff is a shortcut, never the only copy (the original is stored before it is handed over).
 */

/** Bytes held at most (a backlog of readers keeps this much, then the oldest go) */
export const HANDOFF_BYTES = 16 * 1024 * 1024;
/** How long an original waits for its reader here before it is dropped */
export const HANDOFF_MS = 60_000;

/** in insertion order, so oldest first */
const held = new Map<string, { bytes: Buffer; at: number }>();
let total = 0;

/** Holds the stored original's bytes under its object key for a reader of this process. */
export function handOff(key: string, bytes: Buffer, maxBytes = HANDOFF_BYTES, now = Date.now()): void {
	takeHandedOff(key);
	if (bytes.length <= maxBytes) {
		held.set(key, { bytes, at: now });
		total += bytes.length;
	}
	for (const [k, e] of held) {
		if (total <= maxBytes && now - e.at <= HANDOFF_MS) break;
		held.delete(k);
		total -= e.bytes.length;
	}
}

/** The bytes handed over under `key`, once (undefined: read the object store). */
export function takeHandedOff(key: string): Buffer | undefined {
	const e = held.get(key);
	if (!e) return undefined;
	held.delete(key);
	total -= e.bytes.length;
	return e.bytes;
}

/** Bytes held now (for tests and metrics). */
export function handedOffBytes(): number {
	return total;
}

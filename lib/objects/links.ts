/**
 * Signed links for the folder store: `${publicUrl}/api/v1/objects/<key>?expires=<unix seconds>&signature=<hex>`.
 * The signature is HMAC-SHA256 over `${key}\n${expires}` with the link secret (lib/secrets.ts); the newline cannot
 * occur in a key, so no (key, expires) pair signs like another. The api serves the route and checks it with
 * verifyLink(); S3 stores use presigned URLs instead.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { validateKey } from "./keys.ts";
import { InvalidKeyError } from "./types.ts";

/** The route prefix the api serves signed object links under. */
export const LINK_ROUTE = "/api/v1/objects/";

/** Hex HMAC-SHA256 of the key and expiry. */
export function signLink(secret: string, key: string, expires: number): string {
	return createHmac("sha256", secret).update(`${key}\n${expires}`).digest("hex");
}

/** The key as a URL path: each segment percent-encoded, "/" kept. */
export function encodeKeyPath(key: string): string {
	return key.split("/").map(encodeURIComponent).join("/");
}

/** The key from the path after LINK_ROUTE (percent-decoded per segment and validated); throws InvalidKeyError. */
export function decodeKeyPath(encoded: string): string {
	let key: string;
	try {
		key = encoded.split("/").map(decodeURIComponent).join("/");
	} catch {
		throw new InvalidKeyError(encoded, "malformed percent-encoding");
	}
	return validateKey(key);
}

/** A link to `key` valid for `expiresInSeconds` from `now` (ms since the epoch). */
export function buildLink(publicUrl: string, secret: string, key: string, expiresInSeconds: number, now: number = Date.now()): string {
	validateKey(key);
	const expires = Math.floor(now / 1000) + expiresInSeconds;
	const base = publicUrl.replace(/\/+$/, "");
	return `${base}${LINK_ROUTE}${encodeKeyPath(key)}?expires=${expires}&signature=${signLink(secret, key, expires)}`;
}

/**
 * True when `signature` signs (key, expires) with `secret` and `expires` (unix seconds, number or query string)
 * is not before `now` (ms since the epoch). Compares in constant time; never throws on malformed input.
 */
export function verifyLink(secret: string, key: string, expires: string | number, signature: string, now: number = Date.now()): boolean {
	if (typeof key !== "string" || typeof signature !== "string" || !secret) return false;
	const text = typeof expires === "number" ? String(expires) : expires;
	if (typeof text !== "string" || !/^\d{1,15}$/.test(text)) return false;
	const exp = Number(text);
	if (Math.floor(now / 1000) > exp) return false;
	if (!/^[0-9a-fA-F]{64}$/.test(signature)) return false;
	const expected = Buffer.from(signLink(secret, key, exp), "hex");
	return timingSafeEqual(expected, Buffer.from(signature, "hex"));
}

/**
 * Credentials. Clients send `X-API-Key: pk_<keyId>_<secret>`; the store keeps only a SHA-256 of the whole key
 * (keys are 32 random bytes, so a fast hash is enough and brute force is hopeless). Operators send
 * `Authorization: Bearer <JWT>` signed HS256 with JWT_SECRET, claims { sub, role: "operator" | "admin" }.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import jwt from "jsonwebtoken";

export type Role = "operator" | "admin";

/** Who is calling, as put in ctx.meta.auth by the api gateway. */
export type Caller = { kind: "client"; clientId: string; keyId: string } | { kind: "operator"; sub: string; role: Role };

/**
 * What a route requires. "self-or-admin": a client reading its own record (`:id`), or an admin.
 * "self-or-operator": the same, or any operator. "client-or-operator": a client (its own data) or any operator (every client's data, or one client's with
 * `clientId`; see lib/api/scope.ts).
 */
export type Access = "public" | "client" | "operator" | "admin" | "self-or-admin" | "self-or-operator" | "client-or-operator";

const KEY_PATTERN = /^pk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

export interface IssuedKey {
	keyId: string;
	apiKey: string;
	hash: string;
}

/** A new API key: shown to the client once; only the hash is stored. */
export function issueApiKey(fixed?: string): IssuedKey {
	if (fixed !== undefined) {
		const parsed = parseApiKey(fixed);
		if (!parsed) throw new Error("DEMO_API_KEY must look like pk_<12 lower-case letters/digits>_<43 base64url chars>; run `npm run token -- --api-key` to make one");
		return { keyId: parsed.keyId, apiKey: fixed, hash: hashApiKey(fixed) };
	}
	const keyId = randomBytes(9).toString("base64url").toLowerCase().replace(/[^a-z0-9]/g, "0").slice(0, 12).padEnd(12, "0");
	const apiKey = `pk_${keyId}_${randomBytes(32).toString("base64url")}`;
	return { keyId, apiKey, hash: hashApiKey(apiKey) };
}

export function hashApiKey(apiKey: string): string {
	return createHash("sha256").update(apiKey).digest("hex");
}

/** The key's ID, or null when the string cannot be a key (answered 401 without a store look-up). */
export function parseApiKey(apiKey: string): { keyId: string } | null {
	const m = KEY_PATTERN.exec(apiKey.trim());
	return m ? { keyId: m[1] } : null;
}

/** Constant-time check of a presented key against a stored hash. */
export function apiKeyMatches(apiKey: string, storedHash: string): boolean {
	const a = Buffer.from(hashApiKey(apiKey.trim()), "hex");
	const b = Buffer.from(storedHash, "hex");
	return a.length === b.length && timingSafeEqual(a, b);
}

export function signOperatorToken(secret: string, sub: string, role: Role, expiresIn = "12h"): string {
	return jwt.sign({ role }, secret, { algorithm: "HS256", subject: sub, expiresIn: expiresIn as jwt.SignOptions["expiresIn"] });
}

export class TokenError extends Error {
	constructor(message: string) {
		super(message);
		this.name = "TokenError";
	}
}

/** Verifies an operator token; throws TokenError with a reason a person can act on. */
export function verifyOperatorToken(secret: string, token: string): { sub: string; role: Role } {
	let payload: string | jwt.JwtPayload;
	try {
		payload = jwt.verify(token, secret, { algorithms: ["HS256"] });
	} catch (err) {
		const reason = err instanceof jwt.TokenExpiredError ? "token expired" : "token signature or format is invalid";
		throw new TokenError(reason);
	}
	if (typeof payload === "string" || typeof payload.sub !== "string" || !payload.sub) throw new TokenError("token has no subject (sub)");
	const role: unknown = payload.role;
	if (role !== "operator" && role !== "admin") throw new TokenError("token role must be operator or admin");
	return { sub: payload.sub, role };
}

/** Whether `caller` may use a route needing `access`; `resourceClientId` is the `:id` for self-or-admin routes. */
export function allowed(access: Access, caller: Caller | undefined, resourceClientId?: string): "ok" | "unauthenticated" | "forbidden" | "not-found" {
	if (access === "public") return "ok";
	if (!caller) return "unauthenticated";
	switch (access) {
		case "client":
			return caller.kind === "client" ? "ok" : "forbidden";
		case "operator":
			return caller.kind === "operator" ? "ok" : "forbidden";
		case "client-or-operator":
			return "ok";
		case "self-or-operator":
			if (caller.kind === "operator") return "ok";
			return caller.clientId === resourceClientId ? "ok" : "not-found";
		case "admin":
			return caller.kind === "operator" && caller.role === "admin" ? "ok" : "forbidden";
		case "self-or-admin":
			if (caller.kind === "operator") return caller.role === "admin" ? "ok" : "forbidden";
			// another client's record: answer as if it did not exist
			return caller.clientId === resourceClientId ? "ok" : "not-found";
	}
}

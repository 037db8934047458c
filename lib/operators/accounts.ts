/**
 * Operator accounts: the people who run Paperwork. Stored in the `operators` collection (email unique, lower-case),
 * with a role (operator: reads everything and retries; admin: also manages clients, keys, operators and destructive
 * actions) and a password hashed with scrypt (node:crypto; a random salt per password). Refresh tokens live in
 * `operator_refresh`, stored as a SHA-256 of the token only; each use replaces the token (rotation), and a token
 * presented again after it was replaced revokes every token of that operator (a stolen copy is being used).
 * Nothing here logs a password or a token.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from "node:crypto";
import type { Role } from "../api/auth.ts";
import type { StoreAdapter } from "../store/types.ts";
import { isDuplicateKeyError } from "../store/errors.ts";

export interface OperatorDoc extends Record<string, unknown> {
	_id: string;
	email: string;
	name: string;
	role: Role;
	/** `scrypt$N$r$p$<salt b64>$<hash b64>` */
	passwordHash: string;
	disabledAt?: Date | null;
	lastLoginAt?: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

export interface OperatorView {
	id: string;
	email: string;
	name: string;
	role: Role;
	disabled: boolean;
	lastLoginAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

export interface RefreshDoc extends Record<string, unknown> {
	_id: string;
	operatorId: string;
	hash: string;
	expiresAt: Date;
	createdAt: Date;
	/** set when the token was used (rotated) or revoked */
	usedAt?: Date | null;
}

export class AccountError extends Error {
	readonly reason: "exists" | "invalid";
	constructor(reason: "exists" | "invalid", message: string) {
		super(message);
		this.name = "AccountError";
		this.reason = reason;
	}
}

const SCRYPT = { N: 16384, r: 8, p: 1 };
const KEY_LEN = 32;
export const MIN_PASSWORD = 12;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const REFRESH_PATTERN = /^rt_([A-Za-z0-9_-]{16})_([A-Za-z0-9_-]{43})$/;

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
	return new Promise((resolve, reject) => scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** A scrypt hash of the password with a fresh salt, in a self-describing string. */
export async function hashPassword(password: string): Promise<string> {
	const salt = randomBytes(16);
	const key = await scrypt(password, salt, KEY_LEN, { ...SCRYPT, maxmem: 64 * 1024 * 1024 });
	return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** Constant-time check of a password against a stored hash; false for a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
	const parts = stored.split("$");
	if (parts.length !== 6 || parts[0] !== "scrypt") return false;
	const [N, r, p] = parts.slice(1, 4).map(Number);
	const salt = Buffer.from(parts[4], "base64");
	const expected = Buffer.from(parts[5], "base64");
	const key = await scrypt(password, salt, expected.length, { N, r, p, maxmem: 64 * 1024 * 1024 });
	return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash to compare against when the account does not exist, so that a login takes as long either way. */
let dummyHash: Promise<string> | undefined;
export function dummyPasswordHash(): Promise<string> {
	dummyHash ??= hashPassword(randomBytes(16).toString("hex"));
	return dummyHash;
}

export function normaliseEmail(email: string): string {
	return email.trim().toLowerCase();
}

/** Checks the fields of a new account; throws AccountError("invalid") naming what is wrong. */
export function checkNewOperator(input: { email: string; name?: string; role: string; password: string }): { email: string; name: string; role: Role } {
	const email = normaliseEmail(input.email);
	if (!EMAIL.test(email)) throw new AccountError("invalid", "email must be an email address");
	if (input.role !== "operator" && input.role !== "admin") throw new AccountError("invalid", "role must be operator or admin");
	if (input.password.length < MIN_PASSWORD) throw new AccountError("invalid", `password must have at least ${MIN_PASSWORD} characters`);
	const name = (input.name ?? "").trim() || email.split("@")[0];
	return { email, name, role: input.role };
}

export function toOperatorView(doc: OperatorDoc): OperatorView {
	return {
		id: doc._id,
		email: doc.email,
		name: doc.name,
		role: doc.role,
		disabled: Boolean(doc.disabledAt),
		lastLoginAt: doc.lastLoginAt ?? null,
		createdAt: doc.createdAt,
		updatedAt: doc.updatedAt
	};
}

export const OPERATOR_INDEXES = [{ fields: ["email"], unique: true }];
export const REFRESH_INDEXES = [{ fields: ["operatorId"] }];

/** Creates an operator account; AccountError("exists") when the email is taken. */
export async function createOperator(operators: StoreAdapter, input: { email: string; name?: string; role: string; password: string }): Promise<OperatorDoc> {
	const checked = checkNewOperator(input);
	if (await operators.findOne({ email: checked.email })) throw new AccountError("exists", `an operator with email '${checked.email}' already exists`);
	const now = new Date();
	try {
		return (await operators.insert({ ...checked, passwordHash: await hashPassword(input.password), disabledAt: null, lastLoginAt: null, createdAt: now, updatedAt: now })) as OperatorDoc;
	} catch (err) {
		if (isDuplicateKeyError(err)) throw new AccountError("exists", `an operator with email '${checked.email}' already exists`);
		throw err;
	}
}

/** The account for these credentials, or null (unknown email, wrong password or disabled: the caller cannot tell which). */
export async function checkCredentials(operators: StoreAdapter, email: string, password: string): Promise<OperatorDoc | null> {
	const doc = (await operators.findOne({ email: normaliseEmail(email) })) as OperatorDoc | null;
	const ok = await verifyPassword(password, doc?.passwordHash ?? (await dummyPasswordHash()));
	if (!doc || !ok || doc.disabledAt) return null;
	return doc;
}

function hashToken(token: string): string {
	return createHash("sha256").update(token).digest("hex");
}

/** Issues a refresh token for an operator; only its hash is stored. */
export async function issueRefresh(refresh: StoreAdapter, operatorId: string, ttlMs: number): Promise<{ token: string; expiresAt: Date }> {
	const id = randomBytes(12).toString("base64url");
	const token = `rt_${id}_${randomBytes(32).toString("base64url")}`;
	const now = new Date();
	const expiresAt = new Date(now.getTime() + ttlMs);
	await refresh.insert({ _id: id, operatorId, hash: hashToken(token), expiresAt, createdAt: now, usedAt: null });
	return { token, expiresAt };
}

/**
 * Uses a refresh token once: marks it used and returns its operator ID, or null when it is unknown, expired or
 * already used. A token used twice revokes every live token of its operator.
 */
export async function useRefresh(refresh: StoreAdapter, token: string): Promise<string | null> {
	const m = REFRESH_PATTERN.exec(token.trim());
	if (!m) return null;
	const doc = (await refresh.findById(m[1])) as RefreshDoc | null;
	if (!doc) return null;
	const a = Buffer.from(hashToken(token.trim()), "hex");
	const b = Buffer.from(doc.hash, "hex");
	if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
	if (doc.usedAt) {
		await revokeAllRefresh(refresh, doc.operatorId);
		return null;
	}
	// the update only wins once: a concurrent use of the same token sees usedAt set
	const n = await refresh.updateMany({ _id: doc._id, usedAt: null }, { $set: { usedAt: new Date() } });
	if (n !== 1) {
		await revokeAllRefresh(refresh, doc.operatorId);
		return null;
	}
	if (new Date(doc.expiresAt).getTime() <= Date.now()) return null;
	return doc.operatorId;
}

/** Revokes one refresh token (logout); true when it was live. */
export async function revokeRefresh(refresh: StoreAdapter, token: string): Promise<boolean> {
	const m = REFRESH_PATTERN.exec(token.trim());
	if (!m) return false;
	const doc = (await refresh.findById(m[1])) as RefreshDoc | null;
	if (!doc || doc.hash !== hashToken(token.trim())) return false;
	return (await refresh.updateMany({ _id: doc._id, usedAt: null }, { $set: { usedAt: new Date() } })) === 1;
}

export async function revokeAllRefresh(refresh: StoreAdapter, operatorId: string): Promise<number> {
	return refresh.updateMany({ operatorId, usedAt: null }, { $set: { usedAt: new Date() } });
}

/**
 * Process secrets that must be the same on every start (and in every process sharing DATA_DIR):
 * - the JWT secret: JWT_SECRET when set, else 32 random bytes (hex) generated once into DATA_DIR/jwt-secret;
 * - the object-link secret: an HMAC of a fixed label keyed by JWT_SECRET when set (so every node of a distributed
 *   deployment derives the same one), else generated once into DATA_DIR/link-secret.
 * A generated file is written to a temporary file (mode 0600) and hard-linked into place, which fails when the file
 * already exists: two processes starting together both end up reading the one that won, never a partial file.
 */
import { createHmac, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Config } from "../config/index.ts";

const LINK_LABEL = "paperwork:object-links:v1";

function sleepSync(ms: number): void {
	Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function readSecret(file: string): string | undefined {
	try {
		const value = fs.readFileSync(file, "utf8").trim();
		return value === "" ? undefined : value;
	} catch (err) {
		if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
		throw err;
	}
}

/** Creates `file` with `value` unless it exists; never leaves a partially written file under that name. */
function createOnce(file: string, value: string): void {
	const tmp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
	const fd = fs.openSync(tmp, "wx", 0o600);
	try {
		fs.writeSync(fd, `${value}\n`);
		fs.fsyncSync(fd);
	} finally {
		fs.closeSync(fd);
	}
	try {
		fs.linkSync(tmp, file);
	} catch (err) {
		const code = (err as NodeJS.ErrnoException).code;
		if (code !== "EEXIST") {
			// a filesystem without hard links: exclusive create instead (a racing reader retries on an empty file)
			if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS") throw err;
			try {
				fs.writeFileSync(file, `${value}\n`, { flag: "wx", mode: 0o600 });
			} catch (err2) {
				if ((err2 as NodeJS.ErrnoException).code !== "EEXIST") throw err2;
			}
		}
	} finally {
		fs.rmSync(tmp, { force: true });
	}
}

/** The secret stored in `file`, generating it (32 random bytes, hex) on first use. */
export function loadOrCreateSecret(file: string): string {
	const existing = readSecret(file);
	if (existing) return existing;
	fs.mkdirSync(path.dirname(file), { recursive: true });
	createOnce(file, randomBytes(32).toString("hex"));
	for (let i = 0; i < 50; i++) {
		const value = readSecret(file);
		if (value) return value;
		sleepSync(20);
	}
	throw new Error(`secret file ${file} exists but is empty`);
}

/** The HS256 secret for operator tokens. */
export function loadJwtSecret(config: Config): string {
	if (config.auth.jwtSecret) return config.auth.jwtSecret;
	return loadOrCreateSecret(path.join(config.dataDir, "jwt-secret"));
}

/** The secret that signs folder-store object links (see lib/objects/links.ts). */
export function loadLinkSecret(config: Config): string {
	if (config.auth.jwtSecret) return createHmac("sha256", config.auth.jwtSecret).update(LINK_LABEL).digest("hex");
	return loadOrCreateSecret(path.join(config.dataDir, "link-secret"));
}

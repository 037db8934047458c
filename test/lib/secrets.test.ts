import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { loadConfig } from "../../config/index.ts";
import { loadJwtSecret, loadLinkSecret, loadOrCreateSecret } from "../../lib/secrets.ts";

const run = promisify(execFile);
const secretsModule = fileURLToPath(new URL("../../lib/secrets.ts", import.meta.url));
const dirs: string[] = [];

function tempDir(): string {
	const d = fs.mkdtempSync(path.join(os.tmpdir(), "paperwork-secrets-"));
	dirs.push(d);
	return d;
}

afterEach(() => {
	for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

test("without JWT_SECRET both secrets are generated once, 0600, and read back", () => {
	const dataDir = path.join(tempDir(), "nested", "data");
	const config = loadConfig({ DATA_DIR: dataDir });
	const jwt = loadJwtSecret(config);
	const link = loadLinkSecret(config);
	assert.match(jwt, /^[0-9a-f]{64}$/);
	assert.match(link, /^[0-9a-f]{64}$/);
	assert.notEqual(jwt, link);
	for (const name of ["jwt-secret", "link-secret"]) {
		const st = fs.statSync(path.join(dataDir, name));
		assert.equal(st.mode & 0o777, 0o600, name);
	}
	assert.equal(fs.readFileSync(path.join(dataDir, "jwt-secret"), "utf8").trim(), jwt);
	assert.equal(loadJwtSecret(config), jwt);
	assert.equal(loadLinkSecret(loadConfig({ DATA_DIR: dataDir })), link);
	assert.deepEqual(fs.readdirSync(dataDir).sort(), ["jwt-secret", "link-secret"], "no temporary files left");
});

test("with JWT_SECRET: the JWT secret is it, the link secret an HMAC of a label, nothing written", () => {
	const dataDir = tempDir();
	const config = loadConfig({ DATA_DIR: dataDir, JWT_SECRET: "operator-secret" });
	assert.equal(loadJwtSecret(config), "operator-secret");
	const link = loadLinkSecret(config);
	assert.match(link, /^[0-9a-f]{64}$/);
	assert.notEqual(link, "operator-secret");
	assert.equal(link, createHmac("sha256", "operator-secret").update("paperwork:object-links:v1").digest("hex"));
	assert.equal(loadLinkSecret(loadConfig({ DATA_DIR: tempDir(), JWT_SECRET: "operator-secret" })), link, "every node derives the same");
	assert.notEqual(loadLinkSecret(loadConfig({ DATA_DIR: dataDir, JWT_SECRET: "other" })), link);
	assert.deepEqual(fs.readdirSync(dataDir), []);
});

test("an existing secret file is kept as written", () => {
	const dataDir = tempDir();
	fs.writeFileSync(path.join(dataDir, "jwt-secret"), "my own secret\n");
	assert.equal(loadJwtSecret(loadConfig({ DATA_DIR: dataDir })), "my own secret");
});

test("processes starting together agree on one generated secret", async () => {
	const dataDir = tempDir();
	const file = path.join(dataDir, "link-secret");
	const script = `import { loadOrCreateSecret } from ${JSON.stringify(secretsModule)}; process.stdout.write(loadOrCreateSecret(${JSON.stringify(file)}));`;
	const runs = Array.from({ length: 8 }, () => run(process.execPath, ["--input-type=module", "-e", script]));
	const outputs = (await Promise.all(runs)).map((r) => r.stdout);
	assert.equal(new Set(outputs).size, 1, outputs.join(","));
	assert.match(outputs[0], /^[0-9a-f]{64}$/);
	assert.equal(loadOrCreateSecret(file), outputs[0]);
	assert.deepEqual(fs.readdirSync(dataDir), ["link-secret"]);
});

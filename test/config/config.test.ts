import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { ConfigError, loadConfig, SPEC } from "../../config/index.ts";
import { selectServices, availableServices } from "../../lib/node.ts";
import { ROOT, tempDir } from "../helpers/node.ts";

function configError(env: Record<string, string>): ConfigError {
	try {
		loadConfig(env);
	} catch (err) {
		assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
		return err;
	}
	assert.fail("expected a ConfigError");
}

test("defaults give the embedded mode: no transporter, no servers", () => {
	const c = loadConfig({});
	assert.equal(c.transporter, undefined);
	assert.equal(c.amqpUrl, undefined);
	assert.equal(c.mongo, undefined);
	assert.equal(c.s3, undefined);
	assert.equal(c.opensearch, undefined);
	assert.equal(c.http.port, 3000);
	assert.equal(c.namespace, "paperwork");
	assert.ok(path.isAbsolute(c.dataDir));
});

test("an AMQP transporter also carries the work queues unless AMQP_URL says otherwise", () => {
	assert.equal(loadConfig({ TRANSPORTER: "amqp://u:p@rabbit:5672" }).amqpUrl, "amqp://u:p@rabbit:5672");
	assert.equal(loadConfig({ TRANSPORTER: "amqp://a:5672", AMQP_URL: "amqp://b:5672" }).amqpUrl, "amqp://b:5672");
});

test("a bad value names the variable and what it expects", () => {
	const e = configError({ S3_ENDPOINT: "minio:", S3_ACCESS_KEY: "a", S3_SECRET_KEY: "b" });
	assert.equal(e.variable, "S3_ENDPOINT");
	assert.match(e.message, /S3_ENDPOINT must be a URL.*got 'minio:'/);
	assert.equal(configError({ PORT: "eighty" }).variable, "PORT");
	assert.match(configError({ PORT: "70000" }).message, /PORT must be at most 65535, got 70000/);
	assert.match(configError({ TRANSPORTER: "nats://x:4222" }).message, /TRANSPORTER must be a URL starting with amqp:\/\/ or amqps:\/\//);
	// the value is shown to say what is wrong, never with its password
	const withPassword = configError({ TRANSPORTER: "nats://bus:hunter2@x:4222" }).message;
	assert.match(withPassword, /got 'nats:\/\/bus:\*\*\*@x:4222'/);
	assert.doesNotMatch(withPassword, /hunter2/);
	assert.doesNotMatch(configError({ S3_ENDPOINT: "minio//key:hunter2@minio:9000" }).message, /hunter2/);
	assert.match(configError({ LOG_LEVEL: "loud" }).message, /LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, got 'loud'/);
	assert.match(configError({ S3_ENDPOINT: "http://minio:9000" }).message, /S3_ACCESS_KEY must be set when S3_ENDPOINT is set/);
	assert.match(configError({ SERVICES: "api;etl" }).message, /SERVICES must be a comma list/);
	assert.match(configError({ BODY_LIMIT: "lots" }).message, /BODY_LIMIT must be a size/);
});

test("SERVICES picks services by file name, always with ops, and rejects unknown names", () => {
	assert.ok(availableServices().includes("api"));
	assert.deepEqual(selectServices(loadConfig({ SERVICES: "api" })), ["ops", "api"]);
	assert.deepEqual(selectServices(loadConfig({})), availableServices());
	assert.throws(() => selectServices(loadConfig({ SERVICES: "api,nope" })), (err: unknown) => err instanceof ConfigError && err.variable === "SERVICES" && /'nope'/.test(err.message));
});

test("start-up with a bad variable exits with a message naming it", () => {
	const res = spawnSync(process.execPath, ["--disable-warning=ExperimentalWarning", path.join(ROOT, "scripts/start.ts")], {
		env: { PATH: process.env.PATH, DATA_DIR: tempDir(), S3_ENDPOINT: "minio:", S3_ACCESS_KEY: "a", S3_SECRET_KEY: "b" },
		encoding: "utf8",
		timeout: 30_000
	});
	assert.equal(res.status, 78);
	assert.match(res.stderr, /configuration error: S3_ENDPOINT must be a URL .*got 'minio:'/);
});

test("the README documents every configuration variable", () => {
	const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
	const missing = SPEC.filter((s) => !readme.includes(`\`${s.name}\``)).map((s) => s.name);
	assert.deepEqual(missing, []);
});

test("DATABASE_URL selects PostgreSQL: a postgres:// or postgresql:// URL, not together with MONGO_URL", () => {
	assert.deepEqual(loadConfig({ DATABASE_URL: "postgres://u:p@db:5432/paperwork" }).postgres, { url: "postgres://u:p@db:5432/paperwork", poolSize: 10 });
	assert.equal(loadConfig({ DATABASE_URL: "postgresql://db/paperwork", DATABASE_POOL_SIZE: "3" }).postgres?.poolSize, 3);
	assert.equal(loadConfig({}).postgres, undefined);
	assert.equal(configError({ DATABASE_URL: "mysql://db/x" }).variable, "DATABASE_URL");
	assert.match(configError({ DATABASE_URL: "not a url" }).message, /DATABASE_URL must be a URL \(postgres:\/\/ or postgresql:\/\/\.\.\.\)/);
	assert.match(configError({ DATABASE_URL: "postgres://db/x", MONGO_URL: "mongodb://m/x" }).message, /DATABASE_URL .* MONGO_URL .* both set/);
});

test("RABBITMQ_MANAGEMENT_URL: an http(s) URL kept as given (credentials included), unset by default", () => {
	assert.equal(loadConfig({ RABBITMQ_MANAGEMENT_URL: "http://mon:secret@rabbitmq:15672" }).rabbitmqManagementUrl, "http://mon:secret@rabbitmq:15672");
	assert.equal(loadConfig({}).rabbitmqManagementUrl, undefined);
	const err = configError({ RABBITMQ_MANAGEMENT_URL: "amqp://guest:guest@rabbitmq:5672" });
	assert.equal(err.variable, "RABBITMQ_MANAGEMENT_URL");
	assert.match(err.message, /RABBITMQ_MANAGEMENT_URL must be a URL starting with http:\/\/ or https:\/\//);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../../../config/index.ts";
import { createObjectStore, verifyLink } from "../../../lib/objects/index.ts";
import { FsObjectStore } from "../../../lib/objects/fs.ts";
import { S3ObjectStore } from "../../../lib/objects/s3.ts";

test("without S3_ENDPOINT: the folder store under DATA_DIR/objects, links under the public URL", async () => {
	const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "paperwork-objidx-"));
	try {
		const config = loadConfig({ DATA_DIR: dataDir, PUBLIC_URL: "https://paperwork.example" });
		const store = createObjectStore(config, { linkSecret: "k", publicUrl: config.http.publicUrl });
		assert.equal(store.kind, "fs");
		assert.ok(store instanceof FsObjectStore);
		await store.put("inbox/demo/a.csv", "x");
		assert.equal(fs.existsSync(path.join(dataDir, "objects", "inbox", "demo", "a.csv~o")), true);
		const url = new URL(await store.link("inbox/demo/a.csv", 60));
		assert.equal(url.origin, "https://paperwork.example");
		assert.equal(verifyLink("k", "inbox/demo/a.csv", url.searchParams.get("expires") ?? "", url.searchParams.get("signature") ?? ""), true);
		await store.close();
	} finally {
		fs.rmSync(dataDir, { recursive: true, force: true });
	}
});

test("with S3_ENDPOINT: the S3 store on that bucket", async () => {
	const config = loadConfig({ DATA_DIR: os.tmpdir(), S3_ENDPOINT: "http://127.0.0.1:9", S3_ACCESS_KEY: "a", S3_SECRET_KEY: "b", S3_BUCKET: "docs" });
	const store = createObjectStore(config, { linkSecret: "k", publicUrl: "http://x" });
	assert.equal(store.kind, "s3");
	assert.ok(store instanceof S3ObjectStore);
	assert.equal(store.bucket, "docs");
	const url = new URL(await store.link("a/b.pdf", 60));
	assert.equal(url.origin, "http://127.0.0.1:9");
	assert.equal(url.pathname, "/docs/a/b.pdf");
	assert.equal(url.searchParams.get("X-Amz-Expires"), "60");
	await store.close();
});

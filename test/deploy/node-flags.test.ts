/**
 * A node starts with the same flags wherever it starts (lib/node.ts NODE_FLAGS): `npm start`, the image's CMD, and the
 * benchmarks that run the platform in their own process, so that what they measure is what runs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "../helpers/node.ts";
import { NODE_FLAGS } from "../../lib/node.ts";

test("npm start, the image's CMD and the in-process benchmarks start node with NODE_FLAGS", () => {
	const scripts = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
	for (const name of ["start", "bench:dispatch", "bench:billing", "bench:intake", "bench:render"]) {
		assert.ok(scripts[name]?.startsWith(`node ${NODE_FLAGS.join(" ")} `), `${name}: ${scripts[name]}`);
	}
	const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(path.join(ROOT, "docker/Dockerfile"), "utf8"))?.[1];
	assert.ok(cmd, "the Dockerfile has a CMD");
	assert.deepEqual(JSON.parse(cmd), ["node", ...NODE_FLAGS, "scripts/start.ts"]);
});

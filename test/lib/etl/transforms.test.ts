import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadTransform, TransformError, transformExists } from "../../../lib/etl/transforms.ts";

test("the split-name example joins first and last names", async () => {
	const t = await loadTransform("split-name");
	assert.equal(t.name, "split-name");
	assert.deepEqual(t.provides, ["debtor_name", "applicant_name"]);
	assert.deepEqual(t.requires, ["first_name", "last_name"]);
	assert.deepEqual(t.transform({ first_name: " Maria  da ", last_name: "Silva " }, { kind: "debt", line: 2 }), { first_name: " Maria  da ", last_name: "Silva ", debtor_name: "Maria da Silva" });
	assert.equal(t.transform({ first_name: "Ravi", last_name: "" }, { kind: "loan", line: 2 })?.applicant_name, "Ravi");
	assert.equal(t.transform({ first_name: "", last_name: "" }, { kind: "debt", line: 2 })?.debtor_name, "");
	assert.equal(await loadTransform("split-name"), t, "cached: the same module object");
	assert.equal(await transformExists("split-name"), true);
	assert.equal(await transformExists("nope"), false);
});

test("bad and unknown names are clear errors", async () => {
	await assert.rejects(loadTransform("../secrets"), (e: unknown) => e instanceof TransformError && /invalid transform name/.test(e.message));
	await assert.rejects(loadTransform("Split_Name"), TransformError);
	await assert.rejects(loadTransform("no-such-format"), (e: unknown) => e instanceof TransformError && /unknown transform 'no-such-format'/.test(e.message));
});

test("modules are loaded from a folder, validated and cached", async () => {
	const dir = await mkdtemp(path.join(os.tmpdir(), "paperwork-transforms-"));
	try {
		await writeFile(path.join(dir, "upper-id.ts"), "export default function transform(row: Record<string, string>) { row.contract_id = (row.contract_id ?? '').toUpperCase(); return row.contract_id === 'TOTAL' ? null : row; }\n");
		await writeFile(path.join(dir, "no-default.ts"), "export const provides = ['x'];\n");
		await writeFile(path.join(dir, "bad-provides.ts"), "export const provides = 'x';\nexport default function t(r: Record<string, string>) { return r; }\n");
		const t = await loadTransform("upper-id", dir);
		assert.deepEqual(t.transform({ contract_id: "ab-1" }, { kind: "debt", line: 2 }), { contract_id: "AB-1" });
		assert.equal(t.transform({ contract_id: "total" }, { kind: "debt", line: 3 }), null);
		assert.deepEqual(t.provides, []);
		await assert.rejects(loadTransform("no-default", dir), /must export a default function/);
		await assert.rejects(loadTransform("bad-provides", dir), /'provides' must be an array/);
	} finally {
		await rm(dir, { recursive: true, force: true });
	}
});

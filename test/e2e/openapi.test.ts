/**
 * The OpenAPI document is valid OpenAPI 3.1 (checked by @seriousme/openapi-schema-validator), every route has a
 * request schema for its parameters and a response schema; /api/docs is Swagger UI served from npm (no CDN).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Validator } from "@seriousme/openapi-schema-validator";
import { startTestNode, http, type TestNode } from "../helpers/node.ts";
import { ROUTES } from "../../lib/api/routes.ts";

let node: TestNode;
before(async () => {
	node = await startTestNode();
});
after(async () => {
	await node.close();
});

type Op = { requestBody?: unknown; parameters: unknown[]; responses: Record<string, { content?: Record<string, { schema: unknown }> }> };

test("the OpenAPI document is valid, with a response schema for every route and a body schema where one is sent", async () => {
	const res = await http<Record<string, unknown> & { paths: Record<string, Record<string, Op>> }>(`${node.url}/openapi.json`);
	assert.equal(res.status, 200);
	const result = await new Validator().validate(res.body);
	assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
	for (const r of ROUTES) {
		const p = r.path.replace(/[:*]([A-Za-z0-9_]+)/g, "{$1}");
		const op = res.body.paths[p]?.[r.method.toLowerCase()];
		assert.ok(op, `${r.method} ${p} is documented`);
		const ok = op.responses[String(r.status ?? 200)];
		assert.ok(ok?.content && Object.values(ok.content)[0].schema, `${r.method} ${p} has a response schema`);
	}
	assert.ok(res.body.paths["/auth/login"].post.requestBody, "a JSON body is described");
	assert.ok(res.body.paths["/uploads"].post.requestBody, "an upload body is described");
	assert.ok(res.body.paths["/batches/{id}/rejections"].get.responses["200"].content?.["text/csv"], "the CSV answer too");
});

test("/api/docs is Swagger UI from node_modules: the page, its script and style load from this server", async () => {
	const root = node.url.replace("/v1", "");
	const page = await fetch(`${root}/docs`);
	assert.equal(page.status, 200);
	const html = await page.text();
	assert.doesNotMatch(html, /(?:src|href)="https?:/, "nothing from another origin");
	for (const src of [...html.matchAll(/(?:src|href)="(\/api\/docs\/assets\/[^"]+)"/g)].map((m) => m[1])) {
		const r = await fetch(`${root.replace("/api", "")}${src}`);
		assert.equal(r.status, 200, src);
		assert.ok((await r.arrayBuffer()).byteLength > 50, src);
	}
	assert.equal((await fetch(`${root}/docs/assets/package.json`)).status, 404, "only the viewer's files are served");
});

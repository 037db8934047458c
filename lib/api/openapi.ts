/**
 * The OpenAPI 3.1 document, generated from the route table and the actions' parameter schemas (fastest-validator
 * shorthand converted to JSON Schema) with the response schemas of lib/api/schemas.ts, so it cannot drift from the
 * code. Also the docs page: Swagger UI bundled from npm (no CDN: the page must work offline).
 */
import type { ServiceBroker } from "moleculer";
import type { RouteSpec } from "./routes.ts";
import { COMPONENT_SCHEMAS, RESPONSES } from "./schemas.ts";

type JsonSchema = Record<string, unknown>;
/** A fastest-validator rule; `internal: true` marks a parameter for service-to-service calls, left out of the docs. */
type FvRule = string | { type?: string; optional?: boolean; values?: unknown[]; props?: Record<string, FvRule>; items?: FvRule; min?: number; max?: number; default?: unknown; pattern?: unknown; description?: string; internal?: boolean; $$t?: string };

/** fastest-validator rule -> JSON Schema (the subset our actions use). */
export function fvToJsonSchema(rule: FvRule): { schema: JsonSchema; optional: boolean } {
	if (typeof rule === "string") {
		const [typePart, ...mods] = rule.split("|");
		const optional = typePart.endsWith("?") || mods.includes("optional");
		return { schema: fvToJsonSchema({ type: typePart.replace(/\?$/, "") }).schema, optional };
	}
	const optional = rule.optional === true || rule.default !== undefined;
	const base: JsonSchema = {};
	if (rule.description) base.description = rule.description;
	if (rule.default !== undefined) base.default = rule.default;
	switch (rule.type) {
		case "string":
			return { schema: { ...base, type: "string", ...(rule.min !== undefined ? { minLength: rule.min } : {}), ...(rule.max !== undefined ? { maxLength: rule.max } : {}) }, optional };
		case "email":
			return { schema: { ...base, type: "string", format: "email" }, optional };
		case "url":
			return { schema: { ...base, type: "string", format: "uri" }, optional };
		case "uuid":
			return { schema: { ...base, type: "string", format: "uuid" }, optional };
		case "number":
			return { schema: { ...base, type: "number", ...(rule.min !== undefined ? { minimum: rule.min } : {}), ...(rule.max !== undefined ? { maximum: rule.max } : {}) }, optional };
		case "boolean":
			return { schema: { ...base, type: "boolean" }, optional };
		case "enum":
			return { schema: { ...base, enum: rule.values ?? [] }, optional };
		case "array":
			return { schema: { ...base, type: "array", items: rule.items ? fvToJsonSchema(rule.items).schema : {} }, optional };
		case "object": {
			if (!rule.props) return { schema: { ...base, type: "object" }, optional };
			const { properties, required } = propsToSchema(rule.props);
			return { schema: { ...base, type: "object", properties, ...(required.length ? { required } : {}) }, optional };
		}
		default:
			return { schema: base, optional };
	}
}

function propsToSchema(props: Record<string, FvRule>): { properties: Record<string, JsonSchema>; required: string[] } {
	const properties: Record<string, JsonSchema> = {};
	const required: string[] = [];
	for (const [name, rule] of Object.entries(props)) {
		if (name.startsWith("$$")) continue;
		const { schema, optional } = fvToJsonSchema(rule);
		properties[name] = schema;
		if (!optional) required.push(name);
	}
	return { properties, required };
}

interface ActionInfo {
	name: string;
	params?: Record<string, FvRule>;
	description?: string;
}

function actionParams(broker: ServiceBroker, name: string): Record<string, FvRule> | undefined {
	const list = broker.registry.getActionList({ onlyLocal: false, skipInternal: true, withEndpoints: false }) as { name: string; action?: ActionInfo }[];
	return list.find((a) => a.name === name)?.action?.params;
}

const SECURITY: Record<RouteSpec["access"], JsonSchema[]> = {
	public: [],
	client: [{ apiKey: [] }],
	operator: [{ bearer: [] }],
	admin: [{ bearer: [] }],
	"self-or-admin": [{ apiKey: [] }, { bearer: [] }],
	"self-or-operator": [{ apiKey: [] }, { bearer: [] }],
	"client-or-operator": [{ apiKey: [] }, { bearer: [] }]
};

const errorRef = { $ref: "#/components/schemas/Error" };

/** The success response of an action: its schema from lib/api/schemas.ts (rejections also answer CSV). */
function okResponse(action: string): JsonSchema {
	const r = RESPONSES[action];
	if (!r) return { description: "OK" };
	const content: Record<string, JsonSchema> = { [r.type ?? "application/json"]: { schema: r.schema } };
	if (action === "batches.rejections") content["text/csv"] = { schema: { type: "string" } };
	return { description: "OK", content };
}

/** The OpenAPI document for the given routes. */
export function buildOpenApi(routes: RouteSpec[], broker: ServiceBroker, opts: { prefix: string; publicUrl: string }): JsonSchema {
	const paths: Record<string, Record<string, JsonSchema>> = {};
	for (const r of routes) {
		const pathParams: string[] = [];
		const oaPath = r.path.replace(/[:*]([A-Za-z0-9_]+)/g, (_m, name: string) => {
			pathParams.push(name);
			return `{${name}}`;
		});
		const params = actionParams(broker, r.action) ?? {};
		const parameters: JsonSchema[] = pathParams.map((name) => ({ name, in: "path", required: true, schema: { type: "string" } }));
		const bodyProps: Record<string, FvRule> = {};
		for (const [name, rule] of Object.entries(params)) {
			if (pathParams.includes(name) || name.startsWith("$$") || (typeof rule === "object" && rule.internal)) continue;
			if (r.method === "GET" || r.method === "DELETE") {
				const { schema, optional } = fvToJsonSchema(rule);
				parameters.push({ name, in: "query", required: !optional, schema });
			} else bodyProps[name] = rule;
		}
		const op: JsonSchema = {
			summary: r.summary,
			tags: [r.tag],
			operationId: r.action,
			security: SECURITY[r.access],
			parameters,
			responses: {
				[String(r.status ?? 200)]: okResponse(r.action),
				...(r.access !== "public" ? { "401": { description: "missing or bad credentials", content: { "application/json": { schema: errorRef } } }, "403": { description: "wrong role", content: { "application/json": { schema: errorRef } } } } : {}),
				"400": { description: "bad request", content: { "application/json": { schema: errorRef } } }
			}
		};
		if (r.body === "stream") {
			op.requestBody = { required: true, content: { "application/octet-stream": { schema: { type: "string", format: "binary" } }, "multipart/form-data": { schema: { type: "object", properties: { file: { type: "string", format: "binary" } } } } } };
		} else if (Object.keys(bodyProps).length > 0) {
			const { properties, required } = propsToSchema(bodyProps);
			op.requestBody = { required: required.length > 0, content: { "application/json": { schema: { type: "object", properties, ...(required.length ? { required } : {}) } } } };
		}
		(paths[oaPath] ??= {})[r.method.toLowerCase()] = op;
	}
	return {
		openapi: "3.1.0",
		info: { title: "Paperwork API", version: "1", description: "Records in, documents out. Clients authenticate with X-API-Key; operators with a Bearer JWT." },
		servers: [{ url: `${opts.publicUrl}${opts.prefix}` }],
		paths,
		components: {
			securitySchemes: {
				apiKey: { type: "apiKey", in: "header", name: "X-API-Key" },
				bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" }
			},
			schemas: {
				...COMPONENT_SCHEMAS,
				Error: {
					type: "object",
					required: ["error"],
					properties: { error: { type: "object", required: ["code", "message"], properties: { code: { type: "string" }, message: { type: "string" }, details: {} } } }
				}
			}
		}
	};
}

function esc(s: string): string {
	return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);
}

/** The docs page's start-up script (a file, not inline: pages may forbid inline scripts). */
export const DOCS_INIT_JS = `window.addEventListener("load", function () {
	window.ui = SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#swagger", deepLinking: true, tryItOutEnabled: false });
});
`;

/**
 * The API reference page: Swagger UI from the swagger-ui-dist npm package (served by the gateway from
 * node_modules, no CDN), reading /api/v1/openapi.json; a plain table of the routes for readers without scripts.
 */
export function renderDocsPage(doc: JsonSchema): string {
	return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Paperwork API</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/api/docs/assets/swagger-ui.css"></head>
<body><div id="swagger"></div><noscript>${routesTable(doc)}</noscript>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script><script src="/api/docs/assets/init.js"></script></body></html>`;
}

/** A readable, dependency-free HTML table of the API, from its OpenAPI document. */
function routesTable(doc: JsonSchema): string {
	const servers = doc.servers as { url: string }[];
	const paths = doc.paths as Record<string, Record<string, { summary: string; security: JsonSchema[]; parameters: { name: string; in: string; required: boolean }[]; requestBody?: { content: Record<string, { schema: JsonSchema }> } }>>;
	const rows: string[] = [];
	for (const [p, ops] of Object.entries(paths)) {
		for (const [method, op] of Object.entries(ops)) {
			const auth = op.security.length === 0 ? "public" : op.security.map((s) => Object.keys(s)[0]).join(" or ");
			const params = op.parameters.map((x) => `<code>${esc(x.name)}</code> (${x.in}${x.required ? ", required" : ""})`).join(", ");
			const body = op.requestBody ? Object.keys(op.requestBody.content).map((c) => `<code>${esc(c)}</code>`).join(", ") : "";
			rows.push(`<tr><td class="m ${method}">${method.toUpperCase()}</td><td><code>${esc(p)}</code></td><td>${esc(op.summary)}</td><td>${esc(auth)}</td><td>${params}${body ? `<br>body: ${body}` : ""}</td></tr>`);
		}
	}
	return `<h1>Paperwork API</h1><p>Base URL: <code>${esc(servers[0]?.url ?? "")}</code>. Machine-readable: <a href="/api/v1/openapi.json">openapi.json</a>.
Clients send <code>X-API-Key</code>; operators send <code>Authorization: Bearer &lt;JWT&gt;</code> (<code>npm run token -- --role admin</code>).
Errors are <code>{"error": {"code", "message", "details"}}</code>.</p>
<table><thead><tr><th>Method</th><th>Path</th><th>What it does</th><th>Auth</th><th>Parameters</th></tr></thead><tbody>${rows.join("\n")}</tbody></table>`;
}

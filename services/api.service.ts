/**
 * api: the HTTP gateway (moleculer-web) under /api/v1. Routes come from lib/api/routes.ts; this file wires
 * authentication (X-API-Key for clients, Bearer JWT for operators), access checks, JSON errors, request IDs,
 * body limits, the OpenAPI document, the docs page and signed object links.
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from "node:http";
import ApiGateway, { type ApiSettingsSchema, type ApiRouteSchema } from "moleculer-web";
import type { Context, Service, ServiceSchema } from "moleculer";
import { ROUTES, type RouteSpec } from "../lib/api/routes.ts";
import { allowed, parseApiKey, verifyOperatorToken, TokenError, type Caller } from "../lib/api/auth.ts";
import { toHttpError, unauthorized, forbidden, notFound, httpError } from "../lib/api/errors.ts";
import { consoleFile } from "../lib/console/static.ts";
import { buildOpenApi, renderDocsPage, DOCS_INIT_JS } from "../lib/api/openapi.ts";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { createRequire } from "node:module";
import { verifyLink } from "../lib/objects/links.ts";
import { loadLinkSecret, loadJwtSecret } from "../lib/secrets.ts";
import { getPlatform } from "../lib/platform.ts";
import { ObjectNotFoundError } from "../lib/objects/types.ts";
import { answerWebhook, CallbackBatcher, type WebhookCall, type WireCallback, type WireOutcome } from "../lib/delivery/callbacks.ts";

type Req = IncomingMessage & { originalUrl?: string; $alias?: { method: string; path: string }; $ctx?: Context; $params?: Record<string, unknown>; rawBody?: Buffer };

const API_PREFIX = "/api/v1";

/** Swagger UI, served from its npm package for /api/docs (only these files). */
const SWAGGER_UI_DIR = path.dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
const DOCS_ASSETS: Record<string, string> = { "swagger-ui.css": "text/css; charset=utf-8", "swagger-ui-bundle.js": "text/javascript; charset=utf-8" };

function routeKey(method: string, path: string): string {
	// moleculer-web keeps alias paths without their leading/trailing slashes
	return `${method.toUpperCase()} ${path.replace(/^\/+|\/+$/g, "")}`;
}

const byAlias = new Map<string, RouteSpec>(ROUTES.map((r) => [routeKey(r.method, r.path), r]));

function aliases(): Record<string, string> {
	const out: Record<string, string> = {};
	for (const r of ROUTES) out[`${r.method} ${r.path}`] = r.body === "stream" ? `stream:${r.action}` : r.action;
	return out;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

type ApiThis = Service<ApiSettingsSchema> & { callbacks?: CallbackBatcher };
type Merged = { merged?: (schema: ServiceSchema<ApiSettingsSchema>) => void };

const apiService: ServiceSchema<ApiSettingsSchema> & Merged = {
	name: "api",
	mixins: [ApiGateway],

	settings: {
		port: 3000,
		ip: "0.0.0.0",
		routes: [
			{
				path: API_PREFIX,
				aliases: aliases(),
				mappingPolicy: "restrict",
				authentication: true,
				authorization: true,
				bodyParsers: { json: { limit: "5mb", strict: false }, urlencoded: false },
				callOptions: { timeout: 0 }
			},
			{
				// the operator console (console/dist): assets, and index.html for every screen's URL
				path: "/console",
				aliases: { "GET /": "api.console", "GET /*path": "api.console" },
				mappingPolicy: "restrict",
				authentication: false,
				authorization: false,
				bodyParsers: false
			},
			{
				path: "/api/docs",
				aliases: { "GET /": "api.docs", "GET /assets/:file": "api.docsAsset" },
				mappingPolicy: "restrict",
				authentication: false,
				authorization: false,
				bodyParsers: false
			}
		],
		log4XXResponses: false,
		logRequest: "debug",
		logResponse: "debug"
	},

	/** After moleculer-web made its server, before it listens: how long an idle keep-alive connection stays open. */
	created(this: ApiThis) {
		// provider callbacks of the same turn go to a notifier in one call (lib/delivery/callbacks.ts)
		this.callbacks = new CallbackBatcher((items: WireCallback[]) => this.broker.call("notifier.webhooks", { items }) as Promise<WireOutcome[]>);
		const server = (this as unknown as { server?: HttpServer }).server;
		if (!server) return;
		const ms = getPlatform().config.http.keepAliveMs;
		server.keepAliveTimeout = ms;
		// a request's headers may take until the connection's idle time is over (Node's rule: headersTimeout > keepAliveTimeout)
		server.headersTimeout = ms + 5000;
	},

	/** Settings from the configuration, applied before moleculer-web builds its routes and server. */
	merged(schema: ServiceSchema<ApiSettingsSchema>) {
		const { config } = getPlatform();
		const settings = schema.settings as ApiSettingsSchema;
		settings.port = config.http.port;
		const route = (settings.routes ?? [])[0] as ApiRouteSchema;
		// a provider's JSON callback is signed over its exact bytes: the parser keeps them for the webhook routes
		route.bodyParsers = { json: { limit: config.http.bodyLimit, strict: false, verify: keepCallbackBody }, urlencoded: false };
		// what stream actions need from the request, and a JSON array body as params.rows
		route.onBeforeCall = (ctx: Context, _route: unknown, req: Req & { body?: unknown }) => {
			const disposition = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(String(req.headers["content-disposition"] ?? ""));
			const xName = req.headers["x-filename"];
			const spec = req.$alias ? byAlias.get(routeKey(req.$alias.method, req.$alias.path)) : undefined;
			(ctx.meta as Record<string, unknown>).$request = {
				ip: req.socket?.remoteAddress,
				contentType: req.headers["content-type"],
				filename: typeof xName === "string" ? xName : disposition ? safeDecode(disposition[1]) : undefined,
				// provider callbacks (public raw-body routes) are verified over their headers and the URL they called
				...(spec?.access === "public" && spec.body === "stream"
					? { headers: callbackHeaders(req), url: req.originalUrl ?? req.url, method: req.method, ...(req.rawBody ? { rawBody: req.rawBody.toString("base64") } : {}) }
					: {})
			};
			if (Array.isArray(req.body) && req.$params) {
				for (const k of Object.keys(req.$params)) if (/^\d+$/.test(k)) delete req.$params[k];
				req.$params.rows = req.body;
			}
		};
		// success statuses other than 200 (e.g. 201 Created) come from the route table
		route.onAfterCall = (ctx: Context, _route: unknown, req: Req, _res: ServerResponse, data: unknown) => {
			const spec = req.$alias ? byAlias.get(routeKey(req.$alias.method, req.$alias.path)) : undefined;
			const meta = ctx.meta as { $statusCode?: number };
			if (spec?.status && meta.$statusCode === undefined) meta.$statusCode = spec.status;
			// a created resource's URL: the collection path plus its id
			const id = data && typeof data === "object" ? (data as { id?: unknown }).id : undefined;
			if (meta.$statusCode === 201 && typeof id === "string") (ctx.meta as Record<string, unknown>).$location = `${(req.originalUrl ?? req.url ?? "").split("?")[0]}/${encodeURIComponent(id)}`;
			return data;
		};
		settings.onError = (req, res, err) => sendJsonError(req as Req, res, err);
	},

	actions: {
		openapi: {
			handler(this: ApiThis) {
				return buildOpenApi(ROUTES, this.broker, { prefix: API_PREFIX, publicUrl: getPlatform().config.http.publicUrl });
			}
		},
		docs: {
			handler(ctx: Context) {
				(ctx.meta as Record<string, unknown>).$responseType = "text/html; charset=utf-8";
				// Swagger UI sets inline styles; scripts only from this origin
				(ctx.meta as Record<string, unknown>).$responseHeaders = { "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'" };
				return renderDocsPage(buildOpenApi(ROUTES, ctx.broker, { prefix: API_PREFIX, publicUrl: getPlatform().config.http.publicUrl }));
			}
		},
		/** Swagger UI's files (from node_modules/swagger-ui-dist) and the page's start-up script. */
		docsAsset: {
			params: { file: { type: "string" } },
			async handler(ctx: Context<{ file: string }>) {
				const meta = ctx.meta as Record<string, unknown>;
				const file = ctx.params.file;
				meta.$responseHeaders = { "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff" };
				if (file === "init.js") {
					meta.$responseType = "text/javascript; charset=utf-8";
					return DOCS_INIT_JS;
				}
				const type = DOCS_ASSETS[file];
				if (!type) throw notFound("docs file", file);
				meta.$responseType = type;
				return readFile(path.join(SWAGGER_UI_DIR, file));
			}
		},
		/** POST /webhooks/:provider: a provider's signed callback, verified and applied by a notifier with the others of its turn. */
		webhook: {
			params: { provider: { type: "string", min: 1, max: 40 } },
			handler(this: ApiThis, ctx: Context<Record<string, string>>) {
				const batcher = this.callbacks as CallbackBatcher;
				return answerWebhook(ctx as unknown as WebhookCall, getPlatform().config.http.publicUrl, (provider, req) => batcher.call(provider, req));
			}
		},
		/** The operator console: a file of its build, or index.html for a screen (lib/console/static.ts). */
		console: {
			params: { path: { type: "any", optional: true } },
			async handler(ctx: Context<{ path?: string | string[] }>) {
				const rel = Array.isArray(ctx.params.path) ? ctx.params.path.join("/") : (ctx.params.path ?? "");
				const answer = await consoleFile(rel);
				if (answer.status !== 200) throw answer.status === 404 ? notFound("console file", rel) : httpError(503, "CONSOLE_NOT_BUILT", answer.message);
				const meta = ctx.meta as Record<string, unknown>;
				meta.$responseType = answer.headers["Content-Type"];
				meta.$responseHeaders = answer.headers;
				return answer.body;
			}
		},
		/** Serves an object through a link made by the folder object store (S3 links go to S3 directly). */
		object: {
			params: { key: { type: "any" }, expires: { type: "string" }, signature: { type: "string" } },
			async handler(ctx: Context<{ key: string | string[]; expires: string; signature: string }>) {
				const { objects, config } = getPlatform();
				const key = Array.isArray(ctx.params.key) ? ctx.params.key.join("/") : ctx.params.key;
				if (!verifyLink(loadLinkSecret(config), key, Number(ctx.params.expires), ctx.params.signature)) {
					throw forbidden("the link is invalid or has expired");
				}
				const info = await objects.stat(key);
				if (!info) throw notFound("object", key);
				const meta = ctx.meta as Record<string, unknown>;
				meta.$responseType = info.contentType ?? "application/octet-stream";
				meta.$responseHeaders = { "Content-Length": String(info.size) };
				try {
					return await objects.get(key);
				} catch (err) {
					if (err instanceof ObjectNotFoundError) throw notFound("object", key);
					throw err;
				}
			}
		}
	},

	methods: {
		/** Resolves credentials into ctx.meta.auth; a malformed or unknown credential is a 401 with the reason. */
		async authenticate(ctx: Context, _route: unknown, req: Req): Promise<Caller | null> {
			const meta = ctx.meta as { auth?: Caller };
			const apiKey = req.headers["x-api-key"];
			const authz = req.headers.authorization;
			if (typeof apiKey === "string" && apiKey.length > 0) {
				if (!parseApiKey(apiKey)) throw unauthorized("X-API-Key is not a valid API key");
				const caller = (await ctx.call("clients.resolveKey", { apiKey })) as Caller | null;
				if (!caller) throw unauthorized("X-API-Key is unknown or revoked");
				meta.auth = caller;
				return caller;
			}
			if (typeof authz === "string" && authz.length > 0) {
				const m = /^Bearer\s+(\S+)$/i.exec(authz);
				if (!m) throw unauthorized("Authorization must be 'Bearer <token>'");
				try {
					const op = verifyOperatorToken(loadJwtSecret(getPlatform().config), m[1]);
					meta.auth = { kind: "operator", sub: op.sub, role: op.role };
					return meta.auth;
				} catch (err) {
					if (err instanceof TokenError) throw unauthorized(`bearer token rejected: ${err.message}`);
					throw err;
				}
			}
			return null;
		},

		/** Checks the route's access rule (lib/api/routes.ts) against the caller. */
		authorize(ctx: Context, _route: unknown, req: Req) {
			const alias = req.$alias;
			if (!alias) return;
			const spec = byAlias.get(routeKey(alias.method, alias.path));
			if (!spec) throw forbidden("no access rule for this route");
			const caller = (ctx.meta as { auth?: Caller }).auth;
			const params = (req.$params ?? {}) as Record<string, unknown>;
			const verdict = allowed(spec.access, caller, typeof params.id === "string" ? params.id : undefined);
			if (verdict === "unauthenticated") throw unauthorized("credentials required: send X-API-Key (clients) or Authorization: Bearer <token> (operators)");
			if (verdict === "forbidden") throw forbidden(`this route needs ${spec.access === "client" ? "a client API key" : `the ${spec.access} role`}`);
			if (verdict === "not-found") throw notFound("client", String(params.id));
		}
	}
};

/** Writes { error: { code, message, details } } with the mapped status and the request ID. */
function sendJsonError(req: Req, res: ServerResponse, err: unknown): void {
	const { status, body, internal } = toHttpError(err);
	const requestId = req.$ctx?.requestID ?? headerRequestId(req);
	if (internal) {
		getPlatform().logger.error({ err, requestId, url: req.url }, "request failed");
	}
	if (res.headersSent) {
		res.destroy();
		return;
	}
	if (requestId) res.setHeader("X-Request-Id", requestId);
	if (status === 401) res.setHeader("WWW-Authenticate", 'Bearer realm="paperwork", ApiKey header="X-API-Key"');
	const retryAfter = (body.error.details as { retryAfter?: unknown } | undefined)?.retryAfter;
	if (status === 429 && typeof retryAfter === "number") res.setHeader("Retry-After", String(retryAfter));
	// a refused upload may leave its body unread: do not reuse the connection for another request
	if (status === 413 || status === 415) res.setHeader("Connection", "close");
	res.setHeader("Content-Type", "application/json; charset=utf-8");
	res.writeHead(status);
	res.end(JSON.stringify(body));
}

/** A callback's headers, lower-cased, single-valued (a repeated header's values joined by ", "). */
/** The JSON parser's `verify` hook: keeps the raw body of a provider callback (the parsed one cannot be re-signed). */
function keepCallbackBody(req: Req, _res: ServerResponse, buf: Buffer): void {
	if (/\/webhooks\//.test(req.originalUrl ?? req.url ?? "")) req.rawBody = buf;
}

function callbackHeaders(req: Req): Record<string, string> {
	const out: Record<string, string> = {};
	for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
	return out;
}

/** A percent-encoded header value, or the value as sent when it is not valid percent-encoding. */
function safeDecode(v: string): string {
	try {
		return decodeURIComponent(v);
	} catch {
		return v;
	}
}

function headerRequestId(req: Req): string | undefined {
	const h = req.headers["x-request-id"];
	return typeof h === "string" && REQUEST_ID.test(h) ? h : undefined;
}

export default apiService;

/**
 * renderer: documents as PDFs. Over HTTP a client renders a document from data or from a registered record
 * (POST /documents), reads its metadata and streams its PDF; from the queue, the renderer takes one case per
 * cases.dispatch message, renders (or reuses) its document and hands it on with cases.rendered.
 *
 * The logic (checks, content hash, render-once, storage) lives in lib/render/documents.ts; this file wires it to
 * the ports (documents collection, object store, queues), the PDF engine (one per engine name per process,
 * started on the first document, closed when the service stops: lib/render/engines.ts), logs and metrics.
 */
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { getPlatform } from "../lib/platform.ts";
import { withLogContext } from "../lib/log.ts";
import { dbMixin, type DbMixinThis } from "../mixins/db.mixin.ts";
import { PermanentError } from "../lib/queues/types.ts";
import { queuesMixin, type QueueBinding, type QueueService } from "../mixins/queues.mixin.ts";
import { QUEUES } from "../config/queues.ts";
import { badRequest, notFound, unauthorized } from "../lib/api/errors.ts";
import type { Caller } from "../lib/api/auth.ts";
import type { RenderedCase } from "../lib/delivery/notifier.ts";
import { readScope } from "../lib/api/scope.ts";
import { ObjectNotFoundError } from "../lib/objects/types.ts";
import { templates } from "../lib/render/templates.ts";
import type { EngineName } from "../lib/render/engine.ts";
import { acquireEngine, engineOptions, releaseEngines } from "../lib/render/engines.ts";
import { Metrics } from "../lib/metrics.ts";
import {
	DOCUMENT_INDEXES,
	DocumentMaker,
	documentFileName,
	isPermanentError,
	type ClientRenderSettings,
	type DocumentDoc,
	type DocumentRequest,
	type Lookups,
	type Produced,
	type RegistryRecord
} from "../lib/render/documents.ts";

/** The message a scheduler puts on cases.dispatch: one document for one recipient. */
export interface CaseDispatch {
	caseId: string;
	clientId: string;
	template: string;
	language?: string;
	recordId?: string;
	data?: Record<string, unknown>;
}

/** The message the renderer puts on cases.rendered (key `${caseId}:rendered`): the notifier's RenderedCase. */
export type CaseRendered = RenderedCase;

/** What a client sees of a document. */
export interface DocumentView {
	id: string;
	clientId: string;
	template: string;
	language: string;
	pages: number;
	bytes: number;
	/** signed link to the PDF, valid for DOCUMENT_LINK_TTL_S */
	url: string;
	createdAt: Date;
	reused?: boolean;
	caseId?: string;
	recordId?: string;
}

/** Counters of this service instance (the `stats` action; Prometheus has the same as metrics). */
export interface RendererStats {
	/** documents stored by this instance (rendered and inserted) */
	rendered: number;
	/** requests answered with an already stored document */
	reused: number;
	/** engine runs, per engine (a lost insert race still counts as a run) */
	engineRuns: Partial<Record<EngineName, number>>;
	/** failures, permanent (bad input) or not */
	failed: { permanent: number; transient: number };
	byTemplate: Record<string, { rendered: number; reused: number }>;
}

interface Own {
	maker: DocumentMaker;
	stats: RendererStats;
	/** the key the shared engines know this service instance by */
	engineOwner: object;
	/** Prometheus metrics (no-ops when metrics are off) */
	metrics: Metrics;
}
interface Methods {
	produce(req: DocumentRequest, lookups: Lookups, caseId?: string): Promise<Produced>;
	lookups(call: Caller_): Lookups;
	view(doc: DocumentDoc, reused?: boolean): Promise<DocumentView>;
	clientOf(ctx: Context): string;
}
type Caller_ = (action: string, params: Record<string, unknown>) => Promise<unknown>;
type Self = QueueService<Own & Methods & DbMixinThis>;

const CASE_FIELDS = ["caseId", "clientId", "template"] as const;

/** The fields of a cases.dispatch message, or a 400 naming what is wrong (a permanent failure). */
function caseOf(payload: unknown): CaseDispatch {
	if (typeof payload !== "object" || payload === null || Array.isArray(payload)) throw badRequest("cases.dispatch message must be an object");
	const p = payload as Record<string, unknown>;
	const missing = CASE_FIELDS.filter((f) => typeof p[f] !== "string" || !p[f]);
	if (missing.length) throw badRequest(`cases.dispatch message lacks ${missing.join(", ")}`, missing.map((field) => ({ field, message: "required string" })));
	if (p.language !== undefined && typeof p.language !== "string") throw badRequest("cases.dispatch language must be a string");
	if (p.recordId !== undefined && typeof p.recordId !== "string") throw badRequest("cases.dispatch recordId must be a string");
	if (p.data !== undefined && (typeof p.data !== "object" || p.data === null || Array.isArray(p.data))) throw badRequest("cases.dispatch data must be an object");
	return p as unknown as CaseDispatch;
}

type Schema = ServiceSchema<ServiceSettingSchema, Record<string, never>, Record<string, never>, Self> & { queues: Record<string, QueueBinding<Self>> };

const rendererService: Schema = {
	name: "renderer",
	mixins: [dbMixin("documents", { indexes: DOCUMENT_INDEXES }), queuesMixin],

	queues: {
		[QUEUES.casesDispatch]: {
			// one case at a time per slot; the engine's tabs/workers are sized to the same number
			concurrency: 1,
			async handler(payload, info) {
				let c: CaseDispatch | undefined;
				try {
					c = caseOf(payload);
					const job = c;
					await withLogContext({ caseId: job.caseId, clientId: job.clientId }, async () => {
						const produced = await this.produce(
							{ clientId: job.clientId, caseId: job.caseId, template: job.template, language: job.language, recordId: job.recordId, data: job.data },
							this.lookups((action, params) => this.broker.call(action, params)),
							job.caseId
						);
						const d = produced.doc;
						const out: CaseRendered = { caseId: job.caseId, clientId: job.clientId, documentId: d._id, key: d.key, pages: d.pages, bytes: d.bytes, template: d.template, language: d.language };
						await this.enqueue(QUEUES.casesRendered, out, { key: `${job.caseId}:rendered` });
					});
				} catch (err) {
					// a permanent failure (bad template, language, fields, record) goes to the dead-letter queue at once,
					// where operators see it with this error; anything else is retried with growing delays
					const e = err as { message?: string; type?: unknown };
					const permanent = isPermanentError(err);
					const caseId = c?.caseId ?? (payload as { caseId?: unknown } | null)?.caseId;
					const fields = { caseId, template: c?.template, code: e.type, error: e.message, permanent, attempt: info.attempt };
					if (permanent) {
						this.logger.error(fields, "case cannot be rendered: bad input; dead-lettered");
						throw new PermanentError(e.message ?? "bad case", { cause: err });
					}
					this.logger.warn(fields, "case failed to render; it will be retried");
					throw err;
				}
			}
		}
	},

	actions: {
		/** POST /documents: a document from data or from a registered record. */
		render: {
			params: {
				template: { type: "string", min: 1, max: 64 },
				language: { type: "string", optional: true, max: 35 },
				data: { type: "object", optional: true },
				recordId: { type: "string", optional: true, min: 1, max: 200 }
			},
			async handler(this: Self, ctx: Context<{ template: string; language?: string; data?: Record<string, unknown>; recordId?: string }>): Promise<DocumentView> {
				const clientId = this.clientOf(ctx);
				const p = ctx.params;
				const produced = await this.produce(
					{ clientId, template: p.template, language: p.language, data: p.data, recordId: p.recordId },
					this.lookups((action, params) => ctx.call(action, params))
				);
				(ctx.meta as Record<string, unknown>).$location = `/api/v1/documents/${produced.doc._id}`;
				return this.view(produced.doc, produced.reused);
			}
		},

		/** GET /documents?recordId=&template=&limit=&offset= (newest first; operators: &clientId=, all clients when absent). */
		list: {
			params: {
				recordId: { type: "string", optional: true, max: 200 },
				template: { type: "string", optional: true, max: 64 },
				clientId: { type: "string", optional: true, max: 64, description: "operators: one client's documents (all clients when absent)" },
				limit: { type: "number", convert: true, optional: true, min: 1, max: 200 },
				offset: { type: "number", convert: true, optional: true, min: 0 }
			},
			async handler(this: Self, ctx: Context<{ recordId?: string; template?: string; clientId?: string; limit?: number; offset?: number }>) {
				const p = ctx.params;
				const scope = readScope(ctx, p.clientId);
				const query: Record<string, unknown> = {};
				if (scope) query.clientId = scope;
				if (p.recordId) query.recordId = p.recordId;
				if (p.template) query.template = p.template;
				const limit = p.limit ?? 50;
				const offset = p.offset ?? 0;
				const [rows, total] = await Promise.all([this.adapter.find({ query, sort: "-createdAt", limit, offset }), this.adapter.count({ query })]);
				return { total, limit, offset, items: await Promise.all((rows as DocumentDoc[]).map((d) => this.view(d))) };
			}
		},

		/** GET /documents/:id: a document's metadata and a fresh link. */
		document: {
			params: { id: { type: "string", min: 1, max: 100 }, clientId: { type: "string", optional: true, max: 64, description: "operators: the document's client (any when absent)" } },
			async handler(this: Self, ctx: Context<{ id: string; clientId?: string }>): Promise<DocumentView> {
				return this.view(await this.maker.find(readScope(ctx, ctx.params.clientId), ctx.params.id));
			}
		},

		/** GET /documents/:id/pdf: the PDF, streamed from the object store. */
		pdf: {
			params: { id: { type: "string", min: 1, max: 100 }, clientId: { type: "string", optional: true, max: 64, description: "operators: the document's client (any when absent)" } },
			async handler(this: Self, ctx: Context<{ id: string; clientId?: string }>) {
				const doc = await this.maker.find(readScope(ctx, ctx.params.clientId), ctx.params.id);
				const { objects } = getPlatform();
				const info = await objects.stat(doc.key);
				if (!info) throw notFound("document PDF", doc._id);
				const meta = ctx.meta as Record<string, unknown>;
				meta.$responseType = "application/pdf";
				meta.$responseHeaders = { "Content-Length": String(info.size), "Content-Disposition": `inline; filename="${documentFileName(doc)}"` };
				try {
					return await objects.get(doc.key);
				} catch (err) {
					if (err instanceof ObjectNotFoundError) throw notFound("document PDF", doc._id);
					throw err;
				}
			}
		},

		/** Internal: this instance's counters (tests, operators). */
		stats: {
			visibility: "public",
			handler(this: Self): RendererStats {
				return structuredClone(this.stats);
			}
		}
	},

	methods: {
		clientOf(this: Self, ctx: Context): string {
			const auth = (ctx.meta as { auth?: Caller }).auth;
			if (auth?.kind !== "client") throw unauthorized("documents belong to clients: send X-API-Key");
			return auth.clientId;
		},

		lookups(this: Self, call: Caller_): Lookups {
			return {
				clientSettings: async (id) => (await call("clients.settings", { id })) as ClientRenderSettings | null,
				getRecord: async (clientId, id) => (await call("registry.getRecord", { clientId, id })) as RegistryRecord
			};
		},

		/** Produces a document, then logs (no personal data), counts and measures it. */
		async produce(this: Self, req: DocumentRequest, lookups: Lookups, caseId?: string): Promise<Produced> {
			let produced: Produced;
			try {
				produced = await this.maker.produce(req, lookups);
			} catch (err) {
				const permanent = isPermanentError(err);
				if (permanent) this.stats.failed.permanent++;
				else this.stats.failed.transient++;
				this.metrics.inc("paperwork_documents_total", { template: String(req.template), result: permanent ? "rejected" : "failed" });
				if (!permanent) this.logger.warn({ caseId, template: req.template, language: req.language, err }, "document failed to render");
				throw err;
			}
			const d = produced.doc;
			const s = this.stats;
			const t = (s.byTemplate[d.template] ??= { rendered: 0, reused: 0 });
			if (produced.rendered) s.engineRuns[produced.engine] = (s.engineRuns[produced.engine] ?? 0) + 1;
			if (produced.reused) {
				s.reused++;
				t.reused++;
			} else {
				s.rendered++;
				t.rendered++;
			}
			this.metrics.inc("paperwork_documents_total", { template: d.template, result: produced.reused ? "reused" : "rendered" });
			if (produced.rendered) this.metrics.observe("paperwork_render_seconds", produced.renderMs / 1000, { engine: produced.engine });
			this.logger.info(
				{ caseId, documentId: d._id, template: d.template, language: d.language, pages: d.pages, bytes: d.bytes, ms: Math.round(produced.ms), renderMs: Math.round(produced.renderMs), engine: produced.engine, reused: produced.reused },
				produced.reused ? "document reused" : "document rendered"
			);
			return produced;
		},

		async view(this: Self, doc: DocumentDoc, reused?: boolean): Promise<DocumentView> {
			const { objects, config } = getPlatform();
			return {
				id: doc._id,
				clientId: doc.clientId,
				template: doc.template,
				language: doc.language,
				pages: doc.pages,
				bytes: doc.bytes,
				url: await objects.link(doc.key, config.render.linkTtlSeconds),
				createdAt: doc.createdAt,
				...(reused !== undefined ? { reused } : {}),
				...(doc.caseId ? { caseId: doc.caseId } : {}),
				...(doc.recordId ? { recordId: doc.recordId } : {})
			};
		}
	},

	created(this: Self) {
		this.stats = { rendered: 0, reused: 0, engineRuns: {}, failed: { permanent: 0, transient: 0 }, byTemplate: {} };
		this.engineOwner = {};
	},

	async started(this: Self) {
		const { config, objects } = getPlatform();
		const owner = this.engineOwner;
		const options = engineOptions(config.render);
		this.maker = new DocumentMaker({
			store: this.adapter,
			objects,
			templates,
			engine: (name) => acquireEngine(owner, name, options),
			configuredEngine: config.render.engine,
			timeoutMs: config.render.timeoutMs
		});
		// the cases.dispatch consumer runs as many cases at once as the engine has tabs/workers
		const binding = (this.schema as { queues?: Record<string, { concurrency?: number }> }).queues?.[QUEUES.casesDispatch];
		if (binding) binding.concurrency = config.render.concurrency;
		this.metrics = new Metrics(this.broker);
	},

	async stopped(this: Self) {
		// the queue consumers have stopped (queuesMixin stops them first) and in-flight renders finish in close()
		await releaseEngines(this.engineOwner);
	}
};

export default rendererService as ServiceSchema;

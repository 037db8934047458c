/**
 * intake: documents in (uploads and links through the api; the S3 inbox, IMAP mailboxes and an SMTP listener are
 * further sources on the same path, lib/intake/accept.ts) and the client's view of them: a document, its original,
 * its text, a searchable list, stats, corrections. It also tells the client's webhook when a document is finished
 * (queue intake.notify). The reading itself is the reader's (queue intake.received).
 */
import type { Readable } from "node:stream";
import type { Context } from "moleculer";
import { queuesMixin, type QueueServiceSchema, type QueueService } from "../mixins/queues.mixin.ts";
import { getPlatform } from "../lib/platform.ts";
import { QUEUES } from "../config/queues.ts";
import { badRequest, conflict, notFound } from "../lib/api/errors.ts";
import { clientOf, clientSettings } from "../lib/ingest/context.ts";
import { inScope, readScope } from "../lib/api/scope.ts";
import { audit } from "../lib/audit/index.ts";
import type { RequestInfo } from "../lib/ingest/receive.ts";
import { fileStream } from "../lib/ingest/receive.ts";
import { acceptDocument, asHttpError } from "../lib/intake/accept.ts";
import { fetchUrl } from "../lib/intake/fetch-url.ts";
import { intakeStore, indexDocument, INTAKE_INDEX, listQuery, searchFieldsOf } from "../lib/intake/context.ts";
import { INTAKE_STATUSES, intakeView, type FieldValue, type IntakeDoc, type IntakeStatus } from "../lib/intake/documents.ts";
import { deliver, deliveryIdsOf, eventOf } from "../lib/intake/notify.ts";
import { checkFields } from "../lib/fields/extract.ts";
import type { Caller } from "../lib/api/auth.ts";
import { ObjectNotFoundError } from "../lib/objects/types.ts";
import { Metrics } from "../lib/metrics.ts";
import { recordOversized, takeMail, type MailClient, type MailDeps, type MailSummary } from "../lib/intake/mail.ts";
import { startSmtpListener, ImapMailbox } from "../lib/intake/mail-sources.ts";
import { DOC_TYPES, type DocType } from "../lib/fields/doctype.ts";

interface Own {
	mailDeps(): Promise<MailDeps>;
	smtp?: { port: number; close(): Promise<void> };
	mailboxes?: ImapMailbox[];
	clientsCache?: { at: number; clients: MailClient[] };
	metrics: Metrics;
	/** puts a stored document on intake.received and counts it */
	received(id: string, source: string, kind: string): Promise<void>;
}
type Self = QueueService<Own>;

/** how long the list of clients' intake addresses is kept before it is read again */
const CLIENTS_TTL_MS = 30_000;

/** A document the caller may see: a client's own, or any for an operator; 404 otherwise, as for one that does not exist. */
async function ownDocument(ctx: Context, id: string): Promise<IntakeDoc> {
	const scope = readScope(ctx, undefined);
	const doc = await (await intakeStore()).get(id);
	if (!doc || !inScope(scope, doc.clientId)) throw notFound("document", id);
	return doc;
}

const TYPE = { type: "string", optional: true, max: 40, pattern: /^[a-z][a-z0-9_-]*$/ };
/** a document's type as the client gives it (left out: detected from the text); any other is a 400 that names the types */
const GIVEN_TYPE = {
	type: "enum",
	values: DOC_TYPES,
	optional: true,
	description: `${DOC_TYPES.join(", ")}; left out: detected from the text`,
	messages: { enumValue: `type must be one of ${DOC_TYPES.join(", ")}, or left out to have it detected from the text` }
};
const REFERENCE = { type: "string", optional: true, max: 200 };

const intake: QueueServiceSchema<Own> = {
	name: "intake",
	mixins: [queuesMixin],

	actions: {
		/** POST /intake: the file (raw body or multipart "file"), or JSON {url}; ?type=&reference= */
		submit: {
			params: { type: GIVEN_TYPE, reference: REFERENCE, filename: { type: "string", optional: true, max: 200 }, url: { type: "string", optional: true, max: 2048 } },
			async handler(this: Self, ctx: Context<{ type?: DocType; reference?: string; filename?: string; url?: string }>) {
				const clientId = clientOf(ctx);
				const stream = (ctx as unknown as { stream?: Readable }).stream;
				if (!stream) throw badRequest('send the document as the request body, as the multipart field "file", or JSON {"url": ...}');
				const platform = getPlatform();
				const store = await intakeStore();
				const request = ((ctx.meta as { $request?: RequestInfo }).$request ?? {}) as RequestInfo;
				const { type, reference } = ctx.params;
				let source: { body: Readable; filename?: string; url?: string; source: "upload" | "link" };
				// a JSON body ({url, type, reference}) is parsed by the gateway into the params
				if (/^application\/json/i.test(request.contentType ?? "")) {
					if (!ctx.params.url) throw badRequest('the JSON body needs "url": the link of the document');
					const cfg = platform.config.intake;
					try {
						const got = await fetchUrl(ctx.params.url, { allowPrivate: cfg.allowPrivateUrls, timeoutMs: cfg.fetchTimeoutMs });
						source = { body: got.body, filename: got.filename, url: got.finalUrl, source: "link" };
					} catch (err) {
						throw asHttpError(err);
					}
				} else {
					const file = await fileStream(stream, request);
					source = { body: file.stream, filename: ctx.params.filename ?? file.name, source: "upload" };
				}
				const doc = await acceptDocument(
					{ clientId, body: source.body, filename: source.filename, source: source.source, type, reference, url: source.url },
					{ platform, store, received: (id, kind) => this.received(id, source.source, kind), log: (level, obj, msg) => this.logger[level](obj, msg) }
				);
				this.logger.info({ intakeId: doc._id, clientId, source: doc.source, kind: doc.file.kind, pages: doc.file.pages, size: doc.file.size }, "document received");
				return { id: doc._id, status: doc.status };
			}
		},

		/** Internal (ingest's inbox scan): a PDF or image dropped under inbox/<clientId>/ becomes a document. */
		takeObject: {
			visibility: "public",
			params: { clientId: { type: "string" }, key: { type: "string" }, id: { type: "string", pattern: /^[a-f0-9]{24}$/ }, name: { type: "string", max: 200 } },
			async handler(this: Self, ctx: Context<{ clientId: string; key: string; id: string; name: string }>) {
				const platform = getPlatform();
				const store = await intakeStore();
				if (await store.get(ctx.params.id)) return { id: ctx.params.id, status: "TAKEN" };
				const doc = await acceptDocument(
					{ id: ctx.params.id, clientId: ctx.params.clientId, body: await platform.objects.get(ctx.params.key), filename: ctx.params.name, source: "inbox" },
					{ platform, store, received: (id, kind) => this.received(id, "inbox", kind), log: (level, obj, msg) => this.logger[level](obj, msg) }
				);
				return { id: doc._id, status: doc.status };
			}
		},

		/** GET /intake/:id */
		get: {
			params: { id: { type: "string" } },
			async handler(ctx: Context<{ id: string }>) {
				return intakeView(await ownDocument(ctx, ctx.params.id));
			}
		},

		/** GET /intake/:id/deliveries: every try to tell the client's webhook about the document, newest first */
		deliveries: {
			params: { id: { type: "string" } },
			async handler(ctx: Context<{ id: string }>) {
				const doc = await ownDocument(ctx, ctx.params.id);
				const rows = await (await intakeStore()).deliveries.find({ query: { deliveryId: { $in: deliveryIdsOf(doc._id) } }, sort: "-at", limit: 200 });
				const items = rows.map((r) => ({ deliveryId: String(r.deliveryId), event: String(r.event), host: String(r.host), status: typeof r.status === "number" ? r.status : null, ok: r.ok === true, error: typeof r.error === "string" ? r.error : null, at: r.at as Date }));
				return { total: items.length, items };
			}
		},

		/**
		 * POST /intake/:id/redeliver (operators): the document's event goes to its client's webhook again, under the same
		 * delivery ID (X-Paperwork-Delivery), even if it was delivered before; audited
		 */
		redeliver: {
			params: { id: { type: "string" } },
			async handler(this: Self, ctx: Context<{ id: string }>) {
				const doc = await ownDocument(ctx, ctx.params.id);
				const event = eventOf(doc.status);
				if (!event) throw conflict(`document ${doc._id} is ${doc.status}: its event is sent once it is finished`);
				const client = await clientSettings(this.broker, doc.clientId);
				if (!client?.webhook) throw conflict(`client ${doc.clientId} has no webhook to deliver to; set one in its settings first`);
				await this.enqueue(QUEUES.intakeNotify, { id: doc._id, status: doc.status, force: true }, { key: `${doc._id}:${doc.status}:redeliver:${Date.now()}` });
				await audit(ctx, { action: "intake.redeliver", target: `intake:${doc._id}`, items: [doc._id], count: 1, clientId: doc.clientId, details: { event } });
				return { queued: true, event, deliveryId: `${doc._id}:${doc.status}` };
			}
		},

		/** GET /intake/:id/file: the original as received */
		file: {
			params: { id: { type: "string" } },
			async handler(ctx: Context<{ id: string }>) {
				const doc = await ownDocument(ctx, ctx.params.id);
				const meta = ctx.meta as Record<string, unknown>;
				meta.$responseType = doc.file.mime;
				meta.$responseHeaders = { "Content-Length": String(doc.file.size), "Content-Disposition": `inline; filename="${doc.file.name.replace(/"/g, "")}"` };
				return getPlatform().objects.get(doc.file.key);
			}
		},

		/** GET /intake/:id/text: the text of every page (form feed between pages) */
		text: {
			params: { id: { type: "string" } },
			async handler(ctx: Context<{ id: string }>) {
				const doc = await ownDocument(ctx, ctx.params.id);
				const { text, textKey } = doc;
				if (typeof text !== "string" && !textKey) throw conflict(`document ${doc._id} is ${doc.status}: its text is not read yet`);
				(ctx.meta as Record<string, unknown>).$responseType = "text/plain; charset=utf-8";
				// a short text is kept on the document, a longer one as an object
				if (!textKey) return text;
				try {
					return await getPlatform().objects.get(textKey);
				} catch (err) {
					if (err instanceof ObjectNotFoundError) throw notFound("text of document", doc._id);
					throw err;
				}
			}
		},

		/** GET /intake?q=&type=&status=&seller=&taxId=&from=&to=&minTotal=&maxTotal=&envelope=&limit=&offset= */
		list: {
			params: {
				q: { type: "string", optional: true, max: 200 },
				type: TYPE,
				status: { type: "enum", values: INTAKE_STATUSES, optional: true },
				seller: { type: "string", optional: true, max: 200 },
				taxId: { type: "string", optional: true, max: 40 },
				from: { type: "string", optional: true, pattern: /^\d{4}-\d{2}-\d{2}/ },
				to: { type: "string", optional: true, pattern: /^\d{4}-\d{2}-\d{2}/ },
				minTotal: { type: "number", convert: true, optional: true },
				maxTotal: { type: "number", convert: true, optional: true },
				envelope: { type: "string", optional: true, max: 64 },
				limit: { type: "number", convert: true, optional: true, min: 1, max: 200 },
				offset: { type: "number", convert: true, optional: true, min: 0 },
				clientId: { type: "string", optional: true, max: 100 }
			},
			async handler(ctx: Context<{ q?: string; type?: string; status?: IntakeStatus; seller?: string; taxId?: string; from?: string; to?: string; minTotal?: number; maxTotal?: number; envelope?: string; limit?: number; offset?: number; clientId?: string }>) {
				// a client sees its own documents; an operator every client's, or one client's with ?clientId=
				const clientId = readScope(ctx, ctx.params.clientId);
				const store = await intakeStore();
				const query = listQuery(ctx.params, clientId);
				const { limit = 20, offset = 0 } = query;
				const res = await getPlatform().search.search(INTAKE_INDEX, query);
				const docs = (await store.docs.findByIds(res.hits.map((h) => h.id))) as IntakeDoc[];
				const byId = new Map(docs.map((d) => [d._id, d]));
				const items = res.hits.map((h) => byId.get(h.id)).filter((d): d is IntakeDoc => d !== undefined && inScope(clientId, d.clientId)).map(intakeView);
				return { total: res.total, limit, offset, items };
			}
		},

		/**
		 * GET /intake/stats: documents per status, type and page source, and the mean OCR confidence; a client's own,
		 * or for an operator every client's (one client's with ?clientId=)
		 */
		stats: {
			params: { clientId: { type: "string", optional: true, max: 100 } },
			async handler(ctx: Context<{ clientId?: string }>) {
				const clientId = readScope(ctx, ctx.params.clientId);
				const scope: Record<string, string> = clientId ? { clientId } : {};
				const store = await intakeStore();
				const byStatus: Record<string, number> = {};
				await Promise.all(INTAKE_STATUSES.map(async (s) => (byStatus[s] = await store.docs.count({ query: { ...scope, status: s } }))));
				const pages = { layer: 0, ocr: 0, none: 0 };
				const byType: Record<string, number> = {};
				let confSum = 0;
				let confN = 0;
				const page = 1000;
				for (let offset = 0; ; offset += page) {
					const docs = (await store.docs.find({ query: scope, sort: "_id", limit: page, offset })) as IntakeDoc[];
					for (const d of docs) {
						if (d.type) byType[d.type] = (byType[d.type] ?? 0) + 1;
						for (const pg of d.pages ?? []) {
							pages[pg.source]++;
							if (pg.confidence !== undefined) {
								confSum += pg.confidence;
								confN++;
							}
						}
					}
					if (docs.length < page) break;
				}
				return { total: Object.values(byStatus).reduce((a, b) => a + b, 0), byStatus, byType, pages, meanOcrConfidence: confN ? Math.round((confSum / confN) * 10) / 10 : null };
			}
		},

		/** PATCH /intake/:id {fields: {name: value}}: a person's corrections (old values kept); the document moves on to COMPLETED */
		correct: {
			params: { id: { type: "string" }, fields: { type: "record", key: { type: "string", pattern: /^[a-z][a-z0-9_]{0,40}$/ }, value: { type: "any" } } },
			async handler(this: Self, ctx: Context<{ id: string; fields: Record<string, unknown> }>) {
				const doc = await ownDocument(ctx, ctx.params.id);
				if (doc.status !== "NEEDS_REVIEW" && doc.status !== "COMPLETED") throw conflict(`document ${doc._id} is ${doc.status}; fields can be corrected once it is read (NEEDS_REVIEW or COMPLETED)`);
				const entries = Object.entries(ctx.params.fields);
				if (!entries.length) throw badRequest("fields is empty: send {\"fields\": {\"total\": 1234.5}}");
				const auth = (ctx.meta as { auth?: Caller }).auth;
				const by = auth?.kind === "client" ? `client:${auth.clientId}${auth.keyId ? `/key:${auth.keyId}` : ""}` : auth?.kind === "operator" ? `operator:${auth.sub}` : "unknown";
				const at = new Date();
				const fields: Record<string, FieldValue> = { ...(doc.fields ?? {}) };
				const corrections = [...(doc.corrections ?? [])];
				for (const [name, value] of entries) {
					if (value !== null && typeof value !== "string" && typeof value !== "number") throw badRequest(`fields.${name} must be a string, a number or null`);
					corrections.push({ field: name, old: fields[name] ?? null, value, by, at });
					fields[name] = { value, source: "manual", confidence: 1 };
				}
				const checks = checkFields(fields, doc.type ?? "other").filter((c) => c.code !== "bad_check_digit" || fields[c.field ?? ""]?.source !== "manual");
				const store = await intakeStore();
				const search = searchFieldsOf({ ...doc, fields }, "");
				const text = (doc as unknown as { searchText?: string }).searchText ?? "";
				const moved = await store.transition(doc._id, [doc.status], "COMPLETED", { fields, corrections, checks, ...search, searchText: `${text}${search.searchText}`, ...(doc.status === "NEEDS_REVIEW" ? { finishedAt: at } : {}) });
				if (!moved) throw conflict(`document ${doc._id} changed meanwhile; read it again`);
				await indexDocument(store, doc._id);
				await audit(ctx, { action: "intake.correct", target: `intake:${doc._id}`, items: [doc._id], count: entries.length, clientId: doc.clientId, details: { fields: entries.map(([name]) => name) } });
				if (doc.status === "NEEDS_REVIEW") await this.enqueue(QUEUES.intakeNotify, { id: doc._id, status: "COMPLETED" }, { key: `${doc._id}:COMPLETED:${at.getTime()}` });
				return intakeView((await store.get(doc._id)) as IntakeDoc);
			}
		}
	},

	created(this: Self) {
		this.metrics = new Metrics(this.broker);
	},

	methods: {
		async received(this: Self, id: string, source: string, kind: string): Promise<void> {
			await this.enqueue(QUEUES.intakeReceived, { id }, { key: `${id}:received` });
			this.metrics.inc("paperwork_intake_received_total", { source, kind });
		},

		/** What takeMail needs: the ports, the mails record, and the clients' intake addresses (cached 30 s). */
		async mailDeps(this: Self): Promise<MailDeps> {
			const platform = getPlatform();
			const mails = platform.store.adapter("intake_mails");
			await mails.connect();
			return {
				platform,
				store: await intakeStore(),
				mails,
				received: (id, kind) => this.received(id, "email", kind),
				clients: async (fresh) => {
					if (!fresh && this.clientsCache && Date.now() - this.clientsCache.at < CLIENTS_TTL_MS) return this.clientsCache.clients;
					const clients: MailClient[] = [];
					for (let offset = 0; ; offset += 500) {
						const page = (await this.broker.call("clients.list", { limit: 500, offset })) as { items: { id: string; intake?: MailClient["intake"] }[] };
						clients.push(...page.items.filter((c) => c.intake?.addresses?.length).map((c) => ({ id: c.id, intake: c.intake })));
						if (page.items.length < 500) break;
					}
					this.clientsCache = { at: Date.now(), clients };
					return clients;
				},
				log: (level, obj, msg) => this.logger[level](obj, msg)
			};
		}
	},

	async started(this: Self) {
		const { config } = getPlatform();
		const handle = async (raw: Buffer, rcpts: string[] | null) => takeMail(raw, rcpts, await this.mailDeps());
		const log = (level: "info" | "warn", obj: Record<string, unknown>, msg: string) => this.logger[level](obj, msg);
		if (config.intake.smtp) {
			this.smtp = await startSmtpListener({ ...config.intake.smtp, maxBytes: config.intake.mailMaxBytes, handle, log });
			this.logger.info({ port: this.smtp.port }, "intake SMTP listener started");
		}
		const tooLarge = async (mail: MailSummary) => recordOversized(mail, config.intake.mailMaxBytes, await this.mailDeps());
		this.mailboxes = config.intake.imapUrls.map((u) => new ImapMailbox(u, { pollMs: config.intake.imapPollMs, maxBytes: config.intake.mailMaxBytes, handle, tooLarge, log }));
		for (const m of this.mailboxes) {
			// a mailbox that cannot be reached now is tried again by its poll
			m.start().catch((err: Error) => this.logger.warn({ mailbox: m.label, err: err.message }, "IMAP mailbox not reachable; will retry"));
		}
	},

	async stopped(this: Self) {
		await this.smtp?.close();
		await Promise.all((this.mailboxes ?? []).map((m) => m.close()));
	},

	queues: {
		[QUEUES.intakeNotify]: {
			concurrency: 4,
			async handler(this: Self, payload: unknown) {
				const { id, status, force } = payload as { id: string; status: IntakeStatus; force?: boolean };
				const store = await intakeStore();
				const doc = await store.get(id);
				const event = eventOf(status);
				if (!doc || !event) return;
				const client = await clientSettings(this.broker, doc.clientId);
				if (!client?.webhook) return;
				const { config } = getPlatform();
				const { deliveries } = store;
				// a reader that died after finishing re-sends this message: an event delivered once is not sent again
				// (unless an operator asked for it again)
				if (!force && (await deliveries.findOne({ deliveryId: `${id}:${status}`, ok: true }))) return;
				const view = intakeView(doc);
				await deliver(client.webhook.url, client.webhook.secret, event, `${id}:${status}`, { document: { ...view, status } , links: { document: `${config.http.publicUrl}/api/v1/intake/${id}`, text: `${config.http.publicUrl}/api/v1/intake/${id}/text` } }, { deliveries, timeoutMs: config.ingest.webhookTimeoutMs });
			}
		}
	}
};

export default intake;

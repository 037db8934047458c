/**
 * notifier: delivers rendered cases. It consumes cases.rendered (one case per message) and sends each case on the
 * first channel of its client's plan; provider status callbacks (the webhooks, and the sandbox's simulated ones
 * through the same entry) move it on; a sweep every DELIVERY_SWEEP_MS moves cases whose attempt got no "delivered"
 * in time. It also answers the case routes (GET /cases, /cases/:id), courier sheets and the sandbox outbox.
 *
 * The logic lives in lib/delivery/ (notifier.ts: the fallback state machine and "never twice"; sandbox.ts;
 * courier.ts); this file wires it to the ports, the providers (lib/delivery/wiring.ts), logs and metrics.
 */
import { Readable } from "node:stream";
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { getPlatform } from "../lib/platform.ts";
import { dbMixin, type DbMixinThis } from "../mixins/db.mixin.ts";
import { PermanentError } from "../lib/queues/types.ts";
import { mapWindow } from "../lib/queues/common.ts";
import { queuesMixin, type QueueBinding, type QueueService } from "../mixins/queues.mixin.ts";
import { QUEUES } from "../config/queues.ts";
import { badRequest, httpError, notFound, unsupportedMediaType } from "../lib/api/errors.ts";
import type { Caller } from "../lib/api/auth.ts";
import { Metrics } from "../lib/metrics.ts";
import type { ClientDoc } from "../lib/clients.ts";
import type { CallbackRequest, Channel, ClientChannelSettings } from "../lib/delivery/provider.ts";
import { answerWebhook, fromWire, outcomeOf, readBody, type WebhookCall, type WireCallback, type WireOutcome } from "../lib/delivery/callbacks.ts";
import { CHANNELS } from "../lib/delivery/provider.ts";
import { deliveryStore, INDEXES, type DeliveryStore } from "../lib/delivery/store.ts";
import { Deliverer, type RenderedCase } from "../lib/delivery/notifier.ts";
import { Sandbox, type OutboxEntry } from "../lib/delivery/sandbox.ts";
import { composeProviders, createAlertSink, type ComposedProviders } from "../lib/delivery/wiring.ts";
import { sharedServiceWindow } from "../lib/delivery/providers/whatsapp.ts";
import { nodesRunning } from "../lib/nodes.ts";
import { checkCourierRows, readCourierSheet } from "../lib/delivery/courier.ts";
import { dateIn, isDate } from "../lib/delivery/runs.ts";
import { CASE_STATUSES, type AlertSink, type AttemptDoc, type CaseDoc, type EventDoc } from "../lib/delivery/types.ts";
import { XlsxError } from "../lib/etl/xlsx.ts";

/** What a caller sees of a case. */
export interface CaseView {
	id: string;
	clientId: string;
	loanId: string;
	documentType: string;
	status: CaseDoc["status"];
	runId: string;
	runIds: string[];
	try: number;
	plan?: Channel[];
	channel?: Channel;
	documentId?: string;
	failure?: { code: string; reason: string };
	dueDate: string;
	createdAt: Date;
	updatedAt: Date;
	finishedAt?: Date;
}

/** An attempt as a caller sees it: `outcomeKnown` false while its provider's answer is unknown (never written, or no answer came after the request went out). */
export type AttemptView = Pick<AttemptDoc, "runId" | "try" | "channel" | "provider" | "providerMessageId" | "status" | "history" | "failure" | "sentAt" | "deliveredAt" | "timedOutAt" | "courier" | "createdAt"> & {
	id: string;
	outcomeKnown: boolean;
	/** while open: when the case moves on without a delivery */
	deadline?: Date;
};

export interface CaseDetail extends CaseView {
	attempts: AttemptView[];
	events: Pick<EventDoc, "attemptId" | "provider" | "status" | "at" | "receivedAt" | "applied" | "code" | "reason">[];
}

function attemptView(a: AttemptDoc): AttemptView {
	return {
		id: a._id,
		runId: a.runId,
		try: a.try,
		channel: a.channel,
		provider: a.provider,
		...(a.providerMessageId ? { providerMessageId: a.providerMessageId } : {}),
		status: a.status,
		history: a.history,
		...(a.failure ? { failure: a.failure } : {}),
		...(a.sentAt ? { sentAt: a.sentAt } : {}),
		...(a.deliveredAt ? { deliveredAt: a.deliveredAt } : {}),
		...(a.timedOutAt ? { timedOutAt: a.timedOutAt } : {}),
		...(a.courier ? { courier: a.courier } : {}),
		createdAt: a.createdAt,
		outcomeKnown: a.call === "answered",
		...(a.open ? { deadline: a.deadline } : {})
	};
}

interface Own {
	deliverer: Deliverer;
	ds: DeliveryStore;
	providers: ComposedProviders;
	sandbox: Sandbox;
	alerts: AlertSink;
	metrics: Metrics;
	sweepTimer?: NodeJS.Timeout;
	sweeping?: Promise<unknown>;
	/** per client, its delivery settings as read (or being read: cases in flight ask at once, one call answers them) */
	settingsCache: Map<string, { at: number; value: Promise<ClientChannelSettings | undefined> }>;
	openCircuits: Set<string>;
	/** the live notifier nodes the providers' rate limits are shared among now */
	rateShare: number;
}
interface Methods {
	handleCallback(provider: string, req: CallbackRequest): Promise<{ kind: "challenge"; body: string; contentType?: string } | { kind: "events"; applied: number; duplicate: number; unknown: number }>;
	clientSettings(clientId: string): Promise<ClientChannelSettings | undefined>;
	runSweep(): Promise<{ timedOut: number; resumed: number; mended: number }>;
	shareRates(): void;
}
type Self = QueueService<Own & Methods & DbMixinThis>;
type Schema = ServiceSchema<ServiceSettingSchema, Record<string, never>, Record<string, never>, Self> & { queues: Record<string, QueueBinding<Self>> };

/** The orders GET /cases offers: each is served by an index on (field, createdAt) in lib/delivery/store.ts. */
const CASE_SORTS = ["createdAt", "-createdAt", "status", "-status", "channel", "-channel"];

/** A case list's order: the field asked for, then creation time in the direction an index walks with it. */
function caseSort(sort = "-createdAt"): string[] {
	if (sort.endsWith("createdAt")) return [sort];
	return [sort, sort.startsWith("-") ? "createdAt" : "-createdAt"];
}
const COURIER_SHEET_LIMIT = 20 * 1024 * 1024;

/** The client whose cases a call may see: a client sees its own; operators and internal calls see all. */
function scopeOf(ctx: Context): string | undefined {
	const auth = (ctx.meta as { auth?: Caller }).auth;
	return auth?.kind === "client" ? auth.clientId : undefined;
}

function caseView(c: CaseDoc): CaseView {
	return {
		id: c._id,
		clientId: c.clientId,
		loanId: c.loanKey,
		documentType: c.documentType,
		status: c.status,
		runId: c.runId,
		runIds: c.runIds,
		try: c.try,
		...(c.plan ? { plan: c.plan } : {}),
		...(c.channel ? { channel: c.channel } : {}),
		...(c.documentId ? { documentId: c.documentId } : {}),
		...(c.failure ? { failure: c.failure } : {}),
		dueDate: c.dueDate,
		createdAt: c.createdAt,
		updatedAt: c.updatedAt,
		...(c.finishedAt ? { finishedAt: c.finishedAt } : {})
	};
}

/** A cases.rendered message, or a permanent failure naming what is wrong. */
function renderedOf(payload: unknown): RenderedCase {
	const p = (payload ?? {}) as Record<string, unknown>;
	for (const f of ["caseId", "clientId"]) if (typeof p[f] !== "string" || !p[f]) throw new PermanentError(`cases.rendered message lacks ${f}`);
	// documentId and key are empty only for a case without a document (a statement's SMS when no PDF was made)
	for (const f of ["documentId", "key"]) if (typeof p[f] !== "string") throw new PermanentError(`cases.rendered message lacks ${f}`);
	return p as unknown as RenderedCase;
}

const notifierService: Schema = {
	name: "notifier",
	mixins: [dbMixin("cases", { indexes: INDEXES.cases }), queuesMixin],

	queues: {
		[QUEUES.casesRendered]: {
			// sending is I/O: many cases at once per process; the store writes of the cases in flight are batched
			// (lib/delivery/store.ts), so the more cases in flight, the fewer transactions per case
			concurrency: 256,
			async handler(payload) {
				const msg = renderedOf(payload);
				await this.deliverer.onRendered(msg);
			}
		}
	},

	actions: {
		/** GET /cases/:id: the case with its attempts and every status event. */
		getCase: {
			params: { id: { type: "string", min: 1, max: 200 } },
			async handler(this: Self, ctx: Context<{ id: string }>): Promise<CaseDetail> {
				const clientId = scopeOf(ctx);
				const c = await this.ds.getCase<CaseDoc>(ctx.params.id);
				if (!c || (clientId && c.clientId !== clientId)) throw notFound("case", ctx.params.id);
				const attempts = (await this.ds.attempts.find({ query: { caseId: c._id }, sort: "createdAt" })) as AttemptDoc[];
				const events = (await this.ds.events.find({ query: { caseId: c._id }, sort: "receivedAt" })) as EventDoc[];
				return {
					...caseView(c),
					attempts: attempts.map(attemptView),
					events: events.map((e) => ({ attemptId: e.attemptId, provider: e.provider, status: e.status, at: e.at, receivedAt: e.receivedAt, applied: e.applied, ...(e.code ? { code: e.code } : {}), ...(e.reason ? { reason: e.reason } : {}) }))
				};
			}
		},

		/** GET /cases?status=&channel=&loan_id=&runId=&from=&to=&sort=&limit=&offset= (from/to: creation dates, inclusive; newest first by default). */
		listCases: {
			params: {
				status: { type: "enum", values: [...CASE_STATUSES], optional: true },
				channel: { type: "enum", values: [...CHANNELS], optional: true },
				loan_id: { type: "string", optional: true, max: 64 },
				runId: { type: "string", optional: true, max: 100 },
				from: { type: "string", optional: true, max: 10 },
				to: { type: "string", optional: true, max: 10 },
				sort: { type: "enum", values: CASE_SORTS, optional: true },
				limit: { type: "number", optional: true, convert: true, integer: true, min: 1, max: 1000 },
				offset: { type: "number", optional: true, convert: true, integer: true, min: 0 },
				clientId: { type: "string", optional: true, max: 100 }
			},
			async handler(this: Self, ctx: Context<{ status?: string; channel?: string; loan_id?: string; runId?: string; from?: string; to?: string; sort?: string; limit?: number; offset?: number; clientId?: string }>) {
				const p = ctx.params;
				const query: Record<string, unknown> = {};
				// a client sees its own cases (a clientId it sends is ignored); operators every client's, or one
				const clientId = scopeOf(ctx) ?? p.clientId;
				if (clientId) query.clientId = clientId;
				if (p.status) query.status = p.status;
				if (p.channel) query.channel = p.channel;
				if (p.loan_id) query.loanKey = p.loan_id;
				// the run that last picked the case (a retried case belongs to its latest run)
				if (p.runId) query.runId = p.runId;
				for (const k of ["from", "to"] as const) if (p[k] !== undefined && !isDate(p[k])) throw badRequest(`${k} must be a date (YYYY-MM-DD)`, [{ field: k, message: "YYYY-MM-DD" }]);
				const created: Record<string, Date> = {};
				if (p.from) created.$gte = new Date(`${p.from}T00:00:00.000Z`);
				if (p.to) created.$lt = new Date(Date.parse(`${p.to}T00:00:00.000Z`) + 86_400_000);
				if (Object.keys(created).length) query.createdAt = created;
				const limit = p.limit ?? 100;
				const offset = p.offset ?? 0;
				const [items, total] = await Promise.all([this.ds.cases.find({ query, sort: caseSort(p.sort), limit, offset }), this.ds.cases.count({ query })]);
				return { items: (items as CaseDoc[]).map(caseView), total, limit, offset };
			}
		},

		/**
		 * GET /webhooks/:provider: a provider's verification (raw body kept for its signature). POST callbacks come
		 * through the gateway's batcher (`api.webhook`, then `webhooks` below); this action answers one as well.
		 */
		webhook: {
			params: { provider: { type: "string", min: 1, max: 40 } },
			handler(this: Self, ctx: Context<Record<string, string>>) {
				return answerWebhook(ctx as unknown as WebhookCall, getPlatform().config.http.publicUrl, (provider, req) => this.handleCallback(provider, req));
			}
		},

		/** Internal: the callbacks the gateway gathered (lib/delivery/callbacks.ts), each verified and applied on its own. */
		webhooks: {
			visibility: "public",
			params: { items: { type: "array", max: 1000, items: "object" } },
			async handler(this: Self, ctx: Context<{ items: WireCallback[] }>): Promise<WireOutcome[]> {
				// the gateway's request stays with the gateway: nothing of it travels back with the answer
				delete (ctx.meta as { $request?: unknown }).$request;
				return Promise.all(
					ctx.params.items.map(async (w): Promise<WireOutcome> => {
						try {
							const { provider, req } = fromWire(w);
							return { ok: true, answer: await this.handleCallback(provider, req) };
						} catch (err) {
							return outcomeOf(err);
						}
					})
				);
			}
		},

		/** POST /courier/uploads: an XLSX courier sheet; all rows checked, then all applied, or none. */
		courierUpload: {
			async handler(this: Self, ctx: Context) {
				const auth = (ctx.meta as { auth?: Caller }).auth;
				if (auth?.kind !== "client") throw httpError(401, "UNAUTHORIZED", "courier sheets belong to clients: send X-API-Key");
				const clientId = auth.clientId;
				const contentType = String((ctx.meta as { $request?: { contentType?: string } }).$request?.contentType ?? "");
				if (/multipart|json|csv|text\//i.test(contentType)) throw unsupportedMediaType("send the XLSX sheet as the raw request body (Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet)");
				const { config } = getPlatform();
				const body = await readBody((ctx as unknown as { stream?: Readable }).stream, COURIER_SHEET_LIMIT);
				if (body.length === 0) throw badRequest("send the XLSX sheet as the request body");
				let sheet: Awaited<ReturnType<typeof readCourierSheet>>;
				try {
					sheet = await readCourierSheet(Readable.from([body]), { maxRows: 100_000, maxUncompressedBytes: config.ingest.xlsxMaxInflatedBytes });
				} catch (err) {
					if (err instanceof XlsxError) throw httpError(422, "INVALID_SHEET", err.message);
					throw err;
				}
				const checked = await checkCourierRows(clientId, sheet.header, sheet.rows, async (ids) => (await this.ds.cases.findByIds(ids)) as CaseDoc[], dateIn(new Date(), config.delivery.timeZone));
				if (!checked.ok) throw httpError(422, "INVALID_ROWS", `${checked.errors.length} row(s) of the sheet are wrong; nothing was applied`, { errors: checked.errors });
				// rows name different cases (checked): 100 at once, so their writes batch
				const outcomes = await mapWindow(checked.rows, 100, async (row) => this.deliverer.courier((await this.ds.getCase<CaseDoc>(row.caseId)) as CaseDoc, row));
				const applied = outcomes.filter((o) => o === "applied").length;
				this.logger.info({ clientId, rows: checked.rows.length, applied }, "courier sheet applied");
				return { rows: checked.rows.length, applied, unchanged: checked.rows.length - applied };
			}
		},

		/** GET /sandbox/outbox?caseId=&channel=&limit=: what the sandbox provider would have sent (operators). */
		outbox: {
			params: {
				caseId: { type: "string", optional: true, max: 200 },
				attemptId: { type: "string", optional: true, max: 250 },
				channel: { type: "enum", values: [...CHANNELS], optional: true },
				limit: { type: "number", optional: true, convert: true, integer: true, min: 1, max: 1000 },
				offset: { type: "number", optional: true, convert: true, integer: true, min: 0 }
			},
			async handler(this: Self, ctx: Context<{ caseId?: string; attemptId?: string; channel?: string; limit?: number; offset?: number }>) {
				const p = ctx.params;
				const query: Record<string, unknown> = {};
				if (p.caseId) query.caseId = p.caseId;
				if (p.attemptId) query.attemptId = p.attemptId;
				if (p.channel) query.channel = p.channel;
				const limit = p.limit ?? 100;
				const offset = p.offset ?? 0;
				const items = (await this.ds.outbox.find({ query, sort: "-at", limit, offset })) as unknown as OutboxEntry[];
				return { items: items.map(({ _id, ...e }) => ({ id: _id, ...e })), total: await this.ds.outbox.count({ query }), limit, offset };
			}
		},

		/** Internal: run the timeout sweep now (tests, operators). */
		sweep: {
			visibility: "public",
			async handler(this: Self) {
				return this.runSweep();
			}
		},

		/** Internal: the providers serving each channel and their circuits (health, operators). */
		providers: {
			visibility: "public",
			handler(this: Self) {
				return Object.fromEntries(
					Object.entries(this.providers.byChannel).map(([ch, p]) => [
						ch,
						{ provider: p.name, sandbox: this.providers.sandboxed.includes(ch as Channel), circuit: p.circuit(), ...(p.ratePerSecond ? { ratePerSecond: p.ratePerSecond(), notifierNodes: this.rateShare } : {}) }
					])
				);
			}
		}
	},

	events: {
		// a notifier node came or went: the providers' rate limits are the platform's, so each node takes its share
		"$services.changed"(this: Self) {
			this.shareRates();
		}
	},

	methods: {
		async handleCallback(this: Self, provider: string, req: CallbackRequest) {
			const handler = this.providers.callbacks[provider];
			if (!handler) throw notFound("webhook", provider);
			const outcome = handler.handle(req);
			if (outcome.kind === "challenge") return outcome;
			if (outcome.kind === "rejected") {
				this.metrics.inc("paperwork_delivery_callbacks_total", { provider, result: "rejected" });
				this.logger.warn({ provider, status: outcome.status, reason: outcome.reason }, "provider callback rejected; nothing changed");
				throw httpError(outcome.status, "CALLBACK_REJECTED", outcome.reason);
			}
			// inbound messages open WhatsApp's service window: recorded for every notifier node before the answer
			await Promise.all((outcome.inbound ?? []).map((m) => this.ds.recordInbound(m.channel, m.phone.replace(/\D/g, ""), m.at)));
			const results = await this.deliverer.applyEvents(provider, outcome.events);
			const count = (r: string) => results.filter((x) => x === r).length;
			return { kind: "events" as const, applied: count("applied"), duplicate: count("duplicate"), unknown: count("unknown") };
		},

		async clientSettings(this: Self, clientId: string) {
			const hit = this.settingsCache.get(clientId);
			if (hit && Date.now() - hit.at < 30_000) return hit.value;
			const entry = { at: Date.now(), value: this.broker.call("clients.settings", { id: clientId }).then((doc) => (doc as ClientDoc | null)?.delivery) };
			this.settingsCache.set(clientId, entry);
			// a failed read is not kept: the next case asks again
			entry.value.catch(() => {
				if (this.settingsCache.get(clientId) === entry) this.settingsCache.delete(clientId);
			});
			return entry.value;
		},

		shareRates(this: Self) {
			if (!this.providers) return;
			const nodes = Math.max(1, nodesRunning(this.broker, this.name).length);
			if (nodes === this.rateShare) return;
			this.rateShare = nodes;
			const rates: Record<string, number> = {};
			for (const [ch, p] of Object.entries(this.providers.byChannel)) {
				if (!p.shareRate || !p.ratePerSecond) continue;
				p.shareRate(nodes);
				rates[ch] = p.ratePerSecond();
			}
			this.logger.info({ notifierNodes: nodes, ratePerSecond: rates }, "provider rate limits shared among the live notifier nodes");
		},

		async runSweep(this: Self) {
			const r = await this.deliverer.sweep();
			for (const [ch, p] of Object.entries(this.providers.byChannel)) {
				const open = p.circuit().state === "open";
				const key = `${ch}:${p.name}`;
				this.metrics.set("paperwork_provider_circuit_open", open ? 1 : 0, { channel: ch, provider: p.name });
				// the provider clients raise "circuit_open" when a circuit opens (lib/delivery/providers); this tracks the gauge
				if (open) this.openCircuits.add(key);
				else this.openCircuits.delete(key);
			}
			return r;
		}
	},

	created(this: Self) {
		this.settingsCache = new Map();
		this.openCircuits = new Set();
		this.rateShare = 0;
	},

	async started(this: Self) {
		const { config, objects, store, logger } = getPlatform();
		this.metrics = new Metrics(this.broker);
		this.ds = await deliveryStore(store);
		this.alerts = createAlertSink(config, logger, store, this.metrics);
		this.sandbox = new Sandbox({
			outbox: this.ds.outbox,
			delayMs: config.delivery.sandboxDelayMs,
			logger: logger.child({ component: "sandbox" }),
			emit: async (req) => {
				await this.handleCallback("sandbox", req);
			}
		});
		// apart from the api (TRANSPORTER set), another notifier may have answered the webhook that opened a recipient's
		// WhatsApp service window: the store knows (in one process, this process's memory sees every webhook)
		const ds = this.ds;
		const whatsappWindow = config.transporter ? sharedServiceWindow((phone) => ds.lastInbound("whatsapp", phone)) : undefined;
		this.providers = composeProviders(config, logger, this.sandbox, { metrics: this.metrics, alerts: this.alerts, ...(whatsappWindow ? { whatsappWindow } : {}) });
		const metrics = this.metrics;
		this.deliverer = new Deliverer({
			store: this.ds,
			logger: logger.child({ component: "notifier" }),
			provider: (ch) => this.providers.byChannel[ch],
			link: (key) => objects.link(key, config.render.linkTtlSeconds),
			read: async (key) => {
				const parts: Buffer[] = [];
				for await (const c of await objects.get(key)) parts.push(c as Buffer);
				return Buffer.concat(parts);
			},
			settings: (clientId) => this.clientSettings(clientId),
			alerts: this.alerts,
			timeoutMs: config.delivery.timeoutMs,
			metrics: {
				attempt: (channel, provider, outcome) => metrics.inc("paperwork_delivery_attempts_total", { channel, provider, outcome }),
				delivered: (channel, seconds) => metrics.observe("paperwork_delivery_seconds", seconds, { channel }),
				callback: (provider, result) => metrics.inc("paperwork_delivery_callbacks_total", { provider, result }),
				caseFinished: (status, channel) => metrics.inc("paperwork_cases_finished_total", { status, channel: channel ?? "none" })
			}
		});
		this.shareRates();
		this.logger.info({ sandboxed: this.providers.sandboxed, timeoutS: config.delivery.timeoutMs / 1000 }, "notifier ready");
		this.sweepTimer = setInterval(() => {
			if (this.sweeping) return;
			this.sweeping = this.runSweep()
				.catch((err: Error) => this.logger.warn({ err }, "delivery sweep failed; next time"))
				.finally(() => (this.sweeping = undefined));
		}, config.delivery.sweepMs);
		this.sweepTimer.unref();
	},

	async stopped(this: Self) {
		if (this.sweepTimer) clearInterval(this.sweepTimer);
		await this.sweeping;
		await this.providers?.close();
		await this.alerts?.close();
	}
};

export default notifierService as ServiceSchema;

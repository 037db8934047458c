/**
 * scheduler: dispatch runs. On SCHEDULER_CRON (in SCHEDULER_TZ) every scheduler node tries to claim the slot's run
 * by inserting it under a unique key; the one that wins picks the loans disbursed in the last
 * DISPATCH_LOOKBACK_DAYS without a case (and, with DISPATCH_RETRY_PENDING, the window's pending or failed cases) and
 * puts them on cases.dispatch (new) or cases.rendered (retries with a stored PDF). Operators start runs by hand
 * (POST /dispatch/runs, the REPL) and read them with their live counts. Once a day at ALERT_DIGEST_AT (in
 * SCHEDULER_TZ; `off`: never) the runs of the last 24 hours go to the operators as a digest: every scheduler node
 * arms the timer, the one that claims the day's `digest:<day>` key sends it. At start-up on the in-process queue,
 * which lost its messages when its process stopped, the pending cases of running runs are handed on again. The
 * logic lives in lib/delivery/runs.ts.
 */
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Cron } from "croner";
import { getPlatform } from "../lib/platform.ts";
import { dbMixin, type DbMixinThis } from "../mixins/db.mixin.ts";
import { queuesMixin, type QueueService } from "../mixins/queues.mixin.ts";
import { recoveryMixin } from "../mixins/recovery.mixin.ts";
import { QUEUE_NAMES, QUEUES } from "../config/queues.ts";
import { badRequest, conflict, notFound } from "../lib/api/errors.ts";
import { audit } from "../lib/audit/index.ts";
import type { Caller } from "../lib/api/auth.ts";
import { Metrics } from "../lib/metrics.ts";
import { recordsStore } from "../lib/ingest/context.ts";
import { deliveryStore, INDEXES, type DeliveryStore } from "../lib/delivery/store.ts";
import { dateIn, isDate, lookbackWindow, Runs, RUN_SORTS, scheduledTime, type RunRequest } from "../lib/delivery/runs.ts";
import { nextDigestAt } from "../lib/alerts/index.ts";
import { createAlertSink } from "../lib/delivery/wiring.ts";
import { CASE_STATUSES, type AlertSink, type RunDoc, type RunView } from "../lib/delivery/types.ts";

interface Own {
	runs: Runs;
	ds: DeliveryStore;
	alerts: AlertSink;
	metrics: Metrics;
	cron?: Cron;
	settleTimer?: NodeJS.Timeout;
	digestTimer?: NodeJS.Timeout;
	/** when this node's digest timer fires next (undefined: ALERT_DIGEST_AT is off, or the service stopped) */
	digestDue?: Date;
	stopping: boolean;
	inFlight: Set<Promise<unknown>>;
}
type DigestOutcome = { outcome: "sent" | "claimed-elsewhere" | "off"; day?: string; runs?: number };
interface Methods {
	tick(at: Date): Promise<RunDoc | null>;
	launch(run: RunDoc): Promise<RunDoc>;
	settle(): Promise<void>;
	sendDigest(at: Date): Promise<DigestOutcome>;
	armDigest(after: Date): void;
}
type Self = QueueService<Own & Methods & DbMixinThis>;

/**
 * The minute a cron tick belongs to, from the time the cron was scheduled to fire (not the clock when its callback
 * runs): every node that fires for the same slot computes the same key.
 */
function slotOf(at: Date): string {
	return `scheduled:${new Date(Math.floor(at.getTime() / 60_000) * 60_000).toISOString()}`;
}

const schedulerService: ServiceSchema<ServiceSettingSchema, Record<string, never>, Record<string, never>, Self> & { recover(this: Self): Promise<Record<string, number>> } = {
	name: "scheduler",
	mixins: [dbMixin("dispatch_runs", { indexes: INDEXES.runs }), queuesMixin, recoveryMixin],

	/** At start-up on the in-process queue: the running runs' pending cases, whose messages died with the last process. */
	async recover(this: Self) {
		if (getPlatform().queues.kind !== "memory") return { runs: 0, cases: 0 };
		return this.runs.resumePending();
	},

	actions: {
		/** POST /dispatch/runs {from, to, includePending, clientId?}: an operator's run over a date window (202). */
		createRun: {
			params: {
				from: { type: "string", max: 10 },
				to: { type: "string", max: 10 },
				includePending: { type: "boolean", optional: true, convert: true },
				clientId: { type: "string", optional: true, max: 100 },
				retryOnly: { type: "boolean", optional: true, convert: true }
			},
			async handler(this: Self, ctx: Context<{ from: string; to: string; includePending?: boolean; clientId?: string; retryOnly?: boolean }>): Promise<RunView> {
				const p = ctx.params;
				const bad = [["from", p.from], ["to", p.to]].filter(([, v]) => !isDate(v)).map(([f]) => ({ field: f as string, message: "must be a date (YYYY-MM-DD)" }));
				if (bad.length) throw badRequest(`${bad.map((b) => b.field).join(" and ")} must be dates (YYYY-MM-DD)`, bad);
				if (p.from > p.to) throw badRequest(`from ${p.from} is after to ${p.to}`, [{ field: "from", message: "must not be after to" }]);
				const auth = (ctx.meta as { auth?: Caller }).auth;
				const req: RunRequest = { from: p.from, to: p.to, includePending: p.includePending ?? true, ...(p.clientId ? { clientId: p.clientId } : {}), ...(p.retryOnly ? { retryOnly: true } : {}), ...(auth?.kind === "operator" ? { requestedBy: auth.sub } : {}) };
				const run = await this.runs.create(req);
				this.metrics.inc("paperwork_dispatch_runs_total", { kind: run.kind, status: "running" });
				this.logger.info({ runId: run._id, from: run.from, to: run.to, includePending: run.includePending, clientId: run.clientId }, "operator started a dispatch run");
				await audit(ctx, { action: "dispatch.run", target: `dispatch-run:${run._id}`, items: [run._id], count: 1, ...(run.clientId ? { clientId: run.clientId } : {}), details: { from: run.from, to: run.to, includePending: run.includePending, ...(run.retryOnly ? { retryOnly: true } : {}) } });
				const work = this.launch(run);
				this.inFlight.add(work);
				void work.finally(() => this.inFlight.delete(work));
				(ctx.meta as Record<string, unknown>).$statusCode = 202;
				(ctx.meta as Record<string, unknown>).$location = `/api/v1/dispatch/runs/${run._id}`;
				return (await this.runs.view(run._id)) as RunView;
			}
		},

		/** GET /dispatch/runs?clientId=&sort=&limit=&offset=: runs, newest first by default, with their live counts. */
		listRuns: {
			params: {
				limit: { type: "number", optional: true, convert: true, integer: true, min: 1, max: 200 },
				offset: { type: "number", optional: true, convert: true, integer: true, min: 0 },
				clientId: { type: "string", optional: true, max: 100 },
				sort: { type: "enum", values: RUN_SORTS, optional: true }
			},
			async handler(this: Self, ctx: Context<{ limit?: number; offset?: number; clientId?: string; sort?: string }>) {
				const limit = ctx.params.limit ?? 20;
				const offset = ctx.params.offset ?? 0;
				return { ...(await this.runs.list(limit, offset, ctx.params.clientId, ctx.params.sort)), limit, offset };
			}
		},

		/** GET /dispatch/runs/:id: one run with its live counts by status and channel. */
		getRun: {
			params: { id: { type: "string", min: 1, max: 100 } },
			async handler(this: Self, ctx: Context<{ id: string }>): Promise<RunView> {
				const v = await this.runs.view(ctx.params.id);
				if (!v) throw notFound("dispatch run", ctx.params.id);
				return v;
			}
		},

		/** POST /cases/:id/resend: an operator sends an ended case again, reusing its stored PDF (a run of one case; audited). */
		resendCase: {
			params: { id: { type: "string", min: 1, max: 200 } },
			async handler(this: Self, ctx: Context<{ id: string }>): Promise<RunView> {
				const auth = (ctx.meta as { auth?: Caller }).auth;
				const out = await this.runs.resend(ctx.params.id, auth?.kind === "operator" ? auth.sub : undefined);
				if (out.kind === "not-found") throw notFound("case", ctx.params.id);
				if (out.kind === "busy") throw conflict(`case ${ctx.params.id} is ${out.status}: resend it once its current try has ended`);
				this.metrics.inc("paperwork_dispatch_runs_total", { kind: "manual", status: "running" });
				await audit(ctx, { action: "case.resend", target: `case:${ctx.params.id}`, items: [ctx.params.id], count: 1, clientId: out.clientId, details: { runId: out.runId, try: out.try, from: out.previous } });
				(ctx.meta as Record<string, unknown>).$statusCode = 202;
				(ctx.meta as Record<string, unknown>).$location = `/api/v1/dispatch/runs/${out.runId}`;
				return (await this.runs.view(out.runId)) as RunView;
			}
		},

		/** Internal: the daily digest of the day of `at` (default now) as the timer sends it (tests, operators); sent once a day of all calls and nodes. */
		digest: {
			visibility: "public",
			params: { at: { type: "date", optional: true, convert: true } },
			async handler(this: Self, ctx: Context<{ at?: Date }>): Promise<DigestOutcome> {
				return this.sendDigest(ctx.params.at ?? new Date());
			}
		},

		/** Internal: the scheduled run of a slot now, as the cron would start it (tests, operators); null when another node has it. */
		tick: {
			visibility: "public",
			params: { at: { type: "date", optional: true, convert: true } },
			async handler(this: Self, ctx: Context<{ at?: Date }>) {
				const run = await this.tick(ctx.params.at ?? new Date());
				return run ? this.runs.view(run._id) : null;
			}
		}
	},

	methods: {
		async tick(this: Self, at: Date): Promise<RunDoc | null> {
			const { config } = getPlatform();
			const d = config.delivery;
			const window = lookbackWindow(at, d.timeZone, d.lookbackDays);
			const run = await this.runs.claim(slotOf(at), { ...window, includePending: d.retryPending });
			if (!run) {
				this.logger.debug({ slot: slotOf(at) }, "scheduled run claimed by another node");
				return null;
			}
			this.metrics.inc("paperwork_dispatch_runs_total", { kind: run.kind, status: "running" });
			this.logger.info({ runId: run._id, slot: run.slot, ...window }, "scheduled dispatch run");
			return this.launch(run);
		},

		/** The digest of the runs of the 24 hours before `at`, sent by the one node that claims its day. */
		async sendDigest(this: Self, at: Date): Promise<DigestOutcome> {
			const { config } = getPlatform();
			if (!config.alerts.digestAt) return { outcome: "off" };
			const day = dateIn(at, config.delivery.timeZone);
			if (!(await this.runs.claimDigest(day, at))) {
				this.logger.debug({ day }, "daily digest claimed by another node");
				return { outcome: "claimed-elsewhere", day };
			}
			const lines = await this.runs.digest(new Date(at.getTime() - 86_400_000));
			await this.alerts.digest(lines, day);
			this.logger.info({ day, runs: lines.length }, "daily digest sent");
			return { outcome: "sent", day, runs: lines.length };
		},

		/** Arms the digest timer for the first ALERT_DIGEST_AT after `after`; it re-arms itself after each digest. */
		armDigest(this: Self, after: Date) {
			const { config } = getPlatform();
			const at = config.alerts.digestAt;
			if (!at || this.stopping) return;
			const due = nextDigestAt(at, after, config.delivery.timeZone);
			this.digestDue = due;
			this.digestTimer = setTimeout(() => {
				const work = this.sendDigest(due)
					.catch((err: Error) => this.logger.warn({ err }, "daily digest failed"))
					// never the same time twice, even if the timer fired a little early
					.finally(() => this.armDigest(new Date(Math.max(Date.now(), due.getTime()))));
				this.inFlight.add(work);
				void work.finally(() => this.inFlight.delete(work));
			}, Math.max(0, due.getTime() - Date.now()));
			this.digestTimer.unref();
		},

		async launch(this: Self, run: RunDoc): Promise<RunDoc> {
			const done = await this.runs.execute(run);
			if (done.status !== "running") this.metrics.inc("paperwork_dispatch_runs_total", { kind: run.kind, status: done.status });
			return done;
		},

		async settle(this: Self) {
			const completed = await this.runs.settle();
			if (completed) this.metrics.inc("paperwork_dispatch_runs_total", { kind: "any", status: "completed" }, completed);
			for (const s of CASE_STATUSES) this.metrics.set("paperwork_cases", await this.ds.cases.count({ query: { status: s } }), { status: s });
			// dead letters waiting for an operator (the alert sink sends at most one mail per kind per interval)
			const { queues } = getPlatform();
			for (const q of QUEUE_NAMES) {
				const st = await queues.stats(q).catch(() => null);
				if (st && st.dead > 0) this.alerts.raise("dlq_not_empty", `${st.dead} dead letter(s) in ${q}.dlq`, { queue: q, dead: st.dead });
			}
		}
	},

	created(this: Self) {
		this.inFlight = new Set();
		this.stopping = false;
	},

	async started(this: Self) {
		const { config, store, logger } = getPlatform();
		this.metrics = new Metrics(this.broker);
		this.ds = await deliveryStore(store);
		this.alerts = createAlertSink(config, logger, store, this.metrics);
		const records = await recordsStore();
		this.runs = new Runs({
			store: this.ds,
			records,
			logger: logger.child({ component: "scheduler" }),
			alerts: this.alerts,
			dispatch: async (items) => {
				await this.enqueueMany(QUEUES.casesDispatch, items.map((i) => ({ payload: i.payload, options: { key: i.key } })));
			},
			rendered: async (items) => {
				await this.enqueueMany(QUEUES.casesRendered, items.map((i) => ({ payload: i.payload, options: { key: i.key } })));
			}
		});
		const d = config.delivery;
		// the fire times before this one were not this node's to run
		let lastFire = new Date();
		this.cron = new Cron(d.cron, { timezone: d.timeZone, protect: true }, async (self: Cron) => {
			const at = scheduledTime((after) => self.nextRun(after), lastFire, new Date());
			lastFire = at;
			try {
				await this.tick(at);
			} catch (err) {
				this.logger.error({ err }, "scheduled dispatch run could not start");
				this.alerts.raise("run_failed", `the scheduled dispatch run could not start: ${(err as Error).message}`);
			}
		});
		this.armDigest(new Date());
		this.logger.info({ cron: d.cron, timeZone: d.timeZone, next: this.cron.nextRun()?.toISOString(), lookbackDays: d.lookbackDays, digest: this.digestDue?.toISOString() ?? "off" }, "dispatch scheduled");
		this.settleTimer = setInterval(() => void this.settle().catch((err: Error) => this.logger.warn({ err }, "run settling failed")), 30_000);
		this.settleTimer.unref();
	},

	async stopped(this: Self) {
		this.stopping = true;
		this.cron?.stop();
		if (this.settleTimer) clearInterval(this.settleTimer);
		if (this.digestTimer) clearTimeout(this.digestTimer);
		this.digestDue = undefined;
		await Promise.allSettled([...this.inFlight]);
		await this.alerts?.close();
	}
};

export default schedulerService as ServiceSchema;

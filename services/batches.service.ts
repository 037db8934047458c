/**
 * batches: the client's view of its submissions (status, counts, chunks, rejections) and the end of the line:
 * when a batch finishes it reports to the client (webhook signed with HMAC-SHA256, and/or email), retried by the
 * queue with growing delays. It also resumes unfinished work: at start-up (recover) and every 30 s (a watchdog for
 * batches whose worker died), from the stored state.
 */
import { Readable } from "node:stream";
import type { Context } from "moleculer";
import { queuesMixin, type QueueServiceSchema, type QueueService } from "../mixins/queues.mixin.ts";
import { recoveryMixin } from "../mixins/recovery.mixin.ts";
import { getPlatform } from "../lib/platform.ts";
import { QUEUES } from "../config/queues.ts";
import { batchStore, clientSettings, readableBatch } from "../lib/ingest/context.ts";
import { readScope } from "../lib/api/scope.ts";
import { dateRange } from "../lib/api/query.ts";
import { KIND_NAMES, type Kind } from "../lib/records/index.ts";
import type { BatchDoc, BatchStatus, ChunkDoc, RejectionDoc } from "../lib/ingest/batches.ts";
import { CLAIM_LEASE_MS } from "../lib/ingest/register.ts";
import { postWebhook, sendEmail, summary } from "../lib/ingest/report.ts";
import { csvField } from "../lib/etl/xlsx.ts";
import { withLogContext } from "../lib/log.ts";
import { startSweep, type Sweep } from "../lib/sweep.ts";

const STATUSES: BatchStatus[] = ["OPEN", "RECEIVED", "SPLITTING", "PROCESSING", "COMPLETED", "FAILED"];
const SORTS = ["createdAt", "-createdAt", "updatedAt", "-updatedAt", "status", "-status", "kind", "-kind"];
/** for operators: whose data (all clients when absent); a client's own is used whatever it sends */
const clientIdParam = { type: "string", optional: true, max: 64, description: "operators: one client's data (all clients when absent)" };
const SWEEP_MS = 30_000;
/** a file still SPLITTING after this long lost its file-picker */
const SPLIT_LEASE_MS = 5 * 60_000;

interface Own {
	resume(atStartup: boolean): Promise<Record<string, number>>;
	sweep?: Sweep;
}
type Self = QueueService<Own>;

const batches: QueueServiceSchema<Own> & { recover(this: Self): Promise<Record<string, number>> } = {
	name: "batches",
	mixins: [queuesMixin, recoveryMixin],

	actions: {
		/** GET /batches/:id */
		get: {
			params: { id: { type: "string" }, clientId: clientIdParam },
			async handler(this: Self, ctx: Context<{ id: string; clientId?: string }>) {
				return (await batchStore()).view(await readableBatch(ctx, ctx.params.id, ctx.params.clientId));
			}
		},

		/** GET /batches?status=&kind=&source=&file=&from=&to=&sort=&limit=&offset= (newest first by default); operators: &clientId= */
		list: {
			params: {
				clientId: clientIdParam,
				status: { type: "enum", values: STATUSES, optional: true },
				kind: { type: "enum", values: KIND_NAMES, optional: true },
				source: { type: "enum", values: ["upload", "rest", "inbox"], optional: true },
				file: { type: "string", optional: true, min: 1, max: 200, trim: true, description: "part of the uploaded file's name (any case)" },
				from: { type: "string", optional: true, max: 40, description: "created at or after (ISO 8601)" },
				to: { type: "string", optional: true, max: 40, description: "created before (ISO 8601)" },
				sort: { type: "enum", values: SORTS, optional: true },
				limit: { type: "number", convert: true, optional: true, min: 1, max: 200 },
				offset: { type: "number", convert: true, optional: true, min: 0 }
			},
			async handler(this: Self, ctx: Context<{ clientId?: string; status?: BatchStatus; kind?: Kind; source?: string; file?: string; from?: string; to?: string; sort?: string; limit?: number; offset?: number }>) {
				const p = ctx.params;
				const clientId = readScope(ctx, p.clientId);
				const store = await batchStore();
				const query: Record<string, unknown> = {};
				if (clientId) query.clientId = clientId;
				if (p.status) query.status = p.status;
				if (p.kind) query.kind = p.kind;
				if (p.source) query.source = p.source;
				const created = dateRange(p.from, p.to);
				if (created) query.createdAt = created;
				const limit = p.limit ?? 20;
				const offset = p.offset ?? 0;
				const sort = p.sort ?? "-createdAt";
				// a file name is matched as a case-insensitive part of it (a scan of the scoped batches: thousands, not millions)
				const byFile = p.file ? { search: p.file, searchFields: ["file.name"] } : {};
				const [rows, total] = await Promise.all([store.batches.find({ query, ...byFile, sort: [sort, "-createdAt"], limit, offset }), store.batches.count({ query, ...byFile })]);
				return { total, limit, offset, items: await Promise.all((rows as BatchDoc[]).map((b) => store.view(b))) };
			}
		},

		/** GET /batches/:id/rejections?format=json|csv (CSV: every rejection, streamed; JSON: a page) */
		rejections: {
			params: {
				id: { type: "string" },
				clientId: clientIdParam,
				format: { type: "enum", values: ["json", "csv"], optional: true },
				code: { type: "string", optional: true, max: 100, description: "only rejections with this code (JSON)" },
				codes: { type: "boolean", convert: true, optional: true, description: "JSON: also count every rejection of the batch by code" },
				limit: { type: "number", convert: true, optional: true, min: 1, max: 10000 },
				offset: { type: "number", convert: true, optional: true, min: 0 }
			},
			async handler(this: Self, ctx: Context<{ id: string; clientId?: string; format?: "json" | "csv"; code?: string; codes?: boolean; limit?: number; offset?: number }>) {
				const batch = await readableBatch(ctx, ctx.params.id, ctx.params.clientId);
				const store = await batchStore();
				const query = { batchId: batch._id };
				const row = (r: RejectionDoc) => ({ line: r.line, field: r.field, code: r.code, message: r.message });
				if (ctx.params.format === "csv") {
					const meta = ctx.meta as Record<string, unknown>;
					meta.$responseType = "text/csv; charset=utf-8";
					meta.$responseHeaders = { "Content-Disposition": `attachment; filename="rejections-${batch._id}.csv"` };
					const page = 5000;
					async function* lines(): AsyncGenerator<string> {
						yield "line,field,code,message\n";
						for (let offset = 0; ; offset += page) {
							const rows = (await store.rejections.find({ query, sort: ["line", "field"], limit: page, offset })) as RejectionDoc[];
							if (rows.length === 0) return;
							yield rows.map((r) => `${r.line},${csvField(r.field)},${csvField(r.code)},${csvField(r.message)}\n`).join("");
							if (rows.length < page) return;
						}
					}
					return Readable.from(lines());
				}
				const limit = ctx.params.limit ?? 1000;
				const offset = ctx.params.offset ?? 0;
				const filtered = ctx.params.code ? { ...query, code: ctx.params.code } : query;
				const [rows, total] = await Promise.all([store.rejections.find({ query: filtered, sort: ["line", "field"], limit, offset }), store.rejections.count({ query: filtered })]);
				const out = { batchId: batch._id, total, limit, offset, items: (rows as RejectionDoc[]).map(row) };
				if (!ctx.params.codes) return out;
				// counts by code: one pass over the batch's rejections, a page at a time
				const counts = new Map<string, number>();
				for (let at = 0; ; at += 5000) {
					const page = (await store.rejections.find({ query, sort: ["line", "field"], limit: 5000, offset: at })) as RejectionDoc[];
					for (const r of page) counts.set(r.code, (counts.get(r.code) ?? 0) + 1);
					if (page.length < 5000) break;
				}
				return { ...out, codes: [...counts].map(([code, count]) => ({ code, count })).sort((a, b) => b.count - a.count || a.code.localeCompare(b.code)) };
			}
		}
	},

	queues: {
		/** Tells the client its batch finished: webhook and/or email; a failure throws so the queue retries later. */
		[QUEUES.batchesReport]: {
			concurrency: 4,
			async handler(this: Self, payload: unknown) {
				const { batchId } = payload as { batchId: string };
				await withLogContext({ batchId }, async () => {
					const store = await batchStore();
					const batch = await store.get(batchId);
					if (!batch || (batch.status !== "COMPLETED" && batch.status !== "FAILED") || batch.reportedAt) return;
					const client = await clientSettings(this.broker, batch.clientId);
					const { config } = getPlatform();
					const s = summary(await store.view(batch), `${config.http.publicUrl}/api/v1`);
					const sent = (batch.report ?? {}) as Record<string, string>;
					if (client?.webhook && sent.webhook !== "sent") {
						const status = await postWebhook(client.webhook.url, client.webhook.secret, s, config.ingest.webhookTimeoutMs);
						await store.touch(batchId, { "report.webhook": "sent" });
						this.logger.info({ status }, "batch report sent to the client's webhook");
					}
					if (client?.email && sent.email !== "sent") {
						if (config.smtp) {
							await sendEmail(config.smtp.url, config.smtp.from, client.email, s);
							await store.touch(batchId, { "report.email": "sent" });
							this.logger.info("batch report emailed to the client");
						} else this.logger.warn("the client has a report email but SMTP_URL is not set; no email sent");
					}
					// repayments go on to billing, which checks the loans they touched for suspected duplicates
					if (batch.kind === "repayment" && batch.status === "COMPLETED") await this.enqueue(QUEUES.billingRepayments, { batchId, clientId: batch.clientId }, { key: `${batchId}:billing` });
					await store.touch(batchId, { reportedAt: new Date() });
				});
			}
		}
	},

	methods: {
		/**
		 * Puts unfinished batches back on their queues. At start-up everything unfinished is resumed (an in-process
		 * queue lost its messages with the process); later sweeps only resume batches idle for longer than a lease.
		 */
		async resume(this: Self, atStartup: boolean): Promise<Record<string, number>> {
			const store = await batchStore();
			const { queues } = getPlatform();
			const now = Date.now();
			const idle = (b: BatchDoc, ms: number) => atStartup || now - new Date(b.updatedAt).getTime() > ms;
			const out = { arrived: 0, ready: 0, staged: 0, reports: 0 };
			const open = (await store.batches.find({ query: { status: { $in: ["RECEIVED", "SPLITTING", "PROCESSING"] } } })) as BatchDoc[];
			for (const b of open) {
				if (b.status === "PROCESSING") {
					if (!idle(b, CLAIM_LEASE_MS)) continue;
					if (atStartup && queues.kind === "memory") {
						const ready = (await store.chunks.find({ query: { batchId: b._id, status: "READY" } })) as ChunkDoc[];
						await this.enqueueMany(QUEUES.chunksReady, ready.map((c) => ({ payload: { batchId: b._id, index: c.index }, options: { key: `${b._id}:${c.index}:ready` } })));
						out.ready += ready.length;
					}
					await this.enqueue(QUEUES.chunksStaged, { batchId: b._id, index: b.nextChunk }, { key: `${b._id}:${b.nextChunk}:staged` });
					out.staged++;
				} else if (idle(b, b.status === "SPLITTING" ? SPLIT_LEASE_MS : CLAIM_LEASE_MS)) {
					await this.enqueue(QUEUES.filesArrived, { batchId: b._id }, { key: `${b._id}:arrived` });
					out.arrived++;
				}
			}
			const since = new Date(now - 24 * 3600_000);
			const unreported = (await store.batches.find({ query: { status: { $in: ["COMPLETED", "FAILED"] }, reportedAt: { $exists: false }, finishedAt: { $gt: since } } })) as BatchDoc[];
			for (const b of unreported) {
				if (!atStartup && now - new Date(b.updatedAt).getTime() < CLAIM_LEASE_MS) continue;
				await this.enqueue(QUEUES.batchesReport, { batchId: b._id }, { key: `${b._id}:report` });
				out.reports++;
			}
			return out;
		}
	},

	recover(this: Self) {
		return this.resume(true);
	},

	started(this: Self) {
		this.sweep = startSweep(
			SWEEP_MS,
			async () => {
				const r = await this.resume(false);
				if (Object.values(r).some((n) => n > 0)) this.logger.warn({ resumed: r }, "stalled batches resumed");
			},
			(err) => this.logger.warn({ err: err.message }, "batch sweep failed")
		);
	},

	stopped(this: Self) {
		this.sweep?.stop();
	}
};

export default batches;

/**
 * registry: registers staged chunks (chunks.staged) in order per batch: bulk upsert on the business key
 * (inserted / updated with a version and the previous values / unchanged), later duplicates of a key within the
 * batch rejected, the search index updated; completes the batch after its last chunk and asks the batches actor to
 * report it. Also answers record look-ups and searches. On the embedded SQLite store the chunk writes run on a
 * thread of their own (lib/ingest/register-thread.ts).
 */
import type { Context } from "moleculer";
import { queuesMixin, type QueueServiceSchema, type QueueService } from "../mixins/queues.mixin.ts";
import { getPlatform } from "../lib/platform.ts";
import { QUEUES } from "../config/queues.ts";
import { batchStore, recordsStore } from "../lib/ingest/context.ts";
import { inScope, readScope } from "../lib/api/scope.ts";
import { drainBatch, SEARCH_INDEX, type RecordDoc } from "../lib/ingest/register.ts";
import { createRegisterThread, type RegisterThread } from "../lib/ingest/register-thread.ts";
import type { BatchDoc, ChunkDoc } from "../lib/ingest/batches.ts";
import { KIND_NAMES, type Kind } from "../lib/records/index.ts";
import type { SearchQuery } from "../lib/search/types.ts";
import { notFound } from "../lib/api/errors.ts";
import { Metrics } from "../lib/metrics.ts";
import { withLogContext } from "../lib/log.ts";
import { normalizeBrPhone } from "../lib/validate/phone.ts";
import { normalizeEmail } from "../lib/validate/email.ts";

interface Own {
	metrics: Metrics;
	/** on the embedded SQLite store, registering runs on this thread (see register-thread.ts) */
	writer?: RegisterThread;
}
type Self = QueueService<Own>;

export interface RecordView {
	id: string;
	clientId: string;
	kind: Kind;
	key: string;
	data: Record<string, unknown>;
	version: number;
	batchId: string;
	line: number;
	registeredAt: Date;
	previous?: Record<string, unknown>;
}

/** A phone as the records store it (lib/validate/phone.ts), or the digits as typed when it does not validate. */
function normalisePhone(v: string): string {
	const checked = normalizeBrPhone(v.trim());
	return checked.ok ? checked.value : v.replace(/[^\d+]/g, "");
}

function toView(r: RecordDoc, withPrevious = false): RecordView {
	const prev = r.previous as { data?: Record<string, unknown> } | undefined;
	return {
		id: r._id,
		clientId: r.client,
		kind: r.kind,
		key: r.key,
		data: r.data,
		version: r.version,
		batchId: r.batchId,
		line: r.line,
		registeredAt: r.registeredAt,
		...(withPrevious && prev?.data ? { previous: prev.data } : {})
	};
}

const registry: QueueServiceSchema<Own> = {
	name: "registry",
	mixins: [queuesMixin],

	queues: {
		[QUEUES.chunksStaged]: {
			// different batches register in parallel; one batch's chunks go in order whatever this says
			concurrency: 4,
			async handler(this: Self, payload: unknown) {
				const { batchId } = payload as { batchId: string };
				await withLogContext({ batchId }, async () => {
					const store = await batchStore();
					const { objects, search } = getPlatform();
					const writer = this.writer;
					const deps = { objects, store, records: await recordsStore(), search, ...(writer ? { register: (batch: BatchDoc, chunks: ChunkDoc[]) => writer.run({ batch, chunks }) } : {}) };
					const out = await drainBatch(deps, batchId, (chunk, r) => {
						this.metrics.observe("paperwork_chunk_stage_seconds", r.ms / 1000, { stage: "registry" });
						this.logger.debug({ chunk: chunk.index, ...r }, "chunk registered");
					});
					if (!out.completed) return;
					const batch = await store.get(batchId);
					if (!batch) return;
					const labels = { client: batch.clientId, kind: batch.kind };
					for (const outcome of ["inserted", "updated", "unchanged"] as const) this.metrics.inc("paperwork_rows_registered_total", { ...labels, outcome }, out.completed[outcome]);
					this.metrics.inc("paperwork_batches_finished_total", { client: batch.clientId, status: "COMPLETED" });
					this.metrics.observe("paperwork_batch_duration_seconds", (Date.now() - new Date(batch.createdAt).getTime()) / 1000, { kind: batch.kind });
					this.logger.info({ counts: out.completed }, "batch completed");
					await this.enqueue(QUEUES.batchesReport, { batchId }, { key: `${batchId}:report` });
				});
			}
		}
	},

	actions: {
		/** GET /records/:id (operators: any client's), and the renderer's look-up ({clientId, id}). */
		getRecord: {
			params: { id: { type: "string" }, clientId: { type: "string", optional: true, max: 64, description: "operators: the record's client (any when absent)" } },
			async handler(this: Self, ctx: Context<{ id: string; clientId?: string }>): Promise<RecordView> {
				const scope = readScope(ctx, ctx.params.clientId);
				const rec = (await (await recordsStore()).findById(ctx.params.id)) as RecordDoc | null;
				if (!rec || !inScope(scope, rec.client)) throw notFound("record", ctx.params.id);
				return toView(rec, true);
			}
		},

		/** GET /records?kind=&contract_id=&loan_id=&cpf=&phone=&email=&batchId=&q=&limit=&offset= (operators: &clientId=, all clients when absent) */
		search: {
			params: {
				kind: { type: "enum", values: KIND_NAMES, optional: true },
				contract_id: { type: "string", optional: true, max: 200 },
				loan_id: { type: "string", optional: true, max: 200 },
				cpf: { type: "string", optional: true, max: 20 },
				phone: { type: "string", optional: true, max: 40 },
				email: { type: "string", optional: true, max: 200 },
				batchId: { type: "string", optional: true, max: 64 },
				q: { type: "string", optional: true, max: 200 },
				limit: { type: "number", convert: true, optional: true, min: 1, max: 500 },
				offset: { type: "number", convert: true, optional: true, min: 0 },
				clientId: { type: "string", optional: true, max: 64, description: "operators: one client's records (all clients when absent)" }
			},
			async handler(this: Self, ctx: Context<{ kind?: Kind; contract_id?: string; loan_id?: string; cpf?: string; phone?: string; email?: string; batchId?: string; q?: string; limit?: number; offset?: number; clientId?: string }>) {
				const clientId = readScope(ctx, ctx.params.clientId);
				const p = ctx.params;
				const filter: Record<string, string> = clientId ? { client: clientId } : {};
				if (p.kind) filter.kind = p.kind;
				// contract_id and loan_id are the business keys of their kinds: filtering on `key` too lets the store use the
				// unique (client, kind, key) index (the field filter keeps a record of the other kind with that key out)
				if (p.contract_id) filter.contract_id = filter.key = p.contract_id.trim();
				if (p.loan_id) filter.loan_id = filter.key = p.loan_id.trim();
				if (p.cpf) filter.cpf = p.cpf.replace(/\D/g, "");
				if (p.phone) filter.phone = normalisePhone(p.phone);
				if (p.email) {
					const e = normalizeEmail(p.email);
					filter.email = e.ok ? e.value : p.email.trim();
				}
				if (p.batchId) filter.batchId = p.batchId;
				const limit = p.limit ?? 50;
				const offset = p.offset ?? 0;
				const query: SearchQuery["filter"] = { ...filter };
				if (filter.key) {
					// a look-up by key: every (client, kind) pair is one probe of the unique (client, kind, key) index
					if (!filter.kind) query.kind = [...KIND_NAMES];
					if (!clientId) {
						const clients = (await ctx.call("clients.list", { limit: 500 })) as { total: number; items: { id: string }[] };
						if (clients.total <= clients.items.length) query.client = clients.items.map((c) => c.id);
					}
				}
				// opening the records collection also declares the search index (a view of it on the store)
				const records = await recordsStore();
				const res = await getPlatform().search.search(SEARCH_INDEX, { filter: query, text: p.q?.trim() || undefined, limit, offset });
				const docs = (await records.findByIds(res.hits.map((h) => h.id))) as RecordDoc[];
				const byId = new Map(docs.map((d) => [d._id, d]));
				const items = res.hits.map((h) => byId.get(h.id)).filter((d): d is RecordDoc => d !== undefined && inScope(clientId, d.client));
				return { total: res.total, limit, offset, items: items.map((r) => toView(r)) };
			}
		}
	},

	created(this: Self) {
		this.metrics = new Metrics(this.broker);
		const platform = getPlatform();
		if (platform.store.kind === "sqlite") this.writer = createRegisterThread(platform.config, (s) => this.metrics.inc("paperwork_thread_cpu_seconds_total", { pool: "register" }, s));
	},

	async started(this: Self) {
		// the records' collection, indexes and full-text table, made or brought up to date while the node starts (after
		// an upgrade, ~10 s per million records on SQLite) rather than on the first search or batch
		await recordsStore();
	},

	async stopped(this: Self) {
		await this.writer?.close();
	}
};

export default registry;

/**
 * file-picker: takes a received batch off files.arrived, checks its file (client known, type by content,
 * encoding, header against the client's format, not empty) and splits it into chunks in object storage; then one
 * message per chunk on chunks.ready. A file that cannot be ingested FAILS its batch with the reason.
 */
import { queuesMixin, type QueueServiceSchema, type QueueService } from "../mixins/queues.mixin.ts";
import { getPlatform } from "../lib/platform.ts";
import { QUEUES } from "../config/queues.ts";
import { batchStore, clientSettings } from "../lib/ingest/context.ts";
import { splitBatchFile, FileError } from "../lib/ingest/split.ts";
import { formatFor } from "../lib/ingest/formats.ts";
import type { BatchDoc, BatchStore } from "../lib/ingest/batches.ts";
import { Metrics } from "../lib/metrics.ts";
import { withLogContext } from "../lib/log.ts";

interface Own {
	metrics: Metrics;
	pick(batch: BatchDoc, store: BatchStore): Promise<void>;
	pickRest(batch: BatchDoc, store: BatchStore): Promise<void>;
	release(batch: BatchDoc, store: BatchStore): Promise<void>;
	failBatch(batch: BatchDoc, store: BatchStore, code: string, message: string): Promise<void>;
}
type Self = QueueService<Own>;

const filePicker: QueueServiceSchema<Own> = {
	name: "file-picker",
	mixins: [queuesMixin],

	queues: {
		[QUEUES.filesArrived]: {
			concurrency: 2,
			async handler(this: Self, payload: unknown) {
				const { batchId } = payload as { batchId: string };
				await withLogContext({ batchId }, async () => {
					const store = await batchStore();
					const batch = await store.get(batchId);
					if (!batch || (batch.status !== "RECEIVED" && batch.status !== "SPLITTING")) return; // done already
					await store.transition(batchId, ["RECEIVED", "SPLITTING"], "SPLITTING", { startedAt: batch.startedAt ?? new Date() });
					if (batch.source === "rest") await this.pickRest(batch, store);
					else await this.pick(batch, store);
				});
			}
		}
	},

	methods: {
		async pick(this: Self, batch: BatchDoc, store: BatchStore) {
			const { objects, config } = getPlatform();
			const client = await clientSettings(this.broker, batch.clientId);
			if (!client) return this.failBatch(batch, store, "unknown_client", `client '${batch.clientId}' does not exist`);
			const format = formatFor(client, batch.kind, batch.source);
			const started = performance.now();
			try {
				const out = await splitBatchFile({ objects, store }, batch, format, { chunkRows: config.ingest.chunkRows, xlsxMaxRows: config.ingest.xlsxMaxRows, xlsxMaxInflatedBytes: config.ingest.xlsxMaxInflatedBytes });
				const moved = await store.transition(batch._id, ["SPLITTING"], "PROCESSING", { chunkTotal: out.chunks, header: out.header, unknownColumns: out.unknownColumns });
				if (!moved) return;
				this.metrics.observe("paperwork_chunk_stage_seconds", (performance.now() - started) / 1000 / Math.max(out.chunks, 1), { stage: "split" });
				this.logger.info({ batchId: batch._id, chunks: out.chunks, rows: out.rows, unknownColumns: out.unknownColumns.length }, "file split");
			} catch (err) {
				if (err instanceof FileError) return this.failBatch(batch, store, err.code, err.message);
				throw err;
			}
			await this.release(batch, store);
		},

		/** REST batches were chunked as rows arrived: make the chunks ready once all of them are stored. */
		async pickRest(this: Self, batch: BatchDoc, store: BatchStore) {
			const stored = await store.chunks.count({ query: { batchId: batch._id } });
			if (stored < (batch.restChunks ?? 0)) throw new Error(`batch ${batch._id}: ${stored} of ${batch.restChunks} chunks stored so far; trying again`);
			await store.chunks.updateMany({ batchId: batch._id, status: "PENDING" }, { $set: { status: "READY" } });
			await store.transition(batch._id, ["SPLITTING"], "PROCESSING", { chunkTotal: batch.restChunks });
			await this.release(batch, store);
		},

		/** One chunks.ready message per chunk still to be parsed (idempotent keys). */
		async release(this: Self, batch: BatchDoc, store: BatchStore) {
			const ready = (await store.chunksOf(batch._id)).filter((c) => c.status === "READY");
			await this.enqueueMany(
				QUEUES.chunksReady,
				ready.map((c) => ({ payload: { batchId: batch._id, index: c.index }, options: { key: `${batch._id}:${c.index}:ready` } }))
			);
		},

		async failBatch(this: Self, batch: BatchDoc, store: BatchStore, code: string, message: string) {
			if (await store.fail(batch, code, message)) {
				this.logger.warn({ batchId: batch._id, code, reason: message }, "batch failed");
				this.metrics.inc("paperwork_batches_finished_total", { client: batch.clientId, status: "FAILED" });
				await this.enqueue(QUEUES.batchesReport, { batchId: batch._id }, { key: `${batch._id}:report` });
			}
		}
	},

	created(this: Self) {
		this.metrics = new Metrics(this.broker);
	}
};

export default filePicker;

/**
 * etl: parses one chunk at a time off chunks.ready with the batch's format (column names, delimiter, encoding,
 * date and decimal styles, custom transform), normalises and validates every row, stages the valid rows and keeps
 * each rejection with its line, field and reason; then chunks.staged for the registry. Chunks of a file are parsed
 * in parallel on parse threads (ETL_CONCURRENCY per node, and as many nodes as you start), beside the registry's
 * writes and the node's I/O.
 */
import { queuesMixin, type QueueServiceSchema, type QueueService } from "../mixins/queues.mixin.ts";
import { getPlatform } from "../lib/platform.ts";
import { QUEUES } from "../config/queues.ts";
import { batchStore, clientSettings } from "../lib/ingest/context.ts";
import { FormatCache, stageChunk } from "../lib/ingest/stage.ts";
import { createParsePool, type ParsePool } from "../lib/ingest/parse-pool.ts";
import { formatFor } from "../lib/ingest/formats.ts";
import type { BatchDoc } from "../lib/ingest/batches.ts";
import { Metrics } from "../lib/metrics.ts";
import { withLogContext } from "../lib/log.ts";

interface Own {
	metrics: Metrics;
	formats: FormatCache;
	pool: ParsePool;
}
type Self = QueueService<Own>;

const etl: QueueServiceSchema<Own> = {
	name: "etl",
	mixins: [queuesMixin],

	queues: {
		[QUEUES.chunksReady]: {
			// the real value comes from ETL_CONCURRENCY in merged() below
			concurrency: 2,
			async handler(this: Self, payload: unknown) {
				const { batchId, index } = payload as { batchId: string; index: number };
				await withLogContext({ batchId, chunk: index }, async () => {
					const store = await batchStore();
					const [batch, chunk] = await Promise.all([store.get(batchId), store.chunk(batchId, index)]);
					if (!batch || !chunk || batch.status !== "PROCESSING") return;
					if (chunk.status === "READY") {
						const loadFormat = async () => {
							if (batch.source === "rest") return formatFor(null, batch.kind, "rest");
							return formatFor(await clientSettings(this.broker, batch.clientId), batch.kind, batch.source);
						};
						const format = await this.formats.get(batchId, loadFormat);
						const r = await stageChunk({ objects: getPlatform().objects, store, pool: this.pool }, batch as BatchDoc, chunk, format);
						if (r.staged) {
							const labels = { client: batch.clientId, kind: batch.kind };
							this.metrics.inc("paperwork_rows_received_total", labels, r.received);
							this.metrics.inc("paperwork_rows_rejected_total", labels, r.rejected);
							this.metrics.observe("paperwork_chunk_stage_seconds", r.ms / 1000, { stage: "etl" });
							this.logger.debug({ rows: r.received, valid: r.valid, rejected: r.rejected, ms: r.ms }, "chunk staged");
						}
					}
					await this.enqueue(QUEUES.chunksStaged, { batchId, index }, { key: `${batchId}:${index}:staged` });
				});
			}
		}
	},

	merged(schema: QueueServiceSchema<Own>) {
		const binding = schema.queues?.[QUEUES.chunksReady];
		if (binding) binding.concurrency = getPlatform().config.ingest.etlConcurrency;
	},

	created(this: Self) {
		this.metrics = new Metrics(this.broker);
		this.formats = new FormatCache();
		this.pool = createParsePool(getPlatform().config.ingest.etlConcurrency, (s) => this.metrics.inc("paperwork_thread_cpu_seconds_total", { pool: "parse" }, s));
	},

	async stopped(this: Self) {
		await this.pool.close();
	}
};

export default etl;

/**
 * reader: consumes intake.received and reads each document (lib/intake/read/process.ts): text layer per page, OCR
 * (a pool of single-threaded Tesseract processes, one per core) for pages without one, fields from the issuer
 * templates and the generic extractor, checks; then puts the finished document on intake.notify. A document whose
 * readings keep failing (MAX_READ_ATTEMPTS, its reader dying included) is finished FAILED with the reason and its
 * intake.failed event goes out like any other.
 */
import { queuesMixin, type QueueServiceSchema, type QueueService } from "../mixins/queues.mixin.ts";
import { recoveryMixin } from "../mixins/recovery.mixin.ts";
import { Metrics } from "../lib/metrics.ts";
import { getPlatform } from "../lib/platform.ts";
import { QUEUES } from "../config/queues.ts";
import { intakeStore, ocrPool, indexDocument, textLayer, TEMPLATES_DIR } from "../lib/intake/context.ts";
import { processDocument } from "../lib/intake/read/process.ts";
import { eventOf } from "../lib/intake/notify.ts";
import type { IntakeDoc } from "../lib/intake/documents.ts";
import { clientSettings } from "../lib/ingest/context.ts";

interface Own {
	resume(): Promise<number>;
	sweepTimer?: NodeJS.Timeout;
	metrics: Metrics;
}
type Self = QueueService<Own>;

/** how often a reader looks for documents whose message or reader was lost */
const SWEEP_MS = 30_000;

const reader: QueueServiceSchema<Own> & { recover(this: Self): Promise<number> } = {
	name: "reader",
	mixins: [queuesMixin, recoveryMixin],

	/** At start-up: documents left PENDING or with a dead reader's claim go back on intake.received. */
	recover(this: Self) {
		return this.resume();
	},

	methods: {
		async resume(this: Self): Promise<number> {
			const store = await intakeStore();
			const stalled = await store.stalled();
			for (const d of stalled) await this.enqueue(QUEUES.intakeReceived, { id: d._id }, { key: `${d._id}:resume:${Date.now()}` });
			if (stalled.length) this.logger.info({ documents: stalled.length }, "stalled documents put back on intake.received");
			return stalled.length;
		}
	},

	created(this: Self) {
		this.metrics = new Metrics(this.broker);
	},

	started(this: Self) {
		const tick = () => {
			this.resume()
				.catch((err: Error) => this.logger.warn({ err: err.message }, "intake sweep failed"))
				.finally(() => {
					if (this.sweepTimer) this.sweepTimer = setTimeout(tick, SWEEP_MS).unref();
				});
		};
		this.sweepTimer = setTimeout(tick, SWEEP_MS).unref();
		const layers = textLayer();
		if (layers.unavailable) this.logger.warn({ reason: layers.unavailable }, "text layers read by pdftotext, one process a document: build pdf-text with scripts/setup.sh");
	},

	stopped(this: Self) {
		if (this.sweepTimer) clearTimeout(this.sweepTimer);
		this.sweepTimer = undefined;
		textLayer().close();
	},

	queues: {
		[QUEUES.intakeReceived]: {
			// the OCR pool (one Tesseract per core) bounds the CPU-heavy part; more documents in flight than cores keep
			// it fed while others wait on the store, objects and pdftotext (2 at once left born-digital documents
			// waiting on each other's I/O, and a core idle between two scans)
			concurrency: 6,
			async handler(this: Self, payload: unknown) {
				const { id } = payload as { id: string };
				{
					const platform = getPlatform();
					const store = await intakeStore();
					const doc = await store.get(id);
					if (!doc) return;
					const client = await clientSettings(this.broker, doc.clientId);
					const started = Date.now();
					// OpenSearch lists the document as PROCESSING (or PENDING again) while it is read; failing that is logged, not a failed reading
					const moved = (d: IntakeDoc) => indexDocument(store, id, d, { wait: false }).catch((err: Error) => this.logger.warn({ intakeId: id, err: err.message }, "document status not indexed"));
					const out = await processDocument(id, { platform, store, pool: ocrPool(), textLayer: textLayer(), templatesDir: TEMPLATES_DIR, langs: client?.intake?.languages, moved });
					if (!out.done) throw new Error(`document ${id} is being read by another reader; retry later`);
					await indexDocument(store, id, out.doc);
					if (out.doc) {
						this.metrics.inc("paperwork_intake_finished_total", { status: out.status });
						for (const p of out.doc.pages ?? []) this.metrics.inc("paperwork_intake_pages_total", { source: p.source });
						if (out.textLayer) this.metrics.inc("paperwork_intake_text_layers_total", { reader: out.textLayer });
						this.metrics.observe("paperwork_intake_read_seconds", (Date.now() - started) / 1000, { kind: out.doc.file.kind });
					}
					// a client without a webhook has nothing to be told: no intake.notify hop (its handler would find none)
					const event = eventOf(out.status);
					if (event && client?.webhook) await this.enqueue(QUEUES.intakeNotify, { id, status: out.status }, { key: `${id}:${out.status}` });
					this.logger.info({ intakeId: id, clientId: doc.clientId, status: out.status, ...(out.doc?.error ? { reason: out.doc.error.code, attempts: out.doc.attempts } : {}), ms: Date.now() - started }, "document read");
				}
			}
		}
	}
};

export default reader;

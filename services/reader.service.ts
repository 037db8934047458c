/**
 * reader: consumes intake.received and reads each document (lib/intake/read/process.ts): text layer per page, OCR
 * (a pool of single-threaded Tesseract processes, one per core) for pages without one, fields from the issuer
 * templates and the generic extractor, checks; then puts the finished document on intake.notify.
 */
import { queuesMixin, type QueueServiceSchema, type QueueService } from "../mixins/queues.mixin.ts";
import { getPlatform } from "../lib/platform.ts";
import { QUEUES } from "../config/queues.ts";
import { intakeStore, ocrPool, indexDocument, TEMPLATES_DIR } from "../lib/intake/context.ts";
import { processDocument } from "../lib/intake/read/process.ts";
import { eventOf } from "../lib/intake/notify.ts";
import { clientSettings } from "../lib/ingest/context.ts";

type Self = QueueService;

const reader: QueueServiceSchema = {
	name: "reader",
	mixins: [queuesMixin],

	queues: {
		[QUEUES.intakeReceived]: {
			// pages are pooled per process; two documents at once keep the pool busy between documents
			concurrency: 2,
			async handler(this: Self, payload: unknown) {
				const { id } = payload as { id: string };
				{
					const platform = getPlatform();
					const store = await intakeStore();
					const doc = await store.get(id);
					if (!doc) return;
					const client = await clientSettings(this.broker, doc.clientId);
					const started = Date.now();
					const out = await processDocument(id, { platform, store, pool: ocrPool(), templatesDir: TEMPLATES_DIR, langs: client?.intake?.languages });
					if (!out.done) throw new Error(`document ${id} is being read by another reader; retry later`);
					await indexDocument(store, id);
					const event = eventOf(out.status);
					if (event) await this.enqueue(QUEUES.intakeNotify, { id, status: out.status }, { key: `${id}:${out.status}` });
					this.logger.info({ intakeId: id, clientId: doc.clientId, status: out.status, ms: Date.now() - started }, "document read");
				}
			}
		}
	}
};

export default reader;

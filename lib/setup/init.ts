/**
 * First-run set-up of a deployment, safe to run any number of times (the Kubernetes init Job, `npm run init`):
 * creates what is missing and leaves what exists. Each step is idempotent:
 * - the object store's bucket (S3/MinIO; a folder in the embedded default), by writing `system/init.json`;
 * - the store's collections and indexes (batches, chunks, rejections, records, documents, clients, api keys),
 *   with the same specs the services ensure at start;
 * - the search index of records (OpenSearch index with its mapping, or the view on the store);
 * - every work queue of config/queues.ts with its dead-letter queue, so that the queue-length autoscalers (KEDA)
 *   find them before the first consumer starts.
 * Services ensure their own indexes and the bucket on start as well: this only makes the first start predictable.
 */
import type { Platform } from "../platform.ts";
import { BatchStore } from "../ingest/batches.ts";
import { openRecords } from "../ingest/register.ts";
import { DOCUMENT_INDEXES } from "../render/documents.ts";
import { API_KEY_INDEXES, CLIENT_INDEXES } from "../clients.ts";
import { QUEUE_NAMES } from "../../config/queues.ts";
import type { IndexSpec } from "../store/types.ts";

export interface InitReport {
	bucket: string;
	collections: string[];
	queues: string[];
}

/** Opens a collection and ensures its indexes. */
async function ensureCollection(platform: Platform, collection: string, indexes: IndexSpec[]): Promise<void> {
	const a = platform.store.adapter(collection);
	await a.connect();
	await a.ensureIndexes(indexes);
}

export async function initialise(platform: Platform): Promise<InitReport> {
	const bucket = platform.config.s3?.bucket ?? platform.config.objects.bucket;
	await platform.objects.put("system/init.json", JSON.stringify({ initialisedAt: new Date().toISOString() }), { contentType: "application/json" });
	await BatchStore.open((c) => platform.store.adapter(c));
	await openRecords(platform.store, platform.search);
	await ensureCollection(platform, "documents", DOCUMENT_INDEXES);
	await ensureCollection(platform, "clients", CLIENT_INDEXES);
	await ensureCollection(platform, "api_keys", API_KEY_INDEXES);
	for (const q of QUEUE_NAMES) await platform.queues.declare(q);
	return { bucket, collections: ["batches", "chunks", "rejections", "file_hashes", "records", "documents", "clients", "api_keys"], queues: [...QUEUE_NAMES] };
}

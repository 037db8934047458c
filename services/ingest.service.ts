/**
 * ingest: takes records in. Uploads (raw body or multipart "file") stream into object storage; REST batches take
 * rows in calls of up to 10,000; files dropped under inbox/<clientId>/ are picked up by a scan (every INBOX_POLL_MS,
 * and at once on a MinIO notification). Each submission becomes a batch; the file-picker gets it on files.arrived.
 */
import type { Readable } from "node:stream";
import type { Context } from "moleculer";
import { queuesMixin, type QueueServiceSchema, type QueueService } from "../mixins/queues.mixin.ts";
import { getPlatform } from "../lib/platform.ts";
import { QUEUES } from "../config/queues.ts";
import { KIND_NAMES, isKind, type Kind } from "../lib/records/index.ts";
import { newId } from "../lib/store/ids.ts";
import { badRequest, conflict, notFound } from "../lib/api/errors.ts";
import { writeScope } from "../lib/api/scope.ts";
import { audit } from "../lib/audit/index.ts";
import { batchStore, clientOf, clientSettings, ownBatch } from "../lib/ingest/context.ts";
import { chunkId, type BatchDoc } from "../lib/ingest/batches.ts";
import { receiveFile, type RequestInfo } from "../lib/ingest/receive.ts";
import { checkRows, restHeader, rowsToChunk } from "../lib/ingest/rest-rows.ts";
import { formatFor } from "../lib/ingest/formats.ts";
import { chunkKey } from "../lib/ingest/split.ts";
import { scanInbox } from "../lib/ingest/inbox.ts";
import { listenInboxEvents, type InboxEvents } from "../lib/ingest/inbox-events.ts";

interface Own {
	scan(): Promise<number>;
	inboxTimer?: NodeJS.Timeout;
	inboxEvents?: InboxEvents;
	scanning?: Promise<number>;
	rescan?: boolean;
}
type Self = QueueService<Own>;

const ingest: QueueServiceSchema<Own> = {
	name: "ingest",
	mixins: [queuesMixin],

	actions: {
		/** POST /uploads?kind=debt: the file as the raw body or as the multipart field "file". */
		upload: {
			params: {
				kind: { type: "enum", values: KIND_NAMES, optional: true },
				filename: { type: "string", optional: true, max: 200 },
				clientId: { type: "string", optional: true, max: 64, description: "operators: the client this file is uploaded for (required for them)" }
			},
			async handler(this: Self, ctx: Context<{ kind?: Kind; filename?: string; clientId?: string }>) {
				const clientId = writeScope(ctx, ctx.params.clientId);
				const client = await clientSettings(this.broker, clientId);
				if (!client) throw notFound("client", clientId);
				const formatKind = (client?.format as { kind?: unknown } | undefined)?.kind;
				const kind = ctx.params.kind ?? (isKind(formatKind) ? formatKind : undefined);
				if (!kind) throw badRequest(`kind is required: ?kind=${KIND_NAMES.join(" or ?kind=")}`);
				const stream = (ctx as unknown as { stream?: Readable }).stream;
				if (!stream) throw badRequest("send the file as the request body or as the multipart field \"file\"");
				const { config, objects } = getPlatform();
				const store = await batchStore();
				const format = formatFor(client, kind, "upload");
				const batchId = newId();
				const request = ((ctx.meta as { $request?: RequestInfo }).$request ?? {}) as RequestInfo;
				const file = await receiveFile(objects, stream, { ...request, filename: ctx.params.filename ?? request.filename }, {
					keyFor: (name) => `raw/${clientId}/${batchId}/${name}`,
					maxBytes: config.http.uploadLimitBytes,
					encoding: format.encoding
				});
				const earlier = await store.claimFile(clientId, file.sha256, batchId);
				if (earlier) {
					await objects.delete(file.key);
					throw conflict(`this file is identical to the one of batch ${earlier}`, { batchId: earlier });
				}
				await store.create({ _id: batchId, clientId, kind, source: "upload", status: "RECEIVED", file });
				await this.enqueue(QUEUES.filesArrived, { batchId }, { key: `${batchId}:arrived` });
				this.logger.info({ batchId, clientId, kind, size: file.size, type: file.type }, "upload received");
				await audit(ctx, { action: "upload", target: `batch:${batchId}`, items: [batchId], clientId, details: { kind, size: file.size } });
				return { batchId, status: "RECEIVED" };
			}
		},

		/** POST /batches {kind}: a REST batch that takes rows until it is submitted. */
		createBatch: {
			params: { kind: { type: "enum", values: KIND_NAMES } },
			async handler(this: Self, ctx: Context<{ kind: Kind }>) {
				const clientId = clientOf(ctx);
				const store = await batchStore();
				const batch = await store.create({ clientId, kind: ctx.params.kind, source: "rest", status: "OPEN", header: { text: restHeader(ctx.params.kind), delimiter: "," }, restRows: 0, restChunks: 0 });
				return { id: batch._id, status: batch.status };
			}
		},

		/** POST /batches/:id/records with a JSON array of rows (canonical field names), at most 10,000 per call. */
		addRecords: {
			params: { id: { type: "string" }, rows: { type: "any" } },
			async handler(this: Self, ctx: Context<{ id: string; rows: unknown }>) {
				const batch = await ownBatch(ctx, ctx.params.id);
				if (batch.source !== "rest") throw conflict("rows can be added only to a batch created with POST /batches");
				if (batch.status !== "OPEN") throw conflict(`batch ${batch._id} is ${batch.status}; rows can be added only while it is OPEN`);
				const rows = checkRows(batch.kind, ctx.params.rows);
				const store = await batchStore();
				const { objects, config } = getPlatform();
				const size = config.ingest.chunkRows;
				let first = 0;
				for (let start = 0; start < rows.length; start += size) {
					const part = rows.slice(start, start + size);
					// reserve the lines and the chunk index atomically (calls may run in parallel)
					const after = (await store.batches.increment(batch._id, { restRows: part.length, restChunks: 1 })) as BatchDoc;
					const firstLine = (after.restRows ?? 0) - part.length + 1;
					const index = (after.restChunks ?? 1) - 1;
					if (start === 0) first = firstLine;
					const { text, lines, unknownFields } = rowsToChunk(batch.kind, part, firstLine);
					const key = chunkKey(batch, index);
					await objects.put(key, text, { contentType: "text/csv; charset=utf-8" });
					await store.chunks.insert({ _id: chunkId(batch._id, index), batchId: batch._id, index, key, firstLine, rows: part.length, lines, status: "PENDING" });
					if (unknownFields.length) {
						const known = new Set(batch.unknownColumns ?? []);
						const add = unknownFields.filter((f) => !known.has(f));
						if (add.length) await store.touch(batch._id, { unknownColumns: [...known, ...add] });
					}
				}
				return { batchId: batch._id, accepted: rows.length, lines: { first, last: first + rows.length - 1 } };
			}
		},

		/** POST /batches/:id/submit: no more rows; the batch goes down the pipeline. */
		submit: {
			params: { id: { type: "string" } },
			async handler(this: Self, ctx: Context<{ id: string }>) {
				const batch = await ownBatch(ctx, ctx.params.id);
				const store = await batchStore();
				if (batch.status !== "OPEN") throw conflict(`batch ${batch._id} is already ${batch.status}`);
				if (!batch.restRows) {
					await store.fail(batch, "no_rows", "the batch was submitted without any rows");
					await this.enqueue(QUEUES.batchesReport, { batchId: batch._id }, { key: `${batch._id}:report` });
					return { id: batch._id, status: "FAILED" };
				}
				if (!(await store.transition(batch._id, ["OPEN"], "RECEIVED"))) throw conflict(`batch ${batch._id} was submitted already`);
				await this.enqueue(QUEUES.filesArrived, { batchId: batch._id }, { key: `${batch._id}:arrived` });
				return { id: batch._id, status: "RECEIVED" };
			}
		},

		/** Scans the inbox now (operators; the timer and MinIO notifications call the same). */
		scanInbox: {
			async handler(this: Self) {
				return { taken: await this.scan() };
			}
		}
	},

	methods: {
		/** One inbox scan at a time; a request during a scan runs one more scan after it. */
		scan(this: Self): Promise<number> {
			if (this.scanning) {
				this.rescan = true;
				return this.scanning;
			}
			this.scanning = (async () => {
				let total = 0;
				do {
					this.rescan = false;
					const { objects } = getPlatform();
					total += await scanInbox({
						objects,
						store: await batchStore(),
						clientKind: async (clientId) => {
							const c = await clientSettings(this.broker, clientId);
							if (!c) return null;
							const k = (c.format as { kind?: unknown } | undefined)?.kind;
							return isKind(k) ? k : "debt";
						},
						arrived: async (batch) => {
							await this.enqueue(QUEUES.filesArrived, { batchId: batch._id }, { key: `${batch._id}:arrived` });
						},
						log: (level, obj, msg) => this.logger[level](obj, msg),
						maxBytes: getPlatform().config.http.uploadLimitBytes,
						document: async (clientId, key, id, name) => {
							try {
								await this.broker.call("intake.takeObject", { clientId, key, id, name });
								return { taken: true };
							} catch (err) {
								const e = err as { code?: number; message?: string };
								// a refusal (4xx) is final; anything else (intake not running...) is tried again on the next scan
								if (typeof e.code === "number" && e.code >= 400 && e.code < 500) return { taken: false, reason: e.message ?? "refused" };
								throw err;
							}
						}
					});
				} while (this.rescan);
				return total;
			})().finally(() => {
				this.scanning = undefined;
			});
			return this.scanning;
		}
	},

	async started(this: Self) {
		const { config, logger } = getPlatform();
		const every = config.ingest.inboxPollMs;
		if (every > 0) {
			const tick = () => {
				this.scan()
					.catch((err: Error) => this.logger.warn({ err: err.message }, "inbox scan failed"))
					.finally(() => {
						if (this.inboxTimer) this.inboxTimer = setTimeout(tick, every).unref();
					});
			};
			this.inboxTimer = setTimeout(tick, Math.min(every, 1000)).unref();
		}
		if (config.amqpUrl && config.s3) {
			this.inboxEvents = await listenInboxEvents(config.amqpUrl, logger, () => void this.scan().catch(() => undefined));
		}
	},

	async stopped(this: Self) {
		if (this.inboxTimer) clearTimeout(this.inboxTimer);
		this.inboxTimer = undefined;
		await this.scanning?.catch(() => undefined);
		await this.inboxEvents?.close();
	}
};

export default ingest;

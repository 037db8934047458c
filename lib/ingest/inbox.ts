/**
 * The S3 inbox: a client (or its SFTP bridge) drops a file under inbox/<clientId>/ and it becomes a batch like an
 * upload. The ingest actor scans the prefix (every INBOX_POLL_MS, and at once when MinIO announces a new object on
 * RabbitMQ). Taking a file is safe with several ingest nodes and after a crash: the batch ID is derived from the
 * object (key, size, time), so a file is taken once; it is copied to raw/ and removed from the inbox only after its
 * batch exists. Files of unknown clients, and files over the upload size limit, are moved to rejected/ with the
 * reason in their metadata.
 */
import { createHash } from "node:crypto";
import { isDuplicateKeyError } from "../store/errors.ts";
import type { ObjectInfo, ObjectStore } from "../objects/types.ts";
import type { Kind } from "../records/index.ts";
import { safeFileName } from "./receive.ts";
import type { BatchDoc, BatchStore } from "./batches.ts";
import { sniff, peek } from "../etl/sniff.ts";
import { sniffKind } from "../intake/checks.ts";

export const INBOX_PREFIX = "inbox/";

export interface InboxDeps {
	objects: ObjectStore;
	store: BatchStore;
	/** the client's kind of records for inbox files (its format's kind), or null when the client is unknown */
	clientKind(clientId: string): Promise<Kind | null>;
	/** called for each new batch to put on files.arrived */
	arrived(batch: BatchDoc): Promise<void>;
	/** largest file taken, in bytes (as for uploads); a bigger one is moved to rejected/ */
	maxBytes: number;
	log(level: "info" | "warn", obj: Record<string, unknown>, msg: string): void;
	/**
	 * PDFs and images go to document intake instead of becoming batches: resolves once intake holds the document
	 * (the ID is derived from the object, so a second scan finds it taken), or rejects with `reason` when intake
	 * refuses the file (the file then goes to rejected/). Unset: such files are left in the inbox.
	 */
	document?(clientId: string, key: string, id: string, name: string): Promise<{ taken: true } | { taken: false; reason: string }>;
}

/** A stable batch ID for an inbox object (24 hex, like other IDs). */
export function inboxBatchId(info: Pick<ObjectInfo, "key" | "size" | "lastModified">): string {
	return createHash("sha256").update(`${info.key}\n${info.size}\n${new Date(info.lastModified).getTime()}`).digest("hex").slice(0, 24);
}

/** Scans the inbox once; returns how many files became batches. */
export async function scanInbox(deps: InboxDeps): Promise<number> {
	let taken = 0;
	for await (const info of deps.objects.list(INBOX_PREFIX)) {
		if (info.key.endsWith("/")) continue;
		try {
			if (await takeFile(deps, info)) taken++;
		} catch (err) {
			deps.log("warn", { key: info.key, err: (err as Error).message }, "inbox file not taken; will try again on the next scan");
		}
	}
	return taken;
}

async function takeFile(deps: InboxDeps, info: ObjectInfo): Promise<boolean> {
	const parts = info.key.slice(INBOX_PREFIX.length).split("/");
	const clientId = parts.length >= 2 ? parts[0] : "";
	const kind = clientId ? await deps.clientKind(clientId) : null;
	if (!kind) {
		await moveObject(deps.objects, info.key, `rejected/${info.key}`, { reason: clientId ? `unknown client '${clientId}'` : "files go under inbox/<clientId>/" });
		deps.log("warn", { key: info.key }, "inbox file of an unknown client moved to rejected/");
		return false;
	}
	const batchId = inboxBatchId(info);
	const existing = await deps.store.get(batchId);
	if (existing) {
		// taken before a crash stopped the clean-up: finish it
		await deps.objects.delete(info.key);
		return false;
	}
	if (info.size > deps.maxBytes) {
		await moveObject(deps.objects, info.key, `rejected/${info.key}`, { reason: `larger than the limit of ${Math.round(deps.maxBytes / 1024 / 1024)} MiB` });
		deps.log("warn", { key: info.key, size: info.size }, "inbox file over the size limit moved to rejected/");
		return false;
	}
	const name = safeFileName(parts.slice(1).join("_"));
	const rawKey = `raw/${clientId}/${batchId}/${name}`;
	const { head, stream } = await peek(await deps.objects.get(info.key));
	if (sniffKind(head)) {
		// a PDF or an image: a document for intake, not records
		stream.destroy();
		if (!deps.document) return false;
		const out = await deps.document(clientId, info.key, batchId, name);
		if (!out.taken) {
			await moveObject(deps.objects, info.key, `rejected/${info.key}`, { reason: out.reason });
			deps.log("warn", { key: info.key, reason: out.reason }, "inbox document refused by intake; moved to rejected/");
			return false;
		}
		await deps.objects.delete(info.key);
		deps.log("info", { intakeId: batchId, clientId }, "inbox document handed to intake");
		return true;
	}
	const sniffed = sniff(head);
	const stored = await deps.objects.put(rawKey, stream, { contentType: info.contentType });
	const file = { key: rawKey, name, size: stored.size, sha256: stored.sha256, type: sniffed.type === "xlsx" ? ("xlsx" as const) : ("csv" as const) };
	const earlier = await deps.store.claimFile(clientId, stored.sha256, batchId);
	try {
		if (earlier && earlier !== batchId) {
			await deps.store.create({ _id: batchId, clientId, kind, source: "inbox", status: "FAILED", file, error: { code: "duplicate_file", message: `this file is identical to the one of batch ${earlier}` }, finishedAt: new Date() });
			deps.log("info", { batchId, clientId, earlier }, "inbox file is a repeat; batch failed");
		} else {
			const batch = await deps.store.create({ _id: batchId, clientId, kind, source: "inbox", status: "RECEIVED", file });
			await deps.arrived(batch);
			deps.log("info", { batchId, clientId, size: file.size }, "inbox file taken");
		}
	} catch (err) {
		if (!isDuplicateKeyError(err)) throw err;
		return false; // another ingest node took it at the same moment
	}
	await deps.objects.delete(info.key);
	return true;
}

async function moveObject(objects: ObjectStore, from: string, to: string, metadata: Record<string, string>): Promise<void> {
	const info = await objects.stat(from);
	await objects.put(to, await objects.get(from), { contentType: info?.contentType, metadata });
	await objects.delete(from);
}

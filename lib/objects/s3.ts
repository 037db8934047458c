/**
 * The S3 object store (MinIO or any S3) through the `minio` client; used when S3_ENDPOINT is set.
 *
 * put streams: the body is read in parts of `partSize` bytes (default 8 MiB) while being counted and hashed.
 * A body that fits in one part is sent with one PutObject; a bigger one as a multipart upload driven here (one part
 * uploading while the next is read, so memory stays at about two parts whatever the object's size). minio's own
 * putObject(stream) is not used for that: it does not notice a failing source stream (it waits forever), and it
 * resumes any unfinished multipart upload of the same key it finds. Since S3 only shows an object once its
 * PutObject or CompleteMultipartUpload succeeds, a put that fails (ObjectTooLargeError, a source error) never
 * leaves a partial object and leaves a previous version untouched; its multipart upload is aborted.
 *
 * Metadata is stored as x-amz-meta-* headers; a value that is not printable ASCII (or has edge spaces) is sent as
 * an RFC 2047 encoded word (=?UTF-8?B?...?=), the form S3 itself uses, and decoded on read.
 * list uses ListObjectsV2 (recursive) and a HEAD per object, a few in flight, for the content type and metadata.
 * link is a presigned GET URL. The bucket is created on first use if missing.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import { Client, type BucketItem } from "minio";
import { ObjectNotFoundError, type ObjectInfo, type ObjectStore, type PutOptions } from "./types.ts";
import { checkRangeShape, isValidKey, normaliseContentType, normaliseMetadata, validateExpiry, validateKey, validatePrefix, DEFAULT_CONTENT_TYPE } from "./keys.ts";
import { Meter, blocks, checkBody, discardBody, type Body } from "./meter.ts";

export interface S3ObjectStoreOptions {
	/** e.g. http://minio:9000 */
	endpoint: string;
	accessKey: string;
	secretKey: string;
	bucket: string;
	region: string;
	/** bytes per multipart part and the largest single PutObject (5 MiB to 5 GiB; default 8 MiB) */
	partSize?: number;
	/** HEAD requests in flight while listing (default 8) */
	listConcurrency?: number;
}

const MIN_PART = 5 * 1024 * 1024;
const MAX_PARTS = 10000;
const PRINTABLE = /^[\u0021-\u007e](?:[\u0020-\u007e]*[\u0021-\u007e])?$/;
const ENCODED_WORD = /^=\?UTF-8\?B\?([A-Za-z0-9+/]*={0,2})\?=$/i;
/** headers minio reports in statObject's metaData that are not user metadata */
const STANDARD_HEADERS = new Set(["content-type", "cache-control", "content-encoding", "content-disposition", "content-language", "x-amz-website-redirect-location", "if-none-match", "if-match", "x-amz-storage-class"]);

function errorCode(err: unknown): string | undefined {
	const code = (err as { code?: unknown } | undefined)?.code;
	return typeof code === "string" ? code : undefined;
}

function isNotFound(err: unknown): boolean {
	const code = errorCode(err);
	return code === "NoSuchKey" || code === "NotFound" || code === "NoSuchBucket";
}

/** A metadata value as a header value. */
export function encodeMetaValue(value: string): string {
	if (value === "" || (PRINTABLE.test(value) && !ENCODED_WORD.test(value))) return value;
	return `=?UTF-8?B?${Buffer.from(value, "utf8").toString("base64")}?=`;
}

/** A header value back as the metadata value. */
export function decodeMetaValue(value: string): string {
	const m = ENCODED_WORD.exec(value);
	return m ? Buffer.from(m[1], "base64").toString("utf8") : value;
}

export class S3ObjectStore implements ObjectStore {
	readonly kind = "s3" as const;
	readonly bucket: string;
	readonly client: Client;
	private readonly region: string;
	private readonly partSize: number;
	private readonly listConcurrency: number;
	private readonly agent: http.Agent;
	private bucketReady: Promise<void> | undefined;

	constructor(options: S3ObjectStoreOptions) {
		const url = new URL(options.endpoint);
		if (url.pathname !== "/" && url.pathname !== "") throw new Error(`S3_ENDPOINT must not have a path, got '${options.endpoint}'`);
		const useSSL = url.protocol === "https:";
		this.agent = useSSL ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
		if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket) || options.bucket.includes("..")) {
			throw new Error(`S3_BUCKET must be a valid bucket name (3-63 of a-z, 0-9, '.', '-'), got '${options.bucket}'`);
		}
		this.bucket = options.bucket;
		this.region = options.region;
		this.partSize = options.partSize ?? 8 * 1024 * 1024;
		if (!Number.isSafeInteger(this.partSize) || this.partSize < MIN_PART || this.partSize > 5 * 1024 ** 3) {
			throw new RangeError(`partSize must be from 5 MiB to 5 GiB, got ${this.partSize}`);
		}
		this.listConcurrency = Math.max(1, options.listConcurrency ?? 8);
		this.client = new Client({
			endPoint: url.hostname.replace(/^\[(.*)\]$/, "$1"),
			port: url.port ? Number(url.port) : undefined,
			useSSL,
			accessKey: options.accessKey,
			secretKey: options.secretKey,
			region: options.region,
			transportAgent: this.agent
		});
	}

	/** Creates the bucket once if it is missing (tolerating another process creating it at the same moment). */
	private ensureBucket(): Promise<void> {
		this.bucketReady ??= (async () => {
			if (await this.client.bucketExists(this.bucket)) return;
			try {
				await this.client.makeBucket(this.bucket, this.region);
			} catch (err) {
				const code = errorCode(err);
				if (code !== "BucketAlreadyOwnedByYou" && code !== "BucketAlreadyExists") throw err;
				if (!(await this.client.bucketExists(this.bucket))) throw err;
			}
		})().catch((err: unknown) => {
			this.bucketReady = undefined;
			throw err;
		});
		return this.bucketReady;
	}

	async put(key: string, body: Body, options: PutOptions = {}): Promise<{ key: string; size: number; sha256: string }> {
		let headers: Record<string, string>, meter: Meter;
		try {
			validateKey(key);
			checkBody(body);
			headers = { "content-type": normaliseContentType(options.contentType) };
			for (const [k, v] of Object.entries(normaliseMetadata(options.metadata))) headers[`x-amz-meta-${k}`] = encodeMetaValue(v);
			meter = new Meter(options.maxBytes);
			await this.ensureBucket();
		} catch (err) {
			discardBody(body);
			throw err;
		}
		const parts = blocks(meter.chunks(body), this.partSize);
		try {
			const first = await parts.next();
			const second = first.done ? first : await parts.next();
			if (second.done) {
				const buf = first.done ? Buffer.alloc(0) : first.value;
				await this.client.putObject(this.bucket, key, buf, buf.length, headers);
			} else {
				await this.multipart(key, headers, first.value as Buffer, second.value, parts);
			}
			return { key, size: meter.size, sha256: meter.digest() };
		} catch (err) {
			await parts.return(undefined).catch(() => undefined);
			discardBody(body);
			throw err;
		}
	}

	private async multipart(key: string, headers: Record<string, string>, first: Buffer, second: Buffer, rest: AsyncGenerator<Buffer>): Promise<void> {
		const uploadId = await this.client.initiateNewMultipartUpload(this.bucket, key, headers);
		const etags: { part: number; etag: string }[] = [];
		let inflight: Promise<void> | undefined;
		let partNumber = 0;
		const send = async (part: number, data: Buffer): Promise<void> => {
			const md5 = createHash("md5").update(data).digest("base64");
			const res = await this.client.uploadPart({ bucketName: this.bucket, objectName: key, uploadID: uploadId, partNumber: part, headers: { "content-md5": md5 } }, data);
			etags.push({ part, etag: res.etag });
		};
		try {
			let next: Buffer | undefined = first;
			let queued: Buffer | undefined = second;
			while (next) {
				if (++partNumber > MAX_PARTS) throw new RangeError(`object needs more than ${MAX_PARTS} parts of ${this.partSize} bytes`);
				if (inflight) await inflight;
				inflight = send(partNumber, next);
				// the next part is read while this one uploads; an upload error is seen at the next await
				inflight.catch(() => undefined);
				if (queued) {
					next = queued;
					queued = undefined;
				} else {
					const r = await rest.next();
					next = r.done ? undefined : r.value;
				}
			}
			await inflight;
			etags.sort((a, b) => a.part - b.part);
			await this.client.completeMultipartUpload(this.bucket, key, uploadId, etags);
		} catch (err) {
			await inflight?.catch(() => undefined);
			// best effort: an upload left behind holds storage until a bucket lifecycle rule removes it
			await this.client.abortMultipartUpload(this.bucket, key, uploadId).catch(() => undefined);
			throw err;
		}
	}

	async get(key: string, range?: { start: number; end?: number }): Promise<Readable> {
		validateKey(key);
		if (range) checkRangeShape(range);
		await this.ensureBucket();
		try {
			if (!range) return await this.client.getObject(this.bucket, key);
			const length = range.end === undefined ? undefined : range.end - range.start + 1;
			return await this.client.getPartialObject(this.bucket, key, range.start, length);
		} catch (err) {
			if (isNotFound(err)) throw new ObjectNotFoundError(key);
			if (errorCode(err) === "InvalidRange") throw new RangeError(`range start ${range?.start} is beyond the end of '${key}'`, { cause: err });
			throw err;
		}
	}

	async stat(key: string): Promise<ObjectInfo | null> {
		validateKey(key);
		await this.ensureBucket();
		return this.head(key);
	}

	private async head(key: string): Promise<ObjectInfo | null> {
		try {
			const st = await this.client.statObject(this.bucket, key);
			const metadata: Record<string, string> = {};
			let contentType: string | undefined;
			for (const [k, v] of Object.entries(st.metaData as Record<string, unknown>)) {
				const name = k.toLowerCase();
				if (name === "content-type") contentType = String(v);
				else if (!STANDARD_HEADERS.has(name) && !name.startsWith("x-amz-")) metadata[name] = decodeMetaValue(String(v));
			}
			return { key, size: st.size, lastModified: st.lastModified, contentType: contentType ?? DEFAULT_CONTENT_TYPE, metadata };
		} catch (err) {
			if (isNotFound(err)) return null;
			throw err;
		}
	}

	async *list(prefix: string): AsyncGenerator<ObjectInfo> {
		validatePrefix(prefix);
		await this.ensureBucket();
		const items = this.client.listObjectsV2(this.bucket, prefix, true) as unknown as AsyncIterable<BucketItem>;
		const window: Promise<ObjectInfo | null>[] = [];
		const take = (): Promise<ObjectInfo | null> => window.shift() as Promise<ObjectInfo | null>;
		try {
			for await (const item of items) {
				// keys another tool wrote that this port could not address are skipped
				if (!item.name || !isValidKey(item.name)) continue;
				const pending = this.head(item.name);
				pending.catch(() => undefined);
				window.push(pending);
				if (window.length >= this.listConcurrency) {
					const info = await take();
					if (info) yield info;
				}
			}
			while (window.length > 0) {
				const info = await take();
				if (info) yield info;
			}
		} finally {
			// a consumer that stops early leaves HEADs in flight: let them settle quietly
			for (const p of window) p.catch(() => undefined);
		}
	}

	async delete(key: string): Promise<void> {
		validateKey(key);
		await this.ensureBucket();
		try {
			await this.client.removeObject(this.bucket, key);
		} catch (err) {
			if (!isNotFound(err)) throw err;
		}
	}

	async link(key: string, expiresInSeconds: number): Promise<string> {
		validateKey(key);
		validateExpiry(expiresInSeconds);
		return this.client.presignedGetObject(this.bucket, key, expiresInSeconds);
	}

	async ping(): Promise<boolean> {
		try {
			await this.client.bucketExists(this.bucket);
			return true;
		} catch {
			return false;
		}
	}

	async close(): Promise<void> {
		this.agent.destroy();
	}
}


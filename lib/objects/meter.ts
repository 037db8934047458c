/**
 * Streaming helpers for object puts: turn a body (stream, Buffer or string) into Buffer chunks while counting bytes,
 * hashing them (SHA-256) and failing with ObjectTooLargeError as soon as more than maxBytes have arrived.
 * Both stores pull chunks through Meter.chunks() so backpressure reaches the source and nothing is held whole.
 */
import { createHash, type Hash } from "node:crypto";
import type { Readable } from "node:stream";
import { ObjectTooLargeError } from "./types.ts";

export type Body = Readable | Buffer | string;

function isReadable(body: unknown): body is Readable {
	return typeof body === "object" && body !== null && typeof (body as Readable).pipe === "function" &&
		typeof (body as Readable)[Symbol.asyncIterator] === "function";
}

/** Checks the body's type up front (TypeError otherwise). */
export function checkBody(body: Body): void {
	if (typeof body === "string" || Buffer.isBuffer(body) || isReadable(body)) return;
	throw new TypeError("object body must be a Readable stream, a Buffer or a string");
}

/** Destroys a stream body that will not be read (so its file handle or socket is released). */
export function discardBody(body: Body, err?: Error): void {
	if (isReadable(body) && !body.destroyed) body.destroy(err);
}

function toBuffer(chunk: unknown): Buffer {
	if (Buffer.isBuffer(chunk)) return chunk;
	if (typeof chunk === "string") return Buffer.from(chunk, "utf8");
	if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
	throw new TypeError("object body stream must yield Buffers, Uint8Arrays or strings");
}

/** A put's size limit: absent, or a whole number >= 0 (RangeError otherwise). */
export function checkMaxBytes(maxBytes: number | undefined): void {
	if (maxBytes !== undefined && (!Number.isSafeInteger(maxBytes) || maxBytes < 0)) {
		throw new RangeError(`maxBytes must be a whole number >= 0, got ${maxBytes}`);
	}
}

export class Meter {
	size = 0;
	readonly maxBytes: number | undefined;
	private readonly hash: Hash = createHash("sha256");

	constructor(maxBytes?: number) {
		checkMaxBytes(maxBytes);
		this.maxBytes = maxBytes;
	}

	/** The body's bytes as non-empty Buffer chunks, counted and hashed; throws ObjectTooLargeError past maxBytes. */
	async *chunks(body: Body): AsyncGenerator<Buffer> {
		const source: AsyncIterable<unknown> | unknown[] = isReadable(body) ? body : [body];
		for await (const raw of source) {
			const chunk = toBuffer(raw);
			if (chunk.length === 0) continue;
			this.size += chunk.length;
			if (this.maxBytes !== undefined && this.size > this.maxBytes) throw new ObjectTooLargeError(this.maxBytes);
			this.hash.update(chunk);
			yield chunk;
		}
	}

	/** Hex SHA-256 of every byte seen (call once, after the last chunk). */
	digest(): string {
		return this.hash.digest("hex");
	}
}

/**
 * Regroups chunks into blocks of exactly `size` bytes (the last one shorter), copying only to join pieces.
 * Holds at most one block plus one chunk.
 */
export async function* blocks(chunks: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
	let parts: Buffer[] = [];
	let held = 0;
	for await (let chunk of chunks) {
		while (held + chunk.length >= size) {
			const take = size - held;
			parts.push(chunk.subarray(0, take));
			yield parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
			chunk = chunk.subarray(take);
			parts = [];
			held = 0;
		}
		if (chunk.length > 0) {
			parts.push(chunk);
			held += chunk.length;
		}
	}
	if (held > 0) yield parts.length === 1 ? parts[0] : Buffer.concat(parts, held);
}

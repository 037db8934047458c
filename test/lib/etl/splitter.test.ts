import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { splitCsv, type SplitOptions } from "../../../lib/etl/splitter.ts";
import { SplitError, type Chunk, type SplitEvent } from "../../../lib/etl/chunk.ts";

/** Feeds `bytes` in pieces of `size` (to cut records, CRLFs and multi-byte characters anywhere). */
async function* pieces(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
	for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

interface Split {
	header?: { text: string; line: number };
	chunks: Chunk[];
	end: Extract<SplitEvent, { type: "end" }>;
}

async function split(input: string | Buffer, options: SplitOptions = {}, size = 1 << 20): Promise<Split> {
	const bytes = typeof input === "string" ? Buffer.from(input, "utf8") : input;
	const out: Partial<Split> & { chunks: Chunk[] } = { chunks: [] };
	const order: string[] = [];
	for await (const ev of splitCsv(pieces(bytes, size), options)) {
		order.push(ev.type);
		if (ev.type === "header") out.header = { text: ev.text, line: ev.line };
		else if (ev.type === "chunk") out.chunks.push(ev.chunk);
		else out.end = ev;
	}
	assert.equal(order.at(-1), "end");
	assert.equal(order.filter((t) => t === "end").length, 1);
	return out as Split;
}

/** Splits with several piece sizes and checks they all agree; returns one result. */
async function splitAll(input: string | Buffer, options: SplitOptions = {}): Promise<Split> {
	const whole = await split(input, options);
	for (const size of [1, 2, 3, 7, 64]) assert.deepEqual(await split(input, options, size), whole, `piece size ${size}`);
	return whole;
}

const summary = (s: Split): [number, number, string][] => s.chunks.map((c) => [c.firstLine, c.rows, c.text]);

test("header, then chunks of exactly N rows, with line numbers and sizes", async () => {
	const s = await splitAll("h1,h2\na,1\nb,2\nc,3\nd,4\n", { chunkRows: 2 });
	assert.deepEqual(s.header, { text: "h1,h2", line: 1 });
	assert.deepEqual(summary(s), [
		[2, 2, "a,1\nb,2\n"],
		[4, 2, "c,3\nd,4\n"]
	]);
	assert.deepEqual(s.chunks.map((c) => [c.index, c.bytes]), [[0, 8], [1, 8]]);
	assert.deepEqual({ ...s.end }, { type: "end", totalRows: 4, totalLines: 5, chunks: 2, bytesRead: 22 });
	const t = await splitAll("h\na\nb\nc\nd\ne\n", { chunkRows: 2 });
	assert.deepEqual(summary(t).map(([l, r]) => [l, r]), [[2, 2], [4, 2], [6, 1]]);
});

test("the default chunk size is 5,000 rows", async () => {
	const rows = Array.from({ length: 10_001 }, (_, i) => `r${i},${i}`).join("\n");
	const s = await split(`a,b\n${rows}\n`);
	assert.deepEqual(s.chunks.map((c) => [c.firstLine, c.rows]), [[2, 5000], [5002, 5000], [10002, 1]]);
	assert.equal(s.end.totalRows, 10_001);
});

test("quoted fields keep delimiters, escaped quotes and line breaks; lines count physical lines", async () => {
	const csv = 'id,note\n1,"a, b"\n2,"say ""hi"""\n3,"line one\nline two\r\nline three"\n4,plain\n5,"x"\n';
	const s = await splitAll(csv, { chunkRows: 2 });
	assert.deepEqual(summary(s), [
		[2, 2, '1,"a, b"\n2,"say ""hi"""\n'],
		[4, 2, '3,"line one\nline two\r\nline three"\n4,plain\n'],
		[8, 1, '5,"x"\n']
	]);
	assert.equal(s.end.totalLines, 8);
	assert.equal(s.end.totalRows, 5);
});

test("a quote inside an unquoted field is an ordinary character", async () => {
	const s = await splitAll('a,b\n5" screen,1\nx,2\n', { chunkRows: 1 });
	assert.deepEqual(summary(s), [
		[2, 1, '5" screen,1\n'],
		[3, 1, "x,2\n"]
	]);
});

test("CRLF line endings, BOM, no trailing newline", async () => {
	const s = await splitAll("\uFEFFa,b\r\n1,2\r\n3,4", { chunkRows: 10 });
	assert.deepEqual(s.header, { text: "a,b", line: 1 });
	assert.deepEqual(summary(s), [[2, 2, "1,2\r\n3,4"]]);
	assert.equal(s.end.totalLines, 3);
});

test("blank lines are skipped but counted", async () => {
	const s = await splitAll("\na,b\n\n1,2\n   \n,,\n3,4\n\n\n5,6\n", { chunkRows: 2 });
	assert.deepEqual(s.header, { text: "a,b", line: 2 });
	assert.deepEqual(summary(s).map(([l, r]) => [l, r]), [[4, 2], [10, 1]]);
	assert.equal(s.chunks[0].text, "1,2\n   \n,,\n3,4\n");
	assert.equal(s.chunks[1].text, "5,6\n");
	assert.equal(s.end.totalRows, 3);
	assert.equal(s.end.totalLines, 10);
});

test("semicolon delimiter: a line of semicolons is blank", async () => {
	const s = await splitAll("a;b\n1;\"x;y\"\n;;\n", { delimiter: ";" });
	assert.deepEqual(summary(s), [[2, 1, '1;"x;y"\n;;\n']]);
});

test("latin1 and windows-1252 bytes decode (ç = 0xE7, € = 0x80)", async () => {
	const bytes = Buffer.from([...Buffer.from("nome,valor\n"), 0x41, 0x73, 0x73, 0x75, 0x6e, 0xe7, 0xe3, 0x6f, 0x2c, 0x80, 0x35, 0x0a]);
	for (const encoding of ["latin1", "windows-1252"] as const) {
		const s = await splitAll(bytes, { encoding });
		assert.equal(s.chunks[0].text, "Assunção,€5\n");
		assert.equal(s.chunks[0].bytes, Buffer.byteLength("Assunção,€5\n"));
	}
});

test("UTF-8 multi-byte characters split across pieces decode whole", async () => {
	const s = await splitAll("nome\nJoão\nकुमार\nભાવેશ\n€\n");
	assert.equal(s.chunks[0].text, "João\nकुमार\nભાવેશ\n€\n");
});

test("invalid UTF-8 fails with the byte offset", async () => {
	const bytes = Buffer.concat([Buffer.from("a,b\n1,"), Buffer.from([0xe7]), Buffer.from("x\n")]);
	await assert.rejects(split(bytes), (e: unknown) => e instanceof SplitError && e.code === "invalid_encoding" && /byte offset 6/.test(e.message));
});

test("header-only, empty and blank-only files", async () => {
	const h = await splitAll("a,b\n");
	assert.deepEqual(h.header, { text: "a,b", line: 1 });
	assert.deepEqual(h.chunks, []);
	assert.equal(h.end.totalRows, 0);
	const e = await split("");
	assert.equal(e.header, undefined);
	assert.deepEqual(e.chunks, []);
	assert.deepEqual({ ...e.end }, { type: "end", totalRows: 0, totalLines: 0, chunks: 0, bytesRead: 0 });
	const b = await split("\n\n\r\n");
	assert.equal(b.header, undefined);
	assert.equal(b.end.totalLines, 3);
});

test("an unclosed quote cannot swallow the file: bounded record size", async () => {
	const csv = `a,b\n1,"never closed\n${"x,y\n".repeat(1000)}`;
	await assert.rejects(split(csv, { maxRecordChars: 1000 }, 100), (e: unknown) => e instanceof SplitError && e.code === "record_too_long" && e.line === 2);
	// at end of file an unclosed quote is one last record (the parser then rejects it)
	const s = await split('a,b\n1,"open\n2,3\n');
	assert.deepEqual(summary(s), [[2, 1, '1,"open\n2,3\n']]);
});

test("maxRows fails the file", async () => {
	await assert.rejects(split("a\n1\n2\n3\n", { maxRows: 2 }), (e: unknown) => e instanceof SplitError && e.code === "too_many_rows");
});

test("reads a Node Readable and stays lazy (pulls only as chunks are consumed)", async () => {
	let produced = 0;
	const src = Readable.from(
		(function* () {
			yield Buffer.from("a\n");
			for (let i = 0; i < 1000; i++) {
				produced++;
				yield Buffer.from(`${"r".repeat(100)}${i}\n`.repeat(10));
			}
		})(),
		{ objectMode: false, highWaterMark: 1024 }
	);
	const it = splitCsv(src, { chunkRows: 10 });
	assert.equal((await it.next()).value?.type, "header");
	const first = await it.next();
	assert.equal(first.value?.type === "chunk" && first.value.chunk.rows, 10);
	assert.ok(produced < 100, `only a little of the source was read (${produced} of 1000 pieces)`);
	await it.return(undefined);
	src.destroy();
});

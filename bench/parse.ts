/**
 * Parse benchmark on a generated 1,000,000-row debt CSV (~100 MB, under os.tmpdir(), reused between runs):
 * csv-parse alone (objects and arrays), the splitter alone, and splitter + parse-chunk (full validation), each as
 * rows/s (per wall second and per CPU second of this process: on a busy machine the second is the fair figure) with the
 * peak RSS seen during that phase. Run: node --expose-gc bench/parse.ts [rows=1000000] [chunkRows=5000] [phases]
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parse } from "csv-parse";
import { generateDebtCsv } from "./fixtures/debts.ts";
import { splitCsv } from "../lib/etl/splitter.ts";
import { createParseContext, parseChunk, type ParseContext } from "../lib/etl/parse-chunk.ts";
import { defaultFormat } from "../lib/etl/format.ts";

const rows = Number(process.argv[2] ?? 1_000_000);
const chunkRows = Number(process.argv[3] ?? 5000);
/** phases to run, comma-separated: objects,arrays,split,full (default all; one alone gives its own peak RSS) */
const only = new Set((process.argv[4] ?? "objects,arrays,split,full").split(","));
const file = path.join(os.tmpdir(), `paperwork-bench-debts-${rows}.csv`);
const READ = { highWaterMark: 1 << 20 };

async function phase(key: string, name: string, fn: () => Promise<number>): Promise<void> {
	if (!only.has(key)) return;
	(globalThis as { gc?: () => void }).gc?.();
	let peak = process.memoryUsage().rss;
	const timer = setInterval(() => {
		peak = Math.max(peak, process.memoryUsage().rss);
	}, 20);
	const t0 = performance.now();
	const c0 = process.cpuUsage();
	const n = await fn();
	const s = (performance.now() - t0) / 1000;
	const c = process.cpuUsage(c0);
	const cpu = (c.user + c.system) / 1e6;
	clearInterval(timer);
	peak = Math.max(peak, process.memoryUsage().rss);
	const rate = (x: number): string => Math.round(n / x).toLocaleString("en-US").padStart(10);
	console.log(`${name.padEnd(42)} ${String(n).padStart(8)} rows  wall ${s.toFixed(2).padStart(6)} s ${rate(s)} rows/s  cpu ${cpu.toFixed(2).padStart(6)} s ${rate(cpu)} rows/cpu-s  peak RSS ${Math.round(peak / 2 ** 20)} MB`);
}

const existing = await stat(file).catch(() => null);
if (!existing) {
	const t0 = performance.now();
	const g = await generateDebtCsv(file, rows, 0.03);
	console.log(`generated ${file}: ${g.rows} rows (${g.badRows} bad), ${(g.bytes / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
} else {
	console.log(`using ${file} (${(existing.size / 1e6).toFixed(1)} MB)`);
}
console.log(`node ${process.version}, ${os.cpus().length} CPUs, chunkRows ${chunkRows}`);

async function csvParse(columns: boolean): Promise<number> {
	let n = 0;
	const parser = createReadStream(file, READ).pipe(parse({ columns, relax_column_count: true }));
	for await (const _ of parser) n++;
	return n;
}

await phase("objects", "csv-parse alone, objects (columns: true)", () => csvParse(true));
await phase("arrays", "csv-parse alone, arrays", () => csvParse(false));
await phase("split", "splitter (quote-aware chunks)", async () => {
	let n = 0;
	for await (const ev of splitCsv(createReadStream(file, READ), { chunkRows })) if (ev.type === "chunk") n += ev.chunk.rows;
	return n;
});
let valid = 0;
let rejections = 0;
await phase("full", "splitter + parse-chunk (full validation)", async () => {
	let n = 0;
	let ctx: ParseContext | undefined;
	const format = defaultFormat("debt");
	for await (const ev of splitCsv(createReadStream(file, READ), { chunkRows })) {
		if (ev.type === "header") ctx = createParseContext(format, ev.text, { delimiter: ev.delimiter, today: "2026-01-01" });
		else if (ev.type === "chunk" && ctx) {
			const r = parseChunk(ev.chunk, ctx);
			n += r.rows;
			valid += r.valid.length;
			rejections += r.rejections.length;
		}
	}
	return n;
});
if (only.has("full")) console.log(`full validation: ${valid} valid records, ${rejections} rejections`);
console.log(`process max RSS (getrusage): ${Math.round(process.resourceUsage().maxRSS / 1024)} MB`);

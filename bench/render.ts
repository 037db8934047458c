/**
 * Rendering benchmark: the 4-page welcome letter (letter + 60-row EMI schedule + charges), languages mixed
 * en/hi/mr/gu, through
 *   (1) the Chromium tab pool (untagged, the default; and tagged, for comparison),
 *   (2) the WeasyPrint worker pool,
 *   (3) a weasyprint-wrapper-style baseline: one `/usr/bin/python3 -m weasyprint - -` process per document,
 * all in the same run. Prints documents/s and peak RSS of the whole process tree (this node process plus the
 * browser / python children, summed from /proc), and the Chromium/baseline ratio.
 *
 *   node bench/render.ts [--chromium 200] [--weasyprint 20] [--baseline 10] [--tabs N] [--only chromium,weasyprint,baseline]
 *   node bench/render.ts --long [--docs 1000]     Chromium only, RSS printed every 100 documents
 *
 * Concurrency: each engine's pool size (default os.availableParallelism()); the baseline runs as many
 * processes at once. Other work on the machine skews the figures: run it on a quiet machine to compare.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import { ChromiumEngine } from "../lib/render/chromium.ts";
import { WeasyPrintEngine } from "../lib/render/weasyprint.ts";
import { countPdfPages } from "../lib/render/engine.ts";
import type { RenderResult } from "../lib/render/engine.ts";
import { toHtml } from "../lib/render/templates.ts";
import { sampleLoan, LANGUAGES } from "./fixtures/loans.ts";

const { values: args } = parseArgs({
	options: {
		chromium: { type: "string", default: "200" },
		weasyprint: { type: "string", default: "20" },
		baseline: { type: "string", default: "10" },
		tabs: { type: "string" },
		only: { type: "string" },
		long: { type: "boolean", default: false },
		docs: { type: "string", default: "1000" }
	}
});

const CORES = os.availableParallelism();
const POOL = args.tabs ? Number(args.tabs) : CORES;

// ---- process-tree memory ---------------------------------------------------------------------------------

/**
 * Memory of this process and all its descendants, from /proc: the sum of VmRSS (what was asked; it counts
 * pages shared between Chromium's processes once per process) and the sum of PSS (shared pages divided
 * among their sharers: the honest total).
 */
function treeMemory(root = process.pid, withPss = true): { rss: number; pss: number } {
	let rss = 0;
	let pss = 0;
	for (const pid of treePids(root)) {
		try {
			rss += Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
			// smaps_rollup walks the page tables (~2 ms per Chromium process): read it less often
			if (withPss) pss += Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0) * 1024;
		} catch {
			// ended
		}
	}
	return { rss, pss };
}

/**
 * CPU seconds used by the tree: user + system time of every live process plus the children each has
 * reaped (so one-shot processes such as the baseline's are counted once they exit). Clock ticks are 1/100 s.
 */
function treeCpuSeconds(root = process.pid): number {
	let ticks = 0;
	for (const pid of treePids(root)) {
		try {
			const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
			const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
			ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
		} catch {
			// ended
		}
	}
	return ticks / 100;
}

/** This process and all its descendants. */
function treePids(root: number): number[] {
	const children = new Map<number, number[]>();
	for (const name of fs.readdirSync("/proc")) {
		if (!/^\d+$/.test(name)) continue;
		try {
			const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
			const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
			const list = children.get(ppid) ?? [];
			list.push(Number(name));
			children.set(ppid, list);
		} catch {
			// the process ended while we looked
		}
	}
	const out: number[] = [];
	const stack = [root];
	while (stack.length) {
		const pid = stack.pop() as number;
		out.push(pid);
		stack.push(...(children.get(pid) ?? []));
	}
	return out;
}

/** Samples the tree's memory (RSS every 250 ms, PSS every second) and keeps the peaks. */
class PeakMemory {
	rss = 0;
	pss = 0;
	#ticks = 0;
	#timer: NodeJS.Timeout;
	constructor() {
		this.sample();
		this.#timer = setInterval(() => this.sample(this.#ticks++ % 4 === 0), 250);
	}
	sample(withPss = true): { rss: number; pss: number } {
		const now = treeMemory(process.pid, withPss);
		this.rss = Math.max(this.rss, now.rss);
		if (withPss) this.pss = Math.max(this.pss, now.pss);
		return now;
	}
	stop(): { rss: number; pss: number } {
		clearInterval(this.#timer);
		this.sample();
		return { rss: this.rss, pss: this.pss };
	}
}

const mb = (b: number): string => `${(b / 1024 / 1024).toFixed(0)} MB`;

// ---- documents ---------------------------------------------------------------------------------------------

/** The HTML of document i (languages rotate en, hi, mr, gu). */
function html(i: number): string {
	return toHtml("welcome-letter", LANGUAGES[i % LANGUAGES.length], sampleLoan(i));
}

/** Runs n jobs keeping `concurrency` in flight; returns the wall time in seconds. */
async function runPool(n: number, concurrency: number, job: (i: number) => Promise<RenderResult>, onDone?: (done: number) => void): Promise<{ seconds: number; cpu: number; pages: number[] }> {
	const pages: number[] = [];
	let next = 0;
	let done = 0;
	const cpu0 = treeCpuSeconds();
	const t0 = performance.now();
	const worker = async (): Promise<void> => {
		while (next < n) {
			const i = next++;
			const r = await job(i);
			pages.push(r.pages);
			done++;
			onDone?.(done);
		}
	};
	await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
	return { seconds: (performance.now() - t0) / 1000, cpu: treeCpuSeconds() - cpu0, pages };
}

interface Row {
	name: string;
	docs: number;
	seconds: number;
	perSecond: number;
	/** CPU seconds per document, over the whole process tree */
	cpuPerDoc: number;
	peak: { rss: number; pss: number };
	pages: string;
	note?: string;
}

function pagesSummary(pages: number[]): string {
	const counts = new Map<number, number>();
	for (const p of pages) counts.set(p, (counts.get(p) ?? 0) + 1);
	return [...counts].sort((a, b) => a[0] - b[0]).map(([p, c]) => `${c}x${p}p`).join(" ");
}

async function benchChromium(n: number, tagged: boolean): Promise<Row> {
	const engine = new ChromiumEngine({ tabs: POOL, tagged, recycleAfter: 0 });
	const t0 = performance.now();
	await engine.warmUp();
	const launch = (performance.now() - t0) / 1000;
	await Promise.all(Array.from({ length: POOL }, (_, i) => engine.render(html(i)))); // open and warm every tab
	const mem = new PeakMemory();
	const { seconds, cpu, pages } = await runPool(n, POOL * 2, (i) => engine.render(html(i)));
	const peak = mem.stop();
	await engine.close();
	return { name: `chromium ${tagged ? "tagged" : "untagged"} (${POOL} tabs)`, docs: n, seconds, perSecond: n / seconds, cpuPerDoc: cpu / n, peak, pages: pagesSummary(pages), note: `browser start ${launch.toFixed(2)} s, not timed` };
}

async function benchWeasyPrint(n: number): Promise<Row> {
	const engine = new WeasyPrintEngine({ workers: POOL, recycleAfter: 0 });
	const t0 = performance.now();
	await engine.warmUp();
	const start = (performance.now() - t0) / 1000;
	const mem = new PeakMemory();
	const { seconds, cpu, pages } = await runPool(n, POOL * 2, (i) => engine.render(html(i)));
	const peak = mem.stop();
	await engine.close();
	return { name: `weasyprint workers (${POOL})`, docs: n, seconds, perSecond: n / seconds, cpuPerDoc: cpu / n, peak, pages: pagesSummary(pages), note: `worker start ${start.toFixed(2)} s, not timed` };
}

/** What weasyprint-wrapper does (minus its bugs): a fresh python + WeasyPrint import per document. */
function spawnWeasyPrint(doc: string): Promise<RenderResult> {
	return new Promise((resolve, reject) => {
		const child = spawn("/usr/bin/python3", ["-m", "weasyprint", "-", "-"], { stdio: ["pipe", "pipe", "pipe"] });
		const out: Buffer[] = [];
		let err = "";
		child.stdout.on("data", (c: Buffer) => out.push(c));
		child.stderr.on("data", (c: Buffer) => (err += c.toString()));
		child.on("error", reject);
		child.on("close", (code) => {
			const pdf = Buffer.concat(out);
			if (code !== 0 || pdf.length === 0) reject(new Error(`weasyprint exited ${code}: ${err.slice(-500)}`));
			else resolve({ pdf, pages: countPdfPages(pdf) });
		});
		child.stdin.end(doc);
	});
}

async function benchBaseline(n: number): Promise<Row> {
	const mem = new PeakMemory();
	const { seconds, cpu, pages } = await runPool(n, POOL, (i) => spawnWeasyPrint(html(i)));
	const peak = mem.stop();
	return { name: `baseline: python3 -m weasyprint per doc (${POOL} at once)`, docs: n, seconds, perSecond: n / seconds, cpuPerDoc: cpu / n, peak, pages: pagesSummary(pages) };
}

async function longRun(n: number): Promise<void> {
	const engine = new ChromiumEngine({ tabs: POOL });
	await engine.warmUp();
	console.log(`Chromium long run: ${n} documents, ${POOL} tabs, RSS of node + browser tree every 100 documents`);
	const m0 = treeMemory();
	console.log(`  start: RSS ${mb(m0.rss)} (PSS ${mb(m0.pss)})`);
	const mem = new PeakMemory();
	let last = performance.now();
	const { seconds, cpu } = await runPool(n, POOL * 2, (i) => engine.render(html(i)), (done) => {
		if (done % 100 === 0) {
			const now = performance.now();
			const m = mem.sample();
			console.log(`  ${String(done).padStart(5)} docs  RSS ${mb(m.rss).padStart(7)}  PSS ${mb(m.pss).padStart(7)}  ${(100 / ((now - last) / 1000)).toFixed(1)} docs/s`);
			last = now;
		}
	});
	console.log(`  total ${n} docs in ${seconds.toFixed(1)} s = ${(n / seconds).toFixed(1)} docs/s (${(cpu / n).toFixed(3)} CPU-s/doc), peak RSS ${mb(mem.stop().rss)}, browser launches ${engine.stats.launches}`);
	await engine.close();
}

async function main(): Promise<void> {
	console.log(`${os.cpus()[0]?.model ?? "cpu"}, ${CORES} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
	// Templating cost (view model + Handlebars), measured alone.
	const t0 = performance.now();
	for (let i = 0; i < 200; i++) html(i);
	console.log(`toHtml: ${((performance.now() - t0) / 200).toFixed(2)} ms per document (${(html(0).length / 1024).toFixed(0)} KB of HTML)`);
	if (args.long) {
		await longRun(Number(args.docs));
		return;
	}
	const only = new Set((args.only ?? "chromium,weasyprint,baseline").split(","));
	const rows: Row[] = [];
	if (only.has("chromium")) {
		rows.push(await benchChromium(Number(args.chromium), false));
		rows.push(await benchChromium(Math.max(20, Math.floor(Number(args.chromium) / 2)), true));
	}
	if (only.has("weasyprint")) rows.push(await benchWeasyPrint(Number(args.weasyprint)));
	if (only.has("baseline")) rows.push(await benchBaseline(Number(args.baseline)));
	console.log("");
	console.log(`${"engine".padEnd(52)} ${"docs".padStart(5)} ${"seconds".padStart(8)} ${"docs/s".padStart(7)} ${"CPU-s/doc".padStart(9)} ${"idle est.".padStart(9)} ${"peak RSS".padStart(9)} ${"peak PSS".padStart(9)}  pages`);
	for (const r of rows) {
		const idle = CORES / r.cpuPerDoc;
		console.log(`${r.name.padEnd(52)} ${String(r.docs).padStart(5)} ${r.seconds.toFixed(1).padStart(8)} ${r.perSecond.toFixed(2).padStart(7)} ${r.cpuPerDoc.toFixed(3).padStart(9)} ${idle.toFixed(1).padStart(9)} ${mb(r.peak.rss).padStart(9)} ${mb(r.peak.pss).padStart(9)}  ${r.pages}${r.note ? `  (${r.note})` : ""}`);
	}
	console.log(`(idle est. = cores / CPU-s per document: the documents/s this tree would reach with every core to itself)`);
	const chromium = rows.find((r) => r.name.startsWith("chromium untagged"));
	const baseline = rows.find((r) => r.name.startsWith("baseline"));
	const weasy = rows.find((r) => r.name.startsWith("weasyprint"));
	if (chromium && baseline) {
		console.log(`\nchromium pool / baseline: ${(chromium.perSecond / baseline.perSecond).toFixed(1)}x measured, ${(baseline.cpuPerDoc / chromium.cpuPerDoc).toFixed(1)}x in CPU per document (goal >= 8x)`);
		console.log(`chromium pool: ${chromium.perSecond.toFixed(1)} docs/s measured, ~${(CORES / chromium.cpuPerDoc).toFixed(1)} docs/s on idle cores (goal >= 10)`);
	}
	if (weasy && baseline) console.log(`weasyprint workers / baseline: ${(weasy.perSecond / baseline.perSecond).toFixed(1)}x`);
	console.log(`load average at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
}

await main();

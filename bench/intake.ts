/**
 * Intake throughput and accuracy, small runs (a shared machine): born-digital 3-page invoices through the API
 * (upload -> reader -> COMPLETED) beside pdftotext alone on the same files, and 300 dpi scans through the API beside
 * the tesseract CLI alone; each tool alone runs as many processes at once as there are cores (the reader's pool and
 * parallelism). The pipeline reads text layers with its long-lived pdf-text workers (lib/intake/read/text-layer.ts),
 * so it pays no process start a document where the tool alone does. It prints each ratio, the CPU a document of the
 * node and of its tools (and of xargs with the tool alone), and the peak RSS of this process (the whole node runs in
 * it) and of every process it started (pdf-text, the reader's tool helper, tesseract, and the tools run alone), per
 * command name. Accuracy: the share of expected fields (invoice number, issue date, total) read exactly.
 *
 * Born-digital documents and scans each run in several rounds (--rounds), the pipeline and the tool alone in turn,
 * their order alternating, each round as a new client (the same files again would be 409s); the median ratio is the
 * figure. A round of a few hundred documents lasts about a second, and the first carries the node's warm-up: use
 * --docs 400.
 *
 *   npm run bench:intake -- [--docs 10] [--scans 4] [--rounds 3]
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { startNode } from "../lib/node.ts";
import { signOperatorToken } from "../lib/api/auth.ts";
import { loadJwtSecret } from "../lib/secrets.ts";
import { textPdf } from "../test/helpers/intake-corpus.ts";
import { descendantsCpuS, formatPeaks, reapedChildrenCpuS, sampleProcessTree } from "./fixtures/process-tree.ts";
import { median } from "./fixtures/median.ts";
import { post } from "./fixtures/http-post.ts";

const { values: args } = parseArgs({ options: { docs: { type: "string", default: "10" }, scans: { type: "string", default: "4" }, rounds: { type: "string", default: "3" } } });
const DOCS = Number(args.docs);
const SCANS = Number(args.scans);
/** born-digital rounds, pipeline and tool in turn (their order alternating): on a shared machine the median ratio */
const ROUNDS = Math.max(1, Number(args.rounds));
const dir = mkdtempSync(path.join(os.tmpdir(), "paperwork-bench-intake-"));
const cores = os.availableParallelism();
const tree = sampleProcessTree();

interface Expected {
	file: string;
	invoice_number: string;
	issue_date: string;
	total: number;
}

function invoicePages(n: number): Buffer[] {
	return [
		textPdf([`Bench Supplies ${n}`, `Invoice No: BS-${5000 + n}`, "Invoice Date: 15/02/2026", "Bill To: Example Buyer"]),
		textPdf(["Items", ...Array.from({ length: 20 }, (_v, i) => `Item ${i + 1}   1   100.00`)]),
		textPdf(["Subtotal: 2,000.00", "GST: 360.00", `Total: ${2360 + n}.00`])
	];
}

/** one born-digital document outside the measured sets */
function build1(): Expected[] {
	const file = path.join(dir, "warm-up.pdf");
	writeFileSync(file, textPdf(["Warm Up Traders", "Invoice No: WU-1", "Invoice Date: 15/02/2026", "Total: 10.00"]));
	return [{ file, invoice_number: "WU-1", issue_date: "2026-02-15", total: 10 }];
}

function build(): { digital: Expected[]; scans: Expected[] } {
	const digital: Expected[] = [];
	for (let n = 0; n < DOCS; n++) {
		const parts = invoicePages(n).map((b, i) => {
			const f = path.join(dir, `d${n}-${i}.pdf`);
			writeFileSync(f, b);
			return f;
		});
		const file = path.join(dir, `digital-${n}.pdf`);
		execFileSync("qpdf", ["--empty", "--pages", ...parts, "--", file]);
		digital.push({ file, invoice_number: `BS-${5000 + n}`, issue_date: "2026-02-15", total: 2360 + n });
	}
	const scans: Expected[] = [];
	for (let n = 0; n < SCANS; n++) {
		const pdf = path.join(dir, `s${n}.pdf`);
		writeFileSync(pdf, textPdf([`Scan Traders ${n}`, `Invoice No: ST-${700 + n}`, "Invoice Date: 01/03/2026", `Total: ${900 + n}.50`]));
		execFileSync("pdftoppm", ["-r", "300", "-gray", "-png", "-singlefile", pdf, path.join(dir, `scan-${n}`)]);
		scans.push({ file: path.join(dir, `scan-${n}.png`), invoice_number: `ST-${700 + n}`, issue_date: "2026-03-01", total: 900 + n + 0.5 });
	}
	return { digital, scans };
}

/**
 * The tool alone: `xargs -P <cores>` runs it once per file, `cores` at once. xargs (a small process) starts the
 * tools, so their start-up is the tool's own, not a large node's spawn (which costs more than pdftotext itself).
 */
function toolAlone(files: string[], cmd: string[], env: Record<string, string> = {}): Promise<void> {
	return new Promise((resolve, reject) => {
		const p = spawn("xargs", ["-0", "-P", String(cores), "-I{}", ...cmd], { stdio: ["pipe", "ignore", "ignore"], env: { ...process.env, ...env } });
		p.once("error", reject);
		p.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`xargs ${cmd[0]} exited ${code}`))));
		p.stdin.end(files.map((f) => `${f}\0`).join(""));
	});
}

async function main(): Promise<void> {
	const { digital, scans } = build();
	const node = await startNode({ env: { PATH: process.env.PATH, DATA_DIR: path.join(dir, "data"), PORT: "0", METRICS_PORT: "0", LOG_LEVEL: "warn", JWT_SECRET: "bench-secret-bench-secret-bench-secret", INBOX_POLL_MS: "0" }, logger: pino({ level: "silent" }) });
	const base = `http://127.0.0.1:${node.httpPort}/api/v1`;
	try {
		const admin = signOperatorToken(loadJwtSecret(node.config), "bench", "admin");
		const newClient = async (name: string) => (await (await fetch(`${base}/clients`, { method: "POST", headers: { Authorization: `Bearer ${admin}`, "Content-Type": "application/json" }, body: JSON.stringify({ name, intake: { languages: "eng+hin" } }) })).json()) as { apiKey: string };
		let c = await newClient("bench-warm-up");
		const get = async <T>(url: string): Promise<T> => (await (await fetch(url, { headers: { "X-API-Key": c.apiKey } })).json()) as T;
		const through = async (set: Expected[], label: string, pages: number) => {
			const bodies = set.map((e) => readFileSync(e.file));
			// the clock the node stamps finishedAt with (the same machine's): the run ends with the last document's
			const t0 = Date.now();
			const cpu0 = process.cpuUsage();
			const tools0 = descendantsCpuS();
			const ids = await Promise.all(bodies.map(async (body) => (JSON.parse(await post(`${base}/intake`, body, { "X-API-Key": c.apiKey, "Content-Type": "application/octet-stream" })) as { id: string }).id));
			// done when nothing is PENDING or PROCESSING: two queries, every 5 % of the time so far (100 ms-1 s). The
			// time measured ends at the last document's finishedAt, not when a poll sees it, so polling seldom costs the
			// figure nothing, and takes little CPU from the pipeline it measures (at 2 %, 50-500 ms, a third of the
			// node's CPU while scans were read was these polls)
			for (;;) {
				const open = await Promise.all(["PENDING", "PROCESSING"].map((st) => get<{ total: number }>(`${base}/intake?status=${st}&limit=1`)));
				if (open.every((o) => o.total === 0)) break;
				await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(100, (Date.now() - t0) / 20))));
			}
			const cpu = process.cpuUsage(cpu0);
			const tools = descendantsCpuS() - tools0;
			let right = 0;
			let last = t0;
			for (const [i, id] of ids.entries()) {
				const d = await get<{ fields: Record<string, { value: unknown }>; finishedAt: string }>(`${base}/intake/${id}`);
				last = Math.max(last, Date.parse(d.finishedAt));
				const e = set[i];
				right += Number(d.fields.invoice_number?.value === e.invoice_number) + Number(d.fields.issue_date?.value === e.issue_date) + Number(d.fields.total?.value === e.total);
			}
			const s = (last - t0) / 1000;
			const perDoc = (ms: number) => (set.length ? ms / set.length : 0).toFixed(2);
			console.log(`${label}: ${set.length} documents (${set.length * pages} pages) in ${s.toFixed(2)} s: ${(set.length / s).toFixed(2)} docs/s, ${((set.length * pages) / s).toFixed(1)} pages/s; fields exact ${right}/${set.length * 3}`);
			// to the end of the run (not the reads of every document after it); the node's includes the bench's own uploads
			// and polls; its tools: the pdf-text workers, the helper and what it ran
			console.log(`  CPU a document: the node ${perDoc((cpu.user + cpu.system) / 1000)} ms, its tools ${perDoc(tools * 1000)} ms`);
			return set.length / s;
		};
		// one document first, not counted: the node's first-use costs (JIT, the tool helper's start, templates)
		await through(build1(), "warm-up", 3);
		/**
		 * Rounds of the pipeline and the tool alone in turn, their order alternating (a shared machine drifts), each
		 * round as a new client (the same files again would be 409s); the median ratio is the figure.
		 */
		const compare = async (kind: string, set: Expected[], pages: number, tool: string, cmd: string[], goal: number, env: Record<string, string> = {}) => {
			const unit = pages > 1 ? "documents" : "pages";
			const ratios: number[] = [];
			for (let r = 0; r < ROUNDS && set.length; r++) {
				c = await newClient(`bench-${kind}-${r}`);
				const alone = async () => {
					const t0 = performance.now();
					const reaped0 = reapedChildrenCpuS();
					await toolAlone(set.map((e) => e.file), cmd, env);
					const s = (performance.now() - t0) / 1000;
					console.log(`${tool} alone (${cores} at once): ${set.length} ${unit} in ${s.toFixed(2)} s: ${(set.length / s).toFixed(2)} ${unit}/s`);
					// xargs and its tools were reaped when it ended
					console.log(`  CPU a ${unit.slice(0, -1)}: ${(((reapedChildrenCpuS() - reaped0) * 1000) / set.length).toFixed(2)} ms (xargs and ${tool})`);
					return set.length / s;
				};
				const label = `round ${r + 1}: ${kind} through the API`;
				const first = r % 2 === 0 ? await through(set, label, pages) : await alone();
				const second = r % 2 === 0 ? await alone() : await through(set, label, pages);
				const [api, alone1] = r % 2 === 0 ? [first, second] : [second, first];
				ratios.push(api / alone1);
				console.log(`round ${r + 1}: ${Math.round(100 * (api / alone1))} % of ${tool} alone`);
			}
			if (ratios.length) {
				console.log(`${kind}: median ${Math.round(100 * median(ratios))} % of ${tool} alone over ${ratios.length} rounds (goal >= ${goal} %)`);
			}
		};
		await compare("born-digital", digital, 3, "pdftotext", ["pdftotext", "-layout", "{}", "-"], 60);
		// Tesseract single-threaded, as the reader runs it
		await compare("300 dpi scans", scans, 1, "tesseract", ["tesseract", "{}", "stdout", "-l", "eng+hin", "tsv"], 90, { OMP_THREAD_LIMIT: "1" });
		console.log(`peak RSS of the node (API, intake, reader, store in this process): ${Math.round(process.resourceUsage().maxRSS / 1024)} MB`);
		tree.stop();
		console.log(`peak RSS of the processes it started, per command (sampled every 250 ms): ${formatPeaks(new Map([...tree.peaks()].filter(([name]) => name !== "self")))}`);
	} finally {
		try {
			await node.stop();
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	}
}

await main();

/**
 * Intake throughput and accuracy, small runs (a shared machine): born-digital 3-page invoices through the API
 * (upload -> reader -> COMPLETED) beside pdftotext alone on the same files, and 300 dpi scans through the API beside
 * the tesseract CLI alone (single-threaded processes, as many at once as the reader's pool). Accuracy: the share of
 * expected fields (invoice number, issue date, total) read exactly.
 *
 *   npm run bench:intake -- [--docs 10] [--scans 4]
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

const { values: args } = parseArgs({ options: { docs: { type: "string", default: "10" }, scans: { type: "string", default: "4" } } });
const DOCS = Number(args.docs);
const SCANS = Number(args.scans);
const dir = mkdtempSync(path.join(os.tmpdir(), "paperwork-bench-intake-"));
const cores = os.availableParallelism();

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

function runCli(cmd: string, a: string[], env: Record<string, string> = {}): Promise<void> {
	return new Promise((resolve, reject) => {
		const p = spawn(cmd, a, { stdio: ["ignore", "ignore", "ignore"], env: { ...process.env, ...env } });
		p.once("error", reject);
		p.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`))));
	});
}

async function pooled<T>(items: T[], size: number, fn: (t: T) => Promise<void>): Promise<void> {
	let next = 0;
	await Promise.all(Array.from({ length: size }, async () => {
		while (next < items.length) await fn(items[next++]);
	}));
}

async function main(): Promise<void> {
	const { digital, scans } = build();
	const node = await startNode({ env: { PATH: process.env.PATH, DATA_DIR: path.join(dir, "data"), PORT: "0", METRICS_PORT: "0", LOG_LEVEL: "warn", JWT_SECRET: "bench-secret-bench-secret-bench-secret", INBOX_POLL_MS: "0" }, logger: pino({ level: "silent" }) });
	const base = `http://127.0.0.1:${node.httpPort}/api/v1`;
	try {
		const admin = signOperatorToken(loadJwtSecret(node.config), "bench", "admin");
		const c = (await (await fetch(`${base}/clients`, { method: "POST", headers: { Authorization: `Bearer ${admin}`, "Content-Type": "application/json" }, body: JSON.stringify({ name: "bench", intake: { languages: "eng+hin" } }) })).json()) as { apiKey: string };
		const through = async (set: Expected[], label: string, pages: number) => {
			const t0 = performance.now();
			const ids = await Promise.all(set.map(async (e) => ((await (await fetch(`${base}/intake`, { method: "POST", headers: { "X-API-Key": c.apiKey, "Content-Type": "application/octet-stream" }, body: readFileSync(e.file) })).json()) as { id: string }).id));
			let right = 0;
			for (const [i, id] of ids.entries()) {
				for (;;) {
					const d = (await (await fetch(`${base}/intake/${id}`, { headers: { "X-API-Key": c.apiKey } })).json()) as { status: string; fields: Record<string, { value: unknown }> };
					if (!["PENDING", "PROCESSING"].includes(d.status)) {
						const e = set[i];
						right += Number(d.fields.invoice_number?.value === e.invoice_number) + Number(d.fields.issue_date?.value === e.issue_date) + Number(d.fields.total?.value === e.total);
						break;
					}
					await new Promise((r) => setTimeout(r, 20));
				}
			}
			const s = (performance.now() - t0) / 1000;
			console.log(`${label}: ${set.length} documents (${set.length * pages} pages) in ${s.toFixed(2)} s: ${(set.length / s).toFixed(2)} docs/s, ${((set.length * pages) / s).toFixed(1)} pages/s; fields exact ${right}/${set.length * 3}`);
		};
		await through(digital, "born-digital through the API", 3);
		let t0 = performance.now();
		for (const e of digital) await runCli("pdftotext", ["-layout", e.file, "-"]);
		let s = (performance.now() - t0) / 1000;
		console.log(`pdftotext alone: ${digital.length} documents in ${s.toFixed(2)} s: ${((digital.length * 3) / s).toFixed(1)} pages/s`);
		await through(scans, "300 dpi scans through the API", 1);
		t0 = performance.now();
		await pooled(scans, cores, (e) => runCli("tesseract", [e.file, "stdout", "-l", "eng+hin", "tsv"], { OMP_THREAD_LIMIT: "1" }));
		s = (performance.now() - t0) / 1000;
		console.log(`tesseract CLI alone (${cores} single-threaded at once): ${scans.length} pages in ${s.toFixed(2)} s: ${(scans.length / s).toFixed(2)} pages/s`);
	} finally {
		await node.stop();
		rmSync(dir, { recursive: true, force: true });
	}
}

await main();

/**
 * Billing runs on the embedded default (one process): N loans with a year of monthly repayments each and 1 % suspected
 * duplicates, billed for one cycle without PDFs (duplicates, passbook, statement, validate, the SMS with the amount due
 * sent to a local server that speaks Twilio's API), then M loans with PDFs beside the renderer's own documents/s on
 * the same statements in the same run.
 *
 *   npm run bench:billing -- [--loans 100000] [--pdf-loans 200 (0: no run with PDFs)] [--pdf-rounds 4] [--without-notifier]
 *
 * Prints loans/s to a final status, the CPU time this process spent per loan (the notifier's SMS work included:
 * all of Paperwork runs in this process; Chromium's is not), SMS sent per loan, peak RSS, and the PDF run against the
 * renderer alone (--pdf-rounds rounds, the two in turn, their order alternating: the median ratio is the figure; an
 * even number, so each order runs as often: the renderer timed first ran faster, 78-87 % against 94-103 %).
 * The Twilio server runs in a child process of its own (a provider is outside; its CPU is printed apart) and posts its
 * status callbacks 192 at a time, as bench:dispatch's provider servers do.
 * --without-notifier runs the node without the notifier (the statement cases wait on
 * cases.rendered, no SMS goes out, no PDF run): billing's own steps alone, for the capacity model.
 */
import { parseArgs } from "node:util";
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { availableServices, startNode } from "../lib/node.ts";
import { QUEUES } from "../config/queues.ts";
import { signOperatorToken } from "../lib/api/auth.ts";
import { startTwilioServer } from "../test/fixtures/providers/twilio.ts";
import { freePort } from "../test/helpers/node.ts";
import { processStats } from "./fixtures/process-tree.ts";
import { median } from "./fixtures/median.ts";
import { ChromiumEngine } from "../lib/render/chromium.ts";
import { toHtml } from "../lib/render/templates.ts";
import { buildPassbook } from "../lib/billing/passbook.ts";
import { computeStatement, statementDocumentData } from "../lib/billing/statement.ts";

const { values } = parseArgs({ options: { role: { type: "string" }, loans: { type: "string", default: "100000" }, "pdf-loans": { type: "string", default: "200" }, "pdf-rounds": { type: "string", default: "4" }, "without-notifier": { type: "boolean", default: false } } });
const LOANS = Number(values.loans);
const WITHOUT_NOTIFIER = values["without-notifier"];
const PDF_LOANS = Number(values["pdf-loans"]);
const PDF_ROUNDS = Math.max(1, Number(values["pdf-rounds"]));
const SECRET = "bench-secret-bench-secret-bench-secret";
const CYCLE_TO = "2026-11-10";
const LANGS = ["en", "hi", "mr", "gu"];

let peakRss = 0;
const rssTimer = values.role ? undefined : setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
const TWILIO = { accountSid: "ACbench", authToken: "bench-token" };

/** The child process that plays Twilio: its Messages resource and the status callbacks, over HTTP on loopback. */
async function twilioRole(): Promise<void> {
	const twilio = await startTwilioServer({ ...TWILIO, record: false, statuses: ["delivered"], callbackConcurrency: 192 });
	process.on("message", (m: { settle?: boolean; accepted?: boolean; callbacks?: boolean; done?: boolean }) => {
		if (m.accepted) process.send?.({ acceptedCount: twilio.accepted });
		if (m.callbacks) process.send?.({ callbackCounts: { posted: twilio.callbacks.length, failed: twilio.callbacks.filter((c) => c.answer !== 200).length } });
		if (m.settle) void twilio.settled().then(() => process.send?.({ settled: true }));
		if (m.done) void twilio.close().then(() => process.exit(0));
	});
	process.send?.({ url: twilio.url });
}

/** The Twilio server's process: its URL, a wait for its callbacks in flight, its CPU seconds and peak RSS, its end. */
async function startTwilioProcess(): Promise<{ url: string; accepted(): Promise<number>; callbacks(): Promise<{ posted: number; failed: number }>; settled(): Promise<void>; stats(): { cpuS: number; peakMiB: number }; close(): void }> {
	const child: ChildProcess = fork(fileURLToPath(import.meta.url), ["--role", "twilio"], { execArgv: ["--disable-warning=ExperimentalWarning"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
	const next = <T>(pick: (m: T) => boolean) =>
		new Promise<T>((resolve, reject) => {
			const exited = (code: number | null) => reject(new Error(`Twilio server process exited with ${code}`));
			const on = (m: T) => {
				if (!pick(m)) return;
				child.off("message", on);
				child.off("exit", exited);
				resolve(m);
			};
			child.on("message", on);
			child.once("exit", exited);
		});
	const { url } = await next<{ url?: string }>((m) => !!m.url);
	return {
		url: url as string,
		async accepted() {
			const answer = next<{ acceptedCount?: number }>((m) => m.acceptedCount !== undefined);
			child.send({ accepted: true });
			return (await answer).acceptedCount as number;
		},
		async callbacks() {
			const answer = next<{ callbackCounts?: { posted: number; failed: number } }>((m) => m.callbackCounts !== undefined);
			child.send({ callbacks: true });
			return (await answer).callbackCounts as { posted: number; failed: number };
		},
		async settled() {
			const done = next<{ settled?: boolean }>((m) => !!m.settled);
			child.send({ settle: true });
			await done;
		},
		stats: () => processStats(child.pid as number),
		close() {
			child.send({ done: true });
		}
	};
}

function loanCsv(prefix: string, n: number): string {
	const head = "loan_id,applicant_name,language,phone,email,address_line1,address_line2,city,state,postal_code,loan_amount,annual_interest_rate,tenure_months,disbursement_date,first_emi_date,processing_fee";
	const rows: string[] = [head];
	for (let i = 0; i < n; i++) rows.push(`${prefix}${i},Borrower ${i},${LANGS[i % 4]},98${String(76500000 + i).padStart(8, "0")},,${i} MG Road,,Pune,Maharashtra,411001,${100000 + (i % 50) * 1000},12,24,2025-11-01,2025-12-05,0`);
	return rows.join("\n");
}

/** 12 monthly payments per loan (Dec 2025 .. Nov 2026), the amount of its EMI rounded up; 1 % pay one twice. */
function repaymentCsv(prefix: string, n: number): string {
	const rows: string[] = ["payment_ref,loan_id,amount,paid_at,method,payer_ref"];
	for (let i = 0; i < n; i++) {
		const pay = 5000 + (i % 50) * 50;
		for (let m = 0; m < 12; m++) {
			const month = ((11 + m) % 12) + 1;
			const year = m === 0 ? 2025 : 2026;
			const day = `${year}-${String(month).padStart(2, "0")}-05 10:00`;
			rows.push(`UPI-${prefix}${i}-${m},${prefix}${i},${pay}.00,${day},upi,`);
			if (m === 3 && i % 100 === 0) rows.push(`UPI-${prefix}${i}-${m}-dup,${prefix}${i},${pay}.00,${year}-${String(month).padStart(2, "0")}-05 10:04,upi,`);
		}
	}
	return rows.join("\n");
}

async function main(): Promise<void> {
	const twilio = await startTwilioProcess();
	const dataDir = mkdtempSync(path.join(os.tmpdir(), "paperwork-bench-billing-"));
	// a fixed port, so that PUBLIC_URL (the StatusCallback Twilio posts to) names the gateway: with PORT=0 it read
	// http://localhost:0 and every status callback failed unseen
	const port = await freePort();
	const node = await startNode({
		env: {
			PATH: process.env.PATH,
			DATA_DIR: dataDir,
			PORT: String(port),
			PUBLIC_URL: `http://127.0.0.1:${port}`,
			METRICS_PORT: "0",
			LOG_LEVEL: "warn",
			LOG_FORMAT: "json",
			JWT_SECRET: SECRET,
			INBOX_POLL_MS: "0",
			TWILIO_API_URL: twilio.url,
			TWILIO_ACCOUNT_SID: "ACbench",
			TWILIO_AUTH_TOKEN: "bench-token",
			TWILIO_FROM: "+15550001111",
			TWILIO_RATE_PER_S: "0",
			SANDBOX_CALLBACK_DELAY_MS: "0",
			...(WITHOUT_NOTIFIER ? { SERVICES: availableServices().filter((n) => n !== "notifier").join(",") } : {})
		},
		logger: pino({ level: "silent" })
	});
	const api = `http://127.0.0.1:${node.httpPort}/api/v1`;
	const admin = { Authorization: `Bearer ${signOperatorToken(SECRET, "bench", "admin")}` };
	const call = async <T>(method: string, url: string, body?: unknown, headers: Record<string, string> = admin, type = "application/json"): Promise<T> => {
		const res = await fetch(`${api}${url}`, { method, headers: { ...headers, ...(body !== undefined ? { "Content-Type": type } : {}) }, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
		const text = await res.text();
		if (res.status >= 400) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 300)}`);
		return JSON.parse(text) as T;
	};
	const client = async (name: string) => call<{ id: string; apiKey: string }>("POST", "/clients", { name, delivery: { plan: ["sms"] }, billing: { statementDay: Number(CYCLE_TO.slice(8, 10)) } });
	const upload = async (key: string, kind: string, csv: string) => {
		const { batchId } = await call<{ batchId: string }>("POST", `/uploads?kind=${kind}`, csv, { "X-API-Key": key }, "text/csv");
		for (;;) {
			const b = await call<{ status: string; counts: { valid: number; rejected: number } }>("GET", `/batches/${batchId}`, undefined, { "X-API-Key": key });
			if (b.status === "COMPLETED" || b.status === "FAILED") return b;
			await new Promise((r) => setTimeout(r, 250));
		}
	};
	/** SMS attempts the notifier made for a client (delivery's attempts collection) */
	const smsSent = (clientId: string): Promise<number> => node.platform.store.adapter("delivery_attempts").count({ query: { clientId, channel: "sms" } });
	type RunCounts = { status: string; counts: { loans: number; done: number; halted: number; steps: Record<string, { passed: number }> } };
	const runToEnd = async (clientId: string, pdf: boolean): Promise<{ seconds: number; computed: number; cpuMsPerLoan: number; run: RunCounts }> => {
		const t0 = performance.now();
		const cpu0 = process.cpuUsage();
		let computed = 0;
		const run = await call<{ id: string }>("POST", "/billing/runs", { clientId, cycleTo: CYCLE_TO, pdf });
		for (;;) {
			const r = await call<RunCounts>("GET", `/billing/runs/${run.id}`);
			// when every loan has passed validate: duplicates, passbook, statement and validate are done
			if (!computed && r.counts.steps.validate.passed >= r.counts.loans) computed = (performance.now() - t0) / 1000;
			if (r.status !== "running") {
				const cpu = process.cpuUsage(cpu0);
				return { seconds: (performance.now() - t0) / 1000, computed, cpuMsPerLoan: (cpu.user + cpu.system) / 1000 / Math.max(1, r.counts.loans), run: r };
			}
			await new Promise((res) => setTimeout(res, 200));
		}
	};

	try {
		console.log(`billing bench: ${LOANS.toLocaleString("en")} loans, 12 repayments each (1 % with a duplicate), cycle ending ${CYCLE_TO}; ${os.availableParallelism()} cores`);
		const a = await client("bench-billing");
		const t = performance.now();
		await upload(a.apiKey, "loan", loanCsv("L", LOANS));
		const rep = await upload(a.apiKey, "repayment", repaymentCsv("L", LOANS));
		// billing checks a repayment batch for suspected duplicates when it completes: let that finish (a billing run comes
		// long after the repayments in life), so the run's figures are the run's alone
		const refunds = node.platform.store.adapter("refunds");
		while ((await refunds.count({ query: { client: a.id } })) < Math.ceil(LOANS / 100) || (await node.platform.queues.stats(QUEUES.billingRepayments)).ready > 0) await new Promise((r) => setTimeout(r, 250));
		console.log(`  data in: ${rep.counts.valid.toLocaleString("en")} repayments registered and checked for duplicates in ${((performance.now() - t) / 1000).toFixed(1)} s (with the loans)`);
		const noPdf = await runToEnd(a.id, false);
		if (WITHOUT_NOTIFIER) {
			console.log(`  run without PDFs, notifier not running: ${noPdf.run.counts.done.toLocaleString("en")} done, ${noPdf.run.counts.halted} halted in ${noPdf.seconds.toFixed(1)} s = ${Math.round(noPdf.run.counts.loans / noPdf.seconds).toLocaleString("en")} loans/s to their statement cases; CPU ${noPdf.cpuMsPerLoan.toFixed(2)} ms a loan`);
			console.log(`  peak RSS (one process, everything): ${Math.round(peakRss / 1048576)} MB`);
			return;
		}
		// the run ends when every statement case is handed to the notifier; the loan is billed when its SMS is sent
		// (every bench loan has a phone): wait for the last one, counting the CPU it took. The Twilio server counts what
		// it accepted (asking the node's store would put a count of every attempt on the node's main thread, the very
		// thread measured, every 200 ms); the store's count of SMS attempts is read once, at the end
		const cpuSms0 = process.cpuUsage();
		const tSms0 = performance.now();
		while ((await twilio.accepted()) < noPdf.run.counts.done) await new Promise((r) => setTimeout(r, 200));
		await twilio.settled();
		const toLastSms = noPdf.seconds + (performance.now() - tSms0) / 1000;
		const cpuSms = process.cpuUsage(cpuSms0);
		const sms = await smsSent(a.id);
		const delivered = await node.platform.store.adapter("delivery_attempts").count({ query: { clientId: a.id, channel: "sms", status: "delivered" } });
		const callbacks = await twilio.callbacks();
		const loans = noPdf.run.counts.loans;
		console.log(`  run without PDFs: ${noPdf.run.counts.done.toLocaleString("en")} done, ${noPdf.run.counts.halted} halted; statement cases handed to the notifier in ${noPdf.seconds.toFixed(1)} s = ${Math.round(loans / noPdf.seconds).toLocaleString("en")} loans/s`);
		console.log(`    to the last SMS sent (${sms} SMS, ${(Number(sms) / loans).toFixed(2)} a loan): ${toLastSms.toFixed(1)} s = ${Math.round(loans / toLastSms).toLocaleString("en")} loans/s; CPU ${(noPdf.cpuMsPerLoan + (cpuSms.user + cpuSms.system) / 1000 / Math.max(1, loans)).toFixed(2)} ms a loan in this process`);
		const tw = twilio.stats();
		console.log(`    status callbacks: ${callbacks.posted.toLocaleString("en")} posted to the gateway, ${callbacks.failed} refused or unanswered; ${delivered.toLocaleString("en")} SMS attempts delivered`);
		if (callbacks.failed > 0 || delivered < sms) console.log("    WARNING: not every SMS was confirmed by its callback: the figure above leaves work out");
		console.log(`    the Twilio server (a process of its own, not Paperwork): CPU ${((tw.cpuS * 1000) / Math.max(1, loans)).toFixed(2)} ms a loan, peak RSS ${Math.round(tw.peakMiB)} MB`);
		console.log(`    every loan past validate at ${noPdf.computed.toFixed(1)} s (the steps run side by side, chunk after chunk)`);

		if (PDF_LOANS > 0) {
			// with PDFs: a small client, beside the renderer alone on the same statements. The node's renderer starts its
			// Chromium on its first document, as a long-running renderer has long done: a warm-up run of 4 loans (one per
			// language) first, not counted, as the renderer alone is warmed up before it is timed
			const w = await client("bench-billing-pdf-warm-up");
			await upload(w.apiKey, "loan", loanCsv("W", 4));
			await upload(w.apiKey, "repayment", repaymentCsv("W", 4));
			const warm = await runToEnd(w.id, true);
			console.log(`  warm-up run with PDFs (not counted): ${warm.run.counts.done} loans in ${warm.seconds.toFixed(1)} s`);
			// rounds: the pipeline and the renderer alone in turn, their order alternating, each round a new client (a
			// shared machine's load moves between runs of ~10 s): the median ratio is the figure
			const engine = new ChromiumEngine({ tabs: node.config.render.concurrency, timeoutMs: 30_000 });
			await engine.warmUp();
			const rendererAlone = async (htmls: string[]): Promise<number> => {
				const t0 = performance.now();
				let next = 0;
				await Promise.all(Array.from({ length: node.config.render.concurrency }, async () => {
					while (next < htmls.length) await engine.render(htmls[next++] as string);
				}));
				return htmls.length / ((performance.now() - t0) / 1000);
			};
			const ratios: number[] = [];
			for (let round = 1; round <= PDF_ROUNDS; round++) {
				const prefix = `P${round}-`;
				const b = await client(`bench-billing-pdf-${round}`);
				await upload(b.apiKey, "loan", loanCsv(prefix, PDF_LOANS));
				await upload(b.apiKey, "repayment", repaymentCsv(prefix, PDF_LOANS));
				const htmls: string[] = [];
				for (let i = 0; i < PDF_LOANS; i++) {
					const loan = { loan_id: `${prefix}${i}`, loan_amount: String(100000 + (i % 50) * 1000), annual_interest_rate: "12", tenure_months: 24, first_emi_date: "2025-12-05" };
					const pays = Array.from({ length: 12 }, (_, m) => ({ payment_ref: `U${m}`, amount: `${5000 + (i % 50) * 50}.00`, paid_at: `${m === 0 ? 2025 : 2026}-${String(((11 + m) % 12) + 1).padStart(2, "0")}-05T04:30:00Z` }));
					const pb = buildPassbook(loan, pays, CYCLE_TO, { ratePercentPerMonth: "2" });
					const st = computeStatement(pb, { from: "2026-10-11", to: CYCLE_TO });
					htmls.push(toHtml("loan-statement", LANGS[i % 4] as string, statementDocumentData(st, pb, { loan_id: loan.loan_id, applicant_name: `Borrower ${i}`, address_line1: `${i} MG Road`, city: "Pune", state: "Maharashtra", postal_code: "411001" })));
				}
				const aloneFirst = round % 2 === 0;
				const before = aloneFirst ? await rendererAlone(htmls) : 0;
				const withPdf = await runToEnd(b.id, true);
				const engineRate = aloneFirst ? before : await rendererAlone(htmls);
				const pipelineRate = withPdf.run.counts.loans / withPdf.seconds;
				ratios.push(pipelineRate / engineRate);
				console.log(`  round ${round}: run with PDFs: ${withPdf.run.counts.done} done, ${withPdf.run.counts.halted} halted in ${withPdf.seconds.toFixed(1)} s = ${pipelineRate.toFixed(1)} loans/s; the renderer alone${aloneFirst ? " (timed first)" : ""}: ${engineRate.toFixed(1)} documents/s; ratio ${((pipelineRate / engineRate) * 100).toFixed(0)} %`);
			}
			await engine.close();
			console.log(`  with PDFs: median ${(median(ratios) * 100).toFixed(0)} % of the renderer alone over ${ratios.length} rounds (${ratios.map((r) => `${(r * 100).toFixed(0)} %`).join(", ")}; goal >= 90 %)`);
		}
		console.log(`  peak RSS (one process, everything): ${Math.round(peakRss / 1048576)} MB`);
	} finally {
		clearInterval(rssTimer);
		await node.stop();
		twilio.close();
		rmSync(dataDir, { recursive: true, force: true });
	}
}

if (values.role === "twilio") await twilioRole();
else await main();

/**
 * Delivery benchmark on the embedded default: N cases with a stored PDF go through the notifier (its own broker,
 * in-process queue, SQLite store, the sandbox provider with no callback delay), 20 % of them with a phone that
 * fails on WhatsApp, so they fall over to RCS. Prints cases/s from the first cases.rendered message to the last
 * case's final status, peak RSS, and provider calls (sandbox outbox entries) per case.
 *
 *   node bench/dispatch.ts [--cases 2000] [--concurrency 16]
 *
 * Figures from a shared machine are indicative only: run it on a quiet one to compare.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { startNode } from "../lib/node.ts";
import { QUEUES } from "../config/queues.ts";
import { caseIdOf } from "../lib/delivery/notifier.ts";
import { deliveryStore } from "../lib/delivery/store.ts";
import type { CaseDoc } from "../lib/delivery/types.ts";

const { values: args } = parseArgs({ options: { cases: { type: "string", default: "2000" }, concurrency: { type: "string", default: "16" } } });
const N = Number(args.cases);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "paperwork-bench-dispatch-"));
let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
const node = await startNode({
	env: { PATH: process.env.PATH, DATA_DIR: dir, PORT: "0", METRICS_PORT: "0", LOG_LEVEL: "warn", JWT_SECRET: "bench-secret-bench-secret-bench", SANDBOX_CALLBACK_DELAY_MS: "0", DELIVERY_SWEEP_MS: "1000" },
	services: ["clients", "notifier"],
	logger: pino({ level: "warn" })
});
try {
	const binding = (node.broker.getLocalService("notifier") as unknown as { schema: { queues: Record<string, { concurrency?: number }> } }).schema.queues[QUEUES.casesRendered];
	binding.concurrency = Number(args.concurrency);
	const ds = await deliveryStore(node.platform.store);
	const clientId = ((await node.broker.call("clients.create", { name: "bench" })) as { id: string }).id;
	const key = `documents/${clientId}/bench/letter.pdf`;
	await node.platform.objects.put(key, Buffer.alloc(60_000, 1), { contentType: "application/pdf" });
	const now = new Date();
	const docs: CaseDoc[] = [];
	for (let i = 0; i < N; i++) {
		const fails = i % 5 === 0;
		docs.push({
			_id: caseIdOf(clientId, `L-${i}`, "welcome-letter"),
			clientId,
			loanKey: `L-${i}`,
			documentType: "welcome-letter",
			template: "welcome-letter",
			recordId: `r${i}`,
			dueDate: "2026-11-20",
			language: "en",
			recipient: { name: "Asha", phone: fails ? `+91987${String(i).padStart(3, "0").slice(-3)}0000` : `+9198${String(76500001 + i).padStart(8, "0")}`, email: `b${i}@example.com`, language: "en" },
			status: "pending",
			runId: "bench",
			runIds: ["bench"],
			try: 1,
			createdAt: now,
			updatedAt: now
		});
	}
	for (let i = 0; i < docs.length; i += 1000) await ds.cases.insertMany(docs.slice(i, i + 1000));
	const t0 = performance.now();
	const cpu0 = process.cpuUsage();
	const msgs = docs.map((c) => ({ payload: { caseId: c._id, clientId, documentId: "doc-bench", key, pages: 4, bytes: 60_000, template: "welcome-letter", language: "en" }, options: { key: `${c._id}:rendered` } }));
	for (let i = 0; i < msgs.length; i += 1000) await node.platform.queues.publishMany(QUEUES.casesRendered, msgs.slice(i, i + 1000));
	let done = 0;
	while (done < N) {
		await new Promise((r) => setTimeout(r, 100));
		done = await ds.cases.count({ query: { status: { $in: ["delivered", "sent", "failed"] } } });
	}
	const seconds = (performance.now() - t0) / 1000;
	const cpu = process.cpuUsage(cpu0);
	const cpuMsPerCase = (cpu.user + cpu.system) / 1000 / N;
	const calls = await ds.outbox.count({});
	const byChannel: Record<string, number> = {};
	for (const ch of ["whatsapp", "rcs", "sms", "email"]) byChannel[ch] = await ds.cases.count({ query: { channel: ch, status: "delivered" } });
	console.log(`cases: ${N} (20 % fail on WhatsApp), notifier concurrency ${args.concurrency}, ${os.availableParallelism()} cores`);
	console.log(`to a final status: ${seconds.toFixed(2)} s = ${(N / seconds).toFixed(0)} cases/s`);
	console.log(`delivered by channel: ${JSON.stringify(byChannel)}`);
	console.log(`provider calls: ${calls} = ${(calls / N).toFixed(2)} per case`);
	console.log(`CPU of this process: ${cpuMsPerCase.toFixed(2)} ms per case, i.e. at most ${(1000 / cpuMsPerCase).toFixed(0)} cases/s per free core (the figure a busy machine does not skew as much)`);
	console.log(`peak RSS: ${(peak / 1024 / 1024).toFixed(0)} MiB`);
} finally {
	clearInterval(sampler);
	await node.stop();
	fs.rmSync(dir, { recursive: true, force: true });
}

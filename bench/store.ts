/**
 * Store benchmark: bulkUpsert throughput of the embedded SQLite store on debt-like documents with a
 * unique (client, contract_id) key, and peak RSS. Figures are printed, not asserted.
 *
 *   node bench/store.ts [docs=1000000] [batch=5000]
 *
 * Pass 1 inserts every document; pass 2 upserts the first 20 % again with one in ten changed
 * (so most come back "unchanged", some "updated", with keepPrevious). Rates are given per wall-clock second and
 * per CPU-second of this process (the second is what the code costs when the machine is shared).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SqliteStore } from "../lib/store/sqlite.ts";
import type { NewDoc } from "../lib/store/types.ts";

const total = Number(process.argv[2] ?? 1_000_000);
const batch = Number(process.argv[3] ?? 5_000);
const key = ["client", "contract_id"];

function debt(i: number, change = 0): NewDoc {
	return {
		client: `client-${i % 7}`,
		contract_id: `C${String(i).padStart(9, "0")}`,
		debtor: { name: `Debtor Number ${i}`, document: String(10_000_000_000 + i), email: `debtor${i}@example.com`, phone: `+55119${String(i).padStart(8, "0")}` },
		address: { line1: `Rua ${i % 997}, ${i % 3000}`, city: ["São Paulo", "Rio de Janeiro", "Recife", "Curitiba"][i % 4], zip: String(10000000 + (i % 89999999)) },
		amount: Math.round(((i * 7919) % 1_000_000) + change) / 100,
		currency: "BRL",
		due: new Date(Date.UTC(2026, i % 12, 1 + (i % 28))),
		status: "open",
		batch: "bench"
	};
}

let peakRss = 0;
function sampleRss(): void {
	peakRss = Math.max(peakRss, process.memoryUsage.rss());
}

async function pass(label: string, store: SqliteStore, count: number, make: (i: number) => NewDoc): Promise<void> {
	const a = store.adapter("debts");
	const counts = { inserted: 0, updated: 0, unchanged: 0 };
	const t0 = process.hrtime.bigint();
	const cpu0 = process.cpuUsage();
	for (let start = 0; start < count; start += batch) {
		const docs: NewDoc[] = [];
		for (let i = start; i < Math.min(count, start + batch); i++) docs.push(make(i));
		const r = await a.bulkUpsert(docs, { key, keepPrevious: true, ignoreFields: ["batch"] });
		counts.inserted += r.inserted;
		counts.updated += r.updated;
		counts.unchanged += r.unchanged;
		sampleRss();
	}
	const s = Number(process.hrtime.bigint() - t0) / 1e9;
	const cpu = process.cpuUsage(cpu0);
	const cpuS = (cpu.user + cpu.system) / 1e6;
	console.log(`${label}: ${count.toLocaleString("en")} docs in ${s.toFixed(1)} s = ${Math.round(count / s).toLocaleString("en")} docs/s wall, ${Math.round(count / cpuS).toLocaleString("en")} docs per CPU-second (inserted ${counts.inserted}, updated ${counts.updated}, unchanged ${counts.unchanged})`);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pw-bench-store-"));
const store = new SqliteStore({ file: path.join(dir, "paperwork.db") });
try {
	await store.adapter("debts").ensureIndexes([{ fields: key, unique: true }]);
	console.log(`node ${process.version}, ${os.cpus().length} CPUs, batch ${batch}, SQLite file in ${dir}`);
	await pass("pass 1 (insert)", store, total, (i) => debt(i));
	const again = Math.floor(total / 5);
	await pass("pass 2 (re-upsert, 10% changed)", store, again, (i) => debt(i, i % 10 === 0 ? 1 : 0));
	const t0 = process.hrtime.bigint();
	const a = store.adapter("debts");
	const lookups = 100_000;
	for (let i = 0; i < lookups; i++) await a.findOne({ client: `client-${(i * 13) % 7}`, contract_id: `C${String((i * 13) % total).padStart(9, "0")}` });
	const s = Number(process.hrtime.bigint() - t0) / 1e9;
	console.log(`findOne by key: ${Math.round(lookups / s).toLocaleString("en")} lookups/s`);
	sampleRss();
	const size = fs.statSync(path.join(dir, "paperwork.db")).size + (fs.existsSync(path.join(dir, "paperwork.db-wal")) ? fs.statSync(path.join(dir, "paperwork.db-wal")).size : 0);
	console.log(`peak RSS ${(Math.max(peakRss, process.resourceUsage().maxRSS * 1024) / 1048576).toFixed(0)} MB; database ${(size / 1048576).toFixed(0)} MB`);
} finally {
	await store.close();
	fs.rmSync(dir, { recursive: true, force: true });
}

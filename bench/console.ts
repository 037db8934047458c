/**
 * Console list endpoints under load: the store is filled with `records` debt records across 10 clients, `batches`
 * batches, `cases` delivery cases over 100 dispatch runs and 10,000 audit entries, then each list the console calls
 * is requested `n` times by an operator over HTTP; p50/p95/max are printed (not asserted). With `ingest` > 0, a CSV batch of that many debt rows is uploaded through the API first and the lists are measured
 * while it is being ingested (the line after the table says how much of it ran meanwhile). Figures on a shared
 * machine are indicative.
 *
 *   npm run bench:console -- [records=200000] [batches=10000] [n=100] [cases=100000] [ingest=200000]
 */
import { startTestNode, bearer, apiKey } from "../test/helpers/node.ts";
import { batchStore, recordsStore } from "../lib/ingest/context.ts";
import { normaliseText } from "../lib/search/index.ts";
import { cpf, debtCsv, debtRow } from "../test/helpers/ingest.ts";
import { auditStore } from "../lib/audit/index.ts";
import { deliveryStore } from "../lib/delivery/store.ts";

const records = Number(process.argv[2] ?? 200_000);
const batches = Number(process.argv[3] ?? 10_000);
const n = Number(process.argv[4] ?? 100);
const cases = Number(process.argv[5] ?? 100_000);
const ingestRows = Number(process.argv[6] ?? 200_000);
const CLIENTS = 10;

const node = await startTestNode();
try {
	const t0 = performance.now();
	const clients = node.platform.store.adapter("clients");
	await clients.connect();
	for (let c = 0; c < CLIENTS; c++) await clients.insert({ _id: `client-${c}`, name: `bench client ${c}`, createdAt: new Date(), updatedAt: new Date() });
	const store = await batchStore();
	const now = Date.now();
	for (let i = 0; i < batches; i += 1000) {
		const docs = [];
		for (let j = i; j < Math.min(batches, i + 1000); j++) {
			const at = new Date(now - (batches - j) * 60_000);
			docs.push({ _id: `b${String(j).padStart(7, "0")}`, clientId: `client-${j % CLIENTS}`, kind: "debt", source: "upload", status: j % 17 === 0 ? "FAILED" : "COMPLETED", nextChunk: 1, chunkTotal: 1, counts: { received: 100, valid: 98, rejected: 2, skipped: 0, inserted: 98, updated: 0, unchanged: 0 }, createdAt: at, updatedAt: at, finishedAt: at, reportedAt: at });
		}
		await store.batches.insertMany(docs);
	}
	const recs = await recordsStore();
	for (let i = 0; i < records; i += 5000) {
		const docs = [];
		for (let j = i; j < Math.min(records, i + 5000); j++) {
			const key = `C${String(j).padStart(9, "0")}`;
			const data = { contract_id: key, debtor_name: `Devedor ${j}`, debtor_cpf: cpf(j), amount: "100.00", due_date: "2026-01-01", email: `d${j}@example.com`, phone: `+55119${String(j).padStart(8, "0")}` };
			docs.push({ client: `client-${j % CLIENTS}`, kind: "debt", key, data, searchText: normaliseText(`${data.debtor_name} ${key}`), batchId: `b${String(j % batches).padStart(7, "0")}`, line: 2, batchOutcome: "inserted", version: 1, registeredAt: new Date() });
		}
		await recs.bulkUpsert(docs, { key: ["client", "kind", "key"], rowsPerTransaction: 5000 });
	}
	const audit = await auditStore();
	for (let i = 0; i < 10_000; i += 1000) {
		await audit.insertMany(Array.from({ length: 1000 }, (_, j) => ({ at: new Date(now - (i + j) * 1000), actor: "bench@example.com", role: "operator", action: "dlq.replay", target: "queue:chunks.ready", items: [], count: 1, clientId: `client-${j % CLIENTS}`, details: null, requestId: null })));
	}
	const ds = await deliveryStore(node.platform.store);
	const STATUSES = ["delivered", "delivered", "delivered", "sent", "failed", "pending"];
	for (let i = 0; i < cases; i += 5000) {
		const docs = [];
		for (let j = i; j < Math.min(cases, i + 5000); j++) {
			const at = new Date(now - (cases - j) * 1000);
			const key = `L${String(j).padStart(9, "0")}`;
			docs.push({ _id: `case-${j}`, clientId: `client-${j % CLIENTS}`, loanKey: key, documentType: "welcome-letter", template: "welcome-letter", recordId: `r${j}`, dueDate: "2026-11-20", recipient: { name: "A", phone: "+919800000001", language: "en" }, status: STATUSES[j % STATUSES.length], runId: `run-${j % 100}`, runIds: [`run-${j % 100}`], try: 1, channel: j % 5 === 0 ? "rcs" : "whatsapp", createdAt: at, updatedAt: at });
		}
		await ds.cases.insertMany(docs);
	}
	console.log(`filled ${records} records, ${batches} batches and ${cases} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

	const headers = bearer(node.operatorToken);
	// a batch being ingested while the lists are measured
	let ingest: { key: string; id: string } | undefined;
	if (ingestRows > 0) {
		const created = (await (await fetch(`${node.url}/clients`, { method: "POST", headers: { ...bearer(node.adminToken), "Content-Type": "application/json" }, body: JSON.stringify({ name: "bench ingest" }) })).json()) as { apiKey: string };
		const csv = debtCsv(Array.from({ length: ingestRows }, (_, i) => debtRow(10_000_000 + i)));
		const res = await fetch(`${node.url}/uploads?kind=debt`, { method: "POST", headers: { ...apiKey(created.apiKey), "Content-Type": "text/csv" }, body: csv });
		const body = (await res.json()) as { batchId: string };
		if (res.status !== 202) throw new Error(`upload: HTTP ${res.status} ${JSON.stringify(body)}`);
		ingest = { key: created.apiKey, id: body.batchId };
	}
	const batchState = async (): Promise<{ status: string; done: number }> => {
		if (!ingest) return { status: "none", done: 0 };
		const b = (await (await fetch(`${node.url}/batches/${ingest.id}`, { headers: apiKey(ingest.key) })).json()) as { status: string; counts: { inserted: number; updated: number; unchanged: number } };
		return { status: b.status, done: b.counts.inserted + b.counts.updated + b.counts.unchanged };
	};
	const before = await batchState();
	const tm = performance.now();
	const pick = (i: number) => (i * 7919) % records;
	const lists: [string, (i: number) => string][] = [
		["batches, all clients, newest first", () => "batches?limit=20"],
		["batches of one client, page 5", (i) => `batches?clientId=client-${i % CLIENTS}&limit=20&offset=80`],
		["batches FAILED, sorted by status", () => "batches?status=FAILED&sort=status&limit=20"],
		["records by contract_id, one client", (i) => `records?clientId=client-${pick(i) % CLIENTS}&contract_id=C${String(pick(i)).padStart(9, "0")}`],
		["records by contract_id, all clients", (i) => `records?contract_id=C${String(pick(i)).padStart(9, "0")}`],
		["records by CPF, all clients", (i) => `records?cpf=${cpf(pick(i))}`],
		["records by phone, all clients", (i) => `records?phone=${encodeURIComponent(`+55119${String(pick(i)).padStart(8, "0")}`)}`],
		["records by email, all clients", (i) => `records?email=d${pick(i)}@example.com`],
		["records of a batch, all clients", (i) => `records?batchId=b${String(pick(i) % batches).padStart(7, "0")}&limit=20`],
		["records by name, all clients", (i) => `records?q=${encodeURIComponent(`Devedor ${pick(i)}`)}&limit=20`],
		["audit log", () => "audit?limit=50"],
		["cases, all clients, newest first", () => "cases?limit=20"],
		["cases of one client, page 5", (i) => `cases?clientId=client-${i % CLIENTS}&limit=20&offset=80`],
		["cases by loan_id, all clients", (i) => `cases?loan_id=L${String((i * 7919) % cases).padStart(9, "0")}`],
		["cases of a run, failed", (i) => `cases?runId=run-${(i * 6) % 100}&status=failed&limit=20`],
		["cases on rcs, all clients", () => "cases?channel=rcs&limit=20"]
	];
	for (const [label, path] of lists) {
		const ms: number[] = [];
		for (let i = 0; i < n; i++) {
			const t = performance.now();
			const res = await fetch(`${node.url}/${path(i)}`, { headers });
			const body = (await res.json()) as { items: unknown[] };
			if (res.status !== 200) throw new Error(`${label}: HTTP ${res.status}`);
			if (body.items.length === 0) throw new Error(`${label}: nothing found`);
			ms.push(performance.now() - t);
		}
		ms.sort((a, b) => a - b);
		const q = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))].toFixed(1);
		console.log(`${label.padEnd(40)} p50 ${q(0.5).padStart(7)} ms  p95 ${q(0.95).padStart(7)} ms  max ${q(1).padStart(7)} ms`);
	}
	if (ingest) {
		const after = await batchState();
		console.log(`measured in ${((performance.now() - tm) / 1000).toFixed(1)} s while batch ${ingest.id} (${ingestRows} rows) went from ${before.status} ${before.done} rows to ${after.status} ${after.done} rows registered`);
	}
} finally {
	await node.close();
}

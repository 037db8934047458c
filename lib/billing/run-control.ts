/**
 * Starting, handing on, resuming and scheduling billing runs (the engine that moves a chunk is lib/billing/runs.ts):
 *   - a run per client and cycle, created once (unique on client and statement date), enrols every loan whose first
 *     instalment falls due by the statement date (an item per loan, created once) and hands the items still at a
 *     step to that step's queue, in chunks: a second start resumes a run that stopped half-way;
 *   - halted loans resume from the step they halted at;
 *   - the scheduler's part: each client with a statement day gets the run of its latest ended cycle, once.
 */
import type { StoreAdapter } from "../store/types.ts";
import type { RecordDoc } from "../ingest/register.ts";
import type { ClientDoc } from "../clients.ts";
import { isDuplicateKeyError } from "../store/errors.ts";
import { newId } from "../store/ids.ts";
import { badRequest } from "../api/errors.ts";
import { parseIsoDate } from "../render/emi.ts";
import { cycleEndingBy, type Cycle } from "./statement.ts";
import { BILLING_STEPS, CHUNK_ITEMS, itemId, runCounts, type BillingItemDoc, type BillingRunDoc, type BillingStep } from "./runs.ts";

export interface RunPorts {
	runs: StoreAdapter;
	items: StoreAdapter;
	/** the registered records (the loans to enrol) */
	records(): Promise<StoreAdapter>;
	/** enqueues chunks of item IDs on a step's queue */
	enqueue(step: BillingStep, runId: string, chunks: string[][]): Promise<void>;
}

/** The client's statement day of the month (settings `billing.statementDay`, default the 1st). */
export function statementDayOf(client: ClientDoc): number {
	const d = (client.billing as { statementDay?: unknown } | undefined)?.statementDay;
	return typeof d === "number" && Number.isInteger(d) && d >= 1 && d <= 31 ? d : 1;
}

/**
 * The cycle an operator asks for: the month up to `cycleTo` when given, else the cycle ending on the client's
 * statement day at or before today; `cycleFrom` moves its start. 400 for a bad or future date.
 */
export function requestedCycle(client: ClientDoc, today: string, cycleTo?: string, cycleFrom?: string): Cycle {
	let cycle: Cycle;
	try {
		if (cycleTo) parseIsoDate(cycleTo, "cycleTo");
		if (cycleFrom) parseIsoDate(cycleFrom, "cycleFrom");
		cycle = cycleTo ? cycleEndingBy(cycleTo, Number(cycleTo.slice(8, 10))) : cycleEndingBy(today, statementDayOf(client));
		if (cycleFrom) cycle = { from: cycleFrom, to: cycle.to };
	} catch (err) {
		throw badRequest((err as Error).message);
	}
	if (cycle.from > cycle.to) throw badRequest(`cycleFrom ${cycle.from} is after cycleTo ${cycle.to}`);
	if (cycle.to > today) throw badRequest(`cycleTo ${cycle.to} is in the future (today is ${today} in India): a statement is made on or after its date`);
	return cycle;
}

/** The run of a client's cycle (created once), with every eligible loan enrolled and handed on; `created` when new. */
export async function startRun(p: RunPorts, clientId: string, cycle: Cycle, pdf: boolean, startedBy: string): Promise<{ run: BillingRunDoc; created: boolean }> {
	const now = new Date();
	let run = (await p.runs.findOne({ clientId, "cycle.to": cycle.to })) as BillingRunDoc | null;
	let created = false;
	if (!run) {
		try {
			run = (await p.runs.insert({ _id: newId(), clientId, cycle, pdf, startedBy, loans: 0, createdAt: now, updatedAt: now })) as BillingRunDoc;
			created = true;
		} catch (err) {
			if (!isDuplicateKeyError(err)) throw err;
			run = (await p.runs.findOne({ clientId, "cycle.to": cycle.to })) as BillingRunDoc;
		}
	}
	const current = run;
	const records = await p.records();
	const page = 5000;
	for (let offset = 0; ; offset += page) {
		const loans = (await records.find({ query: { client: clientId, kind: "loan", "data.first_emi_date": { $lte: cycle.to } }, sort: "key", limit: page, offset })) as RecordDoc[];
		if (loans.length === 0) break;
		await p.items.bulkUpsert(
			loans.map((l) => ({ _id: itemId(clientId, cycle.to, l.key), runId: current._id, clientId, loanId: l.key, cycleTo: cycle.to, step: "duplicates", status: "active", attempts: 0, results: {}, updatedAt: now })),
			{ key: ["clientId", "cycleTo", "loanId"], skip: () => true }
		);
		if (loans.length < page) break;
	}
	const enrolled = await p.items.count({ query: { runId: current._id } });
	const started = enrolled === current.loans ? current : { ...current, loans: enrolled };
	if (enrolled !== current.loans) await p.runs.updateById(current._id, { $set: { loans: enrolled, updatedAt: new Date() } });
	for (const step of BILLING_STEPS) await handOn(p, started, step);
	return { run: started, created };
}

/** Items read per page when a run hands them on (keyset on loanId, unique in a run): whole chunks, never all at once. */
const HAND_ON_PAGE = 10 * CHUNK_ITEMS;

/**
 * Enqueues, in chunks in loanId order, the run's active items at `step` (all of them, or those of `ids`); returns
 * how many. The items are read a page at a time: a run of millions of loans is never held in memory whole.
 */
export async function handOn(p: RunPorts, run: BillingRunDoc, step: BillingStep, ids?: string[], pageSize = HAND_ON_PAGE): Promise<number> {
	if (ids && ids.length === 0) return 0;
	const query: Record<string, unknown> = { runId: run._id, step, status: "active", ...(ids ? { _id: { $in: ids } } : {}) };
	let total = 0;
	let after: string | undefined;
	for (;;) {
		const page = (await p.items.find({ query: after === undefined ? query : { ...query, loanId: { $gt: after } }, sort: "loanId", limit: pageSize })) as BillingItemDoc[];
		const chunks: string[][] = [];
		for (let i = 0; i < page.length; i += CHUNK_ITEMS) chunks.push(page.slice(i, i + CHUNK_ITEMS).map((d) => d._id));
		if (chunks.length) await p.enqueue(step, run._id, chunks);
		total += page.length;
		if (page.length < pageSize) return total;
		after = (page[page.length - 1] as BillingItemDoc).loanId;
	}
}

/** Halted loans of a run (of one step, or some loans) go on from the step they halted at; returns how many. */
export async function resumeHalted(p: RunPorts, run: BillingRunDoc, only: { step?: BillingStep; loanIds?: string[] } = {}): Promise<number> {
	const query: Record<string, unknown> = { runId: run._id, status: "halted", ...(only.step ? { step: only.step } : {}), ...(only.loanIds ? { loanId: { $in: only.loanIds } } : {}) };
	const halted = (await p.items.find({ query })) as BillingItemDoc[];
	let resumed = 0;
	for (const i of halted) resumed += await p.items.updateMany({ _id: i._id, status: "halted", step: i.step }, { $set: { status: "active", attempts: 0, updatedAt: new Date() }, $unset: { halted: "" } });
	for (const step of BILLING_STEPS) await handOn(p, run, step, halted.filter((i) => i.step === step).map((i) => i._id));
	return resumed;
}

/**
 * Many loans halted on one step (at least 10, and 1 % of the run): true once per run and step (the run records the
 * step's alert with a compare-and-set on a field of its own, so of two chunks or nodes that read the run before, one
 * alerts; `$nin` on an array does not test membership on the SQL stores), so operators are alerted once.
 */
export async function shouldAlertHalts(p: RunPorts, run: BillingRunDoc, step: BillingStep): Promise<{ alert: boolean; halted: number }> {
	const halted = await p.items.count({ query: { runId: run._id, step, status: "halted" } });
	if (halted < Math.max(10, Math.ceil(run.loans * 0.01)) || run.alertedAt?.[step]) return { alert: false, halted };
	const n = await p.runs.updateMany({ _id: run._id, [`alertedAt.${step}`]: { $exists: false } }, { $set: { [`alertedAt.${step}`]: new Date(), updatedAt: new Date() } });
	return { alert: n > 0, halted };
}

/** What the API and the REPL show of a run: its status and live counts per step. */
export async function runView(items: StoreAdapter, run: BillingRunDoc): Promise<Record<string, unknown>> {
	const { status, counts } = await runCounts(items, run);
	return { id: run._id, clientId: run.clientId, cycle: run.cycle, pdf: run.pdf, status, counts, startedBy: run.startedBy, createdAt: run.createdAt, updatedAt: run.updatedAt };
}

/**
 * The scheduler's part of billing: for every client with a statement day, starts the run of the latest cycle ended
 * by `today` unless it exists. Safe on any number of nodes at once (a run is unique per client and cycle). Returns
 * the runs started.
 */
export async function startDueRuns(p: RunPorts, today: string, listClients: (offset: number, limit: number) => Promise<{ id: string; billing?: { statementDay: number } }[]>): Promise<BillingRunDoc[]> {
	const started: BillingRunDoc[] = [];
	for (let offset = 0; ; offset += 200) {
		const page = await listClients(offset, 200);
		for (const c of page) {
			if (!c.billing?.statementDay) continue;
			const cycle = cycleEndingBy(today, c.billing.statementDay);
			if (await p.runs.findOne({ clientId: c.id, "cycle.to": cycle.to })) continue;
			started.push((await startRun(p, c.id, cycle, true, "scheduler")).run);
		}
		if (page.length < 200) break;
	}
	return started;
}

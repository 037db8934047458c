/**
 * Starting, handing on, resuming and scheduling billing runs (the engine that moves a chunk is lib/billing/runs.ts):
 *   - a run per client and cycle, created once: its ID is the client and the statement month, so two nodes cannot
 *     both create one for the same month (the store's primary key decides), and a cycle must end on the client's
 *     statement day and overlap no other run's cycle (400 / 409 with the reason). It enrols every loan whose first
 *     instalment falls due by the statement date (an item per loan, created once) and hands the items still at a
 *     step to that step's queue, in chunks: a second start resumes a run that stopped half-way;
 *   - halted loans resume from the step they halted at;
 *   - the sweep: the work of a run that made no progress for a lease (items active, statement cases pending) is
 *     handed on again, at start-up and every minute; every step is a compare-and-set on the item, so a copy of a
 *     message that still exists does nothing twice;
 *   - the scheduler's part: each client with a statement day gets the run of its latest ended cycle, once.
 */
import type { StoreAdapter } from "../store/types.ts";
import type { RecordDoc } from "../ingest/register.ts";
import type { ClientDoc } from "../clients.ts";
import { isDuplicateKeyError } from "../store/errors.ts";
import { badRequest, conflict } from "../api/errors.ts";
import { addMonthsClamped, parseIsoDate } from "../render/emi.ts";
import { retryDelay } from "../queues/common.ts";
import { addDays, cycleEndingBy, type Cycle } from "./statement.ts";
import { BILLING_STEPS, CHUNK_ITEMS, itemId, runCounts, type BillingItemDoc, type BillingRunDoc, type BillingStep } from "./runs.ts";

export interface RunPorts {
	runs: StoreAdapter;
	items: StoreAdapter;
	/** the registered records (the loans to enrol) */
	records(): Promise<StoreAdapter>;
	/** enqueues chunks of item IDs on a step's queue */
	enqueue(step: BillingStep, runId: string, chunks: string[][]): Promise<void>;
	/**
	 * The sweep's part in delivery: hands the run's statement cases still pending (all, or those untouched since
	 * `staleBefore`) to the notifier again; `pending` counts them all (lib/billing/deliver.ts pendingStatementCases).
	 */
	rehandCases?(run: BillingRunDoc, staleBefore: Date | undefined): Promise<{ handed: number; pending: number }>;
}

/**
 * A run with no sign of life for this long is stalled: its active items and pending cases have no message left to
 * move them (or one the queue cannot deliver), and the sweep hands them on again. Well above a chunk's handling
 * time; runLeaseMs raises it above the queue's longest retry delay, during which a chunk is waiting, not lost.
 */
export const RUN_LEASE_MS = 10 * 60_000;
/** A handler records a run's progress at most this often (one write a run, not one a chunk). */
export const PROGRESS_EVERY_MS = 30_000;

/** The lease for the queue settings: RUN_LEASE_MS, or twice the longest retry delay when that is longer. */
export function runLeaseMs(queues: { retries: number; retryDelayMs: number }): number {
	return Math.max(RUN_LEASE_MS, queues.retries > 0 ? 2 * retryDelay(queues.retryDelayMs, queues.retries) : 0);
}

/** The ID of a client's run for the cycle ending on `cycleTo`: one run a client and statement month. */
export function runIdOf(clientId: string, cycleTo: string): string {
	return `${clientId}:${cycleTo.slice(0, 7)}`;
}

/** The client's statement day of the month (settings `billing.statementDay`, default the 1st). */
export function statementDayOf(client: ClientDoc): number {
	const d = (client.billing as { statementDay?: unknown } | undefined)?.statementDay;
	return typeof d === "number" && Number.isInteger(d) && d >= 1 && d <= 31 ? d : 1;
}

/**
 * The cycle an operator asks for: the one ending on `cycleTo` when given, else the cycle ending on the client's
 * statement day at or before today; `cycleFrom` moves its start. 400 for a bad or future date, and for a `cycleTo`
 * that is not one of the client's statement dates (its statement day, clamped to the month's end): a client's
 * cycles are set by its settings, so two runs a few days apart cannot bill the same month twice.
 */
export function requestedCycle(client: ClientDoc, today: string, cycleTo?: string, cycleFrom?: string): Cycle {
	let cycle: Cycle;
	const day = statementDayOf(client);
	try {
		if (cycleTo) parseIsoDate(cycleTo, "cycleTo");
		if (cycleFrom) parseIsoDate(cycleFrom, "cycleFrom");
		cycle = cycleEndingBy(cycleTo ?? today, day);
		if (cycleFrom) cycle = { from: cycleFrom, to: cycle.to };
	} catch (err) {
		throw badRequest((err as Error).message);
	}
	if (cycleTo && cycle.to !== cycleTo) {
		const [y, m] = parseIsoDate(cycle.to, "cycleTo");
		const next = addMonthsClamped(y, m, day, 1);
		throw badRequest(`cycleTo ${cycleTo} is not a statement date of this client: its cycles end on day ${day} of the month (billing.statementDay), e.g. ${cycle.to} or ${next}; change the client's statement day to bill on another day`, [
			{ field: "cycleTo", message: `not on the client's statement day ${day}`, statementDay: day, before: cycle.to, after: next }
		]);
	}
	if (cycle.from > cycle.to) throw badRequest(`cycleFrom ${cycle.from} is after cycleTo ${cycle.to}`);
	if (cycle.to > today) throw badRequest(`cycleTo ${cycle.to} is in the future (today is ${today} in India): a statement is made on or after its date`);
	return cycle;
}

/** The client's other runs whose cycle shares a day with `cycle` (the same statement date aside: that is the same run). */
async function overlapping(p: RunPorts, clientId: string, cycle: Cycle, except?: string): Promise<BillingRunDoc | null> {
	const query: Record<string, unknown> = { clientId, "cycle.from": { $lte: cycle.to }, "cycle.to": { $gte: cycle.from, $ne: cycle.to }, ...(except ? { _id: { $ne: except } } : {}) };
	return (await p.runs.findOne(query)) as BillingRunDoc | null;
}

function overlapError(cycle: Cycle, other: BillingRunDoc): Error {
	const o = other.cycle;
	const hint = o.to < cycle.to ? `start this cycle after it (cycleFrom ${addDays(o.to, 1)})` : "pick a cycle that ends before it";
	return conflict(`cycle ${cycle.from}..${cycle.to} overlaps billing run ${other._id} (cycle ${o.from}..${o.to}) of this client: its loans would be billed twice for the days in both; ${hint}, or resume that run`, {
		runId: other._id,
		cycle: o
	});
}

/**
 * The run of a client's cycle (created once), with every eligible loan enrolled and handed on; `created` when new.
 * A new cycle that overlaps another run's, or whose statement month already has a run of another cycle, is refused
 * (409). The month is the run's ID, so the store refuses a second run for it whatever the nodes; two overlapping
 * cycles of different months started at once (a cycleFrom reaching back) both look again after inserting, and the
 * one that sees the other withdraws.
 */
export async function startRun(p: RunPorts, clientId: string, cycle: Cycle, pdf: boolean, startedBy: string): Promise<{ run: BillingRunDoc; created: boolean }> {
	const now = new Date();
	let run = (await p.runs.findOne({ clientId, "cycle.to": cycle.to })) as BillingRunDoc | null;
	let created = false;
	if (!run) {
		const before = await overlapping(p, clientId, cycle);
		if (before) throw overlapError(cycle, before);
		const id = runIdOf(clientId, cycle.to);
		try {
			run = (await p.runs.insert({ _id: id, clientId, cycle, pdf, startedBy, loans: 0, open: true, progressAt: now, createdAt: now, updatedAt: now })) as BillingRunDoc;
			created = true;
		} catch (err) {
			if (!isDuplicateKeyError(err)) throw err;
			// the same cycle started by another node meanwhile, or another cycle of the same statement month
			run = ((await p.runs.findOne({ clientId, "cycle.to": cycle.to })) ?? (await p.runs.findById(id))) as BillingRunDoc | null;
			if (!run) throw err;
			if (run.cycle.to !== cycle.to) {
				throw conflict(`client ${clientId} already has billing run ${run._id} for statement month ${cycle.to.slice(0, 7)} (cycle ${run.cycle.from}..${run.cycle.to}): a client is billed once a month; resume that run`, { runId: run._id, cycle: run.cycle });
			}
		}
		if (created) {
			const raced = await overlapping(p, clientId, cycle, id);
			if (raced) {
				await p.runs.removeById(id);
				throw overlapError(cycle, raced);
			}
		}
	}
	const current = run;
	// a run started again is alive again (the sweep looks at open runs)
	if (!created) await p.runs.updateById(current._id, { $set: { open: true, progressAt: now } });
	const records = await p.records();
	const page = 5000;
	for (let offset = 0; ; offset += page) {
		const loans = (await records.find({ query: { client: clientId, kind: "loan", "data.first_emi_date": { $lte: cycle.to } }, sort: "key", limit: page, offset })) as RecordDoc[];
		if (loans.length === 0) break;
		await p.items.bulkUpsert(
			loans.map((l) => ({ _id: itemId(clientId, cycle.to, l.key), runId: current._id, clientId, loanId: l.key, cycleTo: cycle.to, step: "duplicates", status: "active", attempts: 0, results: {}, updatedAt: now })),
			{ key: ["clientId", "cycleTo", "loanId"], skip: () => true }
		);
		// enrolling millions of loans takes minutes: not a stalled run
		await p.runs.updateById(current._id, { $set: { progressAt: new Date() } });
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
	// after the items: a sweep closing the run meanwhile (it found none active) loses its compare-and-set, or is undone here
	if (resumed > 0) await p.runs.updateById(run._id, { $set: { open: true, progressAt: new Date() } });
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

/** A handler working on the run records it (at most every PROGRESS_EVERY_MS, judged on the copy it read). */
export async function noteProgress(p: RunPorts, run: BillingRunDoc, now = new Date()): Promise<void> {
	const last = run.progressAt ? new Date(run.progressAt).getTime() : 0;
	if (now.getTime() - last >= PROGRESS_EVERY_MS) await p.runs.updateById(run._id, { $set: { progressAt: now } });
}

export interface SweepOutcome {
	/** runs whose work was handed on again */
	runs: string[];
	/** items handed on again */
	items: number;
	/** statement cases handed to the notifier again */
	cases: number;
	/** runs found with nothing left to do, no longer looked at */
	closed: number;
}

/**
 * Hands on again the work of open runs that made no progress for `leaseMs`: their active items to their steps'
 * queues, their statement cases still pending (and untouched for the lease) to the notifier. With `all` (start-up
 * on the in-process queue, which lost every message with the process) every open run, whatever its age, and all of
 * its pending cases. A stalled run is claimed by a compare-and-set on its progressAt, so of several nodes sweeping
 * one hands it on, and the next hand-on waits another lease. A run with nothing active or pending is closed. Every
 * step and every case moves by compare-and-set, so a message handed on that still existed does nothing twice: on
 * RabbitMQ, where messages survive, only the stalled runs' are sent again.
 */
export async function sweepRuns(p: RunPorts, opts: { leaseMs: number; all?: boolean; now?: Date }): Promise<SweepOutcome> {
	const now = opts.now ?? new Date();
	const cutoff = new Date(now.getTime() - opts.leaseMs);
	const out: SweepOutcome = { runs: [], items: 0, cases: 0, closed: 0 };
	const open = (await p.runs.find({ query: { open: { $ne: false } }, sort: "createdAt" })) as BillingRunDoc[];
	for (const run of open) {
		const last = new Date(run.progressAt ?? run.updatedAt ?? run.createdAt);
		if (!opts.all && last >= cutoff) continue;
		const claim = opts.all ? { _id: run._id } : { _id: run._id, $or: [{ progressAt: { $lt: cutoff } }, { progressAt: { $exists: false } }] };
		if ((await p.runs.updateMany(claim, { $set: { progressAt: now } })) === 0) continue;
		let items = 0;
		for (const step of BILLING_STEPS) items += await handOn(p, run, step);
		const cases = p.rehandCases ? await p.rehandCases(run, opts.all ? undefined : cutoff) : { handed: 0, pending: 0 };
		out.items += items;
		out.cases += cases.handed;
		if (items > 0 || cases.handed > 0) out.runs.push(run._id);
		if (items === 0 && cases.pending === 0) {
			// unless resumed or started again since the claim: both move progressAt on
			out.closed += await p.runs.updateMany({ _id: run._id, progressAt: now }, { $set: { open: false } });
		}
	}
	return out;
}

/** What the API and the REPL show of a run: its status and live counts per step. */
export async function runView(items: StoreAdapter, run: BillingRunDoc): Promise<Record<string, unknown>> {
	const { status, counts } = await runCounts(items, run);
	return { id: run._id, clientId: run.clientId, cycle: run.cycle, pdf: run.pdf, status, counts, startedBy: run.startedBy, createdAt: run.createdAt, updatedAt: run.updatedAt };
}

/**
 * The scheduler's part of billing: for every client with a statement day, starts the run of the latest cycle ended
 * by `today` unless it exists. Safe on any number of nodes at once (a run is unique per client and month). A cycle
 * refused for overlapping an earlier run goes to `onRefused` (when given) and the other clients go on. Returns the
 * runs started.
 */
export async function startDueRuns(
	p: RunPorts,
	today: string,
	listClients: (offset: number, limit: number) => Promise<{ id: string; billing?: { statementDay: number } }[]>,
	onRefused?: (clientId: string, cycle: Cycle, reason: string) => void
): Promise<BillingRunDoc[]> {
	const started: BillingRunDoc[] = [];
	for (let offset = 0; ; offset += 200) {
		const page = await listClients(offset, 200);
		for (const c of page) {
			if (!c.billing?.statementDay) continue;
			const cycle = cycleEndingBy(today, c.billing.statementDay);
			if (await p.runs.findOne({ clientId: c.id, "cycle.to": cycle.to })) continue;
			try {
				started.push((await startRun(p, c.id, cycle, true, "scheduler")).run);
			} catch (err) {
				// a cycle that overlaps an earlier run (the statement day changed): an operator picks its start
				if ((err as { code?: unknown }).code !== 409 || !onRefused) throw err;
				onRefused(c.id, cycle, (err as Error).message);
			}
		}
		if (page.length < 200) break;
	}
	return started;
}

/**
 * Billing runs: a statement for every active loan of a client for one cycle, as a flow of steps per loan
 *
 *   duplicates -> passbook -> statement -> validate -> render -> deliver
 *
 * where each loan's flow halts where it fails. The state lives in the store, not in messages:
 * - a run per client and cycle (`billing_runs`, its ID the client and the statement month, so a client has one run
 *   a month whatever the nodes; starting the same cycle again returns the same run; a cycle that overlaps another
 *   run's is refused: run-control.ts startRun), and an item per loan (`billing_items`, unique on client, cycle and loan: no loan is billed
 *   twice for a cycle, whatever the reruns, retries or nodes);
 * - an item records the step it is at, the result of every step done, and, once halted, the step, the reason and
 *   the step's input. A step is applied to an item only while the item is at that step, so a message handled twice
 *   finds the item moved on and does nothing twice; the side-effecting steps (render, deliver) are idempotent in
 *   their own right (a document is rendered once per content; a delivery case is created once per loan and cycle).
 * - work moves as chunks of item IDs on one queue per step (`billing.step.<step>`); a chunk whose items failed is
 *   retried by its queue with growing delays (only the failed items are still at that step); on its last try the
 *   items still failing are halted, and so are all its items still at the step when that try fails as a whole
 *   (haltChunk). Operators list halted items by step and reason and resume them.
 * - a message lost (the in-process queue of the embedded default forgets its messages when the process stops) or a
 *   chunk that could not even be halted leaves items active with nothing to move them: a sweep hands on the items of
 *   runs that made no progress for a lease, at start-up and every minute (run-control.ts sweepRuns).
 */
import type { CompareAndSetOp, StoreAdapter } from "../store/types.ts";
import { QUEUES } from "../../config/queues.ts";
import type { Statement } from "./statement.ts";
import type { Cycle } from "./statement.ts";

export const BILLING_STEPS = ["duplicates", "passbook", "statement", "validate", "render", "deliver"] as const;
export type BillingStep = (typeof BILLING_STEPS)[number];
export type ItemStatus = "active" | "done" | "halted";

export const RUNS = "billing_runs";
export const ITEMS = "billing_items";
export const RUN_INDEXES = [{ fields: ["clientId", "cycle.to"], unique: true }, { fields: ["clientId", "createdAt"] }];
export const ITEM_INDEXES = [
	{ fields: ["clientId", "cycleTo", "loanId"], unique: true },
	// a step's active items in loanId order, a page at a time (run-control.ts handOn); counts per step and status
	{ fields: ["runId", "step", "status", "loanId"] },
	{ fields: ["runId", "loanId"] }
];

/** The queue of each step. */
export const STEP_QUEUES: Record<BillingStep, string> = {
	duplicates: QUEUES.billingStepDuplicates,
	passbook: QUEUES.billingStepPassbook,
	statement: QUEUES.billingStepStatement,
	validate: QUEUES.billingStepValidate,
	render: QUEUES.billingStepRender,
	deliver: QUEUES.billingStepDeliver
};

/** Items per step message. */
export const CHUNK_ITEMS = 500;

export interface BillingRunDoc extends Record<string, unknown> {
	_id: string;
	clientId: string;
	cycle: Cycle;
	/** render and send the statement PDF (off: the SMS with the amount due only) */
	pdf: boolean;
	startedBy: string;
	/** loans enrolled */
	loans: number;
	/** when each step's halted loans alerted operators (once per step) */
	alertedAt?: Partial<Record<BillingStep, Date>>;
	/** false once the sweep found nothing of the run left to do (no active loan, no statement case pending); resume reopens it */
	open?: boolean;
	/** the last sign of life: a chunk of it handled, loans enrolled or handed on (run-control.ts sweepRuns) */
	progressAt?: Date;
	createdAt: Date;
	updatedAt: Date;
}

export interface HaltInfo {
	step: BillingStep;
	reason: string;
	/** what the step was given (for the operator who resumes it) */
	input: Record<string, unknown>;
	at: Date;
}

export interface BillingItemDoc extends Record<string, unknown> {
	_id: string;
	runId: string;
	clientId: string;
	loanId: string;
	cycleTo: string;
	step: BillingStep;
	status: ItemStatus;
	/** failed tries of the current step */
	attempts: number;
	lastError?: string;
	results: Partial<Record<BillingStep, Record<string, unknown>>>;
	halted?: HaltInfo;
	updatedAt: Date;
}

/** The item ID of a loan in a cycle: deterministic, so the same loan and cycle is always the same item. */
export function itemId(clientId: string, cycleTo: string, loanId: string): string {
	return `${clientId}:${cycleTo}:${loanId}`;
}

/** The step after `step`, or null after the last. */
export function nextStep(step: BillingStep): BillingStep | null {
	const i = BILLING_STEPS.indexOf(step);
	return i >= 0 && i < BILLING_STEPS.length - 1 ? BILLING_STEPS[i + 1] : null;
}

/** A failure that no retry fixes (a statement that does not balance): the loan halts at once. */
export class HaltError extends Error {
	readonly permanent = true;
	constructor(message: string) {
		super(message);
		this.name = "HaltError";
	}
}

/**
 * What one step does to one item, given what the step read once for the whole chunk (`prepare`); its result is
 * stored under item.results[step].
 */
export interface Step<C> {
	prepare(items: BillingItemDoc[], run: BillingRunDoc): Promise<C>;
	apply(item: BillingItemDoc, run: BillingRunDoc, chunk: C): Promise<Record<string, unknown>>;
}
/** A step that reads nothing ahead. */
export type StepFn = (item: BillingItemDoc, run: BillingRunDoc) => Promise<Record<string, unknown>>;

/**
 * Every step of a run over one chunk context: what a chunk reads once (`prepare`, told the step the chunk starts
 * at), what each step does to an item, and which steps run inline: a loan that passes a step goes straight on
 * into the next one in the same handler, with what the chunk read and computed (its passbook) still in memory,
 * while that next step is inline (cheap and touching nothing outside the store: duplicates, passbook, statement,
 * validate; render when the run makes no PDF). A step that is not inline (render with PDFs, deliver) is handed
 * to its own queue.
 */
export interface Flow<C> {
	prepare(items: BillingItemDoc[], run: BillingRunDoc, from: BillingStep): Promise<C>;
	apply: Record<BillingStep, (item: BillingItemDoc, run: BillingRunDoc, chunk: C) => Promise<Record<string, unknown>>>;
	inline(step: BillingStep, run: BillingRunDoc): boolean;
	/**
	 * Steps that apply to a whole chunk at once when it starts at them (e.g. deliver: a chunk's cases in a few
	 * writes): a result or an Error per item ID; an item missing from the answer fails.
	 */
	applyMany?: Partial<Record<BillingStep, (items: BillingItemDoc[], run: BillingRunDoc, chunk: C) => Promise<Map<string, Record<string, unknown> | Error>>>>;
	/** after the chunk's items were applied and before their states are written (e.g. hands their cases on at once) */
	flush?(chunk: C): Promise<void>;
}

export interface ChunkOutcome {
	/** moved on (to a later step, or done) */
	advanced: string[];
	/** failed this try at the chunk's step and will be retried by its queue */
	retry: string[];
	halted: string[];
	/** halted per step */
	haltedAt: Partial<Record<BillingStep, number>>;
	/** items not at this step (done before, or by another try): nothing done */
	skipped: number;
}

/** A Flow of one step (the others never reached): what runChunk makes of a StepFn or a Step. */
function flowOf<C>(step: BillingStep, fn: StepFn | Step<C> | Flow<C>): Flow<C | undefined> {
	if (typeof fn !== "function" && "inline" in fn) return fn as Flow<C | undefined>;
	const s: Step<C | undefined> = typeof fn === "function" ? { prepare: async () => undefined, apply: (item, r) => fn(item, r) } : fn;
	const never = async (): Promise<Record<string, unknown>> => {
		throw new Error("not this chunk's step");
	};
	const apply = Object.fromEntries(BILLING_STEPS.map((b) => [b, b === step ? s.apply : never])) as Flow<C | undefined>["apply"];
	return { prepare: (items, run) => s.prepare(items, run), apply, inline: () => false };
}

/**
 * Applies `step` to the items of a chunk that are at it, and the inline steps after it (Flow.inline); each item's
 * new state is then written for the whole chunk at once, as one compare-and-set per item on the step it was read at
 * (StoreAdapter.compareAndSetMany: one transaction on SQLite and PostgreSQL), so of two tries of the same chunk one
 * moves each item and a step's result is recorded once.
 *
 * A failure at the chunk's step counts a try: on the last try (or for a HaltError) the item halts there with the
 * reason and the input; else it stays for the queue's retry. A failure at a step reached inline halts at once for
 * a HaltError, else leaves the item at that step (its first try counted) for that step's own queue.
 */
export async function runChunk<C>(items: StoreAdapter, run: BillingRunDoc, step: BillingStep, ids: string[], fn: StepFn | Step<C> | Flow<C>, lastTry: boolean): Promise<ChunkOutcome> {
	const docs = (await items.findByIds(ids)) as BillingItemDoc[];
	const out: ChunkOutcome = { advanced: [], retry: [], halted: [], haltedAt: {}, skipped: docs.length };
	const at = docs.filter((item) => item.status === "active" && item.step === step);
	out.skipped -= at.length;
	if (at.length === 0) return out;
	const flow = flowOf(step, fn);
	// a failure to read the chunk's data fails every item of it (retried like any failure)
	let chunk: C | undefined;
	let readError: unknown;
	try {
		chunk = await flow.prepare(at, run, step);
	} catch (err) {
		readError = err;
	}
	// a step that applies to the whole chunk at once: its results first
	let firsts: Map<string, Record<string, unknown> | Error> | undefined;
	const many = flow.applyMany?.[step];
	if (many && !readError) {
		try {
			firsts = await many(at, run, chunk as C);
		} catch (err) {
			readError = err;
		}
	}
	const ops: CompareAndSetOp[] = [];
	const fates: { id: string; fate: "advanced" | "retry" | "halted" | "handed"; at: BillingStep }[] = [];
	for (const item of at) {
		const now = new Date();
		// the item as the later steps see it: with the results of the steps done in this handler
		const working: BillingItemDoc = { ...item, results: { ...item.results } };
		const set: Record<string, unknown> = { updatedAt: now };
		let s: BillingStep = step;
		let fate: (typeof fates)[number]["fate"];
		let unsetError = false;
		for (;;) {
			try {
				if (readError) throw readError;
				let result: Record<string, unknown>;
				if (s === step && firsts) {
					const r = firsts.get(item._id);
					if (!r) throw new Error(`the ${step} step gave no result for this loan`);
					if (r instanceof Error) throw r;
					result = r;
				} else result = await flow.apply[s](working, run, chunk);
				working.results[s] = result;
				set[`results.${s}`] = result;
				const next = nextStep(s);
				if (!next) {
					Object.assign(set, { step: s, status: "done", attempts: 0 });
					unsetError = true;
					fate = "advanced";
					break;
				}
				s = next;
				if (!flow.inline(next, run)) {
					Object.assign(set, { step: next, status: "active", attempts: 0 });
					unsetError = true;
					fate = "advanced";
					break;
				}
			} catch (err) {
				const reason = (err as Error).message ?? String(err);
				const attempts = s === step ? item.attempts + 1 : 1;
				if ((lastTry && s === step) || err instanceof HaltError) {
					const halted: HaltInfo = { step: s, reason, input: inputOf(working, s), at: now };
					Object.assign(set, { step: s, status: "halted", halted, lastError: reason, attempts });
					fate = "halted";
				} else {
					Object.assign(set, { step: s, status: "active", lastError: reason, attempts });
					fate = s === step ? "retry" : "handed";
				}
				break;
			}
		}
		ops.push({ id: item._id, expect: { step, status: "active" }, update: { $set: set, ...(unsetError ? { $unset: { lastError: "" } } : {}) } });
		fates.push({ id: item._id, fate, at: s });
	}
	if (flow.flush && chunk !== undefined) await flow.flush(chunk);
	const written = await items.compareAndSetMany(ops);
	fates.forEach((f, i) => {
		if (!written[i]) {
			out.skipped++;
			return;
		}
		if (f.fate === "halted") {
			out.halted.push(f.id);
			out.haltedAt[f.at] = (out.haltedAt[f.at] ?? 0) + 1;
		} else if (f.fate === "retry") out.retry.push(f.id);
		else out.advanced.push(f.id);
	});
	return out;
}

/**
 * The chunk's items now active at a step after `step`, per step: moved there by this try, by the inline steps, or
 * by an earlier try that died before handing them on. One read of the chunk.
 */
export async function itemsAfter(items: StoreAdapter, step: BillingStep, ids: string[]): Promise<Map<BillingStep, string[]>> {
	const out = new Map<BillingStep, string[]>();
	const from = BILLING_STEPS.indexOf(step);
	const docs = (await items.findByIds(ids)) as BillingItemDoc[];
	for (const d of docs.sort((a, b) => (a.loanId < b.loanId ? -1 : a.loanId > b.loanId ? 1 : 0))) {
		if (d.status !== "active" || BILLING_STEPS.indexOf(d.step) <= from) continue;
		const list = out.get(d.step);
		if (list) list.push(d._id);
		else out.set(d.step, [d._id]);
	}
	return out;
}

/**
 * Halts the chunk's items still active at `step` with `reason` (one compare-and-set each, on the step they are at):
 * what becomes of a chunk whose last try failed as a whole (a read, a write or a hand-on that threw), so its loans
 * wait as "halted at <step>" for an operator instead of staying active with no message to move them. Returns the
 * IDs halted.
 */
export async function haltChunk(items: StoreAdapter, step: BillingStep, ids: string[], reason: string): Promise<string[]> {
	const docs = ((await items.findByIds(ids)) as BillingItemDoc[]).filter((d) => d.status === "active" && d.step === step);
	if (docs.length === 0) return [];
	const at = new Date();
	const written = await items.compareAndSetMany(
		docs.map((d) => {
			const halted: HaltInfo = { step, reason, input: inputOf(d, step), at };
			return { id: d._id, expect: { step, status: "active" }, update: { $set: { status: "halted", halted, lastError: reason, attempts: d.attempts + 1, updatedAt: at } } };
		})
	);
	return docs.filter((_, i) => written[i]).map((d) => d._id);
}

/** What a step works from: the loan and the results of the steps before it. */
function inputOf(item: BillingItemDoc, step: BillingStep): Record<string, unknown> {
	const before = BILLING_STEPS.slice(0, BILLING_STEPS.indexOf(step));
	return { loanId: item.loanId, cycleTo: item.cycleTo, ...Object.fromEntries(before.filter((s) => item.results[s]).map((s) => [s, item.results[s]])) };
}

/** Counts of a run: per step and status, and overall. */
export interface RunCounts {
	loans: number;
	done: number;
	active: number;
	halted: number;
	/** items at each step (active ones) and halted there */
	steps: Record<BillingStep, { active: number; halted: number; passed: number }>;
}

export type RunStatus = "running" | "completed" | "completed_with_halts";

/** The live counts of a run, from the items (derived state: exact after any crash). */
export async function runCounts(items: StoreAdapter, run: BillingRunDoc): Promise<{ status: RunStatus; counts: RunCounts }> {
	const count = (query: Record<string, unknown>) => items.count({ query: { runId: run._id, ...query } });
	const [done, ...perStep] = await Promise.all([count({ status: "done" }), ...BILLING_STEPS.flatMap((s) => [count({ step: s, status: "active" }), count({ step: s, status: "halted" })])]);
	const steps = {} as RunCounts["steps"];
	let active = 0;
	let halted = 0;
	let reached = done;
	// walk back from the last step: items at a later step (or done) have passed every earlier one
	for (let i = BILLING_STEPS.length - 1; i >= 0; i--) {
		const a = perStep[i * 2];
		const h = perStep[i * 2 + 1];
		steps[BILLING_STEPS[i]] = { active: a, halted: h, passed: reached };
		reached += a + h;
		active += a;
		halted += h;
	}
	const status: RunStatus = active > 0 ? "running" : halted > 0 ? "completed_with_halts" : "completed";
	return { status, counts: { loans: run.loans, done, active, halted, steps } };
}

/** The SMS text of a statement: the amount due and the due date, and the link to the PDF when there is one. */
export function statementSms(st: Pick<Statement, "loan_id" | "amount_due" | "due_date">, link?: string): string {
	const base = `Loan ${st.loan_id}: amount due Rs ${st.amount_due} by ${st.due_date}.`;
	return link ? `${base} Statement: ${link}` : base;
}

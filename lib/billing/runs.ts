/**
 * Billing runs: a statement for every active loan of a client for one cycle, as a flow of steps per loan
 *
 *   duplicates -> passbook -> statement -> validate -> render -> deliver
 *
 * where each loan's flow halts where it fails. The state lives in the store, not in messages:
 * - a run per client and cycle (`billing_runs`, unique on client and statement date: starting the same cycle again
 *   returns the same run), and an item per loan (`billing_items`, unique on client, cycle and loan: no loan is billed
 *   twice for a cycle, whatever the reruns, retries or nodes);
 * - an item records the step it is at, the result of every step done, and, once halted, the step, the reason and
 *   the step's input. A step is applied to an item only while the item is at that step, so a message handled twice
 *   finds the item moved on and does nothing twice; the side-effecting steps (render, deliver) are idempotent in
 *   their own right (a document is rendered once per content; a delivery case is created once per loan and cycle).
 * - work moves as chunks of item IDs on one queue per step (`billing.step.<step>`); a chunk whose items failed is
 *   retried by its queue with growing delays (only the failed items are still at that step); on its last try the
 *   items still failing are halted. Operators list halted items by step and reason and resume them.
 */
import type { StoreAdapter } from "../store/types.ts";
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
	{ fields: ["runId", "step", "status"] },
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
	/** steps whose halted loans already alerted operators */
	alerted?: string[];
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

export interface ChunkOutcome {
	advanced: string[];
	/** failed this try and will be retried */
	retry: string[];
	halted: string[];
	/** items not at this step (done before, or by another try): nothing done */
	skipped: number;
}

/**
 * Applies `step` to the items of a chunk that are at it: each success moves its item to the next step (or done),
 * each failure counts a try; on the last try (or for a HaltError) the item halts with the reason and the input.
 */
export async function runChunk<C>(items: StoreAdapter, run: BillingRunDoc, step: BillingStep, ids: string[], fn: StepFn | Step<C>, lastTry: boolean): Promise<ChunkOutcome> {
	const docs = (await items.findByIds(ids)) as BillingItemDoc[];
	const out: ChunkOutcome = { advanced: [], retry: [], halted: [], skipped: docs.length };
	const at = docs.filter((item) => item.status === "active" && item.step === step);
	out.skipped -= at.length;
	if (at.length === 0) return out;
	const s: Step<C | undefined> = typeof fn === "function" ? { prepare: async () => undefined, apply: (item, r) => fn(item, r) } : fn;
	// a failure to read the chunk's data fails every item of it (retried like any failure)
	let chunk: C | undefined;
	let readError: unknown;
	try {
		chunk = await s.prepare(at, run);
	} catch (err) {
		readError = err;
	}
	for (const item of at) {
		const now = new Date();
		try {
			if (readError) throw readError;
			const result = await s.apply(item, run, chunk);
			const next = nextStep(step);
			// compare-and-set on the step: of two tries of the same chunk, one moves the item
			const n = await items.updateMany(
				{ _id: item._id, step, status: "active" },
				{ $set: { [`results.${step}`]: result, step: next ?? step, status: next ? "active" : "done", attempts: 0, updatedAt: now }, $unset: { lastError: "" } }
			);
			if (n > 0) out.advanced.push(item._id);
			else out.skipped++;
		} catch (err) {
			const reason = (err as Error).message ?? String(err);
			if (lastTry || err instanceof HaltError) {
				const halted: HaltInfo = { step, reason, input: inputOf(item, step), at: now };
				await items.updateMany({ _id: item._id, step, status: "active" }, { $set: { status: "halted", halted, lastError: reason, attempts: item.attempts + 1, updatedAt: now } });
				out.halted.push(item._id);
			} else {
				await items.updateMany({ _id: item._id, step, status: "active" }, { $set: { lastError: reason, attempts: item.attempts + 1, updatedAt: now } });
				out.retry.push(item._id);
			}
		}
	}
	return out;
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

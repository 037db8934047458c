/**
 * Billing's reads and writes on the store: a loan with its repayments (registered records of kinds loan and
 * repayment), the refunds of suspected duplicates (collection `refunds`, unique on client and payment reference, so
 * one excess never yields two refund requests whichever node or retry sees it), and the passbook built from them.
 */
import type { StoreAdapter } from "../store/types.ts";
import type { RecordDoc } from "../ingest/register.ts";
import { isDuplicateKeyError } from "../store/errors.ts";
import type { ChargeItem, ChargesConfig } from "../render/charges.ts";
import { DEFAULT_CHARGES, DEFAULT_TAX_RATE } from "../render/charges.ts";
import type { LoanRecord, RepaymentRecord } from "../records/index.ts";
import { buildPassbook, type ChargeRule, type Passbook, type PassbookPayment, type PenaltyRule } from "./passbook.ts";
import { findSuspectedDuplicates, type SuspectedDuplicate } from "./duplicates.ts";
import { repaymentStateOf, requestRefund, type RefundState } from "./refunds.ts";

export const REFUNDS = "refunds";
export const REFUND_INDEXES = [
	{ fields: ["client", "payment_ref"], unique: true },
	{ fields: ["client", "status", "requestedAt"] },
	{ fields: ["client", "loan_id"] }
];

/** A stored refund request of one suspected duplicate. */
export interface RefundDoc extends RefundState {
	_id: string;
	client: string;
	loan_id: string;
	payment_ref: string;
	/** the earlier payment it repeats */
	of: string;
	amount: string;
	paid_at: string;
	/** delivery of the refund.requested webhook: when delivered; else the last try and why it failed */
	notice?: { deliveredAt?: string; lastError?: string; triedAt?: string };
	/** when billing withdrew it (ISO): the payment, or the one it repeats, bounced */
	withdrawnAt?: string;
	/** delivery of the refund.withdrawn webhook (sent only when the client had the request's notice) */
	withdrawal?: { deliveredAt?: string; lastError?: string; triedAt?: string };
	/** a confirmed refund whose payment (or the one it repeats) bounced afterwards: when operators were alerted, and which */
	bounced?: { at: string; payment_ref: string };
	[key: string]: unknown;
}

/** A registered record whose data is of one kind (Omit drops RecordDoc's own fields behind Doc's index signature: the client is named again). */
type RecordRow<T> = Omit<RecordDoc, "data"> & { data: T; client: string };

/** The loan's registered record, or null. */
export async function findLoan(records: StoreAdapter, clientId: string, loanId: string): Promise<RecordRow<LoanRecord> | null> {
	const row = (await records.findOne({ client: clientId, kind: "loan", key: loanId })) as RecordDoc | null;
	return row ? { ...row, data: row.data as LoanRecord } : null;
}

/**
 * An operator's look-up of a loan by its ID without naming the client: the loan's records among `clientIds` (each
 * client one probe of the unique (client, kind, key) index; every client when not given), at most `limit`.
 */
export async function findLoanAnyClient(records: StoreAdapter, loanId: string, clientIds: string[] | undefined, limit = 2): Promise<RecordRow<LoanRecord>[]> {
	const rows = (await records.find({ query: { ...(clientIds ? { client: { $in: clientIds } } : {}), kind: "loan", key: loanId }, limit })) as RecordDoc[];
	return rows.map((row) => ({ ...row, data: row.data as LoanRecord }));
}

/** Every registered repayment of a loan. */
export async function findRepayments(records: StoreAdapter, clientId: string, loanId: string): Promise<RepaymentRecord[]> {
	// by the data.loan_id index (see loadLoanChunk)
	const rows = (await records.find({ query: { "data.loan_id": loanId } })) as RecordDoc[];
	return rows.filter((r) => r.client === clientId && r.kind === "repayment").map((r) => r.data as RepaymentRecord);
}

/** An item of the schedule as billing levies it: fixed or percent (others: null), with GST when plusTax. */
function chargeRuleOf(item: ChargeItem | undefined, taxPercent: string): ChargeRule | null {
	const tax = item?.plusTax ? { taxPercent } : {};
	if (item?.kind === "fixed" && item.amount !== undefined) return { amount: String(item.amount).trim(), ...tax };
	if (item?.kind === "percent" && item.rate !== undefined) return { ratePercent: String(item.rate).trim(), ...tax };
	return null;
}

/**
 * The charges billing levies from a client's schedule of charges (checked by checkChargesConfig when it was saved);
 * the default schedule when the client has none:
 * - `late_payment`: a percentage a month of the overdue instalments, or a fixed amount a month while any is overdue;
 * - `cheque_bounce`: on each bounced payment, fixed or a percentage of the bounced amount; `nach_bounce`, when the
 *   schedule has it, instead for a bounced NACH debit;
 * each with GST at the schedule's `taxRate` (default 18 %) when the item is plusTax. Items of another kind (actuals,
 * nil) or absent levy nothing; null when nothing is levied at all.
 */
export function penaltyRuleOf(charges: ChargesConfig | undefined): PenaltyRule | null {
	const cfg = charges ?? DEFAULT_CHARGES;
	const taxPercent = String(cfg.taxRate ?? DEFAULT_TAX_RATE).trim();
	const item = (key: string): ChargeItem | undefined => cfg.items.find((i) => i.key === key);
	const late = chargeRuleOf(item("late_payment"), taxPercent);
	const bounce = chargeRuleOf(item("cheque_bounce"), taxPercent);
	const nachBounce = chargeRuleOf(item("nach_bounce"), taxPercent);
	const rules: PenaltyRule = {
		...(late?.ratePercent !== undefined ? { ratePercentPerMonth: late.ratePercent } : {}),
		...(late?.amount !== undefined ? { amountPerMonth: late.amount } : {}),
		...(late?.taxPercent !== undefined ? { taxPercent: late.taxPercent } : {}),
		...(bounce ? { bounce } : {}),
		...(nachBounce ? { nachBounce } : {})
	};
	return Object.keys(rules).length > 0 ? rules : null;
}

/** The passbook of a loan as of a date: its repayments with what their refunds decided. */
export async function loanPassbook(records: StoreAdapter, refunds: StoreAdapter, clientId: string, loan: LoanRecord, asOf: string, rule: PenaltyRule | null): Promise<Passbook> {
	const payments = await findRepayments(records, clientId, loan.loan_id);
	const decided = (await refunds.find({ query: { client: clientId, loan_id: loan.loan_id } })) as RefundDoc[];
	return passbookFrom(loan, payments, decided, asOf, rule);
}

/** The passbook from a loan's repayments and refunds already read. */
export function passbookFrom(loan: LoanRecord, payments: RepaymentRecord[], refunds: RefundDoc[], asOf: string, rule: PenaltyRule | null): Passbook {
	const stateOf = new Map(refunds.map((r) => [r.payment_ref, repaymentStateOf(r.status)]));
	const list: PassbookPayment[] = payments.map((p) => ({
		payment_ref: p.payment_ref,
		amount: p.amount,
		paid_at: p.paid_at,
		state: stateOf.get(p.payment_ref) ?? "applied",
		...(p.status === "bounced" ? { status: p.status, method: p.method } : {})
	}));
	return buildPassbook(loan, list, asOf, rule);
}

/** What a chunk of a billing run reads once for all its loans: the loans, their repayments and refunds. */
export interface LoanChunk {
	loans: Map<string, LoanRecord>;
	repayments: Map<string, RepaymentRecord[]>;
	refunds: Map<string, RefundDoc[]>;
}

/**
 * Reads the loans of a chunk with their repayments and refunds in three queries (by index), not three per loan;
 * without the repayments and refunds with `payments: false`, without the loans or the refunds when asked.
 */
export async function loadLoanChunk(records: StoreAdapter, refunds: StoreAdapter, clientId: string, loanIds: string[], options: { payments?: boolean; loans?: boolean; refunds?: boolean } = {}): Promise<LoanChunk> {
	const ids = [...new Set(loanIds)];
	const out: LoanChunk = { loans: new Map(), repayments: new Map(ids.map((id) => [id, []])), refunds: new Map(ids.map((id) => [id, []])) };
	if (ids.length === 0) return out;
	const payments = options.payments ?? true;
	const [loans, pays, refs] = await Promise.all([
		(options.loans ?? true) ? records.find({ query: { client: clientId, kind: "loan", key: { $in: ids } } }) : [],
		// by the data.loan_id index alone, client and kind checked here: with them in the query SQLite's planner takes
		// the (client, kind, key) index and reads every repayment of the client for each chunk
		payments ? records.find({ query: { "data.loan_id": { $in: ids } } }).then((rows) => rows.filter((r) => r.client === clientId && r.kind === "repayment")) : [],
		payments && (options.refunds ?? true) ? refunds.find({ query: { client: clientId, loan_id: { $in: ids } } }) : []
	]);
	for (const l of loans as RecordDoc[]) out.loans.set(l.key, l.data as LoanRecord);
	for (const p of pays as RecordDoc[]) out.repayments.get((p.data as RepaymentRecord).loan_id)?.push(p.data as RepaymentRecord);
	for (const r of refs as RefundDoc[]) out.refunds.get(r.loan_id)?.push(r);
	return out;
}

/**
 * Checks a loan's repayments for suspected duplicates and records a refund request for each new one (insert on the
 * unique key: a request that exists already is left as it is). Returns the refunds created now and how many
 * suspects the loan has (new or not).
 */
export async function openRefunds(records: StoreAdapter, refunds: StoreAdapter, clientId: string, loanId: string, windowSeconds: number, now = new Date(), known?: RepaymentRecord[]): Promise<{ created: RefundDoc[]; suspects: number }> {
	const all = known ?? (await findRepayments(records, clientId, loanId));
	const suspects: SuspectedDuplicate[] = findSuspectedDuplicates(all, windowSeconds);
	const payments = new Map(all.map((p) => [p.payment_ref, p]));
	const created: RefundDoc[] = [];
	for (const s of suspects) {
		const paid = payments.get(s.payment_ref);
		const doc = { client: clientId, loan_id: loanId, payment_ref: s.payment_ref, of: s.of, amount: s.amount, paid_at: paid?.paid_at ?? "", ...requestRefund(now) };
		try {
			created.push((await refunds.insert(doc)) as RefundDoc);
		} catch (err) {
			if (!isDuplicateKeyError(err)) throw err;
		}
	}
	return { created, suspects: suspects.length };
}

/** The refunds of one loan (a query on the index (client, loan_id)). */
export function refundsOfLoan(clientId: string, loanId: string): Record<string, unknown> {
	return { client: clientId, loan_id: loanId };
}

/** The loans a set of repayment records touches (for the check after a repayment batch). */
/** Records of a batch read per page (keyset on _id, the records' (batchId, _id) index): a batch may hold millions. */
const BATCH_PAGE = 5000;

/**
 * The loans a repayment batch touched, sorted. The batch is read a page at a time and only the loan IDs are kept: a
 * batch of 1.2M repayments read whole held every record in memory at once (~2 GB of the node's heap in bench:billing)
 * and read them all in one synchronous call on the main thread.
 */
export async function loansOfBatch(records: StoreAdapter, clientId: string, batchId: string, pageSize = BATCH_PAGE): Promise<string[]> {
	const loans = new Set<string>();
	let after: string | undefined;
	for (;;) {
		const page = (await records.find({ query: { batchId, ...(after === undefined ? {} : { _id: { $gt: after } }), client: clientId, kind: "repayment" }, sort: "_id", limit: pageSize })) as RecordDoc[];
		for (const r of page) if (typeof r.data.loan_id === "string") loans.add(r.data.loan_id);
		if (page.length < pageSize) break;
		after = String((page[page.length - 1] as RecordDoc)._id);
	}
	return [...loans].sort();
}

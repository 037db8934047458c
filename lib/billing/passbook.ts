/**
 * A loan's passbook: the EMI schedule (lib/render/emi.ts) falling due, late-payment penalties, and the borrower's
 * repayments applied in order, exact to the paisa in decimal arithmetic. Pure: the same loan, repayments, rule and
 * date always give the same passbook, so a billing step that runs twice computes the same figures.
 *
 * The rules, day by day (dates are India calendar dates; a payment's date is its paid_at in India time):
 * 1. Penalty: on every monthly anniversary of the first EMI date after the first (each later due date, and monthly
 *    after the last one), the late-payment rate (percent a month, from the client's schedule of charges:
 *    `late_payment`) is charged on the instalments then overdue (fallen due on an earlier day and still unpaid at
 *    the start of that day), rounded half-up to the paisa.
 * 2. Instalment: on its due date an instalment falls due.
 * 3. Credit left from earlier payments is applied to what is due (same order as a payment).
 * 4. Each payment of that day, in paid_at order, is applied: unpaid penalties (oldest first), then instalments
 *    fallen due (oldest first, so overdue ones before the one due today; interest before principal within each),
 *    then the current instalment (the next one to fall due), then the rest stays as the borrower's credit.
 * A payment held as a suspected duplicate (refund pending) or refunded is listed but never applied; one whose refund
 * was rejected is applied as of the day it was paid.
 *
 * The balance is what is owed now: everything fallen due (instalments and penalties) less everything paid; negative
 * when the borrower is in credit. checkPassbook() verifies the invariants a statement relies on.
 */
import { Dec, addMonthsClamped, emiSchedule, parseIsoDate } from "../render/emi.ts";
import { indiaDate } from "../records/repayment.ts";

export interface PassbookLoan {
	loan_id: string;
	loan_amount: string;
	annual_interest_rate: string;
	tenure_months: number;
	first_emi_date: string;
}

/** What billing decided about a repayment: applied (default), held (suspected duplicate, refund pending) or refunded. */
export type RepaymentState = "applied" | "held" | "refunded";

export interface PassbookPayment {
	payment_ref: string;
	amount: string;
	/** UTC instant "YYYY-MM-DDTHH:MM:SSZ" (lib/records/repayment.ts) */
	paid_at: string;
	state?: RepaymentState;
}

/** Late-payment penalty: percent a month on the overdue instalments (0 or absent: none). */
export interface PenaltyRule {
	ratePercentPerMonth: string;
}

export type InstalmentStatus = "paid" | "overdue" | "due" | "upcoming";

export interface InstalmentLine {
	no: number;
	due_date: string;
	amount: string;
	interest: string;
	principal: string;
	paid: string;
	paid_interest: string;
	paid_principal: string;
	/** unpaid and due before the passbook's date: overdue; due on it: due; later: upcoming */
	status: InstalmentStatus;
	/** the day it became fully paid */
	paid_on: string | null;
}

export interface PenaltyLine {
	date: string;
	/** the overdue instalment amount it was charged on */
	basis: string;
	amount: string;
	paid: string;
}

export interface Allocation {
	to: "penalty" | "interest" | "principal" | "credit";
	/** the instalment number (interest, principal) */
	instalment?: number;
	/** the penalty's date (penalty) */
	penalty_date?: string;
	amount: string;
}

export type EntryKind = "instalment" | "penalty" | "payment" | "credit_applied" | "held" | "refunded";

export interface PassbookEntry {
	date: string;
	kind: EntryKind;
	/** the instalment number, the penalty's date, or the payment reference */
	ref: string;
	debit: string;
	credit: string;
	/** what is owed after this entry (negative: in credit) */
	balance: string;
	/** the amount of a held or refunded payment (it changes no balance) */
	amount?: string;
	allocations?: Allocation[];
}

export interface PassbookTotals {
	/** instalments fallen due */
	billed: string;
	penalties: string;
	/** payments applied */
	paid: string;
	/** payments held (suspected duplicates awaiting the refund decision) */
	held: string;
	refunded: string;
	/** the borrower's credit left over */
	credit: string;
	/** unpaid penalties and unpaid instalments due before the passbook's date */
	overdue: string;
	/** unpaid of what falls due on the passbook's date */
	due_today: string;
	outstanding_principal: string;
	/** billed + penalties - paid: what is owed now (negative: in credit) */
	balance: string;
}

export interface Passbook {
	loan_id: string;
	as_of: string;
	emi: string;
	instalments: InstalmentLine[];
	penalties: PenaltyLine[];
	entries: PassbookEntry[];
	totals: PassbookTotals;
	/** the next instalment to fall due after as_of, with what is still unpaid of it */
	next_due: { no: number; due_date: string; amount: string; unpaid: string } | null;
}

interface Inst {
	no: number;
	due: string;
	amount: Dec;
	interest: Dec;
	principal: Dec;
	paidInterest: Dec;
	paidPrincipal: Dec;
	paidOn: string | null;
}
interface Pen {
	date: string;
	basis: Dec;
	amount: Dec;
	paid: Dec;
}

const ZERO = new Dec(0);
const money = (d: Dec): string => d.toFixed(2);
const unpaidOf = (i: Inst): Dec => i.amount.minus(i.paidInterest).minus(i.paidPrincipal);

/** Builds the passbook of a loan as of a date ("YYYY-MM-DD"). Throws EmiInputError for an impossible loan. */
export function buildPassbook(loan: PassbookLoan, payments: PassbookPayment[], asOf: string, penalty?: PenaltyRule | null): Passbook {
	parseIsoDate(asOf, "asOf");
	const schedule = emiSchedule({ principal: loan.loan_amount, annualRate: loan.annual_interest_rate, months: loan.tenure_months, firstEmiDate: loan.first_emi_date });
	const insts: Inst[] = schedule.rows.map((r) => ({
		no: r.no,
		due: r.due_date,
		amount: new Dec(r.emi),
		interest: new Dec(r.interest),
		principal: new Dec(r.principal),
		paidInterest: ZERO,
		paidPrincipal: ZERO,
		paidOn: null
	}));
	const rate = penalty ? new Dec(penalty.ratePercentPerMonth) : ZERO;
	const pens: Pen[] = [];
	const entries: PassbookEntry[] = [];
	let balance = ZERO;
	let credit = ZERO;
	let paidTotal = ZERO;
	let heldTotal = ZERO;
	let refundedTotal = ZERO;

	// penalty days: monthly anniversaries of the first EMI date after the first, up to asOf
	const [fy, fm, fd] = parseIsoDate(loan.first_emi_date, "first_emi_date");
	const penaltyDays: string[] = [];
	if (rate.gt(0)) {
		for (let k = 1; ; k++) {
			const d = addMonthsClamped(fy, fm, fd, k);
			if (d > asOf) break;
			penaltyDays.push(d);
		}
	}
	const byDay = new Map<string, PassbookPayment[]>();
	const sorted = [...payments].sort((a, b) => (a.paid_at < b.paid_at ? -1 : a.paid_at > b.paid_at ? 1 : a.payment_ref < b.payment_ref ? -1 : a.payment_ref > b.payment_ref ? 1 : 0));
	for (const p of sorted) {
		const day = indiaDate(p.paid_at);
		if (day > asOf) continue;
		const list = byDay.get(day);
		if (list) list.push(p);
		else byDay.set(day, [p]);
	}
	const days = [...new Set([...insts.filter((i) => i.due <= asOf).map((i) => i.due), ...penaltyDays, ...byDay.keys()])].sort();
	const penaltySet = new Set(penaltyDays);

	const push = (e: Omit<PassbookEntry, "balance">): void => {
		entries.push({ ...e, balance: money(balance) });
	};

	/**
	 * Applies `amount` on `day` in the order of rule 4 (a payment also prepays the current instalment; credit only
	 * pays what has fallen due); returns the allocations and what is left (credit).
	 */
	const allocate = (amount: Dec, day: string, prepay: boolean): { allocations: Allocation[]; left: Dec } => {
		const allocations: Allocation[] = [];
		let left = amount;
		/** takes what can be paid of `owed` from what is left, recording it; returns the amount taken (maybe 0) */
		const take = (owed: Dec, to: Allocation["to"], where: Pick<Allocation, "instalment" | "penalty_date">): Dec => {
			const t = Dec.max(0, Dec.min(owed, left));
			if (t.gt(0)) {
				left = left.minus(t);
				allocations.push({ to, ...where, amount: money(t) });
			}
			return t;
		};
		for (const p of pens) {
			if (left.lte(0)) break;
			p.paid = p.paid.plus(take(p.amount.minus(p.paid), "penalty", { penalty_date: p.date }));
		}
		const payInst = (i: Inst): void => {
			i.paidInterest = i.paidInterest.plus(take(i.interest.minus(i.paidInterest), "interest", { instalment: i.no }));
			i.paidPrincipal = i.paidPrincipal.plus(take(i.principal.minus(i.paidPrincipal), "principal", { instalment: i.no }));
			if (i.paidOn === null && unpaidOf(i).isZero()) i.paidOn = day;
		};
		for (const i of insts) {
			if (left.lte(0) || i.due > day) break;
			if (unpaidOf(i).gt(0)) payInst(i);
		}
		if (prepay && left.gt(0)) {
			const current = insts.find((i) => i.due > day && unpaidOf(i).gt(0));
			if (current) payInst(current);
		}
		return { allocations, left };
	};

	for (const day of days) {
		if (penaltySet.has(day)) {
			let overdue = ZERO;
			for (const i of insts) {
				if (i.due >= day) break;
				overdue = overdue.plus(unpaidOf(i));
			}
			if (overdue.gt(0)) {
				const amount = overdue.times(rate).div(100).toDecimalPlaces(2, Dec.ROUND_HALF_UP);
				if (amount.gt(0)) {
					pens.push({ date: day, basis: overdue, amount, paid: ZERO });
					balance = balance.plus(amount);
					push({ date: day, kind: "penalty", ref: day, debit: money(amount), credit: "0.00" });
				}
			}
		}
		for (const i of insts) {
			if (i.due !== day) continue;
			balance = balance.plus(i.amount);
			push({ date: day, kind: "instalment", ref: String(i.no), debit: money(i.amount), credit: "0.00" });
		}
		if (credit.gt(0)) {
			const { allocations, left } = allocate(credit, day, false);
			if (left.lt(credit)) {
				push({ date: day, kind: "credit_applied", ref: "credit", debit: "0.00", credit: "0.00", amount: money(credit.minus(left)), allocations });
				credit = left;
			}
		}
		for (const p of byDay.get(day) ?? []) {
			const amount = new Dec(p.amount);
			const state = p.state ?? "applied";
			if (state !== "applied") {
				if (state === "held") heldTotal = heldTotal.plus(amount);
				else refundedTotal = refundedTotal.plus(amount);
				push({ date: day, kind: state, ref: p.payment_ref, debit: "0.00", credit: "0.00", amount: money(amount) });
				continue;
			}
			const { allocations, left } = allocate(amount, day, true);
			if (left.gt(0)) allocations.push({ to: "credit", amount: money(left) });
			credit = credit.plus(left);
			paidTotal = paidTotal.plus(amount);
			balance = balance.minus(amount);
			push({ date: day, kind: "payment", ref: p.payment_ref, debit: "0.00", credit: money(amount), allocations });
		}
	}

	let billed = ZERO;
	let overdue = ZERO;
	let dueToday = ZERO;
	let principalPaid = ZERO;
	for (const i of insts) {
		principalPaid = principalPaid.plus(i.paidPrincipal);
		if (i.due > asOf) continue;
		billed = billed.plus(i.amount);
		if (i.due < asOf) overdue = overdue.plus(unpaidOf(i));
		else dueToday = dueToday.plus(unpaidOf(i));
	}
	let penaltyTotal = ZERO;
	for (const p of pens) {
		penaltyTotal = penaltyTotal.plus(p.amount);
		overdue = overdue.plus(p.amount.minus(p.paid));
	}
	const next = insts.find((i) => i.due > asOf);
	return {
		loan_id: loan.loan_id,
		as_of: asOf,
		emi: schedule.emi,
		instalments: insts.map((i) => {
			const unpaid = unpaidOf(i);
			const status: InstalmentStatus = unpaid.isZero() ? "paid" : i.due > asOf ? "upcoming" : i.due === asOf ? "due" : "overdue";
			return {
				no: i.no,
				due_date: i.due,
				amount: money(i.amount),
				interest: money(i.interest),
				principal: money(i.principal),
				paid: money(i.paidInterest.plus(i.paidPrincipal)),
				paid_interest: money(i.paidInterest),
				paid_principal: money(i.paidPrincipal),
				status,
				paid_on: i.paidOn
			};
		}),
		penalties: pens.map((p) => ({ date: p.date, basis: money(p.basis), amount: money(p.amount), paid: money(p.paid) })),
		entries,
		totals: {
			billed: money(billed),
			penalties: money(penaltyTotal),
			paid: money(paidTotal),
			held: money(heldTotal),
			refunded: money(refundedTotal),
			credit: money(credit),
			overdue: money(overdue),
			due_today: money(dueToday),
			outstanding_principal: money(new Dec(schedule.principal).minus(principalPaid)),
			balance: money(balance)
		},
		next_due: next ? { no: next.no, due_date: next.due, amount: money(next.amount), unpaid: money(unpaidOf(next)) } : null
	};
}

/** One broken invariant of a passbook. */
export interface PassbookProblem {
	check: string;
	message: string;
}

/**
 * Checks what a statement relies on: the entries add up to the balance; the balance equals what is unpaid less the
 * credit; each payment's allocations add up to it; nothing is negative and nothing is paid beyond what was owed;
 * principal paid plus outstanding equals the loan. Returns the problems (none: the passbook balances).
 */
export function checkPassbook(pb: Passbook, loanAmount: string): PassbookProblem[] {
	const problems: PassbookProblem[] = [];
	const d = (s: string): Dec => new Dec(s);
	let running = ZERO;
	for (const e of pb.entries) {
		if (d(e.debit).lt(0) || d(e.credit).lt(0)) problems.push({ check: "non_negative", message: `entry ${e.kind} ${e.ref} on ${e.date} has a negative amount` });
		running = running.plus(d(e.debit)).minus(d(e.credit));
		if (!running.eq(d(e.balance))) problems.push({ check: "running_balance", message: `entry ${e.kind} ${e.ref} on ${e.date}: balance ${e.balance}, entries add up to ${money(running)}` });
		if (e.kind === "payment") {
			const sum = (e.allocations ?? []).reduce((acc, a) => acc.plus(d(a.amount)), ZERO);
			if (!sum.eq(d(e.credit))) problems.push({ check: "allocation", message: `payment ${e.ref}: allocations add up to ${money(sum)}, paid ${e.credit}` });
		}
	}
	const t = pb.totals;
	if (!running.eq(d(t.balance))) problems.push({ check: "balance", message: `entries add up to ${money(running)}, balance is ${t.balance}` });
	const computed = d(t.billed).plus(d(t.penalties)).minus(d(t.paid));
	if (!computed.eq(d(t.balance))) problems.push({ check: "balance", message: `billed + penalties - paid = ${money(computed)}, balance is ${t.balance}` });
	const owed = d(t.overdue).plus(d(t.due_today)).minus(d(t.credit));
	// prepaid instalments (paid before they fall due) are neither owed nor credit: add them back
	const prepaid = pb.instalments.filter((i) => i.due_date > pb.as_of).reduce((acc, i) => acc.plus(d(i.paid)), ZERO);
	if (!owed.minus(prepaid).eq(d(t.balance))) problems.push({ check: "owed", message: `unpaid dues less credit and prepayments = ${money(owed.minus(prepaid))}, balance is ${t.balance}` });
	let principalPaid = ZERO;
	for (const i of pb.instalments) {
		if (d(i.paid).gt(d(i.amount))) problems.push({ check: "overpaid", message: `instalment ${i.no} paid ${i.paid} of ${i.amount}` });
		principalPaid = principalPaid.plus(d(i.paid_principal));
	}
	for (const p of pb.penalties) if (d(p.paid).gt(d(p.amount))) problems.push({ check: "overpaid", message: `penalty of ${p.date} paid ${p.paid} of ${p.amount}` });
	if (!principalPaid.plus(d(t.outstanding_principal)).eq(d(loanAmount))) problems.push({ check: "principal", message: `principal paid ${money(principalPaid)} + outstanding ${t.outstanding_principal} is not the loan ${loanAmount}` });
	for (const [k, v] of Object.entries(t)) if (k !== "balance" && d(v).lt(0)) problems.push({ check: "non_negative", message: `${k} is negative: ${v}` });
	return problems;
}

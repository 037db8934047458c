/**
 * A loan's passbook: the EMI schedule (lib/render/emi.ts) falling due, late-payment penalties, bounce charges, and
 * the borrower's repayments applied in order, exact to the paisa (in whole paise, lib/money/paise.ts). Pure: the
 * same loan, repayments, rules and date always give the same passbook, so a billing step that runs twice computes
 * the same figures.
 *
 * The rules, day by day (dates are India calendar dates; a payment's date is its paid_at in India time):
 * 1. Penalty: on every monthly anniversary of the first EMI date after the first (each later due date, and monthly
 *    after the last one), while instalments are overdue (fallen due on an earlier day and still unpaid at the start
 *    of that day), the client's `late_payment` charge is levied: a percentage a month of those instalments, or a
 *    fixed amount a month (never on unpaid penalties or charges).
 * 2. Instalment: on its due date an instalment falls due.
 * 3. Credit left from earlier payments is applied to what is due (same order as a payment).
 * 4. Each payment of that day, in paid_at order, is applied: unpaid penalties and charges (oldest first), then
 *    instalments fallen due (oldest first, so overdue ones before the one due today; interest before principal
 *    within each), then the current instalment (the next one to fall due), then the rest stays as the borrower's
 *    credit.
 * 5. A bounced payment (cheque or NACH/ECS returned; record status `bounced`) is not a payment: it is never applied,
 *    and in its place (same day, same order) the bounce charge is levied: `nach_bounce` for a NACH debit when the
 *    schedule has one, else `cheque_bounce`; fixed, or a percentage of the bounced amount.
 * A charge whose schedule item is `plusTax` carries GST at the schedule's tax rate, computed on that charge alone;
 * every percentage (penalty, charge, tax) is rounded half-up to the paisa. A line shows the charge, its tax and the
 * amount owed (charge + tax).
 * A payment held as a suspected duplicate (refund pending) or refunded is listed but never applied; one whose refund
 * was rejected is applied as of the day it was paid.
 *
 * The balance is what is owed now: everything fallen due (instalments, penalties and charges, tax included) less
 * everything paid; negative when the borrower is in credit. checkPassbook() verifies the invariants a statement
 * relies on.
 */
import { addMonthsClamped, emiSchedule, parseIsoDate } from "../render/emi.ts";
import { paise, percentOf, rateOf, rupees, type Rate } from "../money/paise.ts";
import { indiaDate, type RepaymentStatus } from "../records/repayment.ts";

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
	/** bounced: returned unpaid, never applied, charged the bounce charge (absent: paid) */
	status?: RepaymentStatus;
	/** how it was paid (lib/records/repayment.ts PAYMENT_METHODS): a bounced "nach" debit takes the NACH bounce charge */
	method?: string;
}

/** A charge levied per instance: a fixed amount or a percentage of what it is levied on, plus GST when taxed. */
export interface ChargeRule {
	/** fixed amount (decimal, at most 2 decimals) */
	amount?: string;
	/** percent of the basis (the bounced amount) */
	ratePercent?: string;
	/** GST in percent on the charge (the item is plusTax); absent: none */
	taxPercent?: string;
}

/**
 * The charges a passbook levies (not only penalties), from the client's schedule of charges (lib/billing/loans.ts
 * penaltyRuleOf). The late-payment penalty is a percentage a month of the overdue instalments or a fixed amount a
 * month while any is overdue (0 or absent: none); bounce charges apply to bounced payments (absent: none).
 */
export interface PenaltyRule {
	ratePercentPerMonth?: string;
	amountPerMonth?: string;
	/** GST in percent on the late-payment penalty (the item is plusTax); absent: none */
	taxPercent?: string;
	/** the charge for a bounced payment (`cheque_bounce`) */
	bounce?: ChargeRule;
	/** the charge for a bounced NACH debit when the schedule has a `nach_bounce` item */
	nachBounce?: ChargeRule;
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
	/** the penalty before tax */
	charge: string;
	/** GST on it (0.00 when the item is not plusTax) */
	tax: string;
	/** charge + tax: what is owed */
	amount: string;
	paid: string;
}

/** A charge levied on an event: a bounced payment. */
export interface ChargeLine {
	date: string;
	/** the schedule item: cheque_bounce or nach_bounce */
	key: string;
	/** the bounced payment's reference */
	ref: string;
	/** the bounced amount */
	basis: string;
	/** the charge before tax */
	charge: string;
	tax: string;
	/** charge + tax: what is owed */
	amount: string;
	paid: string;
}

export interface Allocation {
	to: "penalty" | "charge" | "interest" | "principal" | "credit";
	/** the instalment number (interest, principal) */
	instalment?: number;
	/** the penalty's date (penalty) */
	penalty_date?: string;
	/** the bounced payment's reference (charge) */
	charge_ref?: string;
	amount: string;
}

export type EntryKind = "instalment" | "penalty" | "payment" | "credit_applied" | "held" | "refunded" | "bounce";

export interface PassbookEntry {
	date: string;
	kind: EntryKind;
	/** the instalment number, the penalty's date, or the payment reference */
	ref: string;
	debit: string;
	credit: string;
	/** what is owed after this entry (negative: in credit) */
	balance: string;
	/** the amount of a held, refunded or bounced payment (it is not applied) */
	amount?: string;
	/** penalty, bounce: the GST included in the debit */
	tax?: string;
	allocations?: Allocation[];
}

export interface PassbookTotals {
	/** instalments fallen due */
	billed: string;
	/** late-payment penalties, tax included */
	penalties: string;
	/** bounce charges, tax included */
	charges: string;
	/** the GST in penalties and charges */
	tax: string;
	/** payments applied */
	paid: string;
	/** payments held (suspected duplicates awaiting the refund decision) */
	held: string;
	refunded: string;
	/** payments that bounced (never applied) */
	bounced: string;
	/** the borrower's credit left over */
	credit: string;
	/** unpaid penalties and charges, and unpaid instalments due before the passbook's date */
	overdue: string;
	/** unpaid of what falls due on the passbook's date */
	due_today: string;
	outstanding_principal: string;
	/** billed + penalties + charges - paid: what is owed now (negative: in credit) */
	balance: string;
}

export interface Passbook {
	loan_id: string;
	as_of: string;
	emi: string;
	instalments: InstalmentLine[];
	penalties: PenaltyLine[];
	/** bounce charges */
	charges: ChargeLine[];
	entries: PassbookEntry[];
	totals: PassbookTotals;
	/** the next instalment to fall due after as_of, with what is still unpaid of it */
	next_due: { no: number; due_date: string; amount: string; unpaid: string } | null;
}

/** An instalment being paid (amounts in paise). */
interface Inst {
	no: number;
	due: string;
	amount: number;
	interest: number;
	principal: number;
	paidInterest: number;
	paidPrincipal: number;
	paidOn: string | null;
}
/** A penalty or a charge being paid (paise); penalties and charges are paid together, oldest first. */
interface Pen {
	date: string;
	/** null: a late-payment penalty; else the bounced payment's reference */
	ref: string | null;
	/** the schedule item (charges) */
	key: string;
	basis: number;
	charge: number;
	tax: number;
	/** charge + tax */
	amount: number;
	paid: number;
}

/** A charge rule parsed once per passbook. */
interface ParsedCharge {
	amount: number;
	rate: Rate | null;
	tax: Rate | null;
}

const parseCharge = (r: ChargeRule | undefined): ParsedCharge | null =>
	r ? { amount: r.amount ? paise(r.amount) : 0, rate: r.ratePercent ? rateOf(r.ratePercent) : null, tax: r.taxPercent ? rateOf(r.taxPercent) : null } : null;

const unpaidOf = (i: Inst): number => i.amount - i.paidInterest - i.paidPrincipal;

/**
 * Builds the passbook of a loan as of a date ("YYYY-MM-DD"). Throws EmiInputError for an impossible loan. The EMI
 * schedule comes from lib/render/emi.ts (decimal, as printed on the welcome letter); everything after it is in
 * whole paise (lib/billing/paise.ts): exact, and cheap enough to bill thousands of loans a second.
 */
export function buildPassbook(loan: PassbookLoan, payments: PassbookPayment[], asOf: string, penalty?: PenaltyRule | null): Passbook {
	parseIsoDate(asOf, "asOf");
	const schedule = emiSchedule({ principal: loan.loan_amount, annualRate: loan.annual_interest_rate, months: loan.tenure_months, firstEmiDate: loan.first_emi_date });
	const insts: Inst[] = schedule.rows.map((r) => ({
		no: r.no,
		due: r.due_date,
		amount: paise(r.emi),
		interest: paise(r.interest),
		principal: paise(r.principal),
		paidInterest: 0,
		paidPrincipal: 0,
		paidOn: null
	}));
	const rate = penalty?.ratePercentPerMonth ? rateOf(penalty.ratePercentPerMonth) : null;
	const fixedLate = penalty?.amountPerMonth ? paise(penalty.amountPerMonth) : 0;
	const lateTax = penalty?.taxPercent ? rateOf(penalty.taxPercent) : null;
	const lateOn = (rate !== null && rate.num > 0n) || fixedLate > 0;
	const bounceRule = parseCharge(penalty?.bounce);
	const nachBounceRule = parseCharge(penalty?.nachBounce);
	const pens: Pen[] = [];
	const entries: PassbookEntry[] = [];
	let balance = 0;
	let credit = 0;
	let paidTotal = 0;
	let heldTotal = 0;
	let refundedTotal = 0;
	let bouncedTotal = 0;

	// penalty days: monthly anniversaries of the first EMI date after the first, up to asOf
	const [fy, fm, fd] = parseIsoDate(loan.first_emi_date, "first_emi_date");
	const penaltyDays: string[] = [];
	if (lateOn) {
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
		entries.push({ ...e, balance: rupees(balance) });
	};

	/**
	 * Applies `amount` on `day` in the order of rule 4 (a payment also prepays the current instalment; credit only
	 * pays what has fallen due); returns the allocations and what is left (credit).
	 */
	const allocate = (amount: number, day: string, prepay: boolean): { allocations: Allocation[]; left: number } => {
		const allocations: Allocation[] = [];
		let left = amount;
		/** takes what can be paid of `owed` from what is left, recording it; returns the amount taken (maybe 0) */
		const take = (owed: number, to: Allocation["to"], where: Pick<Allocation, "instalment" | "penalty_date" | "charge_ref">): number => {
			const t = Math.max(0, Math.min(owed, left));
			if (t > 0) {
				left -= t;
				allocations.push({ to, ...where, amount: rupees(t) });
			}
			return t;
		};
		for (const p of pens) {
			if (left <= 0) break;
			p.paid += take(p.amount - p.paid, p.ref === null ? "penalty" : "charge", p.ref === null ? { penalty_date: p.date } : { charge_ref: p.ref });
		}
		const payInst = (i: Inst): void => {
			i.paidInterest += take(i.interest - i.paidInterest, "interest", { instalment: i.no });
			i.paidPrincipal += take(i.principal - i.paidPrincipal, "principal", { instalment: i.no });
			if (i.paidOn === null && unpaidOf(i) === 0) i.paidOn = day;
		};
		for (const i of insts) {
			if (left <= 0 || i.due > day) break;
			if (unpaidOf(i) > 0) payInst(i);
		}
		if (prepay && left > 0) {
			const current = insts.find((i) => i.due > day && unpaidOf(i) > 0);
			if (current) payInst(current);
		}
		return { allocations, left };
	};

	for (const day of days) {
		if (lateOn && penaltySet.has(day)) {
			let overdue = 0;
			for (const i of insts) {
				if (i.due >= day) break;
				overdue += unpaidOf(i);
			}
			if (overdue > 0) {
				const charge = (rate ? percentOf(overdue, rate) : 0) + fixedLate;
				if (charge > 0) {
					const tax = lateTax ? percentOf(charge, lateTax) : 0;
					const amount = charge + tax;
					pens.push({ date: day, ref: null, key: "late_payment", basis: overdue, charge, tax, amount, paid: 0 });
					balance += amount;
					push({ date: day, kind: "penalty", ref: day, debit: rupees(amount), credit: "0.00", tax: rupees(tax) });
				}
			}
		}
		for (const i of insts) {
			if (i.due !== day) continue;
			balance += i.amount;
			push({ date: day, kind: "instalment", ref: String(i.no), debit: rupees(i.amount), credit: "0.00" });
		}
		if (credit > 0) {
			const { allocations, left } = allocate(credit, day, false);
			if (left < credit) {
				push({ date: day, kind: "credit_applied", ref: "credit", debit: "0.00", credit: "0.00", amount: rupees(credit - left), allocations });
				credit = left;
			}
		}
		for (const p of byDay.get(day) ?? []) {
			const amount = paise(p.amount);
			if (p.status === "bounced") {
				bouncedTotal += amount;
				const nach = p.method === "nach" && nachBounceRule !== null;
				const rule = nach ? nachBounceRule : bounceRule;
				const charge = rule ? rule.amount + (rule.rate ? percentOf(amount, rule.rate) : 0) : 0;
				const tax = rule?.tax && charge > 0 ? percentOf(charge, rule.tax) : 0;
				if (charge > 0) {
					pens.push({ date: day, ref: p.payment_ref, key: nach ? "nach_bounce" : "cheque_bounce", basis: amount, charge, tax, amount: charge + tax, paid: 0 });
					balance += charge + tax;
				}
				push({ date: day, kind: "bounce", ref: p.payment_ref, debit: rupees(charge + tax), credit: "0.00", amount: rupees(amount), tax: rupees(tax) });
				continue;
			}
			const state = p.state ?? "applied";
			if (state !== "applied") {
				if (state === "held") heldTotal += amount;
				else refundedTotal += amount;
				push({ date: day, kind: state, ref: p.payment_ref, debit: "0.00", credit: "0.00", amount: rupees(amount) });
				continue;
			}
			const { allocations, left } = allocate(amount, day, true);
			if (left > 0) allocations.push({ to: "credit", amount: rupees(left) });
			credit += left;
			paidTotal += amount;
			balance -= amount;
			push({ date: day, kind: "payment", ref: p.payment_ref, debit: "0.00", credit: rupees(amount), allocations });
		}
	}

	let billed = 0;
	let overdue = 0;
	let dueToday = 0;
	let principalPaid = 0;
	for (const i of insts) {
		principalPaid += i.paidPrincipal;
		if (i.due > asOf) continue;
		billed += i.amount;
		if (i.due < asOf) overdue += unpaidOf(i);
		else dueToday += unpaidOf(i);
	}
	let penaltyTotal = 0;
	let chargeTotal = 0;
	let taxTotal = 0;
	for (const p of pens) {
		if (p.ref === null) penaltyTotal += p.amount;
		else chargeTotal += p.amount;
		taxTotal += p.tax;
		overdue += p.amount - p.paid;
	}
	const next = insts.find((i) => i.due > asOf);
	return {
		loan_id: loan.loan_id,
		as_of: asOf,
		emi: schedule.emi,
		instalments: insts.map((i) => {
			const unpaid = unpaidOf(i);
			const status: InstalmentStatus = unpaid === 0 ? "paid" : i.due > asOf ? "upcoming" : i.due === asOf ? "due" : "overdue";
			return {
				no: i.no,
				due_date: i.due,
				amount: rupees(i.amount),
				interest: rupees(i.interest),
				principal: rupees(i.principal),
				paid: rupees(i.paidInterest + i.paidPrincipal),
				paid_interest: rupees(i.paidInterest),
				paid_principal: rupees(i.paidPrincipal),
				status,
				paid_on: i.paidOn
			};
		}),
		penalties: pens.filter((p) => p.ref === null).map((p) => ({ date: p.date, basis: rupees(p.basis), charge: rupees(p.charge), tax: rupees(p.tax), amount: rupees(p.amount), paid: rupees(p.paid) })),
		charges: pens
			.filter((p): p is Pen & { ref: string } => p.ref !== null)
			.map((p) => ({ date: p.date, key: p.key, ref: p.ref, basis: rupees(p.basis), charge: rupees(p.charge), tax: rupees(p.tax), amount: rupees(p.amount), paid: rupees(p.paid) })),
		entries,
		totals: {
			billed: rupees(billed),
			penalties: rupees(penaltyTotal),
			charges: rupees(chargeTotal),
			tax: rupees(taxTotal),
			paid: rupees(paidTotal),
			held: rupees(heldTotal),
			refunded: rupees(refundedTotal),
			bounced: rupees(bouncedTotal),
			credit: rupees(credit),
			overdue: rupees(overdue),
			due_today: rupees(dueToday),
			outstanding_principal: rupees(paise(schedule.principal) - principalPaid),
			balance: rupees(balance)
		},
		next_due: next ? { no: next.no, due_date: next.due, amount: rupees(next.amount), unpaid: rupees(unpaidOf(next)) } : null
	};
}

/** One broken invariant of a passbook. */
export interface PassbookProblem {
	check: string;
	message: string;
}

/**
 * Checks what a statement relies on: the entries add up to the balance; the balance equals what is unpaid less the
 * credit; each payment's allocations add up to it; each penalty and charge is its charge plus its tax, and they add
 * up to their totals and entries; nothing is negative and nothing is paid beyond what was owed; principal paid plus
 * outstanding equals the loan. Returns the problems (none: the passbook balances).
 */
export function checkPassbook(pb: Passbook, loanAmount: string): PassbookProblem[] {
	const problems: PassbookProblem[] = [];
	const d = paise;
	let running = 0;
	/** debits of penalty and bounce entries, and the tax they carry */
	const entryDebits = { penalty: 0, bounce: 0, tax: 0 };
	for (const e of pb.entries) {
		const debit = d(e.debit);
		const credit = d(e.credit);
		if (debit < 0 || credit < 0) problems.push({ check: "non_negative", message: `entry ${e.kind} ${e.ref} on ${e.date} has a negative amount` });
		running += debit - credit;
		if (running !== d(e.balance)) problems.push({ check: "running_balance", message: `entry ${e.kind} ${e.ref} on ${e.date}: balance ${e.balance}, entries add up to ${rupees(running)}` });
		if (e.kind === "penalty" || e.kind === "bounce") {
			entryDebits[e.kind] += debit;
			entryDebits.tax += d(e.tax ?? "0.00");
		}
		if (e.kind === "payment") {
			const sum = (e.allocations ?? []).reduce((acc, a) => acc + d(a.amount), 0);
			if (sum !== credit) problems.push({ check: "allocation", message: `payment ${e.ref}: allocations add up to ${rupees(sum)}, paid ${e.credit}` });
		}
	}
	const t = pb.totals;
	if (running !== d(t.balance)) problems.push({ check: "balance", message: `entries add up to ${rupees(running)}, balance is ${t.balance}` });
	const computed = d(t.billed) + d(t.penalties) + d(t.charges) - d(t.paid);
	if (computed !== d(t.balance)) problems.push({ check: "balance", message: `billed + penalties + charges - paid = ${rupees(computed)}, balance is ${t.balance}` });
	const lines = [...pb.penalties.map((p) => ({ what: `penalty of ${p.date}`, ...p })), ...pb.charges.map((c) => ({ what: `charge for ${c.ref}`, ...c }))];
	let taxSum = 0;
	for (const l of lines) {
		if (d(l.charge) + d(l.tax) !== d(l.amount)) problems.push({ check: "charge_tax", message: `${l.what}: charge ${l.charge} + tax ${l.tax} is not ${l.amount}` });
		taxSum += d(l.tax);
	}
	const sums: [string, number, number, string][] = [
		["penalties", pb.penalties.reduce((acc, p) => acc + d(p.amount), 0), entryDebits.penalty, t.penalties],
		["charges", pb.charges.reduce((acc, c) => acc + d(c.amount), 0), entryDebits.bounce, t.charges],
		["tax", taxSum, entryDebits.tax, t.tax]
	];
	for (const [k, fromLines, fromEntries, total] of sums) {
		if (fromLines !== d(total) || fromEntries !== d(total)) problems.push({ check: "charge_totals", message: `${k}: lines add up to ${rupees(fromLines)}, entries to ${rupees(fromEntries)}, total is ${total}` });
	}
	const owed = d(t.overdue) + d(t.due_today) - d(t.credit);
	// prepaid instalments (paid before they fall due) are neither owed nor credit: add them back
	const prepaid = pb.instalments.filter((i) => i.due_date > pb.as_of).reduce((acc, i) => acc + d(i.paid), 0);
	if (owed - prepaid !== d(t.balance)) problems.push({ check: "owed", message: `unpaid dues less credit and prepayments = ${rupees(owed - prepaid)}, balance is ${t.balance}` });
	let principalPaid = 0;
	for (const i of pb.instalments) {
		if (d(i.paid) > d(i.amount)) problems.push({ check: "overpaid", message: `instalment ${i.no} paid ${i.paid} of ${i.amount}` });
		principalPaid += d(i.paid_principal);
	}
	for (const l of lines) if (d(l.paid) > d(l.amount)) problems.push({ check: "overpaid", message: `${l.what} paid ${l.paid} of ${l.amount}` });
	if (principalPaid + d(t.outstanding_principal) !== d(loanAmount)) problems.push({ check: "principal", message: `principal paid ${rupees(principalPaid)} + outstanding ${t.outstanding_principal} is not the loan ${loanAmount}` });
	for (const [k, v] of Object.entries(t)) if (k !== "balance" && d(v) < 0) problems.push({ check: "non_negative", message: `${k} is negative: ${v}` });
	return problems;
}

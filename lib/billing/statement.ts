/**
 * A loan's statement for one billing cycle, computed from its passbook as of the statement date, and the checks a
 * statement must pass before it is rendered or sent (the "validate" step of a billing run).
 *
 * A cycle runs from the day after the previous statement date to the statement date, both India dates. The
 * statement shows the balance brought forward, what fell due in the cycle (instalments, penalties and bounce charges,
 * with the GST they include), the payments received in it and those that bounced, the closing balance, the arrears (overdue at the statement date) and the amount due by the due
 * date: the closing balance plus the next instalment (at least zero). The due date is the next instalment's due
 * date; once none is left, the statement date plus `graceDays`.
 */
import { addMonthsClamped, parseIsoDate } from "../render/emi.ts";
import { paise, rupees } from "../money/paise.ts";
import { checkPassbook, type Passbook, type PassbookProblem } from "./passbook.ts";

export interface Cycle {
	/** first day of the cycle, "YYYY-MM-DD" */
	from: string;
	/** the statement date, last day of the cycle */
	to: string;
}

export interface Statement {
	loan_id: string;
	cycle: Cycle;
	statement_date: string;
	opening_balance: string;
	instalments_billed: string;
	/** instalment numbers that fell due in the cycle */
	instalments: number[];
	/** late-payment penalties of the cycle, tax included */
	penalties: string;
	/** bounce charges of the cycle, tax included (absent on statements computed before charges existed: 0) */
	charges?: string;
	/** the GST included in the cycle's penalties and charges */
	tax?: string;
	payments: string;
	/** payment references received in the cycle */
	payment_refs: string[];
	/** references of the payments that bounced in the cycle (not payments: each charged a bounce charge) */
	bounced_refs?: string[];
	closing_balance: string;
	arrears: string;
	credit: string;
	next_instalment: { no: number; due_date: string; amount: string } | null;
	amount_due: string;
	due_date: string;
	outstanding_principal: string;
}

/** The date `days` after "YYYY-MM-DD". */
export function addDays(iso: string, days: number): string {
	const [y, m, d] = parseIsoDate(iso, "date");
	const t = new Date(Date.UTC(y, m - 1, d + days));
	return t.toISOString().slice(0, 10);
}

/**
 * The cycle that ends on the statement day of the month at or before `date` (statementDay 1..31, clamped to the
 * month's end): e.g. statement day 5 and date 2026-12-20 give 2026-11-06 .. 2026-12-05.
 */
export function cycleEndingBy(date: string, statementDay: number): Cycle {
	const [y, m] = parseIsoDate(date, "date");
	let to = addMonthsClamped(y, m, statementDay, 0);
	if (to > date) to = addMonthsClamped(y, m, statementDay, -1);
	const [ty, tm] = parseIsoDate(to, "date");
	const prev = addMonthsClamped(ty, tm, statementDay, -1);
	return { from: addDays(prev, 1), to };
}

/** The statement of `pb` (built as of cycle.to) for the cycle. */
export function computeStatement(pb: Passbook, cycle: Cycle, graceDays = 7): Statement {
	if (pb.as_of !== cycle.to) throw new Error(`the passbook is as of ${pb.as_of}; the statement needs it as of ${cycle.to}`);
	let opening = 0;
	let billed = 0;
	let penalties = 0;
	let charges = 0;
	let tax = 0;
	let payments = 0;
	const instalments: number[] = [];
	const refs: string[] = [];
	const bounced: string[] = [];
	for (const e of pb.entries) {
		if (e.date < cycle.from) {
			opening = paise(e.balance);
			continue;
		}
		if (e.date > cycle.to) break;
		if (e.kind === "instalment") {
			billed += paise(e.debit);
			instalments.push(Number(e.ref));
		} else if (e.kind === "penalty") {
			penalties += paise(e.debit);
			tax += paise(e.tax ?? "0.00");
		} else if (e.kind === "bounce") {
			charges += paise(e.debit);
			tax += paise(e.tax ?? "0.00");
			bounced.push(e.ref);
		} else if (e.kind === "payment") {
			payments += paise(e.credit);
			refs.push(e.ref);
		}
	}
	const closing = opening + billed + penalties + charges - payments;
	const next = pb.next_due;
	const amountDue = Math.max(0, closing + (next ? paise(next.amount) : 0));
	return {
		loan_id: pb.loan_id,
		cycle,
		statement_date: cycle.to,
		opening_balance: rupees(opening),
		instalments_billed: rupees(billed),
		instalments,
		penalties: rupees(penalties),
		charges: rupees(charges),
		tax: rupees(tax),
		payments: rupees(payments),
		payment_refs: refs,
		bounced_refs: bounced,
		closing_balance: rupees(closing),
		arrears: pb.totals.overdue,
		credit: pb.totals.credit,
		next_instalment: next ? { no: next.no, due_date: next.due_date, amount: next.amount } : null,
		amount_due: rupees(amountDue),
		due_date: next ? next.due_date : addDays(cycle.to, graceDays),
		outstanding_principal: pb.totals.outstanding_principal
	};
}

/**
 * The validate step: the passbook balances (checkPassbook), the statement's own sums are exact (opening + billed +
 * penalties + charges - payments = closing = the passbook's balance), and no amount on it is negative (a negative
 * closing balance is a credit, shown as such, and is allowed).
 */
export function validateStatement(st: Statement, pb: Passbook, loanAmount: string): PassbookProblem[] {
	const problems = checkPassbook(pb, loanAmount);
	const d = paise;
	const closing = d(st.opening_balance) + d(st.instalments_billed) + d(st.penalties) + d(st.charges ?? "0.00") - d(st.payments);
	if (closing !== d(st.closing_balance)) problems.push({ check: "statement_sum", message: `opening + billed + penalties + charges - payments = ${rupees(closing)}, closing is ${st.closing_balance}` });
	if (d(st.tax ?? "0.00") > d(st.penalties) + d(st.charges ?? "0.00")) problems.push({ check: "statement_tax", message: `tax ${st.tax} is more than the penalties and charges it is part of` });
	if (d(st.closing_balance) !== d(pb.totals.balance)) problems.push({ check: "statement_balance", message: `closing ${st.closing_balance} differs from the passbook's balance ${pb.totals.balance}` });
	for (const k of ["instalments_billed", "penalties", "charges", "tax", "payments", "arrears", "credit", "amount_due", "outstanding_principal"] as const) {
		if (d(st[k] ?? "0.00") < 0) problems.push({ check: "non_negative", message: `${k} is negative: ${st[k]}` });
	}
	return problems;
}

/** The borrower fields a statement document prints (from the loan record). */
export interface StatementBorrower {
	loan_id: string;
	applicant_name: string;
	address_line1?: string | null;
	address_line2?: string | null;
	city?: string | null;
	state?: string | null;
	postal_code?: string | null;
}

/**
 * The data of the `loan-statement` template: the statement's figures (bounce charges and the GST in the charges
 * only when there are some), the borrower and address (lines joined with newlines), and the cycle's passbook entries
 * (those that move money or are held, refunded or bounced).
 */
export function statementDocumentData(st: Statement, pb: Passbook, borrower: StatementBorrower): Record<string, unknown> {
	const cityLine = [borrower.city, borrower.state].filter(Boolean).join(", ") + (borrower.postal_code ? ` ${borrower.postal_code}` : "");
	const address = [borrower.address_line1, borrower.address_line2, cityLine.trim()].filter((l): l is string => Boolean(l)).join("\n");
	return {
		loan_id: st.loan_id,
		applicant_name: borrower.applicant_name,
		...(address ? { address } : {}),
		statement_date: st.statement_date,
		cycle_from: st.cycle.from,
		due_date: st.due_date,
		amount_due: st.amount_due,
		opening_balance: st.opening_balance,
		closing_balance: st.closing_balance,
		instalments_billed: st.instalments_billed,
		penalties: st.penalties,
		...(st.charges && st.charges !== "0.00" ? { charges: st.charges } : {}),
		...(st.tax && st.tax !== "0.00" ? { tax: st.tax } : {}),
		payments: st.payments,
		arrears: st.arrears,
		credit: st.credit,
		outstanding_principal: st.outstanding_principal,
		entries: pb.entries
			.filter((e) => e.date >= st.cycle.from && e.date <= st.cycle.to && e.kind !== "credit_applied")
			.map((e) => ({ date: e.date, kind: e.kind, ref: e.ref, debit: e.debit, credit: e.credit, balance: e.balance }))
	};
}

/**
 * Suspected duplicate repayments: the same loan and the same amount paid again within a window (default 10
 * minutes) under another reference. The same reference twice is not a suspect: it is one repayment (the store's
 * unique key on the payment reference makes it so). A suspect is accepted like any payment, never refused; billing
 * holds it aside and asks the client whether to refund it (lib/billing/refunds.ts). A bounced payment is no payment:
 * it is never a suspect nor the original of one (a borrower who pays again after a bounce is not paying twice).
 */
export interface RepaymentLike {
	payment_ref: string;
	loan_id: string;
	/** canonical decimal, 2 decimals (lib/records/repayment.ts), so equal amounts are equal strings */
	amount: string;
	/** UTC instant "YYYY-MM-DDTHH:MM:SSZ" */
	paid_at: string;
	/** "bounced": left out (absent: paid) */
	status?: string;
}

export interface SuspectedDuplicate {
	payment_ref: string;
	/** the nearest earlier payment it repeats */
	of: string;
	loan_id: string;
	amount: string;
	/** seconds between the two payments */
	gap_seconds: number;
}

export const DEFAULT_DUPLICATE_WINDOW_S = 600;

/**
 * The payments that repeat an earlier payment of the same loan and amount within `windowSeconds`, each with the
 * nearest earlier one. Payments are ordered by paid_at then reference, so the first of a pair is the original
 * whichever order they arrived in. Bounced payments are left out.
 */
export function findSuspectedDuplicates(payments: RepaymentLike[], windowSeconds = DEFAULT_DUPLICATE_WINDOW_S): SuspectedDuplicate[] {
	const groups = new Map<string, { p: RepaymentLike; t: number }[]>();
	for (const p of payments) {
		if (p.status === "bounced") continue;
		const key = `${p.loan_id}\u001f${p.amount}`;
		const t = Date.parse(p.paid_at);
		const g = groups.get(key);
		if (g) g.push({ p, t });
		else groups.set(key, [{ p, t }]);
	}
	const out: SuspectedDuplicate[] = [];
	for (const g of groups.values()) {
		if (g.length < 2) continue;
		g.sort((a, b) => a.t - b.t || (a.p.payment_ref < b.p.payment_ref ? -1 : a.p.payment_ref > b.p.payment_ref ? 1 : 0));
		for (let i = 1; i < g.length; i++) {
			const cur = g[i];
			const prev = g[i - 1];
			if (prev.p.payment_ref === cur.p.payment_ref) continue;
			const gap = (cur.t - prev.t) / 1000;
			if (gap <= windowSeconds) out.push({ payment_ref: cur.p.payment_ref, of: prev.p.payment_ref, loan_id: cur.p.loan_id, amount: cur.p.amount, gap_seconds: gap });
		}
	}
	return out.sort((a, b) => (a.payment_ref < b.payment_ref ? -1 : a.payment_ref > b.payment_ref ? 1 : 0));
}

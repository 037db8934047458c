/**
 * Passbooks found through the search port (issue: "a passbook per loan ... searchable through the search port"):
 * each billing run's statement step indexes every loan's passbook summary as of its cycle, one document per client and
 * loan (a later cycle replaces it), in the chunk's flush (one index call a chunk). Filters: client, loan_id, status
 * (overdue: arrears to pay; closed: nothing outstanding; current), ranges over arrears, amount due, outstanding
 * principal and the due date; words: the borrower's name and the loan ID. The SQLite, store and OpenSearch
 * implementations answer the same through lib/search.
 */
import type { SearchDoc } from "../search/types.ts";
import type { LoanRecord } from "../records/index.ts";
import type { Statement } from "./statement.ts";

export const PASSBOOK_INDEX = "passbooks";
export const PASSBOOK_FIELDS = ["client", "loan_id", "cycle_to", "status", "arrears", "amount_due", "outstanding", "due_date"];

export type PassbookStatus = "overdue" | "current" | "closed";

/** A loan's standing at a statement: arrears to pay, nothing outstanding at all, or neither. */
export function passbookStatus(st: Pick<Statement, "arrears" | "outstanding_principal" | "amount_due">): PassbookStatus {
	if (Number(st.arrears) > 0) return "overdue";
	if (Number(st.outstanding_principal) === 0 && Number(st.amount_due) === 0) return "closed";
	return "current";
}

/** The search document of a loan's passbook at a statement (amounts as numbers, for ranges). */
export function passbookSearchDoc(clientId: string, loan: Pick<LoanRecord, "loan_id" | "applicant_name">, st: Statement): SearchDoc {
	return {
		id: `${clientId}:${loan.loan_id}`,
		fields: {
			client: clientId,
			loan_id: loan.loan_id,
			cycle_to: st.cycle.to,
			status: passbookStatus(st),
			arrears: Number(st.arrears),
			amount_due: Number(st.amount_due),
			outstanding: Number(st.outstanding_principal),
			due_date: st.due_date
		},
		text: `${loan.applicant_name ?? ""} ${loan.loan_id}`
	};
}

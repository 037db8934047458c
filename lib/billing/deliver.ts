/**
 * The deliver step of a billing run, through the delivery machinery (lib/delivery/): a loan's statement becomes
 *   - an SMS case (every borrower with a phone): the amount due, the due date and, when the PDF was rendered, a
 *     time-limited link to it; its plan is SMS alone;
 *   - a document case (when the PDF was rendered): the PDF by the client's plan without SMS (WhatsApp, RCS, email).
 * Cases are created once, under delivery's unique (client, loan, document type) key with the cycle in the document
 * type, so a step that runs again finds them and sends nothing twice; each new or still pending case is handed to
 * the notifier on cases.rendered (the document is never rendered again). Attempts, fallback and callbacks are then
 * delivery's own, visible with GET /cases.
 */
import type { StoreAdapter } from "../store/types.ts";
import { isDuplicateKeyError } from "../store/errors.ts";
import type { Channel } from "../delivery/provider.ts";
import type { DeliveryStore } from "../delivery/store.ts";
import { caseIdOf, DEFAULT_PLAN, type RenderedCase } from "../delivery/notifier.ts";
import { recipientOf, type CaseDoc } from "../delivery/types.ts";
import type { LoanRecord } from "../records/index.ts";
import type { Statement } from "./statement.ts";

export interface DeliverPorts {
	delivery: DeliveryStore;
	/** the renderer's documents collection (a stored PDF's key, pages and bytes) */
	documents: StoreAdapter;
	/** the client's delivery plan (client settings `delivery.plan`) */
	plan(clientId: string): Promise<Channel[] | undefined>;
	/** hands cases to the notifier (cases.rendered) */
	rendered(items: { payload: RenderedCase; key: string }[]): Promise<void>;
}

export interface DeliverInput {
	runId: string;
	clientId: string;
	loan: LoanRecord;
	statement: Statement;
	/** the statement PDF, when the render step made one */
	documentId?: string;
}

/** Creates (once) and hands on the loan's statement cases; returns their IDs. */
export async function deliverStatement(p: DeliverPorts, input: DeliverInput): Promise<{ caseIds: string[] }> {
	const { clientId, loan, statement: st } = input;
	const recipient = recipientOf(loan as unknown as Record<string, unknown>);
	const doc = input.documentId ? ((await p.documents.findById(input.documentId)) as { _id: string; key: string; pages: number; bytes: number; language: string } | null) : null;
	if (input.documentId && !doc) throw new Error(`statement document ${input.documentId} is not stored`);
	const words = { name: recipient.name, loanId: loan.loan_id, amountDue: st.amount_due, dueDate: st.due_date, statementDate: st.statement_date };
	const wanted: { type: string; plan: Channel[] }[] = [];
	if (recipient.phone) wanted.push({ type: `statement-sms:${st.statement_date}`, plan: ["sms"] });
	if (doc) {
		const plan = ((await p.plan(clientId)) ?? [...DEFAULT_PLAN]).filter((c) => c !== "sms" && c !== "courier");
		if (plan.length) wanted.push({ type: `loan-statement:${st.statement_date}`, plan });
	}
	const now = new Date();
	const caseIds: string[] = [];
	const toSend: { payload: RenderedCase; key: string }[] = [];
	for (const w of wanted) {
		const id = caseIdOf(clientId, loan.loan_id, w.type);
		caseIds.push(id);
		const c: CaseDoc = {
			_id: id,
			clientId,
			loanKey: loan.loan_id,
			documentType: w.type,
			template: "loan-statement",
			recordId: "",
			dueDate: st.statement_date,
			language: recipient.language,
			recipient,
			status: "pending",
			runId: input.runId,
			runIds: [input.runId],
			try: 1,
			planOverride: w.plan,
			message: { kind: "statement", words },
			createdAt: now,
			updatedAt: now
		};
		let stored: CaseDoc | null;
		try {
			await p.delivery.cases.insert(c);
			stored = c;
		} catch (err) {
			if (!isDuplicateKeyError(err)) throw err;
			stored = await p.delivery.getCase<CaseDoc>(id);
		}
		// a case that already went out (or is going out) is not handed on again
		if (!stored || stored.status !== "pending") continue;
		toSend.push({
			payload: { caseId: id, clientId, documentId: doc?._id ?? "", key: doc?.key ?? "", pages: doc?.pages ?? 0, bytes: doc?.bytes ?? 0, template: "loan-statement", language: recipient.language },
			key: `${id}:rendered`
		});
	}
	if (toSend.length) await p.rendered(toSend);
	return { caseIds };
}

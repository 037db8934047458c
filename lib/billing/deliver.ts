/**
 * The deliver step of a billing run, through the delivery machinery (lib/delivery/): a loan's statement becomes
 *   - an SMS case (every borrower with a phone): the amount due, the due date and, when the PDF was rendered, a
 *     time-limited link to it; its plan is SMS alone;
 *   - a document case (when the PDF was rendered): the PDF by the client's plan without SMS (WhatsApp, RCS, email).
 * Cases are created once, under delivery's unique (client, loan, document type) key with the cycle in the document
 * type, so a step that runs again finds them and sends nothing twice; each new or still pending case is handed to
 * the notifier on cases.rendered (the document is never rendered again). Attempts, fallback and callbacks are then
 * delivery's own, visible with GET /cases. A case still pending long after its run's deliver step (its message lost
 * with an in-process queue) is handed on again by the run sweep (pendingStatementCases); the notifier starts a case
 * only from pending, by compare-and-set, so a second message sends nothing twice.
 */
import type { StoreAdapter } from "../store/types.ts";
import { isDuplicateKeyError } from "../store/errors.ts";
import type { Channel } from "../delivery/provider.ts";
import type { DeliveryStore } from "../delivery/store.ts";
import { caseIdOf, DEFAULT_PLAN, type RenderedCase } from "../delivery/notifier.ts";
import { recipientOf, type CaseDoc } from "../delivery/types.ts";
import { STATEMENT_TEMPLATE } from "../delivery/runs.ts";
import type { LoanRecord } from "../records/index.ts";
import type { Statement } from "./statement.ts";
import { itemId, type BillingItemDoc, type BillingRunDoc } from "./runs.ts";

type StoredDocument = { _id: string; key: string; pages: number; bytes: number; language: string };

/** The cases.rendered message of a statement case: its PDF when the render step made one (the SMS links to it). */
function renderedOf(c: Pick<CaseDoc, "_id" | "clientId">, doc: StoredDocument | null, language: string): { payload: RenderedCase; key: string } {
	return {
		payload: { caseId: c._id, clientId: c.clientId, documentId: doc?._id ?? "", key: doc?.key ?? "", pages: doc?.pages ?? 0, bytes: doc?.bytes ?? 0, template: STATEMENT_TEMPLATE, language },
		key: `${c._id}:rendered`
	};
}

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
	const [out] = await deliverStatements(p, [input]);
	if (out instanceof Error) throw out;
	return out;
}

/**
 * The statement cases of a chunk of loans at once: their documents read in one query, the cases that exist already
 * in one, the new ones inserted in one (insertMany; one by one only when another try inserted some meanwhile), and
 * every new or still pending case handed to the notifier in one call. Returns per input its case IDs, or the error
 * of that loan alone (a statement document that is not stored).
 */
export async function deliverStatements(p: DeliverPorts, inputs: DeliverInput[]): Promise<({ caseIds: string[] } | Error)[]> {
	type Doc = StoredDocument;
	const documentIds = [...new Set(inputs.map((i) => i.documentId).filter((id): id is string => Boolean(id)))];
	const docs = new Map(documentIds.length ? ((await p.documents.findByIds(documentIds)) as Doc[]).map((d) => [d._id, d]) : []);
	const plans = new Map<string, Channel[]>();
	const now = new Date();
	const out: ({ caseIds: string[] } | Error)[] = [];
	const wanted: { c: CaseDoc; doc: Doc | null; language: string }[] = [];
	for (const input of inputs) {
		const { clientId, loan, statement: st } = input;
		const doc = input.documentId ? (docs.get(input.documentId) ?? null) : null;
		if (input.documentId && !doc) {
			out.push(new Error(`statement document ${input.documentId} is not stored`));
			continue;
		}
		const recipient = recipientOf(loan as unknown as Record<string, unknown>);
		const words = { name: recipient.name, loanId: loan.loan_id, amountDue: st.amount_due, dueDate: st.due_date, statementDate: st.statement_date };
		const types: { type: string; plan: Channel[] }[] = [];
		if (recipient.phone) types.push({ type: `statement-sms:${st.statement_date}`, plan: ["sms"] });
		if (doc) {
			if (!plans.has(clientId)) plans.set(clientId, ((await p.plan(clientId)) ?? [...DEFAULT_PLAN]).filter((c) => c !== "sms" && c !== "courier"));
			const plan = plans.get(clientId) ?? [];
			if (plan.length) types.push({ type: `loan-statement:${st.statement_date}`, plan });
		}
		const caseIds: string[] = [];
		for (const w of types) {
			const id = caseIdOf(clientId, loan.loan_id, w.type);
			caseIds.push(id);
			wanted.push({
				doc,
				language: recipient.language,
				c: {
					_id: id,
					clientId,
					loanKey: loan.loan_id,
					documentType: w.type,
					template: STATEMENT_TEMPLATE,
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
				}
			});
		}
		out.push({ caseIds });
	}
	if (wanted.length === 0) return out;
	// the cases a try before made already (a retried chunk, a rerun): kept as they are
	const stored = new Map(((await p.delivery.cases.findByIds(wanted.map((w) => w.c._id))) as CaseDoc[]).map((c) => [c._id, c]));
	const fresh = wanted.filter((w) => !stored.has(w.c._id)).map((w) => w.c);
	if (fresh.length) {
		try {
			await p.delivery.cases.insertMany(fresh);
			for (const c of fresh) stored.set(c._id, c);
		} catch (err) {
			if (!isDuplicateKeyError(err)) throw err;
			// another try inserted some meanwhile: one by one, taking the stored one where it exists
			for (const c of fresh) {
				try {
					await p.delivery.cases.insert(c);
					stored.set(c._id, c);
				} catch (e) {
					if (!isDuplicateKeyError(e)) throw e;
					const existing = await p.delivery.getCase<CaseDoc>(c._id);
					if (existing) stored.set(c._id, existing);
				}
			}
		}
	}
	// a case that already went out (or is going out) is not handed on again
	const toSend: { payload: RenderedCase; key: string }[] = [];
	for (const { c, doc, language } of wanted) {
		if (stored.get(c._id)?.status !== "pending") continue;
		toSend.push(renderedOf(c, doc, language));
	}
	if (toSend.length) await p.rendered(toSend);
	return out;
}

/** Pending cases read (and handed on) per page. */
const PENDING_PAGE = 2000;

/**
 * A run's statement cases still pending (those untouched since `staleBefore`, or all) handed to the notifier again,
 * with the PDF their loan's render step recorded, a page at a time. Returns how many were handed on, and how many
 * of the run's cases are pending in all.
 */
export async function pendingStatementCases(p: Pick<DeliverPorts, "delivery" | "documents" | "rendered">, items: StoreAdapter, run: BillingRunDoc, staleBefore?: Date): Promise<{ handed: number; pending: number }> {
	const base = { runId: run._id, status: "pending" };
	const pending = await p.delivery.cases.count({ query: base });
	if (pending === 0) return { handed: 0, pending };
	const query: Record<string, unknown> = { ...base, ...(staleBefore ? { updatedAt: { $lt: staleBefore } } : {}) };
	let handed = 0;
	let after: string | undefined;
	for (;;) {
		const cases = (await p.delivery.cases.find({ query: after === undefined ? query : { ...query, _id: { $gt: after } }, sort: "_id", limit: PENDING_PAGE })) as CaseDoc[];
		if (cases.length === 0) break;
		const owners = new Map(((await items.findByIds([...new Set(cases.map((c) => itemId(run.clientId, run.cycle.to, c.loanKey)))])) as BillingItemDoc[]).map((i) => [i.loanId, i]));
		const documentOf = (c: CaseDoc) => (owners.get(c.loanKey)?.results.render as { documentId?: string } | undefined)?.documentId;
		const documentIds = [...new Set(cases.map(documentOf).filter((id): id is string => Boolean(id)))];
		const docs = new Map(documentIds.length ? ((await p.documents.findByIds(documentIds)) as StoredDocument[]).map((d) => [d._id, d]) : []);
		const toSend = cases.map((c) => {
			const id = documentOf(c);
			return renderedOf(c, (id && docs.get(id)) || null, c.language ?? "en");
		});
		await p.rendered(toSend);
		handed += toSend.length;
		if (cases.length < PENDING_PAGE) break;
		after = cases[cases.length - 1]._id;
	}
	return { handed, pending };
}

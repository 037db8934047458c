/**
 * The steps of a billing run (lib/billing/runs.ts) as one Flow over a chunk of loans:
 *
 *   duplicates -> passbook -> statement -> validate -> render -> deliver
 *
 * A chunk reads its loans, their repayments and refunds in three indexed queries (loadLoanChunk) and the client's
 * settings once; each loan's passbook is built once and carried through the steps that run inline after it
 * (statement, validate, and render when the run makes no PDF); the deliver step hands the chunk's delivery cases to
 * the notifier in one enqueue (flush), before the chunk's states are written, so a case is never left unsent. The
 * duplicates step's new refund requests have their notices (the client's webhook) queued at the same flush; one left
 * unqueued by a handler that died in between is queued by the refund sweep (refund-requests.ts dueNotices).
 */
import type { StoreAdapter } from "../store/types.ts";
import type { ClientDoc } from "../clients.ts";
import type { Channel } from "../delivery/provider.ts";
import type { RenderedCase } from "../delivery/notifier.ts";
import { STATEMENT_TEMPLATE } from "../delivery/runs.ts";
import type { LoanRecord } from "../records/index.ts";
import { loadLoanChunk, openRefunds, passbookFrom, penaltyRuleOf, refundsOfLoan, type LoanChunk, type RefundDoc } from "./loans.ts";
import type { Passbook, PenaltyRule } from "./passbook.ts";
import { computeStatement, statementDocumentData, validateStatement, type Statement } from "./statement.ts";
import { deliverStatements, type DeliverInput, type DeliverPorts } from "./deliver.ts";
import { passbookSearchDoc } from "./passbook-search.ts";
import type { SearchDoc } from "../search/types.ts";
import { HaltError, type BillingItemDoc, type BillingRunDoc, type BillingStep, type Flow } from "./runs.ts";

export interface FlowPorts {
	/** the registered records (loans, repayments) */
	records(): Promise<StoreAdapter>;
	refunds: StoreAdapter;
	/** the client's settings (schedule of charges, delivery plan) */
	client(clientId: string): Promise<ClientDoc | null>;
	duplicateWindowSeconds: number;
	/** renders a statement PDF (the renderer actor); the same content is rendered once */
	render(clientId: string, template: string, language: string, data: Record<string, unknown>): Promise<{ id: string; pages: number; bytes: number }>;
	/** statements of one chunk rendered at once (enough to keep the renderers' tabs busy) */
	renderInFlight: number;
	/** delivery's store and the renderer's documents */
	delivery(): Promise<Pick<DeliverPorts, "delivery" | "documents">>;
	/** hands cases to the notifier (cases.rendered) */
	handOnCases(items: { payload: RenderedCase; key: string }[]): Promise<void>;
	/** indexes the chunk's passbook summaries (lib/billing/passbook-search.ts) in the search port */
	indexPassbooks(docs: SearchDoc[]): Promise<void>;
	/** queues the notices (billing.refund-notices) of refund requests the duplicates step opened */
	noticeRefunds(refundIds: string[]): Promise<void>;
}

/** What a chunk reads once and what its steps computed for it. */
export interface RunChunk extends LoanChunk {
	client: ClientDoc | null;
	penalty: PenaltyRule | null;
	/** each loan's passbook as of the statement date, built once */
	passbooks: Map<string, Passbook>;
	/** cases to hand to the notifier at flush */
	cases: { payload: RenderedCase; key: string }[];
	/** passbook summaries to index at flush */
	searchDocs: SearchDoc[];
	/** refund requests opened by the duplicates step, to notify at flush */
	notices: string[];
}

type StatementResult = Statement & { closed?: boolean };

/** The steps that run inline after the one a chunk started at (see Flow.inline). */
function inlineStep(step: BillingStep, pdf: boolean): boolean {
	return step === "passbook" || step === "statement" || step === "validate" || (step === "render" && !pdf);
}

export function billingFlow(p: FlowPorts): Flow<RunChunk> {
	const loanOf = (item: BillingItemDoc, c: RunChunk): LoanRecord => {
		const loan = c.loans.get(item.loanId);
		if (!loan) throw new HaltError(`loan ${item.loanId} is no longer registered`);
		return loan;
	};
	const passbookOf = (item: BillingItemDoc, c: RunChunk): { loan: LoanRecord; pb: Passbook } => {
		const loan = loanOf(item, c);
		let pb = c.passbooks.get(item.loanId);
		if (!pb) {
			pb = passbookFrom(loan, c.repayments.get(item.loanId) ?? [], c.refunds.get(item.loanId) ?? [], item.cycleTo, c.penalty);
			c.passbooks.set(item.loanId, pb);
		}
		return { loan, pb };
	};
	const statementOf = (item: BillingItemDoc): StatementResult => {
		const st = item.results.statement as StatementResult | undefined;
		if (!st) throw new HaltError("the statement step left no statement");
		return st;
	};
	const renderOne = async (item: BillingItemDoc, run: BillingRunDoc, c: RunChunk): Promise<Record<string, unknown>> => {
		const st = statementOf(item);
		if (!run.pdf) return { skipped: "pdf off" };
		if (st.closed) return { skipped: "nothing to bill" };
		const { loan, pb } = passbookOf(item, c);
		const doc = await p.render(item.clientId, STATEMENT_TEMPLATE, loan.language, statementDocumentData(st, pb, loan));
		return { documentId: doc.id, pages: doc.pages, bytes: doc.bytes };
	};
	return {
		async prepare(items, run, from) {
			// deliver needs the loans only (the statement is in the item); the other steps their repayments too
			const [chunk, client] = await Promise.all([
				loadLoanChunk(await p.records(), p.refunds, run.clientId, items.map((i) => i.loanId), { payments: from !== "deliver" }),
				p.client(run.clientId)
			]);
			return { ...chunk, client, penalty: penaltyRuleOf(client?.charges), passbooks: new Map(), cases: [], searchDocs: [], notices: [] };
		},
		inline: (step, run) => inlineStep(step, run.pdf),
		apply: {
			duplicates: async (item, run, c) => {
				const known = c.repayments.get(item.loanId) ?? [];
				const opened = await openRefunds(await p.records(), p.refunds, run.clientId, item.loanId, p.duplicateWindowSeconds, new Date(), known);
				// a loan with suspects: its refunds as stored now (also one another node opened meanwhile), so the
				// passbook built next in this handler holds them aside
				if (opened.suspects > 0) c.refunds.set(item.loanId, (await p.refunds.find({ query: refundsOfLoan(run.clientId, item.loanId) })) as RefundDoc[]);
				c.passbooks.delete(item.loanId);
				c.notices.push(...opened.created.map((r) => r._id));
				return { refundsOpened: opened.created.length };
			},
			passbook: async (item, _run, c) => ({ ...passbookOf(item, c).pb.totals }),
			statement: async (item, run, c) => {
				const { loan, pb } = passbookOf(item, c);
				const st = computeStatement(pb, run.cycle);
				// a loan paid off before the cycle with nothing in it has nothing to bill
				const closed = st.amount_due === "0.00" && st.outstanding_principal === "0.00" && st.instalments.length === 0 && st.payment_refs.length === 0;
				c.searchDocs.push(passbookSearchDoc(run.clientId, loan, st));
				return { ...st, closed };
			},
			validate: async (item, _run, c) => {
				const { loan, pb } = passbookOf(item, c);
				const problems = validateStatement(statementOf(item), pb, loan.loan_amount);
				if (problems.length) throw new HaltError(`the statement does not balance: ${problems.map((x) => x.message).join("; ")}`);
				return { ok: true };
			},
			render: (item, run, c) => renderOne(item, run, c),
			deliver: async () => {
				throw new Error("deliver applies to its whole chunk (applyMany)");
			}
		},
		applyMany: {
			// a chunk's PDFs, several in flight at once (one after the other, a chunk would keep one tab busy)
			render: async (items, run, c) => {
				const out = new Map<string, Record<string, unknown> | Error>();
				let next = 0;
				const lanes = Math.max(1, Math.min(p.renderInFlight, items.length));
				await Promise.all(
					Array.from({ length: lanes }, async () => {
						while (next < items.length) {
							const item = items[next++];
							out.set(item._id, await renderOne(item, run, c).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))));
						}
					})
				);
				return out;
			},
			// the chunk's statement cases in a few writes, handed to the notifier at flush
			deliver: async (items, run, c) => {
				const out = new Map<string, Record<string, unknown> | Error>();
				const inputs: DeliverInput[] = [];
				const owners: string[] = [];
				for (const item of items) {
					try {
						const st = statementOf(item);
						if (st.closed) {
							out.set(item._id, { skipped: "nothing to bill" });
							continue;
						}
						const documentId = (item.results.render as { documentId?: string } | undefined)?.documentId;
						inputs.push({ runId: run._id, clientId: item.clientId, loan: loanOf(item, c), statement: st, ...(documentId ? { documentId } : {}) });
						owners.push(item._id);
					} catch (err) {
						out.set(item._id, err as Error);
					}
				}
				const plan = (c.client?.delivery as { plan?: Channel[] } | undefined)?.plan;
				const results = await deliverStatements({ ...(await p.delivery()), plan: async () => plan, rendered: async (cases) => void c.cases.push(...cases) }, inputs);
				results.forEach((r, i) => out.set(owners[i], r));
				return out;
			}
		},
		async flush(c) {
			if (c.notices.length) await p.noticeRefunds(c.notices.splice(0));
			if (c.searchDocs.length) await p.indexPassbooks(c.searchDocs.splice(0));
			if (c.cases.length) await p.handOnCases(c.cases.splice(0));
		}
	};
}

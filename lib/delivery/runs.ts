/**
 * Dispatch runs (the scheduler's logic, no broker): a run finds the loans registered with a disbursement date in
 * its window that have no case yet, creates their cases (insert under the unique (client, loan, document type)
 * index: a duplicate means another run, node or retry made it first) and sends them to the renderer; with
 * includePending it also takes the window's welcome letters still pending, or failed on every channel, and the
 * window's loan statements (billing's) that failed on every channel, for another try: those with a stored document
 * go straight to the notifier (the PDF is never rendered again). A statement still pending belongs to its billing
 * run, which hands it on itself.
 *
 * A scheduled run claims its cron slot by inserting the run under a unique slot key: however many scheduler
 * nodes are up, one insert wins and only that node runs it. The daily digest claims its day the same way.
 */
import crypto from "node:crypto";
import type { Logger } from "pino";
import { isDuplicateKeyError } from "../store/errors.ts";
import type { StoreAdapter } from "../store/types.ts";
import type { DeliveryStore } from "./store.ts";
import { caseIdOf, type RenderedCase } from "./notifier.ts";
import { CASE_STATUSES, FINAL_CASE_STATUSES, recipientOf, type AlertSink, type CaseDoc, type CaseStatus, type RunDoc, type RunView } from "./types.ts";

/** The document a loan gets. */
export const LOAN_DOCUMENT = "welcome-letter";

/** The template of billing's statement cases (document types `statement-sms:<date>` and `loan-statement:<date>`). */
export const STATEMENT_TEMPLATE = "loan-statement";

/** The cases.dispatch message (the renderer's CaseDispatch). */
export interface DispatchCase {
	caseId: string;
	clientId: string;
	template: string;
	language?: string;
	recordId: string;
}

export interface RunPorts {
	store: DeliveryStore;
	/** the registered records (`records` collection: {client, kind, key, data}) */
	records: StoreAdapter;
	/** puts cases on cases.dispatch (to render) */
	dispatch(items: { payload: DispatchCase; key: string }[]): Promise<void>;
	/** puts cases with a stored document straight on cases.rendered */
	rendered(items: { payload: RenderedCase; key: string }[]): Promise<void>;
	alerts: AlertSink;
	logger: Logger;
	now?: () => Date;
	/** records read per page */
	pageSize?: number;
}

export interface RunRequest {
	from: string;
	to: string;
	includePending: boolean;
	clientId?: string;
	requestedBy?: string;
	/** only retry the window's pending and failed cases: no new cases (an operator's replay) */
	retryOnly?: boolean;
}

export type ResendOutcome = { kind: "not-found" } | { kind: "busy"; status: string } | { kind: "resent"; runId: string; try: number; clientId: string; previous: CaseStatus };

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** True for a real calendar date written YYYY-MM-DD. */
export function isDate(s: unknown): s is string {
	if (typeof s !== "string" || !DATE.test(s)) return false;
	const d = new Date(`${s}T00:00:00.000Z`);
	return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

/** The calendar date of `at` in a time zone, YYYY-MM-DD. */
export function dateIn(at: Date, timeZone: string): string {
	return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(at);
}

/** The window of a scheduled run: the last `days` days up to today in the scheduler's time zone. */
export function lookbackWindow(at: Date, timeZone: string, days: number): { from: string; to: string } {
	const to = dateIn(at, timeZone);
	const from = new Date(Date.parse(`${to}T00:00:00.000Z`) - days * 86_400_000).toISOString().slice(0, 10);
	return { from, to };
}

/**
 * The time a cron fired for, from inside its callback: the last of its scheduled times after `since` (the previous
 * one this node handled, or when it started) and up to `now`. A callback that runs late (a busy event loop) past a
 * minute boundary still gets the time it was scheduled for, so every node computes the same slot from it. `next`
 * is the cron's own next-time function (croner's `nextRun`); `now` when it knows none (not expected).
 */
export function scheduledTime(next: (after: Date) => Date | null, since: Date, now: Date): Date {
	let at: Date | undefined;
	let t = next(since);
	for (let i = 0; t && t.getTime() <= now.getTime() && i < 100_000; i++) {
		at = t;
		t = next(t);
	}
	return at ?? now;
}

export function newRunId(): string {
	return `run_${Date.now().toString(36)}_${crypto.randomBytes(5).toString("hex")}`;
}

interface RecordDoc {
	_id: string;
	client: string;
	kind: string;
	key: string;
	data: Record<string, unknown>;
}

/** The orders the run list offers. */
export const RUN_SORTS = ["startedAt", "-startedAt", "status", "-status", "kind", "-kind"];

export class Runs {
	readonly #p: RunPorts;
	readonly #now: () => Date;

	constructor(ports: RunPorts) {
		this.#p = ports;
		this.#now = ports.now ?? (() => new Date());
	}

	/** Claims a scheduled slot: the run, or null when another node claimed it first. */
	async claim(slot: string, req: RunRequest): Promise<RunDoc | null> {
		const run = this.#newRun("scheduled", req, slot);
		try {
			await this.#p.store.runs.insert(run);
			return run;
		} catch (err) {
			if (isDuplicateKeyError(err)) return null;
			throw err;
		}
	}

	/**
	 * Claims the daily digest of `day` (YYYY-MM-DD in the scheduler's time zone) by inserting it under its key: true
	 * for the one node that inserted it, false when another node (or an earlier try) has it. A node that dies after
	 * its claim leaves that day without a digest: a missed mail, never two.
	 */
	async claimDigest(day: string, at: Date): Promise<boolean> {
		try {
			await this.#p.store.digests.insert({ _id: `digest:${day}`, day, at, claimedAt: this.#now() });
			return true;
		} catch (err) {
			if (isDuplicateKeyError(err)) return false;
			throw err;
		}
	}

	/** An operator's run: stored, to be executed. */
	async create(req: RunRequest): Promise<RunDoc> {
		const run = this.#newRun("manual", req);
		await this.#p.store.runs.insert(run);
		return run;
	}

	#newRun(kind: RunDoc["kind"], req: RunRequest, slot?: string): RunDoc {
		return {
			_id: newRunId(),
			kind,
			...(slot ? { slot } : {}),
			from: req.from,
			to: req.to,
			includePending: req.includePending,
			...(req.clientId ? { clientId: req.clientId } : {}),
			...(req.requestedBy ? { requestedBy: req.requestedBy } : {}),
			...(req.retryOnly ? { retryOnly: true } : {}),
			status: "running",
			picked: { created: 0, retried: 0, existing: 0 },
			startedAt: this.#now()
		};
	}

	/** Picks the run's cases and hands them on; a failure marks the run failed and raises an alert. */
	async execute(run: RunDoc): Promise<RunDoc> {
		const { store, logger } = this.#p;
		try {
			const created = run.retryOnly ? { created: 0, existing: 0 } : await this.#newCases(run);
			const retried = run.includePending || run.retryOnly ? await this.#retry(run) : 0;
			const picked = { created: created.created, existing: created.existing, retried };
			const now = this.#now();
			const done = created.created + retried === 0;
			const set = { picked, pickedAt: now, ...(done ? { status: "completed", finishedAt: now } : {}) };
			await store.runs.updateById(run._id, { $set: set });
			logger.info({ runId: run._id, kind: run.kind, from: run.from, to: run.to, ...picked }, "dispatch run picked its cases");
			return { ...run, ...set } as RunDoc;
		} catch (err) {
			const error = (err as Error).message;
			await store.runs.updateById(run._id, { $set: { status: "failed", error, finishedAt: this.#now() } }).catch(() => undefined);
			logger.error({ runId: run._id, err }, "dispatch run failed");
			this.#p.alerts.raise("run_failed", `dispatch run ${run._id} (${run.from}..${run.to}) failed: ${error}`, { runId: run._id });
			return { ...run, status: "failed", error };
		}
	}

	/** Loans in the window without a case: their cases, created by insert, sent to the renderer. */
	async #newCases(run: RunDoc): Promise<{ created: number; existing: number }> {
		const { store, records } = this.#p;
		const size = this.#p.pageSize ?? 1000;
		const query: Record<string, unknown> = { kind: "loan", "data.disbursement_date": { $gte: run.from, $lte: run.to } };
		if (run.clientId) query.client = run.clientId;
		let created = 0;
		let existing = 0;
		let after = "";
		for (;;) {
			const page = (await records.find({ query: { ...query, _id: { $gt: after } }, sort: "_id", limit: size })) as unknown as RecordDoc[];
			if (page.length === 0) break;
			after = page[page.length - 1]._id;
			const ids = page.map((r) => caseIdOf(r.client, r.key, LOAN_DOCUMENT));
			const known = new Set((await store.cases.findByIds(ids)).map((c) => c._id));
			const out: { payload: DispatchCase; key: string }[] = [];
			const now = this.#now();
			for (let i = 0; i < page.length; i++) {
				const r = page[i];
				if (known.has(ids[i])) {
					existing++;
					continue;
				}
				const c: CaseDoc = {
					_id: ids[i],
					clientId: r.client,
					loanKey: r.key,
					documentType: LOAN_DOCUMENT,
					template: LOAN_DOCUMENT,
					recordId: r._id,
					dueDate: String(r.data.disbursement_date),
					language: typeof r.data.language === "string" ? r.data.language : undefined,
					recipient: recipientOf(r.data),
					status: "pending",
					runId: run._id,
					runIds: [run._id],
					try: 1,
					createdAt: now,
					updatedAt: now
				};
				try {
					await store.cases.insert(c);
				} catch (err) {
					// made by another run, node or retry meanwhile: the unique index decides, never a second case
					if (isDuplicateKeyError(err)) {
						existing++;
						continue;
					}
					throw err;
				}
				created++;
				out.push({ payload: { caseId: c._id, clientId: c.clientId, template: c.template, recordId: c.recordId, ...(c.language ? { language: c.language } : {}) }, key: `${c._id}:dispatch:${run._id}` });
			}
			if (out.length) await this.#p.dispatch(out);
			if (page.length < size) break;
		}
		return { created, existing };
	}

	/**
	 * The window's welcome letters pending or failed on every channel, and its statements failed on every channel
	 * (their due date is the statement date): another try, reusing a stored document.
	 */
	async #retry(run: RunDoc): Promise<number> {
		// cases left as they were before this run started: not those another run is creating or moving right now
		const window: Record<string, unknown> = { dueDate: { $gte: run.from, $lte: run.to }, runId: { $ne: run._id }, updatedAt: { $lt: run.startedAt } };
		if (run.clientId) window.clientId = run.clientId;
		let retried = 0;
		retried += await this.#retryWhere(run, { ...window, documentType: LOAN_DOCUMENT, status: { $in: ["pending", "failed"] } });
		// a pending statement is on its way under its billing run (billing hands it on again itself); a failed one is not
		retried += await this.#retryWhere(run, { ...window, template: STATEMENT_TEMPLATE, status: "failed" });
		return retried;
	}

	async #retryWhere(run: RunDoc, query: Record<string, unknown>): Promise<number> {
		const { store } = this.#p;
		const size = this.#p.pageSize ?? 1000;
		let retried = 0;
		let after = "";
		for (;;) {
			const page = (await store.cases.find({ query: { ...query, _id: { $gt: after } }, sort: "_id", limit: size })) as CaseDoc[];
			if (page.length === 0) break;
			after = page[page.length - 1]._id;
			const now = this.#now();
			// the page's compare-and-sets together: one batch (one transaction) for the page, not one wait per case
			const moved = await Promise.all(
				page.map((c) => {
					const nextTry = c.status === "failed" ? c.try + 1 : c.try;
					const set = { status: "pending", try: nextTry, runId: run._id, runIds: [...(c.runIds ?? []), run._id], updatedAt: now };
					return store.cas(store.cases, c._id, { status: c.status, try: c.try, runId: c.runId }, { $set: set, $unset: { attemptId: "", channelIndex: "", plan: "", failure: "", finishedAt: "" } });
				})
			);
			const picked = page.filter((_, i) => moved[i]);
			retried += picked.length;
			await this.#handOn(picked, run._id);
			if (page.length < size) break;
		}
		return retried;
	}

	/**
	 * Pending cases on their way: those the notifier has seen (their document key recorded: a PDF's, or "" for a
	 * statement's SMS without one) to the notifier again, the others (never rendered) to the renderer.
	 */
	async #handOn(cases: CaseDoc[], keyPart: string): Promise<void> {
		const toRender: { payload: DispatchCase; key: string }[] = [];
		const toSend: { payload: RenderedCase; key: string }[] = [];
		for (const c of cases) {
			const key = `${c._id}:${keyPart}`;
			if (typeof c.documentKey === "string") {
				toSend.push({ payload: { caseId: c._id, clientId: c.clientId, documentId: c.documentId ?? "", key: c.documentKey, pages: c.pages ?? 0, bytes: c.bytes ?? 0, template: c.template, language: c.language ?? "en" }, key: `${key}:rendered` });
			} else toRender.push({ payload: { caseId: c._id, clientId: c.clientId, template: c.template, recordId: c.recordId, ...(c.language ? { language: c.language } : {}) }, key: `${key}:dispatch` });
		}
		if (toRender.length) await this.#p.dispatch(toRender);
		if (toSend.length) await this.#p.rendered(toSend);
	}

	/**
	 * Hands on again every pending case of the running dispatch runs: at start-up on the in-process queue, which lost
	 * the messages that carried them when its process stopped (RabbitMQ keeps its messages: not needed there). A copy
	 * that meets a message still on its way does nothing twice: the notifier starts a case only from pending, and the
	 * renderer answers with the document it stored. Billing's statement cases are billing's (its own recovery).
	 */
	async resumePending(): Promise<{ runs: number; cases: number }> {
		const { store, logger } = this.#p;
		const size = this.#p.pageSize ?? 1000;
		const running = (await store.runs.find({ query: { status: "running" }, sort: "startedAt", limit: 1000 })) as RunDoc[];
		let runs = 0;
		let cases = 0;
		for (const run of running) {
			let after = "";
			let n = 0;
			for (;;) {
				const page = (await store.cases.find({ query: { runId: run._id, status: "pending", _id: { $gt: after } }, sort: "_id", limit: size })) as CaseDoc[];
				if (page.length === 0) break;
				after = page[page.length - 1]._id;
				await this.#handOn(page, `${run._id}:resumed`);
				n += page.length;
				if (page.length < size) break;
			}
			if (n === 0) continue;
			runs++;
			cases += n;
			logger.info({ runId: run._id, cases: n }, "dispatch run resumed: its pending cases handed on again");
		}
		return { runs, cases };
	}

	/**
	 * An operator's resend of one case that has ended (delivered, sent, dispatched or failed): a manual run of that
	 * case alone, its next try (try + 1, so new attempt IDs: the earlier attempts are never sent again), reusing the
	 * stored document (a case never rendered goes to the renderer, which returns a stored document when there is
	 * one). The case moves by compare-and-set, so two resends at once make one try; a case still pending or sending
	 * is refused.
	 */
	async resend(caseId: string, requestedBy?: string): Promise<ResendOutcome> {
		const { store, logger } = this.#p;
		const c = await store.getCase<CaseDoc>(caseId);
		if (!c) return { kind: "not-found" };
		if (!FINAL_CASE_STATUSES.includes(c.status)) return { kind: "busy", status: c.status };
		const run: RunDoc = { ...this.#newRun("manual", { from: c.dueDate, to: c.dueDate, includePending: false, retryOnly: true, clientId: c.clientId, ...(requestedBy ? { requestedBy } : {}) }), caseId: c._id };
		await store.runs.insert(run);
		const now = this.#now();
		const set = { status: "pending", try: c.try + 1, runId: run._id, runIds: [...(c.runIds ?? []), run._id], updatedAt: now };
		if (!(await store.cas(store.cases, c._id, { status: c.status, try: c.try, runId: c.runId }, { $set: set, $unset: { attemptId: "", channelIndex: "", plan: "", failure: "", finishedAt: "" } }))) {
			await store.runs.updateById(run._id, { $set: { status: "failed", error: "the case changed meanwhile (another resend or run took it)", finishedAt: now } });
			return { kind: "busy", status: "changed meanwhile" };
		}
		await this.#handOn([c], run._id);
		await store.runs.updateById(run._id, { $set: { picked: { created: 0, retried: 1, existing: 0 }, pickedAt: now } });
		logger.info({ runId: run._id, caseId: c._id, try: set.try, from: c.status }, "case resent by an operator");
		return { kind: "resent", runId: run._id, try: set.try, clientId: c.clientId, previous: c.status };
	}

	/** A run with its live counts by case status and by channel; a run whose cases are all final is completed. */
	async view(id: string): Promise<RunView | null> {
		const { store } = this.#p;
		let run = (await store.runs.findById(id)) as RunDoc | null;
		if (!run) return null;
		const byStatus = Object.fromEntries(CASE_STATUSES.map((s) => [s, 0])) as Record<CaseStatus, number>;
		const byChannel: Record<string, number> = {};
		for (const s of CASE_STATUSES) byStatus[s] = await store.cases.count({ query: { runId: id, status: s } });
		for (const ch of ["whatsapp", "rcs", "sms", "email", "courier"]) {
			const n = await store.cases.count({ query: { runId: id, channel: ch } });
			if (n) byChannel[ch] = n;
		}
		const cases = Object.values(byStatus).reduce((a, b) => a + b, 0);
		if (run.status === "running" && run.pickedAt) {
			const open = cases - FINAL_CASE_STATUSES.reduce((a, s) => a + byStatus[s], 0);
			if (open === 0) {
				const finishedAt = this.#now();
				if (await store.cas(store.runs, id, { status: "running" }, { $set: { status: "completed", finishedAt } })) run = { ...run, status: "completed", finishedAt };
			}
		}
		return {
			id: run._id,
			kind: run.kind,
			status: run.status,
			from: run.from,
			to: run.to,
			includePending: run.includePending,
			...(run.clientId ? { clientId: run.clientId } : {}),
			...(run.caseId ? { caseId: run.caseId } : {}),
			...(run.requestedBy ? { requestedBy: run.requestedBy } : {}),
			picked: run.picked,
			cases,
			byStatus,
			byChannel,
			...(run.error ? { error: run.error } : {}),
			startedAt: run.startedAt,
			...(run.finishedAt ? { finishedAt: run.finishedAt } : {})
		};
	}

	/** Runs (one client's, or all), newest first unless `sort` says otherwise (a field of RUN_SORTS, "-" for descending), and how many there are. */
	async list(limit = 20, offset = 0, clientId?: string, sort = "-startedAt"): Promise<{ items: RunView[]; total: number }> {
		const query = clientId ? { clientId } : {};
		const order = sort.endsWith("startedAt") ? [sort] : [sort, "-startedAt"];
		const [runs, total] = await Promise.all([this.#p.store.runs.find({ query, sort: order, limit, offset }) as Promise<RunDoc[]>, this.#p.store.runs.count({ query })]);
		const items: RunView[] = [];
		for (const r of runs) {
			const v = await this.view(r._id);
			if (v) items.push(v);
		}
		return { items, total };
	}

	/**
	 * Completes the running runs whose cases are all final, and fails the runs whose scheduler stopped before it
	 * picked their cases (older than `staleMs`): nothing is lost, the next run picks those loans and cases up.
	 */
	async settle(staleMs = 3_600_000): Promise<number> {
		const { store } = this.#p;
		const now = this.#now();
		const running = (await store.runs.find({ query: { status: "running" }, limit: 200 })) as RunDoc[];
		let n = 0;
		for (const r of running) {
			if (r.pickedAt) {
				if ((await this.view(r._id))?.status === "completed") n++;
			} else if (now.getTime() - r.startedAt.getTime() > staleMs) {
				const error = "interrupted: its scheduler stopped before it had picked its cases; the next run picks them up";
				if (await store.cas(store.runs, r._id, { status: "running", pickedAt: { $exists: false } }, { $set: { status: "failed", error, finishedAt: now } })) {
					this.#p.alerts.raise("run_failed", `dispatch run ${r._id} (${r.from}..${r.to}) ${error}`, { runId: r._id });
				}
			}
		}
		return n;
	}

	/** One line per run started since `since`, for the daily digest. */
	async digest(since: Date): Promise<string[]> {
		const runs = (await this.#p.store.runs.find({ query: { startedAt: { $gte: since } }, sort: "startedAt", limit: 500 })) as RunDoc[];
		const lines: string[] = [];
		for (const r of runs) {
			const v = await this.view(r._id);
			if (!v) continue;
			lines.push(`${v.id} ${v.kind} ${v.from}..${v.to} ${v.status}: ${v.cases} cases (${CASE_STATUSES.filter((s) => v.byStatus[s]).map((s) => `${s} ${v.byStatus[s]}`).join(", ") || "none"})${v.error ? ` error: ${v.error}` : ""}`);
		}
		return lines;
	}
}

/**
 * The notifier's logic (no broker): a rendered case goes out on the first channel of its plan, and its status
 * events move it on. Everything is decided from stored state, by compare-and-set, so that any number of notifier
 * processes, duplicate queue messages, duplicate or late callbacks and crashes at any point give one outcome:
 *
 *   pending --start--> sending(channel i, attempt A_i) --delivered/read--> delivered
 *                        |  refused at once, "failed" event, or no "delivered" by the deadline (the sweep)
 *                        v
 *                      sending(channel i+1, attempt A_i+1) ... --after the last channel--> failed (a later run retries)
 *   email accepted ("sent": SMTP reports no delivery) --> sent (the end of the plan)
 *
 * Never twice: the case names its next attempt (CAS) before the attempt exists; the attempt is inserted (its ID is
 * its primary key) BEFORE its provider is called, in state "calling"; only the process whose insert succeeded calls
 * the provider, once. A process that dies after the call leaves the attempt "calling": nobody sends it again;
 * its callbacks still find it by attemptId (providers echo it), and its deadline moves the case on when nothing
 * comes. A call that ends with no answer after its request may have reached the provider (a connection reset or a
 * timeout once the request was written) is treated the same way: the attempt stays open as `call: "unknown"`, never
 * sent again, and its callbacks or its deadline decide. A case that names an attempt that was never inserted (a
 * death between the two writes) is found by the sweep and its attempt is inserted then, never sent before; one whose
 * attempt ended but the case was never moved (a death between the attempt's write and the case's) is moved on by the
 * sweep too, the provider's retried callback finding the attempt already ended.
 */
import crypto from "node:crypto";
import type { Logger } from "pino";
import { isDuplicateKeyError } from "../store/errors.ts";
import type { Channel, ClientChannelSettings, DeliveryStatus, OutgoingMessage, Provider, Recipient, SendResult, StatusEvent } from "./provider.ts";
import type { DeliveryStore } from "./store.ts";
import type { AlertSink, AttemptDoc, AttemptEventEntry, CaseDoc, CaseStatus } from "./types.ts";
import { messageText, statementText } from "./texts.ts";

/** The default plan: WhatsApp, then RCS, then SMS with a link, then email with the PDF attached. */
export const DEFAULT_PLAN: readonly Channel[] = ["whatsapp", "rcs", "sms", "email"];

/** The message the renderer puts on cases.rendered. */
export interface RenderedCase {
	caseId: string;
	clientId: string;
	documentId: string;
	key: string;
	pages: number;
	bytes: number;
	template: string;
	language: string;
}

/** What a case's recipient can receive: phone channels need a phone, email an email; courier is never automatic. */
export function usablePlan(plan: readonly Channel[], r: Pick<Recipient, "phone" | "email">): Channel[] {
	return plan.filter((c) => (c === "email" ? !!r.email : c === "courier" ? false : !!r.phone));
}

/** The attempt ID of a case's try on a channel: stable, so the same attempt is never two attempts. */
export function attemptIdOf(caseId: string, tryNo: number, channel: Channel): string {
	return `${caseId}.t${tryNo}.${channel}`;
}

/** The case ID of (client, loan key, document type): the same case is always the same ID. */
export function caseIdOf(clientId: string, loanKey: string, documentType: string): string {
	return `case_${crypto.createHash("sha256").update(`${clientId}\u0000${loanKey}\u0000${documentType}`).digest("hex").slice(0, 24)}`;
}

const RANK: Record<DeliveryStatus, number> = { queued: 0, sent: 1, delivered: 2, read: 3, failed: 1.5 };

/** Whether an attempt at `from` moves to `to`: never backwards; failed only from queued/sent; nothing after failed. */
export function moves(from: DeliveryStatus, to: DeliveryStatus): boolean {
	if (from === to || from === "failed" || from === "read") return false;
	if (to === "failed") return from === "queued" || from === "sent";
	return RANK[to] > RANK[from];
}

/** A provider's failure as recorded on the attempt and the case, with defaults for what the provider left out. */
function providerFailure(e: { code?: string; reason?: string }): { code: string; reason: string } {
	return { code: e.code ?? "FAILED", reason: e.reason ?? "the provider reported a failure" };
}

/** Statuses of a case from which a delivery confirmation still moves it to delivered. */
const NOT_DELIVERED: CaseStatus[] = ["pending", "sending", "sent", "dispatched", "failed"];

export interface DelivererMetrics {
	attempt(channel: Channel, provider: string, outcome: string): void;
	delivered(channel: Channel, seconds: number): void;
	callback(provider: string, result: string): void;
	caseFinished(status: CaseStatus, channel?: Channel): void;
}

export interface DelivererPorts {
	store: DeliveryStore;
	logger: Logger;
	/** the provider serving a channel (a configured one, else the sandbox) */
	provider(channel: Channel): Provider | undefined;
	/** a time-limited link to a stored object */
	link(key: string): Promise<string>;
	/** the bytes of a stored object (email attachments) */
	read(key: string): Promise<Buffer>;
	/** the client's delivery settings (plan, per-channel settings) */
	settings(clientId: string): Promise<ClientChannelSettings | undefined>;
	alerts: AlertSink;
	/** how long an attempt may wait for "delivered" before the case moves on */
	timeoutMs: number;
	metrics?: DelivererMetrics;
	now?: () => Date;
}

export type ApplyResult = "applied" | "duplicate" | "unknown";

/** One per notifier process. */
export class Deliverer {
	readonly #p: DelivererPorts;
	readonly #now: () => Date;
	/** attempts with an update running in this process: the queue of their updates and the last document written */
	readonly #attemptTurns = new Map<string, { tail: Promise<void>; last?: AttemptDoc }>();

	constructor(ports: DelivererPorts) {
		this.#p = ports;
		this.#now = ports.now ?? (() => new Date());
	}

	get store(): DeliveryStore {
		return this.#p.store;
	}

	/** A cases.rendered message: record the document, then start (or resume) the case's plan. Idempotent. */
	async onRendered(msg: RenderedCase): Promise<"started" | "resumed" | "ignored"> {
		const { store, logger } = this.#p;
		let c = await store.getCase<CaseDoc>(msg.caseId);
		if (!c || c.clientId !== msg.clientId) {
			// a document rendered for a case the scheduler did not create (an ad-hoc cases.dispatch): nothing to deliver
			logger.info({ caseId: msg.caseId }, "rendered document for an unknown case: not delivered");
			return "ignored";
		}
		// the document is recorded with the case's first move when it has one (one write), else on its own
		const document = c.documentKey !== msg.key ? { documentId: msg.documentId, documentKey: msg.key, pages: msg.pages, bytes: msg.bytes, language: msg.language } : undefined;
		if (document) c = { ...c, ...document };
		if (c.status === "pending") {
			if (!(await this.start(c, document)) && document) await store.cases.updateById(c._id, { $set: { ...document, updatedAt: this.#now() } });
			return "started";
		}
		if (document) await store.cases.updateById(c._id, { $set: { ...document, updatedAt: this.#now() } });
		if (c.status === "sending") {
			await this.#ensureAttempt(c);
			return "resumed";
		}
		return "ignored";
	}

	/**
	 * Moves a pending case to its first usable channel (writing `also` with the move) and sends; false when the case
	 * was no longer pending (another process moved it).
	 */
	async start(c: CaseDoc, also: Record<string, unknown> = {}): Promise<boolean> {
		const { store } = this.#p;
		const settings = await this.#p.settings(c.clientId);
		const recipient = c.recipient as Recipient;
		const plan = usablePlan(c.planOverride?.length ? c.planOverride : settings?.plan?.length ? settings.plan : DEFAULT_PLAN, recipient ?? {});
		const now = this.#now();
		if (plan.length === 0) {
			const failure = { code: "NO_CHANNEL", reason: "the recipient has no phone or email for any channel of the plan" };
			if (!(await store.cas(store.cases, c._id, { status: "pending", try: c.try }, { $set: { ...also, status: "failed", failure, finishedAt: now, updatedAt: now } }))) return false;
			this.#finished(c, "failed", undefined, failure);
			return true;
		}
		const attemptId = attemptIdOf(c._id, c.try, plan[0]);
		const set = { status: "sending", plan, channelIndex: 0, channel: plan[0], attemptId, updatedAt: now };
		if (!(await store.cas(store.cases, c._id, { status: "pending", try: c.try }, { $set: { ...also, ...set }, $unset: { failure: "" } }))) return false;
		await this.#send({ ...c, ...set, status: "sending" }, settings);
		return true;
	}

	/** The case names an attempt: insert it and send if it was never inserted (crash between the two writes). */
	async #ensureAttempt(c: CaseDoc): Promise<void> {
		if (!c.attemptId) return;
		if (await this.#p.store.attempts.findById(c.attemptId)) return;
		await this.#send(c, await this.#p.settings(c.clientId));
	}

	/** Inserts the case's current attempt, then (only if this insert made it) calls its provider once. */
	async #send(c: CaseDoc, settings: ClientChannelSettings | undefined): Promise<void> {
		const { store, logger } = this.#p;
		const channel = c.channel as Channel;
		const attemptId = c.attemptId as string;
		const provider = this.#p.provider(channel);
		const now = this.#now();
		const attempt: AttemptDoc = {
			_id: attemptId,
			caseId: c._id,
			clientId: c.clientId,
			runId: c.runId,
			try: c.try,
			channel,
			provider: provider?.name ?? "none",
			status: "queued",
			history: [{ status: "queued", at: now, source: "send" }],
			call: "calling",
			open: true,
			deadline: new Date(now.getTime() + this.#p.timeoutMs),
			v: 0,
			createdAt: now,
			updatedAt: now
		};
		// not inserted: the attempt exists, so it was sent (or is being sent) by whoever inserted it; never a second time
		if (!(await store.insertAttempt(attempt))) return;
		let result: SendResult;
		if (!provider) result = { ok: false, permanent: true, code: "NO_PROVIDER", reason: `no provider serves ${channel}` };
		else {
			try {
				result = await provider.send(await this.#message(c, attemptId, channel, settings));
			} catch (err) {
				result = { ok: false, permanent: false, code: "ERROR", reason: (err as Error).message };
			}
		}
		const at = this.#now();
		if (result.ok) {
			this.#p.metrics?.attempt(channel, attempt.provider, "accepted");
			logger.debug({ caseId: c._id, attemptId, channel, provider: attempt.provider, status: result.status }, "attempt accepted by its provider");
			// email reports no delivery: an accepted email ends the plan
			const final = channel === "email" && result.status === "sent";
			await this.#applyStatus(attemptId, { status: result.status, at, source: "send" }, { final, set: { call: "answered", providerMessageId: result.providerMessageId }, known: attempt });
			return;
		}
		if (result.unknown) {
			// the message may be out (the connection broke after the request was written): the attempt stays open, so its
			// callbacks (which carry our attempt ID) or its deadline move the case on; it is never sent again
			this.#p.metrics?.attempt(channel, attempt.provider, "unknown");
			logger.warn({ caseId: c._id, attemptId, channel, provider: attempt.provider, code: result.code }, "provider call ended without an answer after the request may have reached it: not sent again; its callbacks or its delivery timeout decide");
			await this.#update(attemptId, (a) => (a.call === "calling" ? { $set: { call: "unknown", history: [...a.history, { status: a.status, at, source: "send", code: result.code, reason: result.reason }] } } : null), attempt);
			return;
		}
		this.#p.metrics?.attempt(channel, attempt.provider, result.permanent ? "refused" : "failed");
		logger.debug({ caseId: c._id, attemptId, channel, provider: attempt.provider, code: result.code, reason: result.reason }, "attempt refused by its provider; next channel");
		await this.#applyStatus(attemptId, { status: "failed", at, source: "send", code: result.code, reason: result.reason }, { set: { call: "answered" }, known: attempt });
	}

	async #message(c: CaseDoc, attemptId: string, channel: Channel, settings: ClientChannelSettings | undefined): Promise<OutgoingMessage> {
		// a case without a document (a statement's SMS when no PDF was made) goes out as text alone
		const key = c.documentKey ?? "";
		const url = key ? await this.#p.link(key) : "";
		const recipient = c.recipient as Recipient;
		const language = c.language ?? recipient.language ?? "en";
		const read = this.#p.read;
		return {
			attemptId,
			clientId: c.clientId,
			caseId: c._id,
			channel,
			recipient: { ...recipient, language },
			document: { fileName: `${c.documentType}-${c.loanKey}.pdf`.replace(/[^A-Za-z0-9._-]/g, "_"), url, bytes: c.bytes ?? 0, read: () => read(key) },
			text: c.message?.kind === "statement" ? statementText(language, c.message.words, channel === "sms" && url ? url : undefined) : messageText(channel, language, recipient.name, c.loanKey, url),
			...(settings ? { settings } : {})
		};
	}

	/**
	 * Read-modify-write of an attempt under its version (retried when another writer changed it meanwhile). One
	 * attempt's updates in this process run one after another, each starting from the document the one before wrote:
	 * a provider's "sent" and "delivered" often arrive within one batch of writes, and read together they would both
	 * write on the same version, so one would fail and read again. Other processes' writes are still caught by the
	 * version.
	 */
	#update(attemptId: string, change: (a: AttemptDoc) => { $set: Record<string, unknown> } | null, known?: AttemptDoc): Promise<{ before: AttemptDoc; after: AttemptDoc } | null> {
		let turn = this.#attemptTurns.get(attemptId);
		if (!turn) {
			turn = { tail: Promise.resolve() };
			this.#attemptTurns.set(attemptId, turn);
		}
		const t = turn;
		const run = t.tail.then(async () => {
			try {
				const r = await this.#updateNow(attemptId, change, t.last ?? known);
				t.last = r?.after;
				return r;
			} catch (err) {
				t.last = undefined;
				throw err;
			}
		});
		const tail = run.then(
			() => undefined,
			() => undefined
		);
		t.tail = tail;
		void tail.then(() => {
			if (t.tail === tail) this.#attemptTurns.delete(attemptId);
		});
		return run;
	}

	async #updateNow(attemptId: string, change: (a: AttemptDoc) => { $set: Record<string, unknown> } | null, known?: AttemptDoc): Promise<{ before: AttemptDoc; after: AttemptDoc } | null> {
		const { store } = this.#p;
		for (let i = 0; i < 20; i++) {
			const a = i === 0 && known ? known : ((await store.attempts.findById(attemptId)) as AttemptDoc | null);
			if (!a) return null;
			const u = change(a);
			if (!u) return { before: a, after: a };
			const v = Number(a.v ?? 0);
			const $set = { ...u.$set, v: v + 1, updatedAt: this.#now() };
			if (await store.cas(store.attempts, attemptId, { v }, { $set })) return { before: a, after: { ...a, ...$set } };
		}
		throw new Error(`attempt ${attemptId} kept changing under 20 tries`);
	}

	/** Moves an attempt's status forward (never back) and applies its consequence to the case. */
	async #applyStatus(attemptId: string, e: AttemptEventEntry, opts: { final?: boolean; set?: Record<string, unknown>; known?: AttemptDoc } = {}): Promise<boolean> {
		let moved = false;
		const r = await this.#update(
			attemptId,
			(a) => {
				moved = moves(a.status, e.status);
				if (!moved) return opts.set ? { $set: opts.set } : null;
				const closing = e.status === "delivered" || e.status === "read" || e.status === "failed" || opts.final;
				return {
					$set: {
						...opts.set,
						status: e.status,
						history: [...a.history, e],
						...(closing ? { open: false } : {}),
						...(e.status === "sent" && !a.sentAt ? { sentAt: e.at } : {}),
						...((e.status === "delivered" || e.status === "read") && !a.deliveredAt ? { deliveredAt: e.at } : {}),
						...(e.status === "failed" ? { failure: providerFailure(e) } : {})
					}
				};
			},
			opts.known
		);
		if (!moved || !r || r.before === r.after) return false;
		const a = r.after;
		if (e.status === "delivered" || e.status === "read") {
			if (!r.before.deliveredAt) this.#p.metrics?.delivered(a.channel, Math.max(0, (e.at.getTime() - (a.sentAt ?? a.createdAt).getTime()) / 1000));
			await this.#caseDelivered(a);
		} else if (e.status === "failed") {
			await this.#fallback(a.caseId, attemptId, providerFailure(e));
		} else if (opts.final) {
			await this.#caseEnded(a, "sent");
		}
		return true;
	}

	async #caseDelivered(a: AttemptDoc): Promise<void> {
		await this.#caseEnded(a, "delivered");
	}

	async #caseEnded(a: AttemptDoc, status: "delivered" | "sent" | "dispatched"): Promise<void> {
		const { store } = this.#p;
		const now = this.#now();
		const from: CaseStatus[] = status === "delivered" ? NOT_DELIVERED : status === "dispatched" ? ["pending", "sending", "sent", "failed"] : ["sending"];
		const expect = status === "sent" ? { status: "sending", attemptId: a._id } : { status: { $in: from } };
		if (await store.cas(store.cases, a.caseId, expect, { $set: { status, channel: a.channel, finishedAt: now, updatedAt: now }, $unset: { failure: "" } })) {
			this.#finished({ _id: a.caseId, clientId: a.clientId, runId: a.runId }, status, a.channel);
		}
	}

	/** The case's current attempt failed (or timed out): the next channel of its plan, or failed after the last. */
	async #fallback(caseId: string, fromAttemptId: string, failure: { code: string; reason: string }): Promise<void> {
		const { store, logger } = this.#p;
		const c = await store.getCase<CaseDoc>(caseId);
		if (!c || c.status !== "sending" || c.attemptId !== fromAttemptId) return;
		const plan = c.plan ?? [];
		const next = (c.channelIndex ?? 0) + 1;
		const now = this.#now();
		if (next < plan.length) {
			const channel = plan[next];
			const set = { channelIndex: next, channel, attemptId: attemptIdOf(c._id, c.try, channel), updatedAt: now };
			if (!(await store.cas(store.cases, caseId, { status: "sending", attemptId: fromAttemptId }, { $set: set }))) return;
			logger.debug({ caseId, from: c.channel, to: channel, code: failure.code }, "case falls back to its next channel");
			await this.#send({ ...c, ...set }, await this.#p.settings(c.clientId));
			return;
		}
		if (await store.cas(store.cases, caseId, { status: "sending", attemptId: fromAttemptId }, { $set: { status: "failed", failure, finishedAt: now, updatedAt: now } })) {
			this.#finished(c, "failed", c.channel, failure);
		}
	}

	#finished(c: Pick<CaseDoc, "_id" | "clientId" | "runId"> & { loanKey?: string }, status: CaseStatus, channel?: Channel, failure?: { code: string; reason: string }): void {
		this.#p.metrics?.caseFinished(status, channel);
		if (status === "failed") {
			this.#p.logger.warn({ caseId: c._id, clientId: c.clientId, runId: c.runId, code: failure?.code }, "case failed on every channel of its plan; a later run retries it");
			this.#p.alerts.raise("cases_failed", `case ${c._id}${c.loanKey ? ` (loan ${c.loanKey})` : ""} failed on every channel: ${failure?.reason ?? "unknown"}`, { caseId: c._id, clientId: c.clientId, runId: c.runId, code: failure?.code });
		} else this.#p.logger.debug({ caseId: c._id, status, channel }, "case finished");
	}

	/** Status events from a provider's callback (or the sandbox): each kept as it came, applied when it moves its attempt. */
	async applyEvents(provider: string, events: StatusEvent[]): Promise<ApplyResult[]> {
		// one message's events in the order they came; different messages' events together (their writes batch)
		const out = new Array<ApplyResult>(events.length);
		const byMessage = new Map<string, number[]>();
		events.forEach((e, i) => {
			const k = e.attemptId ?? e.providerMessageId ?? `#${i}`;
			byMessage.set(k, [...(byMessage.get(k) ?? []), i]);
		});
		await Promise.all(
			[...byMessage.values()].map(async (indices) => {
				for (const i of indices) out[i] = await this.applyEvent(provider, events[i] as StatusEvent);
			})
		);
		return out;
	}

	async applyEvent(provider: string, e: StatusEvent): Promise<ApplyResult> {
		const { store, logger } = this.#p;
		// an attempt this process is updating right now: the document its last update wrote (no read)
		let a = e.attemptId ? (this.#attemptTurns.get(e.attemptId)?.last ?? ((await store.attempts.findById(e.attemptId)) as AttemptDoc | null)) : null;
		if (!a && e.providerMessageId) a = (await store.attempts.findOne({ providerMessageId: e.providerMessageId })) as AttemptDoc | null;
		if (!a) {
			this.#p.metrics?.callback(provider, "unknown");
			logger.warn({ provider, attemptId: e.attemptId, providerMessageId: e.providerMessageId, status: e.status }, "status event for an unknown message: acknowledged, ignored");
			return "unknown";
		}
		const at = e.at instanceof Date && !Number.isNaN(e.at.getTime()) ? e.at : this.#now();
		const applied = await this.#applyStatus(a._id, { status: e.status, at, source: "callback", ...(e.code ? { code: e.code } : {}), ...(e.reason ? { reason: e.reason } : {}) }, { known: a });
		await store.add(store.events, {
			attemptId: a._id,
			caseId: a.caseId,
			provider,
			status: e.status,
			at,
			receivedAt: this.#now(),
			applied,
			...(e.providerMessageId ? { providerMessageId: e.providerMessageId } : {}),
			...(e.code ? { code: e.code } : {}),
			...(e.reason ? { reason: e.reason } : {})
		});
		this.#p.metrics?.callback(provider, applied ? "applied" : "duplicate");
		return applied ? "applied" : "duplicate";
	}

	/**
	 * The timeout sweep (every notifier runs it; CAS makes one of them act): open attempts past their deadline move
	 * their case on; cases that name an attempt never inserted get it now; cases still waiting on an attempt that has
	 * ended (delivered, failed, timed out, an accepted email) get its consequence now. Returns what it did.
	 */
	async sweep(limit = 500): Promise<{ timedOut: number; resumed: number; mended: number }> {
		const { store, logger } = this.#p;
		const now = this.#now();
		let timedOut = 0;
		const due = (await store.attempts.find({ query: { open: true, deadline: { $lt: now } }, sort: "deadline", limit })) as AttemptDoc[];
		// all of them at once: their writes batch (one case's steps still run in order)
		await Promise.all(due.map(async (a) => {
			const r = await this.#update(a._id, (x) =>
				x.open && x.deadline.getTime() < now.getTime()
					? { $set: { open: false, timedOutAt: now, history: [...x.history, { status: x.status, at: now, source: "timeout", ...this.#timeoutFailure(x.channel) }] } }
					: null
			);
			if (!r || r.before === r.after) return;
			timedOut++;
			this.#p.metrics?.attempt(a.channel, a.provider, "timeout");
			logger.debug({ caseId: a.caseId, attemptId: a._id, channel: a.channel }, "no delivery in time; next channel");
			await this.#fallback(a.caseId, a._id, this.#timeoutFailure(a.channel));
		}));
		// cases left in "sending" by a notifier that died between two writes: a current attempt named but never inserted
		// (inserted and sent now, never before), or one already closed whose consequence never reached the case
		let resumed = 0;
		let mended = 0;
		const stale = new Date(now.getTime() - Math.min(60_000, this.#p.timeoutMs));
		const sending = (await store.cases.find({ query: { status: "sending", updatedAt: { $lt: stale } }, sort: "updatedAt", limit })) as CaseDoc[];
		await Promise.all(
			sending.map(async (c) => {
				if (!c.attemptId) return;
				const a = (await store.attempts.findById(c.attemptId)) as AttemptDoc | null;
				if (!a) {
					resumed++;
					await this.#send(c, await this.#p.settings(c.clientId));
				} else if (!a.open && (await this.#mend(a))) {
					mended++;
					logger.warn({ caseId: c._id, attemptId: a._id, status: a.status }, "case left waiting on an attempt that had ended (a notifier died between the two writes): moved on now");
				}
			})
		);
		return { timedOut, resumed, mended };
	}

	/** Why a case leaves a channel whose attempt saw no delivery in time. */
	#timeoutFailure(channel: Channel): { code: string; reason: string } {
		return { code: "DELIVERY_TIMEOUT", reason: `no delivery on ${channel} within ${Math.round(this.#p.timeoutMs / 1000)} s` };
	}

	/**
	 * An ended attempt whose case still waits on it: its consequence again (each step a compare-and-set, so a process
	 * doing the same at the same moment changes nothing twice). False when the attempt's end moves the case nowhere.
	 */
	async #mend(a: AttemptDoc): Promise<boolean> {
		if (a.status === "delivered" || a.status === "read") await this.#caseDelivered(a);
		else if (a.status === "failed") await this.#fallback(a.caseId, a._id, a.failure ?? providerFailure({}));
		else if (a.timedOutAt) await this.#fallback(a.caseId, a._id, this.#timeoutFailure(a.channel));
		else if (a.channel === "email" && a.status === "sent") await this.#caseEnded(a, "sent");
		else return false;
		return true;
	}

	/** A courier attempt from a sheet row: dispatched, or delivered when the row has a delivery date. Idempotent. */
	async courier(c: CaseDoc, row: { courier: string; trackingNumber: string; dispatchedOn: string; deliveredOn?: string; line: number }): Promise<"applied" | "unchanged"> {
		const { store } = this.#p;
		const id = `${c._id}.courier.${crypto.createHash("sha256").update(`${row.courier}\u0000${row.trackingNumber}`).digest("hex").slice(0, 12)}`;
		const now = this.#now();
		const dispatchedAt = new Date(`${row.dispatchedOn}T00:00:00.000Z`);
		let changed = false;
		try {
			await store.attempts.insert({
				_id: id,
				caseId: c._id,
				clientId: c.clientId,
				runId: c.runId,
				try: c.try,
				channel: "courier",
				provider: row.courier,
				providerMessageId: row.trackingNumber,
				status: "sent",
				history: [{ status: "sent", at: dispatchedAt, source: "courier" }],
				call: "answered",
				open: !row.deliveredOn,
				// no timeout; a year of four digits, so the stored ISO string still reads back as a Date and sorts after
				// every real deadline (8.64e15 was "+275760-...", which sorts before "2026-..." and broke the sweep)
				deadline: new Date("9999-12-31T00:00:00.000Z"),
				sentAt: dispatchedAt,
				courier: { name: row.courier, trackingNumber: row.trackingNumber, dispatchedOn: row.dispatchedOn, ...(row.deliveredOn ? { deliveredOn: row.deliveredOn } : {}), sheetLine: row.line },
				v: 0,
				createdAt: now,
				updatedAt: now
			} satisfies AttemptDoc);
			changed = true;
		} catch (err) {
			if (!isDuplicateKeyError(err)) throw err;
		}
		const attempt = (await store.attempts.findById(id)) as AttemptDoc;
		if (row.deliveredOn) {
			if (await this.#applyStatus(id, { status: "delivered", at: new Date(`${row.deliveredOn}T00:00:00.000Z`), source: "courier" })) changed = true;
		} else if (changed) await this.#caseEnded(attempt, "dispatched");
		return changed ? "applied" : "unchanged";
	}
}

/**
 * Dispatch runs on the embedded store, with two "nodes" (two connections to the same SQLite files): one run per
 * cron slot however many claim it; a case per (client, loan, document) however many runs race; a retried run
 * creates no case, renders nothing and sends failed cases with a stored PDF straight to the notifier; the date
 * window and the retry switch; the daily digest claimed once a day; a cron callback's slot from its scheduled time.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import { DeliveryStore } from "../../../lib/delivery/store.ts";
import { Cron } from "croner";
import { Runs, lookbackWindow, isDate, scheduledTime, type DispatchCase } from "../../../lib/delivery/runs.ts";
import { caseIdOf, type RenderedCase } from "../../../lib/delivery/notifier.ts";
import type { CaseDoc, RunDoc } from "../../../lib/delivery/types.ts";
import type { StoreAdapter } from "../../../lib/store/types.ts";

const logger = pino({ level: "silent" });
let dir: string;
const stores: SqliteStore[] = [];
interface NodeUnderTest {
	runs: Runs;
	store: DeliveryStore;
	records: StoreAdapter;
	dispatched: DispatchCase[];
	rendered: RenderedCase[];
}
let n1: NodeUnderTest;
let n2: NodeUnderTest;
const alerts: string[] = [];

async function makeNode(): Promise<NodeUnderTest> {
	const sqlite = new SqliteStore({ file: path.join(dir, "paperwork.db"), ownFiles: { records: path.join(dir, "records.db") }, logger });
	stores.push(sqlite);
	const store = await DeliveryStore.open((c) => sqlite.adapter(c));
	const records = sqlite.adapter("records");
	await records.connect();
	const node: NodeUnderTest = { runs: undefined as unknown as Runs, store, records, dispatched: [], rendered: [] };
	node.runs = new Runs({
		store,
		records,
		logger,
		alerts: { raise: (_k, text) => void alerts.push(text), digest: async () => {}, close: async () => {} },
		dispatch: async (items) => void node.dispatched.push(...items.map((i) => i.payload)),
		rendered: async (items) => void node.rendered.push(...items.map((i) => i.payload)),
		pageSize: 7
	});
	return node;
}

before(async () => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), "paperwork-runs-"));
	n1 = await makeNode();
	n2 = await makeNode();
	const docs = [];
	for (let i = 0; i < 30; i++) {
		docs.push({ _id: `rec${String(i).padStart(3, "0")}`, client: i % 3 === 0 ? "c2" : "c1", kind: "loan", key: `L-${i}`, data: { loan_id: `L-${i}`, applicant_name: "A", phone: "+919800000001", language: "en", disbursement_date: i < 25 ? "2026-11-20" : "2026-10-01" } });
	}
	docs.push({ _id: "rec-debt", client: "c1", kind: "debt", key: "D-1", data: { disbursement_date: "2026-11-20" } });
	await n1.records.insertMany(docs);
});
after(async () => {
	for (const s of stores) await s.close();
	fs.rmSync(dir, { recursive: true, force: true });
});

test("dates and windows", () => {
	assert.equal(isDate("2026-02-29"), false);
	assert.equal(isDate("2028-02-29"), true);
	assert.equal(isDate("2026-1-01"), false);
	// 09:00 in Kolkata on 2 Dec is 03:30 UTC; a 7-day window ends that day
	assert.deepEqual(lookbackWindow(new Date("2026-12-02T03:30:00Z"), "Asia/Kolkata", 7), { from: "2026-11-25", to: "2026-12-02" });
	// just after midnight in Kolkata, still the previous day in UTC
	assert.deepEqual(lookbackWindow(new Date("2026-12-01T19:00:00Z"), "Asia/Kolkata", 0), { from: "2026-12-02", to: "2026-12-02" });
});

test("two nodes claiming the same cron slot: one run", async () => {
	const req = { from: "2026-11-01", to: "2026-11-30", includePending: true };
	const claims = await Promise.all([n1.runs.claim("scheduled:2026-12-02T03:30:00.000Z", req), n2.runs.claim("scheduled:2026-12-02T03:30:00.000Z", req), n1.runs.claim("scheduled:2026-12-02T03:30:00.000Z", req)]);
	assert.equal(claims.filter(Boolean).length, 1);
	assert.equal(await n1.store.runs.count({ query: { slot: "scheduled:2026-12-02T03:30:00.000Z" } }), 1);
});

test("two runs racing over the same loans make one case each; only new cases go to the renderer", async () => {
	const req = { from: "2026-11-01", to: "2026-11-30", includePending: true };
	const [r1, r2] = await Promise.all([n1.runs.create(req), n2.runs.create(req)]);
	const [d1, d2] = await Promise.all([n1.runs.execute(r1), n2.runs.execute(r2)]);
	assert.equal(d1.picked.created + d2.picked.created, 25, "25 loans in the window (the debt and October loans are not)");
	assert.equal(d1.picked.created + d1.picked.existing, 25);
	assert.equal(await n1.store.cases.count({}), 25);
	const sent = [...n1.dispatched, ...n2.dispatched];
	assert.equal(sent.length, 25);
	assert.equal(new Set(sent.map((d) => d.caseId)).size, 25, "each case dispatched once");
	assert.equal(sent[0].template, "welcome-letter");
	assert.ok(sent.every((d) => d.recordId.startsWith("rec")));
	const c = (await n1.store.cases.findById(caseIdOf("c1", "L-1", "welcome-letter"))) as CaseDoc;
	assert.equal(c.recipient.phone, "+919800000001");
	assert.equal(c.dueDate, "2026-11-20");
});

test("a retried run creates no case and renders nothing: failed cases with a PDF go to the notifier, pending ones without one to the renderer", async () => {
	const failedId = caseIdOf("c1", "L-1", "welcome-letter");
	const pendingId = caseIdOf("c1", "L-2", "welcome-letter");
	const deliveredId = caseIdOf("c1", "L-4", "welcome-letter");
	// every case has its document and was delivered, except one failed on every channel and one still pending without a document
	await n1.store.cases.updateMany({}, { $set: { status: "delivered", documentId: "doc", documentKey: "documents/k.pdf", pages: 4, bytes: 9 } });
	await n1.store.cases.updateById(failedId, { $set: { status: "failed", attemptId: "x", failure: { code: "503", reason: "down" } } });
	await n1.store.cases.updateById(pendingId, { $set: { status: "pending" }, $unset: { documentId: "", documentKey: "" } });
	n1.dispatched.length = 0;
	n1.rendered.length = 0;
	const run = await n1.runs.execute(await n1.runs.create({ from: "2026-11-01", to: "2026-11-30", includePending: true, clientId: "c1" }));
	assert.deepEqual(run.picked, { created: 0, existing: 16, retried: 2 });
	assert.deepEqual(n1.dispatched.map((d) => d.caseId), [pendingId], "only the case that never had a document is rendered");
	assert.deepEqual(n1.rendered.map((r) => [r.caseId, r.key]), [[failedId, "documents/k.pdf"]], "the failed case reuses its stored PDF");
	const failed = (await n1.store.cases.findById(failedId)) as CaseDoc;
	assert.equal(failed.status, "pending");
	assert.equal(failed.try, 2, "a new try: new attempt IDs");
	assert.equal(failed.attemptId, undefined);
	assert.deepEqual(failed.runIds.at(-1), run._id);
	assert.equal(((await n1.store.cases.findById(deliveredId)) as CaseDoc).status, "delivered");
	// the live view counts the run's cases
	const v = await n1.runs.view(run._id);
	assert.equal(v?.cases, 2);
	assert.equal(v?.byStatus.pending, 2);
	assert.equal(v?.status, "running");
	// without includePending nothing is retried
	const quiet = await n1.runs.execute(await n1.runs.create({ from: "2026-11-01", to: "2026-11-30", includePending: false, clientId: "c1" }));
	assert.deepEqual(quiet.picked, { created: 0, existing: 16, retried: 0 });
	assert.equal(quiet.status, "completed", "a run with nothing to do is completed at once");
});

test("an operator's resend: a run of one ended case, its next try with the stored PDF; two at once make one try; a case under way is refused", async () => {
	const id = caseIdOf("c1", "L-4", "welcome-letter");
	await n1.store.cases.updateById(id, { $set: { status: "delivered", try: 1, documentId: "doc", documentKey: "documents/k.pdf", pages: 4, bytes: 9, attemptId: "a1", finishedAt: new Date() } });
	n1.rendered.length = 0;
	n2.rendered.length = 0;
	const [a, b] = await Promise.all([n1.runs.resend(id, "ops@example.com"), n2.runs.resend(id, "ops@example.com")]);
	const outcomes = [a.kind, b.kind].sort();
	assert.deepEqual(outcomes, ["busy", "resent"], "one resend wins");
	const won = (a.kind === "resent" ? a : b) as Extract<typeof a, { kind: "resent" }>;
	assert.deepEqual([...n1.rendered, ...n2.rendered].map((r) => [r.caseId, r.documentId, r.key]), [[id, "doc", "documents/k.pdf"]], "sent once, with the stored PDF");
	const c = (await n1.store.cases.findById(id)) as CaseDoc;
	assert.deepEqual([c.status, c.try, c.runId, c.attemptId, c.finishedAt], ["pending", 2, won.runId, undefined, undefined]);
	const v = await n1.runs.view(won.runId);
	assert.deepEqual([v?.kind, v?.caseId, v?.requestedBy, v?.cases, v?.picked.retried], ["manual", id, "ops@example.com", 1, 1]);
	// the case is now under way: another resend waits for it to end
	assert.deepEqual(await n1.runs.resend(id), { kind: "busy", status: "pending" });
	assert.deepEqual(await n1.runs.resend("nope"), { kind: "not-found" });
	// a case that never got its document goes to the renderer (which returns a stored document when one exists)
	const bare = caseIdOf("c1", "L-5", "welcome-letter");
	await n1.store.cases.updateById(bare, { $set: { status: "failed" }, $unset: { documentId: "", documentKey: "" } });
	n1.dispatched.length = 0;
	assert.equal((await n1.runs.resend(bare)).kind, "resent");
	assert.deepEqual(n1.dispatched.map((d) => d.caseId), [bare]);
});

test("billing's statements: a later run retries those failed on every channel in its window, with their words and PDF; pending ones stay with their billing run", async () => {
	const words = { name: "A", loanId: "L-7", amountDue: "5,000.00", dueDate: "2026-11-25", statementDate: "2026-11-10" };
	const statement = (loan: string, type: string, status: CaseDoc["status"], due: string, doc: Partial<CaseDoc>): CaseDoc => ({
		_id: caseIdOf("c1", loan, type),
		clientId: "c1",
		loanKey: loan,
		documentType: type,
		template: "loan-statement",
		recordId: "",
		dueDate: due,
		language: "hi",
		recipient: { name: "A", language: "hi", phone: "+919800000001", email: "a@example.com" },
		status,
		runId: "billing-run",
		runIds: ["billing-run"],
		try: 1,
		planOverride: type.startsWith("statement-sms") ? ["sms"] : ["email"],
		message: { kind: "statement", words },
		...(status === "failed" ? { failure: { code: "30003", reason: "unreachable" }, attemptId: "old", finishedAt: new Date() } : {}),
		...doc,
		createdAt: new Date(Date.now() - 60_000),
		updatedAt: new Date(Date.now() - 60_000)
	});
	const sms = statement("L-7", "statement-sms:2026-11-10", "failed", "2026-11-10", { documentId: "", documentKey: "" });
	const pdf = statement("L-7", "loan-statement:2026-11-10", "failed", "2026-11-10", { documentId: "st-doc", documentKey: "documents/st.pdf", pages: 2, bytes: 7 });
	const underWay = statement("L-8", "statement-sms:2026-11-10", "pending", "2026-11-10", { documentId: "", documentKey: "" });
	const older = statement("L-9", "statement-sms:2026-10-10", "failed", "2026-10-10", { documentId: "", documentKey: "" });
	// the welcome letters of the earlier tests have ended
	await n1.store.cases.updateMany({ documentType: "welcome-letter", status: "pending" }, { $set: { status: "delivered" } });
	await n1.store.cases.insertMany([sms, pdf, underWay, older]);
	n1.dispatched.length = 0;
	n1.rendered.length = 0;
	const run = await n1.runs.execute(await n1.runs.create({ from: "2026-11-01", to: "2026-11-30", includePending: true, clientId: "c1" }));
	assert.equal(run.picked.retried, 2, "the two failed statements of the window, not the pending one nor the one before the window");
	assert.deepEqual(n1.dispatched, [], "a statement is never rendered again");
	assert.deepEqual(
		n1.rendered.map((r) => [r.caseId, r.documentId, r.key, r.template, r.language]).sort(),
		[
			[pdf._id, "st-doc", "documents/st.pdf", "loan-statement", "hi"],
			[sms._id, "", "", "loan-statement", "hi"]
		].sort(),
		"to the notifier: the SMS as text alone, the email with its stored PDF"
	);
	for (const c of [sms, pdf]) {
		const now = (await n1.store.cases.findById(c._id)) as CaseDoc;
		assert.deepEqual([now.status, now.try, now.runId, now.attemptId, now.failure], ["pending", 2, run._id, undefined, undefined]);
		assert.deepEqual([now.planOverride, now.message], [c.planOverride, c.message], "the same channels and the same words as the statement's first try");
	}
	assert.deepEqual(((await n1.store.cases.findById(underWay._id)) as CaseDoc).runId, "billing-run");
	assert.equal(((await n1.store.cases.findById(older._id)) as CaseDoc).status, "failed");
});

test("a run that cannot read its loans is failed, with an alert", async () => {
	const broken = new Runs({
		store: n1.store,
		records: { ...n1.records, find: async () => Promise.reject(new Error("disk on fire")) } as unknown as StoreAdapter,
		logger,
		alerts: { raise: (_k, text) => void alerts.push(text), digest: async () => {}, close: async () => {} },
		dispatch: async () => {},
		rendered: async () => {}
	});
	const run = await broken.execute(await broken.create({ from: "2026-11-01", to: "2026-11-30", includePending: false }));
	assert.equal(run.status, "failed");
	assert.match(alerts.at(-1) ?? "", /disk on fire/);
	assert.equal((await n1.runs.view(run._id))?.status, "failed");
});

test("settling: a run whose cases are all final completes; a run interrupted before picking fails with an alert", async () => {
	const run = await n1.runs.create({ from: "2026-11-01", to: "2026-11-30", includePending: false, clientId: "c2" });
	await n1.store.runs.updateById(run._id, { $set: { startedAt: new Date(Date.now() - 7_200_000) } });
	const before_ = alerts.length;
	await n1.runs.settle();
	const v = await n1.runs.view(run._id);
	assert.equal(v?.status, "failed");
	assert.match(v?.error ?? "", /interrupted/);
	assert.equal(alerts.length, before_ + 1);
	await n2.runs.settle();
	assert.equal(alerts.length, before_ + 1, "one alert, whichever node settles");
	// the retried run of the earlier test: its two cases delivered, it completes
	const pending = (await n1.store.cases.find({ query: { status: "pending" } })) as CaseDoc[];
	for (const c of pending) await n1.store.cases.updateById(c._id, { $set: { status: "delivered", channel: "whatsapp" } });
	await n1.runs.settle();
	const still = (await n1.store.runs.find({ query: { status: "running" } })) as RunDoc[];
	assert.deepEqual(still.map((r) => r.kind), ["scheduled"], "only the slot claimed (never executed) in the first test, too recent to call interrupted");
});

test("the daily digest: two nodes claiming the same day, one wins; the next day is claimed again", async () => {
	const at = new Date("2026-12-01T12:30:00.000Z");
	const won = await Promise.all([n1.runs.claimDigest("2026-12-01", at), n2.runs.claimDigest("2026-12-01", at), n1.runs.claimDigest("2026-12-01", at)]);
	assert.equal(won.filter(Boolean).length, 1);
	assert.equal(await n2.runs.claimDigest("2026-12-02", new Date(at.getTime() + 86_400_000)), true);
});

test("a cron callback's slot comes from its scheduled time: a callback late past a minute boundary keeps its minute", () => {
	const cron = new Cron("0 9 * * *", { timezone: "Asia/Kolkata" });
	const next = (after: Date) => cron.nextRun(after);
	const started = new Date("2026-12-01T00:00:00.000Z");
	// due at 09:00 IST (03:30Z), the callback ran 61 s late
	assert.equal(scheduledTime(next, started, new Date("2026-12-01T03:31:01.000Z")).toISOString(), "2026-12-01T03:30:00.000Z");
	// every 20 s; fires skipped while a run was busy: the latest one due, not one of those skipped
	const often = new Cron("*/20 * * * * *", { timezone: "UTC" });
	assert.equal(scheduledTime((a) => often.nextRun(a), new Date("2026-12-01T10:00:00.000Z"), new Date("2026-12-01T10:01:05.000Z")).toISOString(), "2026-12-01T10:01:00.000Z");
	// none due yet (not expected from a cron callback): the clock
	const now = new Date("2026-12-01T03:00:00.000Z");
	assert.equal(scheduledTime(next, started, now), now);
});

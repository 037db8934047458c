import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, beforeEach, test } from "node:test";
import { pino } from "pino";
import { loadConfig } from "../../../config/index.ts";
import { createAlerts, nextDigestAt } from "../../../lib/alerts/index.ts";
import { ALERT_CLAIMS_COLLECTION, claimId, storeAlertClaims } from "../../../lib/alerts/claims.ts";
import { SqliteStore } from "../../../lib/store/sqlite.ts";
import { type LocalSmtp, startSmtp } from "../../helpers/smtp.ts";

let smtp: LocalSmtp;
const counted: string[] = [];
const metrics = { inc: (_name: string, labels: Record<string, string>, n = 1) => counted.push(`${labels.kind}:${labels.outcome}:${n}`) };
const logger = pino({ level: "silent" });

before(async () => {
	smtp = await startSmtp();
});
after(() => smtp.close());
beforeEach(() => {
	smtp.mails.length = 0;
	counted.length = 0;
});

/** Polls until `ok` holds (alerts mail asynchronously), then gives straggling mails a moment to show up. */
async function settled(ok: () => boolean): Promise<void> {
	for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
	assert.ok(ok(), `not settled: ${counted.join(" ")}`);
	await new Promise((r) => setTimeout(r, 150));
}
const outcomes = (outcome: string): number => counted.filter((c) => c.split(":")[1] === outcome).reduce((n, c) => n + Number(c.split(":")[2]), 0);

const subjects = (): string[] => smtp.mails.map((m) => /^Subject: (.*)$/m.exec(m.raw)?.[1] ?? "");

test("at most one mail per kind per interval: the first is mailed at once, later ones are summarised in one mail", async () => {
	const now = Date.parse("2026-12-01T10:00:00Z");
	const alerts = createAlerts(loadConfig({ SMTP_URL: smtp.url, ALERT_EMAILS: "ops@lender.example, oncall@lender.example", ALERT_INTERVAL_S: "600" }), { logger, metrics, now: () => now });
	alerts.raise("circuit_open", "provider whatsapp-cloud: circuit opened", { provider: "whatsapp-cloud" });
	alerts.raise("circuit_open", "provider twilio: circuit opened");
	alerts.raise("circuit_open", "provider google-rbm: circuit opened");
	alerts.raise("run_failed", "run R-1 failed: store unreachable");
	await alerts.close();
	assert.deepEqual(subjects().sort(), ["[Paperwork] a dispatch run failed", "[Paperwork] a provider's circuit opened", "[Paperwork] a provider's circuit opened (2 more)"]);
	assert.deepEqual(smtp.mails[0].to, ["ops@lender.example", "oncall@lender.example"]);
	const summary = smtp.mails.find((m) => m.raw.includes("(2 more)"))?.raw ?? "";
	assert.match(summary, /provider twilio: circuit opened/);
	assert.match(summary, /provider google-rbm: circuit opened/);
	assert.deepEqual(counted.sort(), ["circuit_open:held:1", "circuit_open:held:1", "circuit_open:mailed:1", "circuit_open:mailed:2", "run_failed:mailed:1"]);
});

test("held alerts are mailed when the interval ends, and a new interval mails at once again", async () => {
	let now = Date.now();
	const alerts = createAlerts(loadConfig({ SMTP_URL: smtp.url, ALERT_EMAILS: "ops@lender.example", ALERT_INTERVAL_S: "1" }), { logger, metrics, now: () => now });
	alerts.raise("dlq_not_empty", "queue cases.dispatch has 3 dead letters");
	alerts.raise("dlq_not_empty", "queue cases.dispatch has 4 dead letters");
	await new Promise((r) => setTimeout(r, 1300));
	for (let i = 0; i < 100 && smtp.mails.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
	assert.deepEqual(subjects(), ["[Paperwork] a dead-letter queue is not empty", "[Paperwork] a dead-letter queue is not empty (1 more)"]);
	now += 5000;
	alerts.raise("dlq_not_empty", "queue cases.dispatch has 9 dead letters");
	await alerts.close();
	assert.equal(smtp.mails.length, 3);
});

test("two nodes' sinks on one store mail once per kind per interval, a later interval mails again, and old claims go", async () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "paperwork-alerts-"));
	// two "nodes": two connections to the same SQLite file, each with its own sink
	const stores = [0, 1].map(() => new SqliteStore({ file: path.join(dir, "paperwork.db"), logger }));
	try {
		const t0 = Date.parse("2026-12-01T10:00:00Z");
		let now = t0 + 1000;
		const config = loadConfig({ SMTP_URL: smtp.url, ALERT_EMAILS: "ops@lender.example", ALERT_INTERVAL_S: "600" });
		const [a, b] = stores.map((store) => createAlerts(config, { logger, metrics, now: () => now, claims: storeAlertClaims(store) }));
		let raised = 0;
		const raiseBoth = (text: string): void => {
			a.raise("circuit_open", `${text} (node a)`);
			b.raise("circuit_open", `${text} (node b)`);
			raised += 2;
		};

		raiseBoth("provider twilio: circuit opened");
		await settled(() => outcomes("mailed") === 1 && outcomes("held") === 1);
		assert.equal(smtp.mails.length, 1);
		// later alerts of the interval: no mail, whichever node raises them
		now += 60_000;
		raiseBoth("provider google-rbm: circuit opened");
		await settled(() => outcomes("held") === 3);
		assert.equal(smtp.mails.length, 1);

		// the next interval: one mail again (the node holding alerts sends them with it, if it wins)
		now = t0 + 600_000 + 5;
		raiseBoth("provider twilio: circuit opened again");
		await settled(() => outcomes("mailed") >= 2);
		assert.equal(smtp.mails.length, 2);

		// two intervals later: mailed again, and the claims older than the previous interval are removed
		now = t0 + 1_800_000 + 5;
		a.raise("circuit_open", "provider twilio: circuit opened a third time");
		raised += 1;
		await settled(() => smtp.mails.length === 3);
		const claims = stores[0]?.adapter(ALERT_CLAIMS_COLLECTION);
		assert.ok(claims);
		assert.deepEqual((await claims.find({})).map((c) => c._id), [claimId("circuit_open", t0 + 1_800_000)]);

		// closing: what is still held goes out once (the interval after the last one), or is counted as throttled
		await Promise.all([a.close(), b.close()]);
		assert.ok(smtp.mails.length <= 4, `${smtp.mails.length} mails`);
		assert.equal(outcomes("mailed") + outcomes("throttled"), raised, "every alert mailed or counted as throttled");
		assert.equal(outcomes("mail_failed"), 0);
	} finally {
		for (const s of stores) await s.close();
		fs.rmSync(dir, { recursive: true, force: true });
	}
});

test("a store that cannot take the claim does not stop the mail", async () => {
	const claims = { claim: async (): Promise<boolean> => Promise.reject(new Error("store unreachable")) };
	const alerts = createAlerts(loadConfig({ SMTP_URL: smtp.url, ALERT_EMAILS: "ops@lender.example" }), { logger, metrics, claims });
	alerts.raise("run_failed", "run R-7 failed");
	await alerts.close();
	assert.deepEqual(subjects(), ["[Paperwork] a dispatch run failed"]);
	assert.deepEqual(counted, ["run_failed:mailed:1"]);
});

test("without ALERT_EMAILS alerts are only logged and counted; the digest goes out as asked", async () => {
	const quiet = createAlerts(loadConfig({ SMTP_URL: smtp.url }), { logger, metrics });
	quiet.raise("cases_failed", "12 cases failed on every channel");
	await quiet.digest(["run R-1: 100 cases, 98 delivered"]);
	await quiet.close();
	assert.equal(smtp.mails.length, 0);
	assert.deepEqual(counted, ["cases_failed:logged:1", "digest:logged:1"]);

	const alerts = createAlerts(loadConfig({ SMTP_URL: smtp.url, ALERT_EMAILS: "ops@lender.example" }), { logger, metrics, now: () => Date.parse("2026-12-01T18:00:00Z") });
	await alerts.digest(["run R-1: 100 cases, 98 delivered", "run R-2: 5 cases, 5 delivered"]);
	// 00:30 in Kolkata on 2 December is still 1 December in UTC: the scheduler names the day in its time zone
	await alerts.digest(["run R-3: 1 case, 1 delivered"], "2026-12-02");
	await alerts.close();
	assert.deepEqual(subjects(), ["[Paperwork] daily digest 2026-12-01", "[Paperwork] daily digest 2026-12-02"]);
	assert.match(smtp.mails[0].raw, /run R-2: 5 cases, 5 delivered/);
});

test("a mail server that is down is logged, never thrown", async () => {
	const alerts = createAlerts(loadConfig({ SMTP_URL: "smtp://127.0.0.1:1", ALERT_EMAILS: "ops@lender.example" }), { logger, metrics });
	alerts.raise("run_failed", "run R-9 failed");
	await alerts.close();
	assert.deepEqual(counted, ["run_failed:mail_failed:1"]);
});

test("the digest time is the next HH:MM in UTC; bad alert settings stop start-up", () => {
	assert.equal(nextDigestAt("18:00", new Date("2026-12-01T17:59:00Z")).toISOString(), "2026-12-01T18:00:00.000Z");
	assert.equal(nextDigestAt("18:00", new Date("2026-12-01T18:00:00Z")).toISOString(), "2026-12-02T18:00:00.000Z");
	assert.throws(() => loadConfig({ ALERT_DIGEST_AT: "6pm" }), /ALERT_DIGEST_AT must be a time of day/);
	assert.throws(() => loadConfig({ ALERT_EMAILS: "ops@lender.example, not-an-address" }), /ALERT_EMAILS must be a comma list of email addresses/);
	assert.equal(loadConfig({ ALERT_DIGEST_AT: "off" }).alerts.digestAt, undefined);
});

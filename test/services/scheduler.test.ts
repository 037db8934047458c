/**
 * The scheduler's daily digest: at ALERT_DIGEST_AT in SCHEDULER_TZ, once a day whatever the cron and however many
 * scheduler nodes run (each claims `digest:<day>` in the store; one insert wins), never after each run any more,
 * none with `off`. Two scheduler processes on one store whose timers fire at the same minute mail one digest.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { nextDigestAt } from "../../lib/alerts/index.ts";
import { spawnNode, startTestNode, tempDir, type TestNode } from "../helpers/node.ts";
import { startSmtp, type LocalSmtp } from "../helpers/smtp.ts";

let smtp: LocalSmtp;
const digests = () => smtp.mails.filter((m) => /^Subject: \[Paperwork\] daily digest/m.test(m.raw));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

after(async () => {
	await smtp?.close();
});

/** The scheduler service's own state (its timer's next due time). */
const scheduler = (node: TestNode) => node.broker.getLocalService("scheduler") as unknown as { digestDue?: Date };

test("the digest time is ALERT_DIGEST_AT in the scheduler's time zone, today if still ahead, else tomorrow", () => {
	assert.equal(nextDigestAt("18:00", new Date("2026-12-01T12:29:00Z"), "Asia/Kolkata").toISOString(), "2026-12-01T12:30:00.000Z");
	assert.equal(nextDigestAt("18:00", new Date("2026-12-01T12:30:00Z"), "Asia/Kolkata").toISOString(), "2026-12-02T12:30:00.000Z");
	assert.equal(nextDigestAt("18:00", new Date("2026-12-01T17:59:00Z")).toISOString(), "2026-12-01T18:00:00.000Z", "UTC by default");
	// daylight saving: 18:00 in New York is 22:00 UTC in summer, 23:00 in winter
	assert.equal(nextDigestAt("18:00", new Date("2026-07-01T00:00:00Z"), "America/New_York").toISOString(), "2026-07-01T22:00:00.000Z");
	assert.equal(nextDigestAt("18:00", new Date("2026-12-01T00:00:00Z"), "America/New_York").toISOString(), "2026-12-01T23:00:00.000Z");
});

test("one digest a day however often it is claimed; a scheduled run sends none", async () => {
	smtp = await startSmtp();
	const node = await startTestNode({ ALERT_EMAILS: "ops@example.com", SMTP_URL: smtp.url, ALERT_DIGEST_AT: "18:00", SCHEDULER_TZ: "Asia/Kolkata", SCHEDULER_CRON: "0 0 1 1 *" }, ["scheduler"]);
	try {
		const due = scheduler(node).digestDue;
		assert.ok(due, "the timer is armed");
		assert.equal(due.getTime(), nextDigestAt("18:00", new Date(), "Asia/Kolkata").getTime());
		// a scheduled run: no digest after it
		const run = (await node.broker.call("scheduler.tick", { at: new Date("2026-12-01T03:30:00.000Z") })) as { id: string } | null;
		assert.ok(run);
		await sleep(500);
		assert.equal(digests().length, 0, "no digest after a run");
		// every node's timer fires at the same time: two claims of the same day, one digest
		const at = new Date("2026-12-01T12:30:00.000Z");
		const outcomes = (await Promise.all([node.broker.call("scheduler.digest", { at }), node.broker.call("scheduler.digest", { at })])) as { outcome: string; day: string }[];
		assert.deepEqual(outcomes.map((o) => o.outcome).sort(), ["claimed-elsewhere", "sent"]);
		assert.deepEqual(outcomes.map((o) => o.day), ["2026-12-01", "2026-12-01"], "the day in SCHEDULER_TZ");
		const until = Date.now() + 10_000;
		while (digests().length === 0 && Date.now() < until) await sleep(50);
		await sleep(300);
		assert.equal(digests().length, 1);
		assert.match(digests()[0].raw, new RegExp(`${run.id} scheduled`), "the digest lists the day's runs");
		assert.match(digests()[0].raw, /^Subject: \[Paperwork\] daily digest 2026-12-01$/m, "dated by the day it is of, in SCHEDULER_TZ");
		// the next day has its own digest
		assert.equal(((await node.broker.call("scheduler.digest", { at: new Date("2026-12-02T12:30:00.000Z") })) as { outcome: string }).outcome, "sent");
	} finally {
		await node.close();
	}
	assert.equal(scheduler(node).digestDue, undefined, "the timer is gone once stopped");
});

test("ALERT_DIGEST_AT=off: no timer and no digest", async () => {
	smtp ??= await startSmtp();
	const before = digests().length;
	const node = await startTestNode({ ALERT_EMAILS: "ops@example.com", SMTP_URL: smtp.url, ALERT_DIGEST_AT: "off", SCHEDULER_CRON: "0 0 1 1 *" }, ["scheduler"]);
	try {
		assert.equal(scheduler(node).digestDue, undefined);
		assert.ok(await node.broker.call("scheduler.tick", { at: new Date("2026-12-03T03:30:00.000Z") }));
		assert.deepEqual(await node.broker.call("scheduler.digest", { at: new Date("2026-12-03T12:30:00.000Z") }), { outcome: "off" });
		await sleep(500);
		assert.equal(digests().length, before);
	} finally {
		await node.close();
	}
});

test("two scheduler processes on one store, their timers due the same minute: one digest", async () => {
	smtp ??= await startSmtp();
	const before = digests().length;
	// the first whole minute at least 30 s ahead (the two processes start meanwhile), as HH:MM in UTC
	const due = new Date(Math.ceil((Date.now() + 30_000) / 60_000) * 60_000);
	const dataDir = tempDir();
	const env = {
		DATA_DIR: dataDir,
		JWT_SECRET: "scheduler-digest-secret-scheduler-digest",
		SERVICES: "scheduler",
		SCHEDULER_CRON: "0 0 1 1 *",
		SCHEDULER_TZ: "UTC",
		ALERT_DIGEST_AT: due.toISOString().slice(11, 16),
		ALERT_EMAILS: "ops@example.com",
		SMTP_URL: smtp.url,
		LOG_LEVEL: "info"
	};
	const started = await Promise.allSettled([spawnNode({ ...env, NODE_ID: "digest-a" }), spawnNode({ ...env, NODE_ID: "digest-b" })]);
	const nodes = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
	try {
		for (const r of started) if (r.status === "rejected") throw r.reason;
		assert.ok(Date.now() < due.getTime(), "both started before the digest was due");
		while (Date.now() < due.getTime() + 15_000 && digests().length === before) await sleep(200);
		await sleep(2000);
		assert.equal(digests().length - before, 1, "one digest from two nodes");
		assert.equal(nodes.filter((n) => n.output().includes("daily digest sent")).length, 1, "sent by one node, claimed first");
	} finally {
		await Promise.all(nodes.map((n) => n.stop()));
		rmSync(dataDir, { recursive: true, force: true });
	}
});

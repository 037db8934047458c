/**
 * Delivery across processes on RabbitMQ: the notifier runs in its own process (the sandbox provider inside it),
 * this process runs `clients` and feeds cases.rendered. A notifier killed with SIGKILL in the middle of a run and
 * another one started afterwards: every case still reaches a final status (none lost), and the sandbox outbox holds
 * exactly one entry per attempt (no message sent twice), including the attempts whose outcome died with the process
 * (their callbacks never came: their timeout moved the case to the next channel).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { AMQP_URL, spawnNode, startTestNode, tempDir, deleteNamespaceQueues, type TestNode } from "../helpers/node.ts";
import { QUEUES } from "../../config/queues.ts";
import { caseIdOf } from "../../lib/delivery/notifier.ts";
import { deliveryStore, type DeliveryStore } from "../../lib/delivery/store.ts";
import type { CaseDoc, RunDoc } from "../../lib/delivery/types.ts";

const namespace = `dl-${randomUUID().slice(0, 8)}`;
const N = 60;
let common: Record<string, string>;
let node: TestNode;
let ds: DeliveryStore;
const children: Awaited<ReturnType<typeof spawnNode>>[] = [];

before(async () => {
	common = {
		TRANSPORTER: AMQP_URL,
		NAMESPACE: namespace,
		JWT_SECRET: "delivery-it-secret-delivery-it-secret",
		DATA_DIR: tempDir(),
		QUEUE_RETRY_DELAY_MS: "200",
		SANDBOX_CALLBACK_DELAY_MS: "400",
		DELIVERY_TIMEOUT_S: "3",
		DELIVERY_SWEEP_MS: "300"
	};
	node = await startTestNode(common, ["clients"]);
	ds = await deliveryStore(node.platform.store);
});

after(async () => {
	for (const c of children) {
		if (c.child.exitCode === null && c.child.signalCode === null) await c.stop();
	}
	await node?.close();
	await deleteNamespaceQueues(namespace);
});

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 90_000): Promise<T> {
	const end = Date.now() + timeoutMs;
	while (Date.now() < end) {
		const v = await fn();
		if (v) return v;
		await new Promise((r) => setTimeout(r, 200));
	}
	assert.fail(`timed out waiting for ${what}`);
}

test("a notifier killed with SIGKILL mid-run loses no case and sends no message twice", async () => {
	const { objects, queues } = node.platform;
	const clientId = ((await node.broker.call("clients.create", { name: "delivery-it" })) as { id: string }).id;
	const key = `documents/${clientId}/it/letter.pdf`;
	await objects.put(key, Buffer.from("%PDF-1.4\n% test letter\n%%EOF\n"), { contentType: "application/pdf" });
	const now = new Date();
	const ids: string[] = [];
	for (let i = 0; i < N; i++) {
		const _id = caseIdOf(clientId, `L-${i}`, "welcome-letter");
		ids.push(_id);
		const c: CaseDoc = {
			_id,
			clientId,
			loanKey: `L-${i}`,
			documentType: "welcome-letter",
			template: "welcome-letter",
			recordId: `r${i}`,
			dueDate: "2026-11-20",
			language: "en",
			recipient: { name: "Asha", phone: `+9198765${String(10000 + i).padStart(5, "0")}`, email: `a${i}@example.com`, language: "en" },
			status: "pending",
			runId: "run-it",
			runIds: ["run-it"],
			try: 1,
			createdAt: now,
			updatedAt: now
		};
		await ds.cases.insert(c);
	}
	const first = await spawnNode({ ...common, SERVICES: "notifier", NODE_ID: `notifier1-${namespace}` });
	children.push(first);
	for (const id of ids) {
		await queues.publish(QUEUES.casesRendered, { caseId: id, clientId, documentId: "doc-it", key, pages: 1, bytes: 30, template: "welcome-letter", language: "en" }, { key: `${id}:rendered` });
	}
	// kill it while messages are out and their callbacks pending
	await until("the first sends", async () => (await ds.outbox.count({})) >= 15);
	first.child.kill("SIGKILL");
	await new Promise<void>((r) => (first.child.exitCode !== null || first.child.signalCode !== null ? r() : first.child.once("exit", () => r())));
	const atKill = await ds.outbox.count({});
	const stuck = await ds.attempts.count({ query: { open: true } });
	assert.ok(atKill < N * 2, `killed mid-run (${atKill} messages out)`);
	assert.ok(stuck > 0, "attempts were in flight when it died");
	const second = await spawnNode({ ...common, SERVICES: "notifier", NODE_ID: `notifier2-${namespace}` });
	children.push(second);
	const final = ["delivered", "sent", "failed"];
	await until("every case final", async () => (await ds.cases.count({ query: { _id: { $in: ids }, status: { $in: final } } })) === N, 120_000);
	const cases = (await ds.cases.find({ query: { _id: { $in: ids } } })) as CaseDoc[];
	assert.equal(cases.length, N, "no case lost");
	assert.equal(cases.filter((c) => c.status === "delivered").length, N, "every case delivered (on WhatsApp, or RCS after a lost callback)");
	// one provider call per attempt, whatever died when
	const outbox = (await ds.outbox.find({ query: { caseId: { $in: ids } }, limit: 10_000 })) as unknown as { attemptId: string }[];
	const perAttempt = new Map<string, number>();
	for (const o of outbox) perAttempt.set(o.attemptId, (perAttempt.get(o.attemptId) ?? 0) + 1);
	const twice = [...perAttempt].filter(([, n]) => n > 1);
	assert.deepEqual(twice, [], "no attempt sent twice");
	// an attempt is written before its provider is called: one written by the notifier that died, just before the call,
	// was never sent (and never will be: its deadline moved the case on), so only attempts in flight at the kill may
	// lack their one send
	const attempts = await ds.attempts.count({ query: { caseId: { $in: ids } } });
	const unsent = attempts - perAttempt.size;
	assert.ok(unsent >= 0 && unsent <= stuck, `every attempt called its provider at most once, and only attempts in flight at the kill missed it (${unsent} unsent, ${stuck} in flight)`);
	assert.ok(cases.some((c) => c.channel === "rcs"), "attempts whose callbacks died with the notifier timed out to RCS");
	await second.stop();
});

test("two scheduler nodes firing on the same cron make one run per slot", async () => {
	// a cron every 2 seconds: both nodes fire within each minute's slot, again and again; one run per slot
	const env = { ...common, SCHEDULER_CRON: "*/2 * * * * *", SCHEDULER_TZ: "UTC" };
	const s1 = await spawnNode({ ...env, SERVICES: "scheduler", NODE_ID: `sched1-${namespace}` });
	children.push(s1);
	const s2 = await spawnNode({ ...env, SERVICES: "scheduler", NODE_ID: `sched2-${namespace}` });
	children.push(s2);
	await new Promise((r) => setTimeout(r, 6000));
	await Promise.all([s1.stop(), s2.stop()]);
	const runs = (await ds.runs.find({ query: { kind: "scheduled" } })) as RunDoc[];
	assert.ok(runs.length >= 1, "the cron fired");
	const slots = runs.map((r) => String(r.slot));
	assert.equal(new Set(slots).size, slots.length, `one run per slot: ${slots.join(", ")}`);
	assert.ok(runs.length <= 2, "at most the minutes the test spanned");
});

test("two notifier nodes share each provider's rate limit, and the one left takes it whole", async () => {
	// Twilio configured (never called here) with 100 calls a second for the platform
	const env = { ...common, SERVICES: "notifier", TWILIO_API_URL: "http://127.0.0.1:9", TWILIO_ACCOUNT_SID: "ACrate", TWILIO_AUTH_TOKEN: "rate-token", TWILIO_FROM: "+15550000000", TWILIO_RATE_PER_S: "100" };
	const n1 = await spawnNode({ ...env, NODE_ID: `rate1-${namespace}` });
	children.push(n1);
	const n2 = await spawnNode({ ...env, NODE_ID: `rate2-${namespace}` });
	children.push(n2);
	type Answer = Record<string, { ratePerSecond?: number; notifierNodes?: number }>;
	// undefined until this node has discovered the notifier
	const sms = async (nodeID: string) => ((await node.broker.call("notifier.providers", {}, { nodeID }).catch(() => undefined)) as Answer | undefined)?.sms ?? {};
	const both = await until("both notifiers at half the rate", async () => {
		const [a, b] = await Promise.all([sms(`rate1-${namespace}`), sms(`rate2-${namespace}`)]);
		return a.ratePerSecond === 50 && b.ratePerSecond === 50 ? [a, b] : undefined;
	}, 30_000);
	assert.deepEqual(both.map((s) => s.notifierNodes), [2, 2]);
	await n2.stop();
	const alone = await until("the one left at the whole rate", async () => {
		const a = await sms(`rate1-${namespace}`);
		return a.ratePerSecond === 100 ? a : undefined;
	}, 30_000);
	assert.equal(alone.notifierNodes, 1);
	await n1.stop();
});

/**
 * A messaging provider's circuit breaker in the node's health: a node whose WhatsApp points at a local server that
 * fails every call opens the circuit after the configured failures; GET /health then shows the providers dependency
 * degraded (200, not 503: the node still works, its cases fall back), the circuit open since when and why (no
 * secret), the REPL's `health` shows it too, and readiness is not affected.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { startTestNode, http as call, bearer, freePort, type TestNode } from "../helpers/node.ts";
import { replCommands } from "../../lib/repl-commands.ts";
import { deliveryStore } from "../../lib/delivery/store.ts";
import { caseIdOf } from "../../lib/delivery/notifier.ts";
import { QUEUES } from "../../config/queues.ts";
import type { HealthReport } from "../../lib/health.ts";
import type { CaseDoc } from "../../lib/delivery/types.ts";

const TOKEN = "wa-token-health-secret";
let node: TestNode;
let failing: http.Server;
let calls = 0;
let metricsPort = 0;

before(async () => {
	failing = http.createServer((req, res) => {
		req.resume();
		req.on("end", () => {
			calls++;
			res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: 131000, message: `internal error for ${TOKEN}` } }));
		});
	});
	await new Promise<void>((r) => failing.listen(0, "127.0.0.1", r));
	metricsPort = await freePort();
	node = await startTestNode(
		{
			METRICS_PORT: String(metricsPort),
			WHATSAPP_API_URL: `http://127.0.0.1:${(failing.address() as AddressInfo).port}`,
			WHATSAPP_PHONE_NUMBER_ID: "1098",
			WHATSAPP_TOKEN: TOKEN,
			WHATSAPP_APP_SECRET: "wa-app-secret-health",
			WHATSAPP_VERIFY_TOKEN: "wa-verify-health",
			PROVIDER_RETRIES: "0",
			PROVIDER_CIRCUIT_FAILURES: "1",
			PROVIDER_CIRCUIT_COOLDOWN_S: "600",
			SANDBOX_CALLBACK_DELAY_MS: "10"
		},
		["api", "clients", "notifier"]
	);
});
after(async () => {
	await node?.close();
	await new Promise<void>((r) => (failing.closeAllConnections(), failing.close(() => r())));
});

const health = () => call<HealthReport>(`${node.url}/health`);

test("an open provider circuit is shown in /health (degraded, not 503) and in the REPL; readiness is unaffected", async () => {
	const first = await health();
	assert.equal(first.status, 200);
	assert.equal(first.body.status, "ok");
	assert.equal(first.body.dependencies.providers, "up");
	assert.deepEqual(first.body.providers.map((p) => [p.channel, p.provider, p.state]), [["whatsapp", "whatsapp-cloud", "closed"]], "only real providers; the sandbox has no circuit");

	// one case over WhatsApp: the server fails it, the circuit opens (1 failure), the case falls back to the sandbox
	const client = (await node.broker.call("clients.create", { name: "health-co", delivery: { whatsapp: { templates: { en: { name: "welcome_letter", language: "en" } } } } })) as { id: string };
	const ds = await deliveryStore(node.platform.store);
	const now = new Date();
	const c: CaseDoc = {
		_id: caseIdOf(client.id, "L-H-1", "welcome-letter"),
		clientId: client.id,
		loanKey: "L-H-1",
		documentType: "welcome-letter",
		template: "welcome-letter",
		recordId: "r1",
		dueDate: "2026-11-30",
		language: "en",
		recipient: { name: "Asha", phone: "+919800012345", language: "en" },
		status: "pending",
		runId: "run-health",
		runIds: ["run-health"],
		try: 1,
		createdAt: now,
		updatedAt: now
	};
	await ds.cases.insert(c);
	const sentAt = Date.now();
	await node.platform.queues.publish(QUEUES.casesRendered, { caseId: c._id, clientId: client.id, documentId: "doc1", key: `documents/${client.id}/${c._id}/h.pdf`, pages: 1, bytes: 100, template: "welcome-letter", language: "en" });
	const until = Date.now() + 20_000;
	let report = first.body;
	let status = 200;
	while (Date.now() < until) {
		const r = await health();
		report = r.body;
		status = r.status;
		if (report.dependencies.providers === "degraded") break;
		await new Promise((res) => setTimeout(res, 100));
	}
	assert.equal(calls, 1);
	assert.equal(status, 200, "a degraded provider does not make the node unavailable");
	assert.equal(report.status, "degraded");
	assert.equal(report.dependencies.providers, "degraded");
	assert.equal(report.dependencies.store, "up");
	const wa = report.providers.find((p) => p.provider === "whatsapp-cloud");
	assert.ok(wa, JSON.stringify(report.providers));
	assert.equal(wa.state, "open");
	assert.equal(wa.node, node.broker.nodeID);
	assert.ok(wa.since && Date.parse(String(wa.since)) >= sentAt - 1000, `open since the failed call: ${String(wa.since)}`);
	assert.equal(wa.lastFailure?.reason, "HTTP 503");
	assert.equal(wa.ratePerSecond, 80, "the one notifier node keeps to the whole WHATSAPP_RATE_PER_S (default 80)");
	assert.equal(report.lastChange.providers?.seen, true, "this node saw the providers change");
	assert.doesNotMatch(JSON.stringify(report), new RegExp(TOKEN), "no secret in the public health");

	// the REPL: the node's row says degraded, the circuits table shows the open circuit and why
	const lines: string[] = [];
	const cmd = replCommands((l) => lines.push(l)).find((x) => x.command === "health");
	assert.ok(cmd);
	await cmd.action(node.broker, {});
	const out = lines.join("\n");
	assert.match(out, new RegExp(`${node.broker.nodeID} +degraded +up +up +up +up +up +degraded`));
	assert.match(out, /whatsapp +whatsapp-cloud +open +\S+ +1 +\S+ HTTP 503 +80\b/);

	// readiness does not depend on the providers
	assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status, 200);
	// the open circuit sends nothing more: the case went on to its next channel
	const caseNow = await call<{ status: string; attempts: { channel: string; status: string }[] }>(`${node.url}/cases/${c._id}`, { headers: bearer(node.operatorToken) });
	assert.equal(caseNow.body.attempts[0]?.channel, "whatsapp");
	assert.equal(caseNow.body.attempts[0]?.status, "failed");
	assert.equal(calls, 1);
});

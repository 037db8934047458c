import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, loadConfig } from "../../../../config/index.ts";
import { createProviders } from "../../../../lib/delivery/providers/index.ts";
import type { Metrics } from "../../../../lib/metrics.ts";
import type { AlertMetrics } from "../../../../lib/alerts/index.ts";
import type { ProviderMetrics } from "../../../../lib/delivery/providers/resilience.ts";
import { silent } from "./helpers.ts";

// lib/metrics.ts's Metrics is what the lead passes as deps.metrics (a compile-time check)
export const metricsFit = (m: Metrics): [ProviderMetrics, AlertMetrics] => [m, m];

const WA = { WHATSAPP_PHONE_NUMBER_ID: "1", WHATSAPP_TOKEN: "t", WHATSAPP_APP_SECRET: "s", WHATSAPP_VERIFY_TOKEN: "v" };
const RCS = { RCS_AGENT_ID: "a", RCS_CLIENT_TOKEN: "c", RCS_TOKEN: "t" };
const TW = { TWILIO_ACCOUNT_SID: "AC1", TWILIO_AUTH_TOKEN: "t", TWILIO_FROM: "+15005550006" };

test("no provider settings: an empty set (the sandbox serves every channel)", async () => {
	const set = createProviders(loadConfig({}), { logger: silent });
	assert.deepEqual([Object.keys(set.byChannel), Object.keys(set.callbacks)], [[], []]);
	await set.close();
});

test("every provider configured: one per channel and the callbacks keyed by webhook route", async () => {
	const config = loadConfig({ ...WA, ...RCS, ...TW, SMTP_URL: "smtp://127.0.0.1:2525" });
	assert.equal(config.providers.whatsapp?.apiUrl, "https://graph.facebook.com");
	assert.equal(config.providers.rcs?.apiUrl, "https://rcsbusinessmessaging.googleapis.com");
	assert.equal(config.providers.twilio?.apiUrl, "https://api.twilio.com");
	const set = createProviders(config, { logger: silent });
	assert.deepEqual(
		Object.fromEntries(Object.entries(set.byChannel).map(([c, p]) => [c, p.name])),
		{ whatsapp: "whatsapp-cloud", rcs: "google-rbm", sms: "twilio", email: "smtp" }
	);
	assert.deepEqual(Object.keys(set.callbacks).sort(), ["rcs", "twilio", "whatsapp"]);
	for (const p of Object.values(set.byChannel)) assert.deepEqual([p.circuit().state, p.circuit().failures, p.circuit().lastFailure], ["closed", 0, undefined]);
	await set.close();
});

test("a partial provider configuration stops start-up naming the missing variable", () => {
	const missing = (env: Record<string, string>): string | undefined => {
		try {
			loadConfig(env);
			return undefined;
		} catch (e) {
			return e instanceof ConfigError ? e.variable : String(e);
		}
	};
	assert.equal(missing({ ...WA, WHATSAPP_APP_SECRET: "" }), "WHATSAPP_APP_SECRET");
	assert.equal(missing({ WHATSAPP_TOKEN: "t" }), "WHATSAPP_PHONE_NUMBER_ID");
	assert.equal(missing({ TWILIO_ACCOUNT_SID: "AC1", TWILIO_AUTH_TOKEN: "t" }), "TWILIO_FROM");
	assert.equal(missing({ RCS_AGENT_ID: "a", RCS_TOKEN: "t" }), "RCS_CLIENT_TOKEN");
	assert.equal(missing({ WHATSAPP_API_URL: "graph.facebook.com" }), "WHATSAPP_API_URL");
	assert.equal(missing({ ...RCS, RCS_TOKEN: "", RCS_SERVICE_ACCOUNT_FILE: "/nonexistent.json" }), undefined);
	assert.throws(() => createProviders(loadConfig({ ...RCS, RCS_TOKEN: "", RCS_SERVICE_ACCOUNT_FILE: "/nonexistent.json" }), { logger: silent }), (e: unknown) => e instanceof ConfigError && e.variable === "RCS_SERVICE_ACCOUNT_FILE");
});

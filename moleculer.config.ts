/**
 * Moleculer broker options for a Paperwork node, built from the validated configuration.
 * - No TRANSPORTER: every service in one broker, no server needed (the embedded default).
 * - TRANSPORTER=amqp://...: the AMQP transporter on RabbitMQ with prefetch 100 and TCP noDelay (with the defaults,
 *   prefetch 1 and Nagle on, remote calls crawl at ~23/s; see docs/architecture.md), and the JSONExt serializer so
 *   Dates and Buffers survive the trip.
 * METRICS_PORT serves /metrics, and the liveness and readiness probes /healthz and /readyz (lib/probes.ts).
 * Logs go through our pino root (lib/log.ts), so every line carries the request/batch/case IDs of the work at hand.
 */
import type { BrokerOptions, Context, MetricRegistry, Middleware } from "moleculer";
import type { Logger } from "pino";
import type { Config } from "./config/index.ts";
import { defaultNodeID } from "./config/index.ts";
import { withLogContext } from "./lib/log.ts";
import { ProbingPrometheusReporter } from "./lib/probes.ts";

interface IdParams {
	batchId?: unknown;
	caseId?: unknown;
	id?: unknown;
}

/** Runs every local action inside a log context holding its request ID (and batch/case/client IDs when present). */
export const LogContextMiddleware: Middleware = {
	name: "LogContext",
	localAction(next: (ctx: Context) => Promise<unknown>) {
		return (ctx: Context) => {
			const p = (ctx.params ?? {}) as IdParams;
			const auth = (ctx.meta as { auth?: { kind: string; clientId?: string } } | undefined)?.auth;
			return withLogContext(
				{
					requestId: ctx.requestID ?? undefined,
					batchId: typeof p.batchId === "string" ? p.batchId : undefined,
					caseId: typeof p.caseId === "string" ? p.caseId : undefined,
					clientId: auth?.kind === "client" ? auth.clientId : undefined
				},
				() => next(ctx)
			);
		};
	}
} as Middleware;

type MetricsReporter = MetricRegistry.MetricsReporter;

/** socketOptions is passed to amqplib's connect (the typings omit it). */
type AmqpOptions = NonNullable<Extract<NonNullable<BrokerOptions["transporter"]>, { type: "AMQP" }>["options"]>;

function amqpOptions(url: string): AmqpOptions {
	// DESIGN facts: prefetch 1 + Nagle = 23 calls/s at concurrency 100; prefetch 100 + noDelay give ~11,500/s
	const options: AmqpOptions & { socketOptions: { noDelay: boolean } } = { url, prefetch: 100, socketOptions: { noDelay: true } };
	return options;
}

export function brokerOptions(config: Config, logger: Logger, hooks: { stopped?: () => Promise<void> } = {}): BrokerOptions {
	return {
		namespace: config.namespace,
		nodeID: config.nodeID ?? defaultNodeID(),
		transporter: config.transporter
			? {
					type: "AMQP",
					options: amqpOptions(config.transporter)
				}
			: null,
		serializer: "JSONExt",
		requestTimeout: 60_000,
		retryPolicy: { enabled: false },
		maxCallLevel: 50,
		heartbeatInterval: 5,
		heartbeatTimeout: 15,
		tracking: { enabled: true, shutdownTimeout: config.shutdownTimeoutMs },
		registry: { strategy: "RoundRobin", preferLocal: true },
		logger: {
			type: "Pino",
			options: {
				level: config.log.level,
				createLogger: (level: string, bindings: Record<string, unknown>) =>
					logger.child({ node: bindings.nodeID, svc: bindings.svc ?? bindings.mod }, { level })
			}
		},
		metrics: {
			enabled: config.metricsPort > 0,
			// Moleculer's Prometheus reporter plus GET /healthz and /readyz (lib/probes.ts): every node answers probes
			// (Moleculer accepts a reporter instance; its typings list only the built-in names, hence the cast)
			reporter: config.metricsPort > 0 ? [new ProbingPrometheusReporter({ port: config.metricsPort, path: "/metrics", defaultLabels: (registry) => ({ namespace: registry.broker.namespace, nodeID: registry.broker.nodeID }) }) as unknown as MetricsReporter] : []
		},
		validator: true,
		middlewares: [LogContextMiddleware],
		stopped: hooks.stopped
	};
}

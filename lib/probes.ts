/**
 * Liveness and readiness probes on the metrics port (METRICS_PORT), next to /metrics, so that every node answers
 * Kubernetes whether or not it runs the HTTP api:
 * - GET /healthz: 200 while the process serves HTTP (its event loop turns). It checks no dependency on purpose: a
 *   RabbitMQ or store outage must not make Kubernetes restart every pod; readiness covers it.
 * - GET /readyz: 200 when the node is ready (lib/health.ts checkReadiness: broker started, store reachable, queues
 *   and transporter connected, every bound queue consumed), else 503 with the reasons. Both answer JSON.
 * It is Moleculer's Prometheus reporter with these two paths added, so one port serves all three.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { MetricReporters, type ServiceBroker } from "moleculer";
import { checkReadiness, boundQueues } from "./health.ts";
import { getPlatform } from "./platform.ts";

type PrometheusOptions = ConstructorParameters<typeof MetricReporters.Prometheus>[0];

function send(res: ServerResponse, status: number, body: unknown): void {
	res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" });
	res.end(JSON.stringify(body));
}

/** Readiness of the broker's node (used by /readyz; also callable from tests). */
export function nodeReadiness(broker: ServiceBroker): ReturnType<typeof checkReadiness> {
	const transit = broker.transit as { connected: boolean } | undefined;
	return checkReadiness({
		platform: getPlatform(),
		node: broker.nodeID,
		broker,
		transporter: transit ?? null,
		expectedQueues: boundQueues(broker.services)
	});
}

export class ProbingPrometheusReporter extends MetricReporters.Prometheus {
	constructor(opts?: PrometheusOptions) {
		super(opts);
	}

	override handler(req: IncomingMessage, res: ServerResponse): void {
		const url = (req.url ?? "").split("?")[0];
		if (url === "/healthz") {
			send(res, 200, { status: "alive", node: this.registry.broker.nodeID, uptimeSeconds: Math.round(process.uptime()) });
			return;
		}
		if (url === "/readyz") {
			nodeReadiness(this.registry.broker).then(
				(r) => send(res, r.ready ? 200 : 503, r),
				(err: unknown) => send(res, 503, { ready: false, reasons: [err instanceof Error ? err.message : String(err)] })
			);
			return;
		}
		super.handler(req, res);
	}
}

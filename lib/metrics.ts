/**
 * The pipeline's own Prometheus metrics, registered on Moleculer's metrics registry (served on METRICS_PORT).
 * Calls are no-ops when metrics are disabled (METRICS_PORT=0), so services use them unconditionally.
 */
import type { ServiceBroker } from "moleculer";

type Labels = Record<string, string>;

interface Registry {
	register(def: { name: string; type: string; labelNames?: readonly string[]; description?: string; unit?: string; buckets?: readonly number[] }): unknown;
	getMetric(name: string): unknown;
	increment(name: string, labels?: Labels, value?: number): void;
	observe(name: string, value: number, labels?: Labels): void;
	set(name: string, value: number, labels?: Labels): void;
}

const DEFINITIONS = [
	{ name: "paperwork_rows_received_total", type: "counter", labelNames: ["client", "kind"], description: "Data rows received by the etl" },
	{ name: "paperwork_rows_rejected_total", type: "counter", labelNames: ["client", "kind"], description: "Rows rejected (validation or duplicate key)" },
	{ name: "paperwork_rows_registered_total", type: "counter", labelNames: ["client", "kind", "outcome"], description: "Rows registered, by outcome (inserted, updated, unchanged)" },
	{ name: "paperwork_batches_finished_total", type: "counter", labelNames: ["client", "status"], description: "Batches finished, by status" },
	{ name: "paperwork_batch_duration_seconds", type: "histogram", labelNames: ["kind"], description: "Time from receiving a batch to its end", buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600] },
	{ name: "paperwork_thread_cpu_seconds_total", type: "counter", labelNames: ["pool"], description: "CPU time used by a pool of worker threads (parse: the etl's, register: the registry's write thread)" },
	{ name: "paperwork_chunk_stage_seconds", type: "histogram", labelNames: ["stage"], description: "Time one chunk spends in a stage (split, etl, registry)", buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30] },
	{ name: "paperwork_documents_total", type: "counter", labelNames: ["template", "result"], description: "Documents rendered or reused" },
	{ name: "paperwork_render_seconds", type: "histogram", labelNames: ["engine"], description: "Time to render one document", buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30] },
	{ name: "paperwork_cases", type: "gauge", labelNames: ["status"], description: "Delivery cases by status (counted in the store by the scheduler)" },
	{ name: "paperwork_cases_finished_total", type: "counter", labelNames: ["status", "channel"], description: "Cases that reached a final status (delivered, sent, dispatched, failed), by the channel of their last attempt" },
	{ name: "paperwork_delivery_attempts_total", type: "counter", labelNames: ["channel", "provider", "outcome"], description: "Delivery attempts by channel, provider and outcome (accepted, refused, failed, timeout)" },
	{ name: "paperwork_delivery_callbacks_total", type: "counter", labelNames: ["provider", "result"], description: "Provider status events: applied, duplicate (did not move the status), unknown message, rejected" },
	{ name: "paperwork_delivery_seconds", type: "histogram", labelNames: ["channel"], description: "Time from an attempt's send to its delivered status", buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600] },
	{ name: "paperwork_dispatch_runs_total", type: "counter", labelNames: ["kind", "status"], description: "Dispatch runs started (status running) and ended (completed, failed)" },
	{ name: "paperwork_provider_circuit_open", type: "gauge", labelNames: ["channel", "provider"], description: "1 while a provider's circuit breaker is open" },
	{ name: "paperwork_provider_calls_total", type: "counter", labelNames: ["provider", "outcome"], description: "Sends to a messaging provider, by outcome (sent, rejected, failed, circuit_open)" },
	{ name: "paperwork_provider_circuit_state", type: "gauge", labelNames: ["provider"], description: "A provider's circuit breaker: 0 closed, 1 half-open, 2 open" },
	{ name: "paperwork_alerts_total", type: "counter", labelNames: ["kind", "outcome"], description: "Operator alerts raised, by kind and outcome (mailed, held, logged, mail_failed)" },
	{ name: "paperwork_intake_received_total", type: "counter", labelNames: ["source", "kind"], description: "Documents intake accepted, by source (upload, link, email, inbox) and kind (pdf, png, jpeg, tiff)" },
	{ name: "paperwork_intake_finished_total", type: "counter", labelNames: ["status"], description: "Documents read, by status (COMPLETED, NEEDS_REVIEW, FAILED)" },
	{ name: "paperwork_intake_pages_total", type: "counter", labelNames: ["source"], description: "Pages read, by source (layer, ocr, none)" },
	{ name: "paperwork_intake_text_layers_total", type: "counter", labelNames: ["reader"], description: "PDF text layers read, by reader (pdf-text: the long-lived workers; pdftotext: a process a document, when the workers are not built or could not read the file)" },
	{ name: "paperwork_intake_read_seconds", type: "histogram", labelNames: ["kind"], description: "Time the reader spends on one document", buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120] }
] as const;

export class Metrics {
	private readonly registry: Registry | null;
	constructor(broker: ServiceBroker) {
		const enabled = broker.isMetricsEnabled();
		this.registry = enabled ? (broker.metrics as unknown as Registry) : null;
		if (!this.registry) return;
		for (const def of DEFINITIONS) if (!this.registry.getMetric(def.name)) this.registry.register(def);
	}
	inc(name: (typeof DEFINITIONS)[number]["name"], labels: Labels, value = 1): void {
		if (value > 0) this.registry?.increment(name, labels, value);
	}
	observe(name: (typeof DEFINITIONS)[number]["name"], value: number, labels: Labels): void {
		this.registry?.observe(name, value, labels);
	}
	/** sets a gauge */
	set(name: (typeof DEFINITIONS)[number]["name"], value: number, labels: Labels): void {
		this.registry?.set(name, value, labels);
	}
}

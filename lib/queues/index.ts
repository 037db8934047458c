/**
 * Picks the queue backend from the configuration: RabbitMQ (quorum queues, publisher confirms) when AMQP_URL is set
 * (or TRANSPORTER is AMQP), else the in-process backend of the embedded mode. Defaults for retries, retry delay and
 * prefetch come from config.queues. On RabbitMQ, queue names carry the NAMESPACE (see namespaced.ts), and with
 * RABBITMQ_MANAGEMENT_URL stats() adds the management API's counters (see management.ts).
 */
import type { Logger } from "pino";
import { defaultNodeID, type Config } from "../../config/index.ts";
import type { QueueBackend } from "./types.ts";
import { MemoryQueueBackend } from "./memory.ts";
import { RabbitQueueBackend } from "./rabbitmq.ts";
import { namespaced } from "./namespaced.ts";

export type { QueueBackend } from "./types.ts";
export { MemoryQueueBackend } from "./memory.ts";
export { RabbitQueueBackend } from "./rabbitmq.ts";

export function createQueueBackend(config: Config, logger: Logger): QueueBackend {
	const defaults = { ...config.queues };
	if (config.amqpUrl) {
		const node = config.nodeID ?? defaultNodeID();
		return namespaced(new RabbitQueueBackend({ url: config.amqpUrl, defaults, logger, connectionName: `${config.namespace}:queues:${node}`, managementUrl: config.rabbitmqManagementUrl }), config.namespace);
	}
	return new MemoryQueueBackend(defaults, logger);
}

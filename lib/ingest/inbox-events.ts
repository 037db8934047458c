/**
 * MinIO bucket notifications on RabbitMQ: MinIO publishes an S3 event to the exchange `minio.events` (routing key
 * `inbox`, see docker/docker-compose.yml) whenever an object is put under inbox/. This consumer binds a durable
 * queue to it and calls `onObject(key)` per event, so a dropped file is picked up at once instead of at the next
 * poll. Events carry no work of their own (the scan decides), so losing one only delays a file to the next poll.
 */
import { Connection } from "rabbitmq-client";
import type { Logger } from "pino";

export const INBOX_EXCHANGE = "minio.events";
export const INBOX_ROUTING_KEY = "inbox";
export const INBOX_EVENTS_QUEUE = "inbox.events";

interface S3Event {
	Records?: { eventName?: string; s3?: { object?: { key?: string } } }[];
	Key?: string;
}

/** Object keys named by a MinIO/S3 event body (keys are URL-encoded in S3 events). */
export function eventKeys(body: unknown): string[] {
	const ev = (typeof body === "string" ? JSON.parse(body) : body) as S3Event;
	const keys = (ev.Records ?? []).map((r) => r.s3?.object?.key).filter((k): k is string => typeof k === "string");
	return keys.map((k) => decodeURIComponent(k.replace(/\+/g, " ")));
}

export interface InboxEvents {
	close(): Promise<void>;
}

export async function listenInboxEvents(url: string, logger: Logger, onObject: (key: string) => void, names = { exchange: INBOX_EXCHANGE, routingKey: INBOX_ROUTING_KEY, queue: INBOX_EVENTS_QUEUE }): Promise<InboxEvents> {
	const conn = new Connection({ url, connectionName: `paperwork-inbox:${process.pid}`, retryLow: 250, retryHigh: 5000 });
	conn.on("error", (err: unknown) => logger.warn({ err: (err as Error).message }, "inbox events connection error"));
	const consumer = conn.createConsumer(
		{
			queue: names.queue,
			queueOptions: { durable: true, arguments: { "x-queue-type": "quorum" } },
			exchanges: [{ exchange: names.exchange, type: "direct", durable: true }],
			queueBindings: [{ exchange: names.exchange, routingKey: names.routingKey }],
			qos: { prefetchCount: 50 }
		},
		(msg) => {
			try {
				for (const key of eventKeys(msg.body)) onObject(key);
			} catch (err) {
				logger.warn({ err: (err as Error).message }, "unreadable inbox event dropped");
			}
		}
	);
	await new Promise<void>((resolve) => consumer.once("ready", () => resolve()));
	return {
		async close() {
			await consumer.close();
			await conn.close();
		}
	};
}

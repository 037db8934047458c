/**
 * The public HTTP API: every route, the action it calls and who may call it, in one table. The api gateway builds
 * its aliases from it, checks access with it, and the OpenAPI document is generated from it and the actions' params.
 * A capability adds its rows here.
 */
import type { Access } from "./auth.ts";

export interface RouteSpec {
	method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
	/** path under /api/v1, path-to-regexp 8 syntax (":id") */
	path: string;
	action: string;
	access: Access;
	summary: string;
	tag: string;
	/** how the body arrives: JSON (default), or a raw stream (uploads) */
	body?: "json" | "stream";
	/** success status when not 200 */
	status?: number;
}

export const ROUTES: RouteSpec[] = [
	{ method: "GET", path: "/health", action: "ops.health", access: "public", summary: "Health of this node and of each dependency (200 or 503)", tag: "operations" },
	{ method: "GET", path: "/openapi.json", action: "api.openapi", access: "public", summary: "This OpenAPI document", tag: "operations" },
	{ method: "GET", path: "/objects/*key", action: "api.object", access: "public", summary: "Reads an object through a signed, time-limited link", tag: "operations" },

	{ method: "POST", path: "/clients", action: "clients.create", access: "admin", summary: "Creates a client and returns its first API key (shown once)", tag: "clients", status: 201 },
	{ method: "GET", path: "/clients", action: "clients.list", access: "admin", summary: "Lists clients", tag: "clients" },
	{ method: "GET", path: "/clients/:id", action: "clients.get", access: "self-or-admin", summary: "Reads a client (a client may read only its own record)", tag: "clients" },
	{ method: "PATCH", path: "/clients/:id", action: "clients.update", access: "admin", summary: "Changes a client's name, format, webhook or email", tag: "clients" },
	{ method: "POST", path: "/clients/:id/keys", action: "clients.createKey", access: "admin", summary: "Issues another API key for a client (shown once)", tag: "clients", status: 201 },
	{ method: "DELETE", path: "/clients/:id/keys/:keyId", action: "clients.revokeKey", access: "admin", summary: "Revokes an API key", tag: "clients" },

	{ method: "POST", path: "/uploads", action: "ingest.upload", access: "client", summary: "Uploads a CSV or XLSX file (raw body, or multipart field \"file\"); ?kind=debt|loan", tag: "ingestion", body: "stream", status: 202 },
	{ method: "POST", path: "/batches", action: "ingest.createBatch", access: "client", summary: "Opens a REST batch of a kind: {kind}", tag: "ingestion", status: 201 },
	{ method: "GET", path: "/batches", action: "batches.list", access: "client", summary: "Lists your batches, newest first (?status=&limit=&offset=)", tag: "ingestion" },
	{ method: "GET", path: "/batches/:id", action: "batches.get", access: "client", summary: "A batch: status, counts, chunks, error", tag: "ingestion" },
	{ method: "POST", path: "/batches/:id/records", action: "ingest.addRecords", access: "client", summary: "Adds rows to an OPEN batch: a JSON array of objects, at most 10,000 per call", tag: "ingestion", status: 202 },
	{ method: "POST", path: "/batches/:id/submit", action: "ingest.submit", access: "client", summary: "Closes a REST batch and starts processing it", tag: "ingestion", status: 202 },
	{ method: "GET", path: "/batches/:id/rejections", action: "batches.rejections", access: "client", summary: "Rejected rows with line, field, code and message (?format=json|csv)", tag: "ingestion" },
	{ method: "GET", path: "/records", action: "registry.search", access: "client", summary: "Searches your registered records (?kind=&contract_id=&loan_id=&cpf=&q=&limit=&offset=)", tag: "records" },
	{ method: "GET", path: "/records/:id", action: "registry.getRecord", access: "client", summary: "One registered record with its version and previous values", tag: "records" },
	{ method: "POST", path: "/inbox/scan", action: "ingest.scanInbox", access: "operator", summary: "Scans the S3 inbox for new files now", tag: "operations" },

	{ method: "GET", path: "/queues", action: "ops.queues", access: "operator", summary: "Queue depths, consumers and dead letters", tag: "operations" },
	{ method: "GET", path: "/queues/:queue/dead-letters", action: "ops.dlqList", access: "operator", summary: "Lists a queue's dead letters", tag: "operations" },
	{ method: "POST", path: "/queues/:queue/dead-letters/replay", action: "ops.dlqReplay", access: "admin", summary: "Puts dead letters back on their queue", tag: "operations" },
	{ method: "DELETE", path: "/queues/:queue/dead-letters", action: "ops.dlqPurge", access: "admin", summary: "Drops a queue's dead letters", tag: "operations" },

	{ method: "POST", path: "/documents", action: "renderer.render", access: "client", summary: "Renders a document (template + language + data, or template + recordId) to PDF, once: the same request returns the stored document", tag: "documents", status: 201 },
	{ method: "GET", path: "/documents/:id", action: "renderer.document", access: "client", summary: "Reads a document's metadata and a signed, time-limited link to its PDF", tag: "documents" },
	{ method: "GET", path: "/documents/:id/pdf", action: "renderer.pdf", access: "client", summary: "Streams a document's PDF", tag: "documents" },

	{ method: "POST", path: "/dispatch/runs", action: "scheduler.createRun", access: "operator", summary: "Starts a dispatch run for loans disbursed in a date window: {from, to, includePending, clientId?} (202)", tag: "delivery", status: 202 },
	{ method: "GET", path: "/dispatch/runs", action: "scheduler.listRuns", access: "operator", summary: "Dispatch runs, newest first, with live counts by case status and channel", tag: "delivery" },
	{ method: "GET", path: "/dispatch/runs/:id", action: "scheduler.getRun", access: "operator", summary: "One dispatch run: status and live counts by case status and channel", tag: "delivery" },
	{ method: "GET", path: "/cases", action: "notifier.listCases", access: "client", summary: "Your delivery cases (?status=&channel=&loan_id=&runId=&from=&to=&limit=&offset=; from/to are creation dates)", tag: "delivery" },
	{ method: "GET", path: "/cases/:id", action: "notifier.getCase", access: "client", summary: "One case with every attempt (channel, provider, message ID, status history, failure) and status event", tag: "delivery" },
	{ method: "POST", path: "/courier/uploads", action: "notifier.courierUpload", access: "client", summary: "Records courier dispatches from an XLSX sheet (loan_id or case_id, courier, tracking_number, dispatched_on, delivered_on?): all rows or none", tag: "delivery", body: "stream" },
	{ method: "GET", path: "/webhooks/:provider", action: "notifier.webhook", access: "public", summary: "A provider's webhook verification (WhatsApp hub.challenge)", tag: "delivery", body: "stream" },
	{ method: "POST", path: "/webhooks/:provider", action: "notifier.webhook", access: "public", summary: "A provider's signed status callback (whatsapp, rcs, twilio); a bad signature is refused and changes nothing", tag: "delivery", body: "stream" },
	{ method: "GET", path: "/sandbox/outbox", action: "notifier.outbox", access: "operator", summary: "What the sandbox provider would have sent (?caseId=&attemptId=&channel=&limit=&offset=)", tag: "delivery" }
];

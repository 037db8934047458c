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
	{ method: "GET", path: "/clients", action: "clients.list", access: "operator", summary: "Lists clients", tag: "clients" },
	{ method: "GET", path: "/clients/:id", action: "clients.get", access: "self-or-operator", summary: "Reads a client (a client may read only its own record; operators any)", tag: "clients" },
	{ method: "PATCH", path: "/clients/:id", action: "clients.update", access: "admin", summary: "Changes a client's name, format, webhook or email", tag: "clients" },
	{ method: "POST", path: "/clients/:id/keys", action: "clients.createKey", access: "admin", summary: "Issues another API key for a client (shown once)", tag: "clients", status: 201 },
	{ method: "GET", path: "/clients/:id/keys", action: "clients.listKeys", access: "admin", summary: "Lists a client's API keys (IDs and dates only)", tag: "clients" },
	{ method: "DELETE", path: "/clients/:id/keys/:keyId", action: "clients.revokeKey", access: "admin", summary: "Revokes an API key", tag: "clients" },

	{ method: "POST", path: "/uploads", action: "ingest.upload", access: "client-or-operator", summary: "Uploads a CSV or XLSX file (raw body, or multipart field \"file\"); ?kind=debt|loan|repayment; an operator uploads on a client's behalf with ?clientId=", tag: "ingestion", body: "stream", status: 202 },
	{ method: "POST", path: "/batches", action: "ingest.createBatch", access: "client", summary: "Opens a REST batch of a kind: {kind}", tag: "ingestion", status: 201 },
	{ method: "GET", path: "/batches", action: "batches.list", access: "client-or-operator", summary: "Lists batches, newest first (?status=&kind=&source=&file=&from=&to=&sort=&limit=&offset=); operators: every client's, or ?clientId=", tag: "ingestion" },
	{ method: "GET", path: "/batches/:id", action: "batches.get", access: "client-or-operator", summary: "A batch: status, counts, chunks, error", tag: "ingestion" },
	{ method: "POST", path: "/batches/:id/records", action: "ingest.addRecords", access: "client", summary: "Adds rows to an OPEN batch: a JSON array of objects, at most 10,000 per call", tag: "ingestion", status: 202 },
	{ method: "POST", path: "/batches/:id/submit", action: "ingest.submit", access: "client", summary: "Closes a REST batch and starts processing it", tag: "ingestion", status: 202 },
	{ method: "GET", path: "/batches/:id/rejections", action: "batches.rejections", access: "client-or-operator", summary: "Rejected rows with line, field, code and message (?format=json|csv, ?code=, ?codes=true counts them by code)", tag: "ingestion" },
	{ method: "GET", path: "/records", action: "registry.search", access: "client-or-operator", summary: "Searches registered records (?kind=&contract_id=&loan_id=&cpf=&phone=&email=&batchId=&q=&limit=&offset=); operators: every client's, or ?clientId=", tag: "records" },
	{ method: "GET", path: "/records/:id", action: "registry.getRecord", access: "client-or-operator", summary: "One registered record with its version and previous values", tag: "records" },
	{ method: "POST", path: "/inbox/scan", action: "ingest.scanInbox", access: "operator", summary: "Scans the S3 inbox for new files now", tag: "operations" },

	{ method: "GET", path: "/queues", action: "ops.queues", access: "operator", summary: "Queue depths, consumers and dead letters", tag: "operations" },
	{ method: "GET", path: "/queues/:queue/dead-letters", action: "ops.dlqList", access: "operator", summary: "Lists a queue's dead letters (?error= filters by error text, ?limit=)", tag: "operations" },
	{ method: "POST", path: "/queues/:queue/dead-letters/replay", action: "ops.dlqReplay", access: "operator", summary: "Puts dead letters back on their queue: {ids}, or those whose error contains {error}, or the {first} N (audited)", tag: "operations" },
	{ method: "DELETE", path: "/queues/:queue/dead-letters", action: "ops.dlqPurge", access: "admin", summary: "Drops a queue's dead letters (audited)", tag: "operations" },

	{ method: "POST", path: "/documents", action: "renderer.render", access: "client", summary: "Renders a document (template + language + data, or template + recordId) to PDF, once: the same request returns the stored document", tag: "documents", status: 201 },
	{ method: "GET", path: "/documents", action: "renderer.list", access: "client-or-operator", summary: "Lists documents, newest first (?recordId=&template=&limit=&offset=); operators: every client's, or ?clientId=", tag: "documents" },
	{ method: "GET", path: "/documents/:id", action: "renderer.document", access: "client-or-operator", summary: "Reads a document's metadata and a signed, time-limited link to its PDF", tag: "documents" },
	{ method: "GET", path: "/documents/:id/pdf", action: "renderer.pdf", access: "client-or-operator", summary: "Streams a document's PDF", tag: "documents" },

	{ method: "GET", path: "/passbooks", action: "billing.searchPassbooks", access: "client-or-operator", summary: "Searches the loans' passbooks as of their last billing run (?q=&status=overdue|current|closed&loan_id=&minArrears=&maxArrears=&dueFrom=&dueTo=&sort=&limit=&offset=), most arrears first; operators: every client's, or ?clientId=", tag: "billing" },
	{ method: "GET", path: "/loans/:loan_id/passbook", action: "billing.passbook", access: "client-or-operator", summary: "A loan's passbook: its EMI schedule falling due, penalties and repayments applied, as of a date (?asOf=YYYY-MM-DD); operators: ?clientId=, needed only when the loan ID is registered for several clients", tag: "billing" },
	{ method: "GET", path: "/refunds", action: "billing.refunds", access: "client-or-operator", summary: "Refund requests for suspected duplicate repayments, oldest first (?status=requested|confirmed|rejected|timed_out|withdrawn|open&loan_id=&limit=&offset=; open: requested or timed out); operators: every client's, or ?clientId=", tag: "billing" },
	{ method: "GET", path: "/refunds/:id", action: "billing.refund", access: "client-or-operator", summary: "One refund request with its history and its notice's delivery", tag: "billing" },
	{ method: "POST", path: "/refunds/:id/confirm", action: "billing.confirmRefund", access: "client", summary: "Confirms you refunded the borrower the duplicate payment: {note?}", tag: "billing" },
	{ method: "POST", path: "/refunds/:id/reject", action: "billing.rejectRefund", access: "client", summary: "Declines the refund: the payment becomes the borrower's credit; {note?}", tag: "billing" },
	{ method: "POST", path: "/billing/runs", action: "billing.startRun", access: "operator", summary: "Bills a client's active loans for a cycle: {clientId, cycleTo?, cycleFrom?, pdf?} (the same cycle again: the same run, resumed)", tag: "billing", status: 202 },
	{ method: "GET", path: "/billing/runs", action: "billing.listRuns", access: "operator", summary: "Billing runs, newest first (?clientId=&limit=&offset=)", tag: "billing" },
	{ method: "GET", path: "/billing/runs/:id", action: "billing.getRun", access: "operator", summary: "A billing run: status and live counts per step", tag: "billing" },
	{ method: "GET", path: "/billing/runs/:id/halted", action: "billing.halted", access: "operator", summary: "Loans halted in a run, with the step, the reason and the step's input (?step=&reason=&limit=&offset=; reason: a case-insensitive part of it)", tag: "billing" },
	{ method: "POST", path: "/billing/runs/:id/resume", action: "billing.resume", access: "operator", summary: "Resumes halted loans from the step they halted at: {step?, loanIds?}", tag: "billing" },

	{ method: "POST", path: "/auth/login", action: "operators.login", access: "public", summary: "Signs an operator in: {email, password} -> a short-lived access token and a refresh token (failures throttled: 429)", tag: "operators" },
	{ method: "POST", path: "/auth/refresh", action: "operators.refresh", access: "public", summary: "A new access token for a refresh token (which is used up: use the new one next time)", tag: "operators" },
	{ method: "POST", path: "/auth/logout", action: "operators.logout", access: "public", summary: "Ends a session: its refresh token stops working", tag: "operators" },
	{ method: "GET", path: "/auth/me", action: "operators.me", access: "operator", summary: "The operator the bearer token belongs to", tag: "operators" },
	{ method: "GET", path: "/operators", action: "operators.list", access: "admin", summary: "Lists operator accounts", tag: "operators" },
	{ method: "POST", path: "/operators", action: "operators.create", access: "admin", summary: "Creates an operator account {email, name, role, password} (audited)", tag: "operators", status: 201 },
	{ method: "PATCH", path: "/operators/:id", action: "operators.update", access: "admin", summary: "Changes an operator's name, role or password, or disables the account (audited)", tag: "operators" },
	{ method: "GET", path: "/audit", action: "audit.list", access: "operator", summary: "The audit log of operator actions, newest first (?actor=&action=&clientId=&from=&to=&limit=&offset=)", tag: "operators" },

	{ method: "POST", path: "/intake", action: "intake.submit", access: "client", summary: "Sends a document to read: a PDF, PNG, JPEG or TIFF as the raw body or multipart field \"file\", or JSON {url}; ?type=&reference=", tag: "intake", body: "stream", status: 202 },
	{ method: "GET", path: "/intake", action: "intake.list", access: "client-or-operator", summary: "Searches your documents, newest first (?q=&type=&status=&seller=&taxId=&from=&to=&minTotal=&maxTotal=&envelope=&limit=&offset=); operators: every client's, or ?clientId=", tag: "intake" },
	{ method: "GET", path: "/intake/stats", action: "intake.stats", access: "client-or-operator", summary: "Your documents per status and type, pages per source, mean OCR confidence; operators: every client's, or ?clientId=", tag: "intake" },
	{ method: "GET", path: "/intake/:id", action: "intake.get", access: "client-or-operator", summary: "A document: status, type, pages (source, OCR confidence), fields, checks, envelope, error", tag: "intake" },
	{ method: "GET", path: "/intake/:id/deliveries", action: "intake.deliveries", access: "client-or-operator", summary: "Every try to tell the client's webhook about the document (event, host, HTTP status, error, time), newest first", tag: "intake" },
	{ method: "POST", path: "/intake/:id/redeliver", action: "intake.redeliver", access: "operator", summary: "Sends the document's event to its client's webhook again, under the same delivery ID (audited)", tag: "intake", status: 202 },
	{ method: "GET", path: "/intake/:id/file", action: "intake.file", access: "client-or-operator", summary: "The original file as received", tag: "intake" },
	{ method: "GET", path: "/intake/:id/text", action: "intake.text", access: "client-or-operator", summary: "The text read from every page (form feed between pages)", tag: "intake" },
	{ method: "PATCH", path: "/intake/:id", action: "intake.correct", access: "client-or-operator", summary: "Corrects fields {fields: {name: value}} (old values kept) and completes the document (an operator's correction is audited)", tag: "intake" },

	{ method: "POST", path: "/dispatch/runs", action: "scheduler.createRun", access: "operator", summary: "Starts a dispatch run for loans disbursed in a date window: {from, to, includePending, clientId?} (202)", tag: "delivery", status: 202 },
	{ method: "GET", path: "/dispatch/runs", action: "scheduler.listRuns", access: "operator", summary: "Dispatch runs, newest first by default, with live counts by case status and channel (?clientId=&sort=startedAt|status|kind, - for descending&limit=&offset=) and their total", tag: "delivery" },
	{ method: "GET", path: "/dispatch/runs/:id", action: "scheduler.getRun", access: "operator", summary: "One dispatch run: status and live counts by case status and channel", tag: "delivery" },
	{ method: "GET", path: "/cases", action: "notifier.listCases", access: "client-or-operator", summary: "Delivery cases (?status=&channel=&loan_id=&runId=&from=&to=&limit=&offset=; from/to are creation dates); operators: every client's, or ?clientId=", tag: "delivery" },
	{ method: "GET", path: "/cases/:id", action: "notifier.getCase", access: "client-or-operator", summary: "One case with every attempt (channel, provider, message ID, status history, failure) and status event", tag: "delivery" },
	{ method: "POST", path: "/cases/:id/resend", action: "scheduler.resendCase", access: "operator", summary: "Sends an ended case again on its plan, reusing its stored PDF: a dispatch run of that one case (409 while a try is under way; audited)", tag: "delivery", status: 202 },
	{ method: "POST", path: "/courier/uploads", action: "notifier.courierUpload", access: "client", summary: "Records courier dispatches from an XLSX sheet (loan_id or case_id, courier, tracking_number, dispatched_on, delivered_on?): all rows or none", tag: "delivery", body: "stream" },
	{ method: "GET", path: "/webhooks/:provider", action: "notifier.webhook", access: "public", summary: "A provider's webhook verification (WhatsApp hub.challenge)", tag: "delivery", body: "stream" },
	{ method: "POST", path: "/webhooks/:provider", action: "api.webhook", access: "public", summary: "A provider's signed status callback (whatsapp, rcs, twilio); a bad signature is refused and changes nothing", tag: "delivery", body: "stream" },
	{ method: "GET", path: "/sandbox/outbox", action: "notifier.outbox", access: "operator", summary: "What the sandbox provider would have sent (?caseId=&attemptId=&channel=&limit=&offset=)", tag: "delivery" }
];

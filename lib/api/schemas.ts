/**
 * Response schemas of the public API, for the OpenAPI document: the shared shapes (components) and, per action, the
 * schema of its success answer. lib/api/openapi.ts adds them to each route; a test checks that every route has one
 * and that the document is valid OpenAPI 3.1, so that clients can generate SDKs from it.
 */
import { DELIVERY_COMPONENT_SCHEMAS, DELIVERY_RESPONSES } from "../delivery/schemas.ts";

type Schema = Record<string, unknown>;

const str = { type: "string" };
const int = { type: "integer" };
const bool = { type: "boolean" };
const date = { type: "string", format: "date-time" };
const nullable = (s: Schema): Schema => ({ anyOf: [s, { type: "null" }] });
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => ({ type: "object", properties, required });
/** a page of a list: {total, limit, offset, items} */
const page = (item: Schema, extra: Record<string, Schema> = {}): Schema => obj({ total: int, limit: int, offset: int, items: { type: "array", items: item }, ...extra }, ["total", "limit", "offset", "items"]);

/** an exact decimal amount, 2 decimals ("1020.07"; negative balances are credit) */
const money = { type: "string", pattern: "^-?\\d+\\.\\d{2}$" };

const counts = obj({ received: int, valid: int, rejected: int, skipped: int, inserted: int, updated: int, unchanged: int });

export const COMPONENT_SCHEMAS: Record<string, Schema> = {
	Client: obj(
		{ id: str, name: str, format: { type: "object" }, webhook: obj({ url: str, secretSet: bool }), email: str, charges: { type: "object" }, billing: obj({ statementDay: int }), createdAt: date, updatedAt: date },
		["id", "name", "createdAt", "updatedAt"]
	),
	IssuedKey: obj({ apiKey: { type: "string", description: "shown once" }, keyId: str }),
	KeyInfo: obj({ id: str, createdAt: date, revokedAt: nullable(date) }),
	Batch: obj(
		{
			id: str,
			clientId: str,
			kind: { enum: ["debt", "loan", "repayment"] },
			source: { enum: ["upload", "rest", "inbox"] },
			status: { enum: ["OPEN", "RECEIVED", "SPLITTING", "PROCESSING", "COMPLETED", "FAILED"] },
			file: obj({ name: str, size: int, type: str }),
			counts,
			chunks: obj({ total: int, done: int }),
			unknownColumns: { type: "array", items: str },
			createdAt: date,
			updatedAt: date,
			finishedAt: nullable(date),
			error: nullable(obj({ code: str, message: str }))
		},
		["id", "clientId", "kind", "source", "status", "counts", "chunks", "createdAt", "updatedAt", "finishedAt", "error"]
	),
	Rejection: obj({ line: int, field: str, code: str, message: str }),
	Record: obj(
		{ id: str, clientId: str, kind: { enum: ["debt", "loan", "repayment"] }, key: str, data: { type: "object" }, version: int, batchId: str, line: int, registeredAt: date, previous: { type: "object" } },
		["id", "clientId", "kind", "key", "data", "version", "batchId", "line", "registeredAt"]
	),
	Document: obj(
		{ id: str, clientId: str, template: str, language: str, pages: int, bytes: int, url: { type: "string", format: "uri" }, createdAt: date, reused: bool, caseId: str, recordId: str },
		["id", "clientId", "template", "language", "pages", "bytes", "url", "createdAt"]
	),
	QueueStats: obj(
		{ queue: str, ready: int, dead: int, consumers: int, published: { type: "integer", description: "messages put on the queue, counted since the in-process backend started or, on RabbitMQ, since the queue was declared (needs RABBITMQ_MANAGEMENT_URL; sampled every 5 s by the broker); rates come from differences between readings, a drop is a reset" }, settled: { type: "integer", description: "messages handled or dead-lettered (once each, whatever the attempts), counted like published" }, oldestAgeMs: { anyOf: [int, { type: "null" }], description: "age of the next message to be delivered, null when none waits; on RabbitMQ (needs RABBITMQ_MANAGEMENT_URL) only where the broker reports the head's timestamp (classic queues, not quorum queues), up to 5 s old" }, countersError: { type: "string", description: "why published, settled and oldestAgeMs are missing though configured (the RabbitMQ management API could not be read)" } },
		["queue", "ready", "dead", "consumers"]
	),
	DeadLetter: obj({ id: str, messageId: str, queue: str, payload: {}, attempts: int, error: str, failedAt: date, headers: { type: "object", additionalProperties: str } }),
	Operator: obj({ id: str, email: str, name: str, role: { enum: ["operator", "admin"] }, disabled: bool, lastLoginAt: nullable(date), createdAt: date, updatedAt: date }),
	Session: obj({ accessToken: str, tokenType: { const: "Bearer" }, expiresIn: { type: "integer", description: "seconds" }, refreshToken: str, refreshExpiresAt: date, operator: ref("Operator") }),
	AuditEntry: obj({ id: str, at: date, actor: str, role: str, action: str, target: str, items: { type: "array", items: str }, count: int, clientId: nullable(str), details: nullable({ type: "object" }), requestId: nullable(str) }),
	Passbook: obj({
		client_id: str,
		loan_id: str,
		as_of: { type: "string", format: "date" },
		emi: money,
		instalments: { type: "array", items: obj({ no: int, due_date: str, amount: money, interest: money, principal: money, paid: money, paid_interest: money, paid_principal: money, status: { enum: ["paid", "overdue", "due", "upcoming"] }, paid_on: nullable(str) }) },
		penalties: { type: "array", items: obj({ date: str, basis: money, charge: money, tax: money, amount: money, paid: money }) },
		charges: { type: "array", description: "bounce charges: one per bounced payment (ref)", items: obj({ date: str, key: str, ref: str, basis: money, charge: money, tax: money, amount: money, paid: money }) },
		entries: {
			type: "array",
			items: obj(
				{ date: str, kind: { enum: ["instalment", "penalty", "payment", "credit_applied", "held", "refunded", "bounce"] }, ref: str, debit: money, credit: money, balance: money, amount: money, tax: money, allocations: { type: "array", items: { type: "object" } } },
				["date", "kind", "ref", "debit", "credit", "balance"]
			)
		},
		totals: obj({ billed: money, penalties: money, charges: money, tax: money, paid: money, held: money, refunded: money, bounced: money, credit: money, overdue: money, due_today: money, outstanding_principal: money, balance: money }),
		next_due: nullable(obj({ no: int, due_date: str, amount: money, unpaid: money }))
	}),
	Refund: obj(
		{
			id: str,
			clientId: str,
			loan_id: str,
			payment_ref: str,
			of: { type: "string", description: "the earlier payment it repeats" },
			amount: money,
			paid_at: date,
			status: { enum: ["requested", "confirmed", "rejected", "timed_out", "withdrawn"], description: "withdrawn: billing withdrew it, as the payment (or the one it repeats) bounced" },
			requestedAt: date,
			history: { type: "array", items: obj({ status: str, at: date, by: str, note: str }, ["status", "at", "by"]) },
			noticeDelivered: bool,
			noticeError: { type: "string", description: "why the last try to deliver the notice to the client's webhook failed, while it is not delivered" },
			withdrawalDelivered: { type: "boolean", description: "withdrawn: whether the client's webhook got refund.withdrawn (absent when it never had the request's notice)" }
		},
		["id", "clientId", "loan_id", "payment_ref", "of", "amount", "paid_at", "status", "requestedAt", "history", "noticeDelivered"]
	),
	BillingRun: obj(
		{
			id: str,
			clientId: str,
			cycle: obj({ from: str, to: str }),
			pdf: bool,
			status: { enum: ["running", "completed", "completed_with_halts"] },
			counts: obj({ loans: int, done: int, active: int, halted: int, steps: { type: "object", additionalProperties: obj({ active: int, halted: int, passed: int }) } }),
			startedBy: str,
			createdAt: date,
			updatedAt: date
		},
		["id", "clientId", "cycle", "pdf", "status", "counts", "createdAt"]
	),
	IntakeDocument: obj(
		{
			id: str,
			clientId: str,
			status: { enum: ["PENDING", "PROCESSING", "COMPLETED", "NEEDS_REVIEW", "FAILED"] },
			type: nullable(str),
			reference: nullable(str),
			source: { enum: ["upload", "link", "email", "inbox"] },
			url: str,
			file: obj({ name: str, size: int, sha256: str, mime: str, pages: int, encryption: str }, ["name", "size", "sha256", "mime"]),
			pages: { type: "array", items: obj({ n: int, source: { enum: ["layer", "ocr", "none"] }, confidence: { type: "number" } }, ["n", "source"]) },
			fields: { type: "object", additionalProperties: obj({ value: {}, source: str, confidence: { type: "number" } }, ["value"]) },
			template: nullable(str),
			checks: { type: "array", items: { type: "object" } },
			envelope: nullable({ type: "object" }),
			error: nullable({ type: "object" }),
			corrections: { type: "array", items: { type: "object" } },
			createdAt: date,
			updatedAt: date,
			finishedAt: nullable(date)
		},
		["id", "status", "source", "file", "pages", "fields", "createdAt", "updatedAt"]
	),
	...DELIVERY_COMPONENT_SCHEMAS,
	Health: obj({
		status: { enum: ["ok", "degraded"] },
		node: str,
		uptimeSeconds: { type: "number" },
		dependencies: { type: "object", description: "store, objects, queues, search, transporter: up or down; providers (when a real one is configured): degraded while a circuit is open or half-open; tools (when a service of this node runs local programs): degraded while one is missing", additionalProperties: { enum: ["up", "down", "degraded"] } },
		implementations: { type: "object", additionalProperties: str },
		lastChange: { type: "object", description: "when this node's checks last saw each dependency change state (seen false: no change since its first check, at `at`)", additionalProperties: obj({ at: date, seen: bool }) },
		providers: {
			type: "array",
			description: "each configured provider's circuit breaker, per notifier node",
			items: obj(
				{
					node: str,
					channel: str,
					provider: str,
					state: { enum: ["closed", "open", "half-open"] },
					since: date,
					failures: int,
					lastFailure: obj({ at: date, reason: { type: "string", description: "an HTTP status or an error code; never a body, URL or secret" } }),
					ratePerSecond: { type: "number", description: "the calls a second this notifier node allows itself: the provider's configured rate divided by the live notifier nodes (0: no limit)" }
				},
				["node", "channel", "provider", "state", "failures"]
			)
		},
		tools: {
			type: "array",
			description: "the local programs this node's services run (Chromium for the renderer; pdf-text, pdftoppm, Tesseract with the OCR languages, qpdf for the reader), each found or missing",
			items: obj(
				{
					tool: str,
					neededBy: { type: "string", description: "the service on this node that runs it" },
					state: { enum: ["up", "missing"] },
					path: { type: "string", description: "where it was found" },
					detail: { type: "string", description: "what is missing and the package or step that brings it" }
				},
				["tool", "neededBy", "state"]
			)
		}
	})
};

/** The success answer of each routed action. */
export const RESPONSES: Record<string, { schema: Schema; type?: string }> = {
	"ops.health": { schema: ref("Health") },
	"api.openapi": { schema: { type: "object", description: "this document" } },
	"api.object": { schema: { type: "string", format: "binary" }, type: "application/octet-stream" },
	"clients.create": { schema: { allOf: [ref("Client"), ref("IssuedKey")] } },
	"clients.list": { schema: page(ref("Client")) },
	"clients.get": { schema: ref("Client") },
	"clients.update": { schema: ref("Client") },
	"clients.createKey": { schema: ref("IssuedKey") },
	"clients.listKeys": { schema: obj({ items: { type: "array", items: ref("KeyInfo") } }) },
	"clients.revokeKey": { schema: obj({ id: str, revoked: { const: true } }) },
	"ingest.upload": { schema: obj({ batchId: str, status: { const: "RECEIVED" } }) },
	"ingest.createBatch": { schema: obj({ id: str, status: { const: "OPEN" } }) },
	"batches.list": { schema: page(ref("Batch")) },
	"batches.get": { schema: ref("Batch") },
	"ingest.addRecords": { schema: obj({ batchId: str, accepted: int, lines: obj({ first: int, last: int }) }) },
	"ingest.submit": { schema: obj({ id: str, status: str }) },
	"batches.rejections": {
		schema: {
			...page(ref("Rejection"), { batchId: str, codes: { type: "array", items: obj({ code: str, count: int }) } }),
			description: "JSON (?format=json, the default); with ?format=csv, text/csv: line,field,code,message"
		}
	},
	"registry.search": { schema: page(ref("Record")) },
	"registry.getRecord": { schema: ref("Record") },
	"ingest.scanInbox": { schema: obj({ taken: int }, ["taken"]) },
	"ops.queues": { schema: obj({ queues: { type: "array", items: ref("QueueStats") } }) },
	"ops.dlqList": { schema: obj({ queue: str, matching: int, items: { type: "array", items: ref("DeadLetter") } }, ["queue", "items"]) },
	"ops.dlqReplay": { schema: obj({ queue: str, replayed: int }) },
	"ops.dlqPurge": { schema: obj({ queue: str, purged: int }) },
	"renderer.render": { schema: ref("Document") },
	"renderer.list": { schema: page(ref("Document")) },
	"renderer.document": { schema: ref("Document") },
	"renderer.pdf": { schema: { type: "string", format: "binary" }, type: "application/pdf" },
	"operators.login": { schema: ref("Session") },
	"operators.refresh": { schema: ref("Session") },
	"operators.logout": { schema: obj({ loggedOut: bool }) },
	"operators.me": { schema: obj({ sub: str, role: { enum: ["operator", "admin"] }, operator: ref("Operator") }, ["sub", "role"]) },
	"operators.list": { schema: page(ref("Operator")) },
	"operators.create": { schema: ref("Operator") },
	"operators.update": { schema: ref("Operator") },
	"audit.list": { schema: page(ref("AuditEntry")) },
	"intake.submit": { schema: obj({ id: str, status: { const: "PENDING" } }) },
	"intake.list": { schema: page(ref("IntakeDocument")) },
	"intake.stats": { schema: obj({ total: int, byStatus: { type: "object", additionalProperties: int }, byType: { type: "object", additionalProperties: int }, pages: obj({ layer: int, ocr: int, none: int }), meanOcrConfidence: nullable({ type: "number" }) }) },
	"intake.get": { schema: ref("IntakeDocument") },
	"intake.file": { schema: { type: "string", format: "binary" }, type: "application/octet-stream" },
	"intake.text": { schema: { type: "string" }, type: "text/plain" },
	"intake.deliveries": { schema: obj({ total: int, items: { type: "array", items: obj({ deliveryId: str, event: str, host: str, status: nullable(int), ok: bool, error: nullable(str), at: date }) } }) },
	"intake.redeliver": { schema: obj({ queued: bool, event: str, deliveryId: str }) },
	"intake.correct": { schema: ref("IntakeDocument") },
	"billing.passbook": { schema: ref("Passbook") },
	"billing.searchPassbooks": { schema: page(obj({ client: str, loan_id: str, cycle_to: str, status: { enum: ["overdue", "current", "closed"] }, arrears: { type: "number" }, amount_due: { type: "number" }, outstanding: { type: "number" }, due_date: str })) },
	"billing.refunds": { schema: page(ref("Refund")) },
	"billing.refund": { schema: ref("Refund") },
	"billing.confirmRefund": { schema: ref("Refund") },
	"billing.rejectRefund": { schema: ref("Refund") },
	"billing.startRun": { schema: ref("BillingRun") },
	"billing.listRuns": { schema: page(ref("BillingRun")) },
	"billing.getRun": { schema: ref("BillingRun") },
	"billing.halted": { schema: page(obj({ loanId: str, step: str, reason: str, input: { type: "object" }, haltedAt: date, attempts: int }, ["loanId", "step"])) },
	"billing.resume": { schema: obj({ resumed: int, run: ref("BillingRun") }) },
	...DELIVERY_RESPONSES
};

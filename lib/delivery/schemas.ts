/**
 * Response schemas of the delivery routes for the OpenAPI document (JSON Schema, OpenAPI 3.1): the shared shapes
 * (components) and, per routed action, its success answer. They are spread into lib/api/schemas.ts's
 * COMPONENT_SCHEMAS and RESPONSES (same shapes), so every delivery route has a response schema.
 */
type Schema = Record<string, unknown>;

const str = { type: "string" };
const int = { type: "integer" };
const bool = { type: "boolean" };
const date = { type: "string", format: "date-time" };
const day = { type: "string", format: "date" };
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => ({ type: "object", properties, required });
const page = (item: Schema): Schema => obj({ total: int, limit: int, offset: int, items: { type: "array", items: item } });

const channel = { enum: ["whatsapp", "rcs", "sms", "email", "courier"] };
const caseStatus = { enum: ["pending", "sending", "sent", "dispatched", "delivered", "failed"] };
/** what a provider's callback is answered */
const webhookAnswer: Schema = {
	description: "a verified callback: what its events did; a verification handshake answers its challenge as text/plain instead",
	...obj({ kind: { const: "events" }, applied: int, duplicate: int, unknown: int })
};
const deliveryStatus = { enum: ["queued", "sent", "delivered", "read", "failed"] };
const failure = obj({ code: str, reason: str });
const byStatus = obj(Object.fromEntries(caseStatus.enum.map((s) => [s, int])));

export const DELIVERY_COMPONENT_SCHEMAS: Record<string, Schema> = {
	DispatchRun: obj(
		{
			id: str,
			kind: { enum: ["scheduled", "manual"] },
			status: { enum: ["running", "completed", "failed"] },
			from: day,
			to: day,
			includePending: bool,
			clientId: str,
			caseId: { type: "string", description: "a resend of one case: that case" },
			requestedBy: str,
			picked: obj({ created: int, existing: int, retried: int }),
			cases: int,
			byStatus,
			byChannel: { type: "object", additionalProperties: int },
			error: str,
			startedAt: date,
			finishedAt: date
		},
		["id", "kind", "status", "from", "to", "includePending", "picked", "cases", "byStatus", "byChannel", "startedAt"]
	),
	Case: obj(
		{ id: str, clientId: str, loanId: str, documentType: str, status: caseStatus, runId: str, runIds: { type: "array", items: str }, try: int, plan: { type: "array", items: channel }, channel, documentId: str, failure, dueDate: day, createdAt: date, updatedAt: date, finishedAt: date },
		["id", "clientId", "loanId", "documentType", "status", "runId", "runIds", "try", "dueDate", "createdAt", "updatedAt"]
	),
	Attempt: obj(
		{
			id: str,
			runId: str,
			try: int,
			channel,
			provider: str,
			providerMessageId: str,
			status: deliveryStatus,
			history: { type: "array", items: obj({ status: deliveryStatus, at: date, source: { enum: ["send", "callback", "timeout", "courier"] }, code: str, reason: str }, ["status", "at", "source"]) },
			failure,
			sentAt: date,
			deliveredAt: date,
			timedOutAt: date,
			courier: obj({ name: str, trackingNumber: str, dispatchedOn: day, deliveredOn: day, sheetLine: int }, ["name", "trackingNumber", "dispatchedOn"]),
			createdAt: date,
			outcomeKnown: { type: "boolean", description: "false while the provider's answer to the send is unknown: never written (the sender stopped mid-call), or the connection broke after the request went out. Never resent: callbacks or the delivery timeout decide" },
			deadline: date
		},
		["id", "runId", "try", "channel", "provider", "status", "history", "createdAt", "outcomeKnown"]
	),
	StatusEvent: obj({ attemptId: str, provider: str, status: deliveryStatus, at: date, receivedAt: date, applied: bool, code: str, reason: str }, ["attemptId", "provider", "status", "at", "receivedAt", "applied"]),
	OutboxEntry: obj(
		{ id: str, attemptId: str, caseId: str, clientId: str, channel, provider: { const: "sandbox" }, providerMessageId: { anyOf: [str, { type: "null" }] }, to: str, subject: str, body: str, document: obj({ fileName: str, url: str, bytes: int }), outcome: { enum: ["delivered", "failed", "refused"] }, at: date },
		["id", "attemptId", "caseId", "clientId", "channel", "provider", "to", "subject", "body", "document", "outcome", "at"]
	)
};

export const DELIVERY_RESPONSES: Record<string, { schema: Schema; type?: string }> = {
	"scheduler.createRun": { schema: ref("DispatchRun") },
	"scheduler.listRuns": { schema: page(ref("DispatchRun")) },
	"scheduler.getRun": { schema: ref("DispatchRun") },
	"scheduler.resendCase": { schema: ref("DispatchRun") },
	"notifier.listCases": { schema: page(ref("Case")) },
	"notifier.getCase": { schema: { allOf: [ref("Case"), obj({ attempts: { type: "array", items: ref("Attempt") }, events: { type: "array", items: ref("StatusEvent") } })] } },
	"notifier.courierUpload": { schema: obj({ rows: int, applied: int, unchanged: int }) },
	"notifier.webhook": { schema: webhookAnswer },
	"api.webhook": { schema: webhookAnswer },
	"notifier.outbox": { schema: page(ref("OutboxEntry")) }
};

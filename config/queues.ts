/**
 * The durable work queues between actors (see docs/architecture.md for the flow). Every queue named here is
 * declared by its consumer and listed by operators (`dlq list`, GET /api/v1/queues).
 */
export const QUEUES = {
	/** ingest -> file-picker: a raw file was stored and its batch created */
	filesArrived: "files.arrived",
	/** file-picker -> etl: one chunk of rows is ready */
	chunksReady: "chunks.ready",
	/** etl -> registry: one chunk's valid rows are staged */
	chunksStaged: "chunks.staged",
	/** registry / file-picker -> batches: a batch finished; tell the client (webhook, email) */
	batchesReport: "batches.report",
	/** scheduler -> renderer: one document for one recipient */
	casesDispatch: "cases.dispatch",
	/** renderer -> notifier: a case's PDF is stored */
	casesRendered: "cases.rendered",
	/** batches -> billing: a repayment batch completed; check the loans it touched for suspected duplicates */
	billingRepayments: "billing.repayments",
	/** billing -> billing: tell a client about one refund request (signed webhook, retried) */
	billingRefundNotices: "billing.refund-notices",
	/** intake -> reader: a document's original is stored; read its pages and fields */
	intakeReceived: "intake.received",
	/** reader / intake -> intake: a document finished (or was corrected); tell the client's webhook */
	intakeNotify: "intake.notify"
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export const QUEUE_NAMES: QueueName[] = Object.values(QUEUES);

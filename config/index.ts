/**
 * The process configuration: every environment variable Paperwork reads, parsed and validated once.
 * A bad value stops start-up with a message naming the variable and what it expects.
 * The README's configuration table lists exactly the variables in `SPEC` (a test keeps them in step).
 */
import os from "node:os";
import path from "node:path";
import { Cron } from "croner";
import { redactUrl } from "../lib/log.ts";

export class ConfigError extends Error {
	readonly variable: string;
	constructor(variable: string, message: string) {
		super(message);
		this.name = "ConfigError";
		this.variable = variable;
	}
}

type Kind = "string" | "url" | "int" | "bool" | "list" | "enum" | "secret";

export interface VarSpec {
	name: string;
	kind: Kind;
	default?: string;
	/** for "url": accepted protocols, without the colon */
	protocols?: string[];
	/** for "enum" */
	values?: string[];
	/** for "int" */
	min?: number;
	max?: number;
	description: string;
}

/** Every variable, in the order the README documents them. */
export const SPEC: VarSpec[] = [
	// Runtime
	{ name: "NODE_ID", kind: "string", description: "Moleculer node ID (default: hostname-pid)." },
	{ name: "NAMESPACE", kind: "string", default: "paperwork", description: "Moleculer namespace; nodes only see nodes of the same namespace." },
	{ name: "SERVICES", kind: "list", description: "Comma list of services this node runs (e.g. `api,etl`); unset runs all." },
	{ name: "TRANSPORTER", kind: "url", protocols: ["amqp", "amqps"], description: "Moleculer transporter. Unset: all services in one process (embedded default). `amqp://user:pass@host:5672`: the AMQP transporter on RabbitMQ." },
	{ name: "AMQP_URL", kind: "url", protocols: ["amqp", "amqps"], description: "RabbitMQ URL for the durable work queues. Defaults to TRANSPORTER when that is AMQP; unset and no TRANSPORTER: in-process queues." },
	{ name: "RABBITMQ_MANAGEMENT_URL", kind: "url", protocols: ["http", "https"], description: "RabbitMQ management API, e.g. `http://user:pass@rabbitmq:15672` (a `monitoring`-tagged user is enough): the console's queue in/out rates (sampled every 5 s by the broker) and, where the broker reports it, the oldest message's age. Unset: RabbitMQ queues show depths and consumers only. Used only with RabbitMQ queues." },
	{ name: "DATA_DIR", kind: "string", default: "./data", description: "Folder for the embedded store (SQLite: paperwork.db, and records.db for registered records), objects and the generated JWT secret." },
	{ name: "LOG_LEVEL", kind: "enum", default: "info", values: ["fatal", "error", "warn", "info", "debug", "trace"], description: "pino log level." },
	{ name: "LOG_FORMAT", kind: "enum", values: ["json", "pretty"], description: "Log format. Default: pretty on a TTY, JSON otherwise." },
	{ name: "SHUTDOWN_TIMEOUT_MS", kind: "int", default: "30000", min: 0, description: "How long a stopping node waits for in-flight work before it exits." },
	// HTTP
	{ name: "PORT", kind: "int", default: "3000", min: 0, max: 65535, description: "HTTP port of the api gateway (0 picks a free port)." },
	{ name: "PUBLIC_URL", kind: "url", protocols: ["http", "https"], description: "Base URL clients reach the api at, used in links (default http://localhost:PORT)." },
	{ name: "METRICS_PORT", kind: "int", default: "3030", min: 0, max: 65535, description: "Port of the Prometheus /metrics endpoint and the /healthz, /readyz probes; 0 disables them." },
	{ name: "BODY_LIMIT", kind: "string", default: "5mb", description: "Largest JSON request body the api accepts." },
	{ name: "UPLOAD_LIMIT_MB", kind: "int", default: "1024", min: 1, description: "Largest uploaded file, in MiB (bigger: 413)." },
	{ name: "HTTP_KEEPALIVE_S", kind: "int", default: "65", min: 1, max: 3600, description: "Seconds the api keeps an idle keep-alive connection open: longer than a load balancer's idle timeout (AWS ALB: 60 s) and than providers' pooled webhook connections stay idle, so the gateway never closes a connection a client is about to reuse (Node's own default, 5 s, reset such requests)." },
	// Auth
	{ name: "JWT_SECRET", kind: "secret", description: "HS256 secret for operator tokens. Unset: generated once into DATA_DIR/jwt-secret (embedded use only)." },
	{ name: "DEMO_API_KEY", kind: "secret", description: "API key of the `demo` client created on first start with an empty store. Unset: generated and printed once." },
	{ name: "OPERATOR_TOKEN_TTL_S", kind: "int", default: "900", min: 60, max: 86400, description: "Lifetime of the access token an operator gets at sign-in (a refresh token renews it)." },
	{ name: "OPERATOR_REFRESH_TTL_S", kind: "int", default: "604800", min: 300, description: "Lifetime of an operator's refresh token; each use replaces it." },
	// Store
	{ name: "MONGO_URL", kind: "url", protocols: ["mongodb", "mongodb+srv"], description: "MongoDB URL. Unset: the embedded SQLite store under DATA_DIR." },
	{ name: "MONGO_DB", kind: "string", default: "paperwork", description: "MongoDB database name." },
	{ name: "DATABASE_URL", kind: "url", protocols: ["postgres", "postgresql"], description: "PostgreSQL URL, e.g. `postgres://user:pass@db:5432/paperwork`: the store (and, without OPENSEARCH_URL, search) on PostgreSQL. Not together with MONGO_URL." },
	{ name: "DATABASE_POOL_SIZE", kind: "int", default: "10", min: 1, max: 200, description: "PostgreSQL connections per process." },
	// Objects
	{ name: "S3_ENDPOINT", kind: "url", protocols: ["http", "https"], description: "S3/MinIO endpoint, e.g. `http://minio:9000`. Unset: objects in DATA_DIR/objects." },
	{ name: "S3_ACCESS_KEY", kind: "string", default: "", description: "S3 access key." },
	{ name: "S3_SECRET_KEY", kind: "secret", default: "", description: "S3 secret key." },
	{ name: "S3_BUCKET", kind: "string", default: "paperwork", description: "Bucket holding every object (created if missing)." },
	{ name: "S3_REGION", kind: "string", default: "us-east-1", description: "S3 region." },
	// Search
	{ name: "OPENSEARCH_URL", kind: "url", protocols: ["http", "https"], description: "OpenSearch URL. Unset: search runs as queries on the store." },
	{ name: "OPENSEARCH_INDEX_PREFIX", kind: "string", default: "paperwork", description: "Prefix of every OpenSearch index name." },
	// Queues
	{ name: "QUEUE_RETRIES", kind: "int", default: "5", min: 0, max: 20, description: "Tries after the first before a message goes to its dead-letter queue." },
	{ name: "QUEUE_RETRY_DELAY_MS", kind: "int", default: "1000", min: 0, description: "Delay before the first retry; each further retry waits 4x longer. Each wait is jittered: a random time between half the delay and the delay." },
	{ name: "QUEUE_PREFETCH", kind: "int", default: "0", min: 0, description: "Messages a consumer holds unacknowledged; 0 means 2x the handler's concurrency." },
	// Ingestion
	{ name: "CHUNK_ROWS", kind: "int", default: "5000", min: 1, max: 100000, description: "Rows per chunk when a file is split; one queue message per chunk." },
	{ name: "ETL_CONCURRENCY", kind: "int", default: "0", min: 0, max: 64, description: "Chunks one etl node parses at once; 0 means one per core." },
	{ name: "INBOX_POLL_MS", kind: "int", default: "5000", min: 0, description: "How often the ingest actor lists inbox/<clientId>/ for new files; 0 turns polling off (MinIO notifications only)." },
	{ name: "XLSX_MAX_ROWS", kind: "int", default: "1000000", min: 1, description: "Most data rows an XLSX upload may have." },
	{ name: "XLSX_MAX_INFLATED_MB", kind: "int", default: "2048", min: 1, description: "Most bytes an XLSX may inflate to, in MiB (zip-bomb guard)." },
	{ name: "SMTP_URL", kind: "url", protocols: ["smtp", "smtps"], description: "SMTP server for batch reports and email delivery, e.g. `smtp://user:pass@mail:587`. Unset: no email is sent." },
	{ name: "SMTP_FROM", kind: "string", default: "Paperwork <no-reply@paperwork.local>", description: "Sender of the emails Paperwork sends." },
	{ name: "WEBHOOK_TIMEOUT_MS", kind: "int", default: "10000", min: 100, description: "How long a client's webhook may take to answer before the delivery is retried." },
	// Rendering
	{ name: "RENDER_ENGINE", kind: "enum", default: "chromium", values: ["chromium", "weasyprint"], description: "PDF engine for templates whose manifest does not choose one." },
	{ name: "RENDER_CONCURRENCY", kind: "int", default: "0", min: 0, max: 32, description: "Chromium tabs / WeasyPrint workers per renderer node; 0 means one per core." },
	{ name: "RENDER_TIMEOUT_MS", kind: "int", default: "30000", min: 1000, description: "Longest one document may take to render; then its tab or worker is replaced." },
	{ name: "RENDER_RECYCLE_AFTER", kind: "int", default: "2000", min: 1, description: "Documents a browser (or WeasyPrint worker) renders before it is restarted." },
	{ name: "CHROMIUM_PATH", kind: "string", default: "/usr/bin/chromium", description: "The Chromium executable." },
	{ name: "DOCUMENT_LINK_TTL_S", kind: "int", default: "86400", min: 60, max: 604800, description: "Lifetime of the signed link returned with a document." },
	// Delivery
	{ name: "SCHEDULER_CRON", kind: "string", default: "0 9 * * *", description: "When the scheduler's daily dispatch run starts (cron: minute hour day month weekday), in SCHEDULER_TZ." },
	{ name: "SCHEDULER_TZ", kind: "string", default: "Asia/Kolkata", description: "Time zone of SCHEDULER_CRON and of the run's date window (IANA name)." },
	{ name: "DISPATCH_LOOKBACK_DAYS", kind: "int", default: "7", min: 0, max: 366, description: "A scheduled run takes loans disbursed in the last N days (and, with DISPATCH_RETRY_PENDING, that window's pending or failed cases)." },
	{ name: "DISPATCH_RETRY_PENDING", kind: "bool", default: "true", description: "Scheduled runs also retry the window's cases still pending or failed on every channel." },
	{ name: "DELIVERY_TIMEOUT_S", kind: "int", default: "900", min: 1, description: "How long an attempt may wait for its delivered status before the case moves to the next channel of its plan." },
	{ name: "DELIVERY_SWEEP_MS", kind: "int", default: "10000", min: 100, description: "How often each notifier looks for attempts past their delivery timeout." },
	{ name: "SANDBOX_CALLBACK_DELAY_MS", kind: "int", default: "200", min: 0, description: "Delay before each status callback the sandbox provider simulates." },
	// Billing
	{ name: "BILLING_DUPLICATE_WINDOW_S", kind: "int", default: "600", min: 0, max: 86400, description: "Two repayments of the same loan and amount under different references this close together: the later is a suspected duplicate (a refund is requested)." },
	{ name: "BILLING_REFUND_TIMEOUT_H", kind: "int", default: "72", min: 1, description: "Hours a refund request waits for the client's answer before operators are alerted." },
	{ name: "BILLING_SCHEDULE_MS", kind: "int", default: "3600000", min: 0, description: "How often billing looks for clients whose statement cycle has ended and starts its run (once per cycle); 0: only operators start runs." },
	// Delivery providers (a provider is used when all its required settings are set; a partial set stops start-up)
	{ name: "WHATSAPP_API_URL", kind: "url", protocols: ["http", "https"], default: "https://graph.facebook.com", description: "WhatsApp Cloud API (Graph API) base URL." },
	{ name: "WHATSAPP_API_VERSION", kind: "string", default: "v21.0", description: "Graph API version in the WhatsApp request path." },
	{ name: "WHATSAPP_PHONE_NUMBER_ID", kind: "string", description: "WhatsApp business phone number ID that sends (required for WhatsApp)." },
	{ name: "WHATSAPP_TOKEN", kind: "secret", description: "WhatsApp Cloud API access token (Bearer; required for WhatsApp)." },
	{ name: "WHATSAPP_APP_SECRET", kind: "secret", description: "Meta app secret that signs WhatsApp callbacks (X-Hub-Signature-256; required for WhatsApp)." },
	{ name: "WHATSAPP_VERIFY_TOKEN", kind: "secret", description: "Token Meta echoes in the webhook's GET verification (hub.verify_token; required for WhatsApp)." },
	{ name: "WHATSAPP_RATE_PER_S", kind: "int", default: "80", min: 0, description: "Most WhatsApp API calls per second for the whole platform: each notifier node keeps to its share (the rate divided by the live notifier nodes; token bucket); 0: no limit." },
	{ name: "RCS_API_URL", kind: "url", protocols: ["http", "https"], default: "https://rcsbusinessmessaging.googleapis.com", description: "Google RBM API base URL." },
	{ name: "RCS_AGENT_ID", kind: "string", description: "RBM agent ID (required for RCS)." },
	{ name: "RCS_CLIENT_TOKEN", kind: "secret", description: "RBM webhook client token: checks the verification handshake and X-Goog-Signature (required for RCS)." },
	{ name: "RCS_SERVICE_ACCOUNT_FILE", kind: "string", description: "Google service account key (JSON) whose OAuth token calls RBM; RCS needs this or RCS_TOKEN." },
	{ name: "RCS_TOKEN_URL", kind: "url", protocols: ["http", "https"], description: "OAuth token endpoint for the service account (default: the key file's token_uri, else https://oauth2.googleapis.com/token)." },
	{ name: "RCS_TOKEN", kind: "secret", description: "A static RBM Bearer token, instead of RCS_SERVICE_ACCOUNT_FILE." },
	{ name: "RCS_RATE_PER_S", kind: "int", default: "100", min: 0, description: "Most RBM API calls per second for the whole platform: each notifier node keeps to its share (the rate divided by the live notifier nodes; token bucket); 0: no limit." },
	{ name: "TWILIO_API_URL", kind: "url", protocols: ["http", "https"], default: "https://api.twilio.com", description: "Twilio REST API base URL." },
	{ name: "TWILIO_ACCOUNT_SID", kind: "string", description: "Twilio account SID (required for SMS)." },
	{ name: "TWILIO_AUTH_TOKEN", kind: "secret", description: "Twilio auth token: Basic auth and X-Twilio-Signature of callbacks (required for SMS)." },
	{ name: "TWILIO_FROM", kind: "string", description: "Sender: an E.164 number, or a Messaging Service SID (MG...) (required for SMS)." },
	{ name: "TWILIO_RATE_PER_S", kind: "int", default: "100", min: 0, description: "Most Twilio API calls per second for the whole platform: each notifier node keeps to its share (the rate divided by the live notifier nodes; token bucket); 0: no limit." },
	{ name: "SMTP_RATE_PER_S", kind: "int", default: "0", min: 0, description: "Most delivery emails per second through SMTP_URL for the whole platform, shared among the notifier nodes like the other providers' rates; 0: no limit (the relay queues)." },
	{ name: "PROVIDER_TIMEOUT_MS", kind: "int", default: "10000", min: 100, description: "Longest one provider HTTP request may take." },
	{ name: "PROVIDER_RETRIES", kind: "int", default: "3", min: 0, max: 10, description: "Retries of a provider call after a 429, 5xx or network error (exponential backoff, full jitter, Retry-After honoured)." },
	{ name: "PROVIDER_RETRY_BASE_MS", kind: "int", default: "250", min: 1, description: "Backoff before the first retry of a provider call; doubles each retry (the wait is random up to it)." },
	{ name: "PROVIDER_RETRY_BUDGET_MS", kind: "int", default: "30000", min: 0, description: "Longest time one send may spend retrying; a Retry-After beyond it ends the send as a transient failure." },
	{ name: "PROVIDER_CIRCUIT_FAILURES", kind: "int", default: "5", min: 1, description: "Consecutive failed sends (after retries) that open a provider's circuit." },
	{ name: "PROVIDER_CIRCUIT_COOLDOWN_S", kind: "int", default: "30", min: 1, description: "How long an open circuit refuses sends before one probe is let through." },
	// Alerts
	{ name: "ALERT_EMAILS", kind: "string", description: "Comma list of operator email addresses that get alerts and the daily digest (needs SMTP_URL). Unset: alerts only go to the log and metrics." },
	{ name: "ALERT_INTERVAL_S", kind: "int", default: "900", min: 1, description: "At most one alert mail per kind per interval; later alerts are counted and summarised in one mail at the interval's end." },
	{ name: "ALERT_DIGEST_AT", kind: "string", default: "18:00", description: "Time of day (HH:MM, in SCHEDULER_TZ) of the daily digest of the last 24 hours' dispatch runs, sent by one scheduler node; `off` sends none." },
	// Intake
	{ name: "INTAKE_MAX_MB", kind: "int", default: "10", min: 1, max: 1024, description: "Largest document intake accepts (upload, link, mail attachment), in MiB (bigger: 413)." },
	{ name: "INTAKE_MAX_PAGES", kind: "int", default: "200", min: 1, description: "Most pages an intake PDF may have (more: 400)." },
	{ name: "INTAKE_MAX_MEGAPIXELS", kind: "int", default: "60", min: 1, description: "Largest image (or rasterised page) intake reads, in megapixels; bigger images are refused (400)." },
	{ name: "INTAKE_MAX_SIDE_PX", kind: "int", default: "20000", min: 100, description: "Longest side of an image intake reads, in pixels; longer is refused (400)." },
	{ name: "INTAKE_OCR_CONCURRENCY", kind: "int", default: "0", min: 0, max: 64, description: "Single-threaded Tesseract processes per reader node; 0 means one per core." },
	{ name: "INTAKE_OCR_LANGS", kind: "string", default: "eng+hin", description: "Tesseract languages when the client sets none (Latin script first: `eng+hin`, `eng+por`)." },
	{ name: "INTAKE_OCR_TIMEOUT_MS", kind: "int", default: "120000", min: 1000, description: "Longest one page's rasterisation or OCR may take before it is killed and the page marked failed." },
	{ name: "INTAKE_FETCH_TIMEOUT_MS", kind: "int", default: "30000", min: 100, description: "Longest a document link (`POST /intake {url}`) may take to download." },
	{ name: "INTAKE_ALLOW_PRIVATE_URLS", kind: "bool", default: "false", description: "Lets document links reach loopback, private and link-local addresses (tests, closed networks only)." },
	{ name: "INTAKE_SMTP_PORT", kind: "int", min: 0, max: 65535, description: "Port of the intake SMTP listener (mail to a client's intake address becomes documents). Unset: no listener." },
	{ name: "INTAKE_SMTP_HOST", kind: "string", default: "0.0.0.0", description: "Address the intake SMTP listener binds to." },
	{ name: "INTAKE_MAIL_MAX_MB", kind: "int", default: "25", min: 1, max: 200, description: "Largest mail the SMTP listener accepts (bigger: 552) or an IMAP mailbox's message intake reads, in MiB." },
	{ name: "INTAKE_IMAP_URLS", kind: "secret", description: "Comma list of IMAP mailboxes to read, `imaps://user:pass@host:993/INBOX`; polled and watched with IDLE. Unset: none." },
	{ name: "INTAKE_IMAP_POLL_MS", kind: "int", default: "60000", min: 1000, description: "How often each IMAP mailbox is searched for new mail (IDLE announces new mail in between)." }
];

export interface Config {
	nodeID?: string;
	namespace: string;
	services?: string[];
	transporter?: string;
	amqpUrl?: string;
	/** RabbitMQ's management API (RABBITMQ_MANAGEMENT_URL), read for queue counters when the queues are on RabbitMQ */
	rabbitmqManagementUrl?: string;
	dataDir: string;
	log: { level: string; format: "json" | "pretty" };
	shutdownTimeoutMs: number;
	http: { port: number; publicUrl: string; bodyLimit: string; uploadLimitBytes: number; keepAliveMs: number };
	metricsPort: number;
	auth: { jwtSecret?: string; demoApiKey?: string; operatorTokenTtlS: number; operatorRefreshTtlS: number };
	mongo?: { url: string; db: string };
	/** PostgreSQL store (DATABASE_URL) */
	postgres?: { url: string; poolSize: number };
	s3?: { endpoint: string; accessKey: string; secretKey: string; bucket: string; region: string };
	objects: { dir: string; bucket: string };
	opensearch?: { url: string; indexPrefix: string };
	queues: { retries: number; retryDelayMs: number; prefetch: number };
	ingest: { chunkRows: number; etlConcurrency: number; inboxPollMs: number; xlsxMaxRows: number; xlsxMaxInflatedBytes: number; webhookTimeoutMs: number };
	/** SMTP for batch reports and email delivery (unset: no email is sent) */
	smtp?: { url: string; from: string };
	render: { engine: "chromium" | "weasyprint"; concurrency: number; timeoutMs: number; recycleAfter: number; chromiumPath: string; linkTtlSeconds: number };
	/** the scheduler and the notifier */
	delivery: { cron: string; timeZone: string; lookbackDays: number; retryPending: boolean; timeoutMs: number; sweepMs: number; sandboxDelayMs: number };
	billing: { duplicateWindowSeconds: number; refundTimeoutHours: number; scheduleMs: number };
	/** messaging providers: each present only when all its required settings are set */
	providers: ProvidersConfig;
	/** operator alerts (mail only when emails and SMTP are set; always logged and counted) */
	alerts: { emails: string[]; intervalSeconds: number; digestAt?: string };
	/** document intake: limits, OCR pool, link fetching */
	intake: {
		maxBytes: number;
		maxPages: number;
		maxPixels: number;
		maxSidePx: number;
		ocrConcurrency: number;
		ocrLangs: string;
		ocrTimeoutMs: number;
		fetchTimeoutMs: number;
		allowPrivateUrls: boolean;
		smtp?: { port: number; host: string };
		mailMaxBytes: number;
		imapUrls: string[];
		imapPollMs: number;
	};
}

/** Retries, rate limit and circuit breaker of the HTTP provider clients. */
export interface ResilienceConfig {
	timeoutMs: number;
	retries: number;
	retryBaseMs: number;
	retryBudgetMs: number;
	circuitFailures: number;
	circuitCooldownMs: number;
}

export interface ProvidersConfig {
	whatsapp?: { apiUrl: string; apiVersion: string; phoneNumberId: string; token: string; appSecret: string; verifyToken: string; ratePerSecond: number };
	rcs?: { apiUrl: string; agentId: string; clientToken: string; serviceAccountFile?: string; tokenUrl?: string; token?: string; ratePerSecond: number };
	twilio?: { apiUrl: string; accountSid: string; authToken: string; from: string; ratePerSecond: number };
	/** SMTP_RATE_PER_S: delivery emails a second (the email channel, when SMTP_URL is set); 0: no limit */
	emailRatePerSecond: number;
	resilience: ResilienceConfig;
}

type Env = Record<string, string | undefined>;

/** The shape of an API key (lib/api/auth.ts issues them). */
const DEMO_KEY_PATTERN = /^pk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/;

function shown(v: string): string {
	return v.length > 60 ? `${v.slice(0, 57)}...` : v;
}

/** Parses one variable by its spec; undefined when unset and without default. */
function read(spec: VarSpec, env: Env): string | undefined {
	const raw = env[spec.name];
	const value = raw === undefined || raw.trim() === "" ? spec.default : raw.trim();
	if (value === undefined || value === "") return value;
	switch (spec.kind) {
		case "url": {
			let u: URL;
			try {
				u = new URL(value);
			} catch {
				throw new ConfigError(spec.name, `${spec.name} must be a URL (${(spec.protocols ?? []).map((p) => `${p}://`).join(" or ")}...), got '${shown(redactUrl(value))}'`);
			}
			const proto = u.protocol.replace(/:$/, "");
			if (spec.protocols && !spec.protocols.includes(proto)) {
				throw new ConfigError(spec.name, `${spec.name} must be a URL starting with ${spec.protocols.map((p) => `${p}://`).join(" or ")}, got '${shown(redactUrl(value))}'`);
			}
			if (!u.hostname) throw new ConfigError(spec.name, `${spec.name} must be a URL with a host, got '${shown(redactUrl(value))}'`);
			return value;
		}
		case "int": {
			if (!/^-?\d+$/.test(value)) throw new ConfigError(spec.name, `${spec.name} must be a whole number, got '${shown(value)}'`);
			const n = Number(value);
			if (spec.min !== undefined && n < spec.min) throw new ConfigError(spec.name, `${spec.name} must be at least ${spec.min}, got ${n}`);
			if (spec.max !== undefined && n > spec.max) throw new ConfigError(spec.name, `${spec.name} must be at most ${spec.max}, got ${n}`);
			return value;
		}
		case "bool":
			if (!/^(true|false|1|0|yes|no)$/i.test(value)) throw new ConfigError(spec.name, `${spec.name} must be true or false, got '${shown(value)}'`);
			return /^(true|1|yes)$/i.test(value) ? "true" : "false";
		case "enum":
			if (!spec.values?.includes(value)) throw new ConfigError(spec.name, `${spec.name} must be one of ${spec.values?.join(", ")}, got '${shown(value)}'`);
			return value;
		case "list":
			if (!/^[a-z0-9_-]+(\s*,\s*[a-z0-9_-]+)*$/i.test(value)) throw new ConfigError(spec.name, `${spec.name} must be a comma list of names (e.g. api,etl), got '${shown(value)}'`);
			return value;
		default:
			return value;
	}
}

/** Loads and validates the configuration from `env`; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Env = process.env): Config {
	const v: Record<string, string | undefined> = {};
	for (const spec of SPEC) v[spec.name] = read(spec, env);
	const num = (name: string): number => Number(v[name]);
	const dataDir = path.resolve(v.DATA_DIR ?? "./data");
	const port = num("PORT");
	const transporter = v.TRANSPORTER;
	const amqpUrl = v.AMQP_URL ?? (transporter?.startsWith("amqp") ? transporter : undefined);
	if (v.S3_ENDPOINT && (!v.S3_ACCESS_KEY || !v.S3_SECRET_KEY)) {
		throw new ConfigError(v.S3_ACCESS_KEY ? "S3_SECRET_KEY" : "S3_ACCESS_KEY", `${v.S3_ACCESS_KEY ? "S3_SECRET_KEY" : "S3_ACCESS_KEY"} must be set when S3_ENDPOINT is set`);
	}
	const providers = providersConfig(v);
	const alertEmails = (v.ALERT_EMAILS ?? "").split(",").map((e) => e.trim()).filter(Boolean);
	for (const e of alertEmails) if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(e)) throw new ConfigError("ALERT_EMAILS", `ALERT_EMAILS must be a comma list of email addresses, got '${shown(e)}'`);
	const digestAt = v.ALERT_DIGEST_AT ?? "18:00";
	if (digestAt !== "off" && !/^([01]\d|2[0-3]):[0-5]\d$/.test(digestAt)) throw new ConfigError("ALERT_DIGEST_AT", `ALERT_DIGEST_AT must be a time of day HH:MM (in SCHEDULER_TZ) or off, got '${shown(digestAt)}'`);
	if (v.DATABASE_URL && v.MONGO_URL) throw new ConfigError("DATABASE_URL", "DATABASE_URL (PostgreSQL) and MONGO_URL (MongoDB) are both set: set only the one whose server stores Paperwork's data");
	// a malformed demo key must stop the start before anything is created (clients.ensureDemo would fail half-way)
	if (v.DEMO_API_KEY && !DEMO_KEY_PATTERN.test(v.DEMO_API_KEY)) {
		throw new ConfigError("DEMO_API_KEY", "DEMO_API_KEY must look like pk_<12 lower-case letters/digits>_<43 base64url chars>; run `npm run token -- --api-key` to make one");
	}
	const bodyLimit = v.BODY_LIMIT ?? "5mb";
	if (!/^\d+(b|kb|mb|gb)?$/i.test(bodyLimit)) throw new ConfigError("BODY_LIMIT", `BODY_LIMIT must be a size like 512kb or 5mb, got '${shown(bodyLimit)}'`);
	return {
		nodeID: v.NODE_ID,
		namespace: v.NAMESPACE ?? "paperwork",
		services: v.SERVICES?.split(",").map((s) => s.trim()).filter(Boolean),
		transporter,
		amqpUrl,
		rabbitmqManagementUrl: v.RABBITMQ_MANAGEMENT_URL,
		dataDir,
		log: {
			level: v.LOG_LEVEL ?? "info",
			format: (v.LOG_FORMAT as "json" | "pretty" | undefined) ?? (process.stdout.isTTY ? "pretty" : "json")
		},
		shutdownTimeoutMs: num("SHUTDOWN_TIMEOUT_MS"),
		http: {
			port,
			publicUrl: (v.PUBLIC_URL ?? `http://localhost:${port}`).replace(/\/+$/, ""),
			bodyLimit,
			uploadLimitBytes: num("UPLOAD_LIMIT_MB") * 1024 * 1024,
			keepAliveMs: num("HTTP_KEEPALIVE_S") * 1000
		},
		metricsPort: num("METRICS_PORT"),
		auth: { jwtSecret: v.JWT_SECRET, demoApiKey: v.DEMO_API_KEY, operatorTokenTtlS: num("OPERATOR_TOKEN_TTL_S"), operatorRefreshTtlS: num("OPERATOR_REFRESH_TTL_S") },
		mongo: v.MONGO_URL ? { url: v.MONGO_URL, db: v.MONGO_DB ?? "paperwork" } : undefined,
		postgres: v.DATABASE_URL ? { url: v.DATABASE_URL, poolSize: num("DATABASE_POOL_SIZE") } : undefined,
		s3: v.S3_ENDPOINT
			? { endpoint: v.S3_ENDPOINT, accessKey: v.S3_ACCESS_KEY ?? "", secretKey: v.S3_SECRET_KEY ?? "", bucket: v.S3_BUCKET ?? "paperwork", region: v.S3_REGION ?? "us-east-1" }
			: undefined,
		objects: { dir: path.join(dataDir, "objects"), bucket: v.S3_BUCKET ?? "paperwork" },
		opensearch: v.OPENSEARCH_URL ? { url: v.OPENSEARCH_URL, indexPrefix: v.OPENSEARCH_INDEX_PREFIX ?? "paperwork" } : undefined,
		queues: { retries: num("QUEUE_RETRIES"), retryDelayMs: num("QUEUE_RETRY_DELAY_MS"), prefetch: num("QUEUE_PREFETCH") },
		ingest: {
			chunkRows: num("CHUNK_ROWS"),
			etlConcurrency: num("ETL_CONCURRENCY") || os.availableParallelism(),
			inboxPollMs: num("INBOX_POLL_MS"),
			xlsxMaxRows: num("XLSX_MAX_ROWS"),
			xlsxMaxInflatedBytes: num("XLSX_MAX_INFLATED_MB") * 1024 * 1024,
			webhookTimeoutMs: num("WEBHOOK_TIMEOUT_MS")
		},
		smtp: v.SMTP_URL ? { url: v.SMTP_URL, from: v.SMTP_FROM ?? "Paperwork <no-reply@paperwork.local>" } : undefined,
		render: {
			engine: (v.RENDER_ENGINE as "chromium" | "weasyprint" | undefined) ?? "chromium",
			concurrency: num("RENDER_CONCURRENCY") || os.availableParallelism(),
			timeoutMs: num("RENDER_TIMEOUT_MS"),
			recycleAfter: num("RENDER_RECYCLE_AFTER"),
			chromiumPath: v.CHROMIUM_PATH ?? "/usr/bin/chromium",
			linkTtlSeconds: num("DOCUMENT_LINK_TTL_S")
		},
		delivery: {
			cron: checkCron(v.SCHEDULER_CRON ?? "0 9 * * *"),
			timeZone: checkTimeZone(v.SCHEDULER_TZ ?? "Asia/Kolkata"),
			lookbackDays: num("DISPATCH_LOOKBACK_DAYS"),
			retryPending: v.DISPATCH_RETRY_PENDING !== "false",
			timeoutMs: num("DELIVERY_TIMEOUT_S") * 1000,
			sweepMs: num("DELIVERY_SWEEP_MS"),
			sandboxDelayMs: num("SANDBOX_CALLBACK_DELAY_MS")
		},
		billing: { duplicateWindowSeconds: num("BILLING_DUPLICATE_WINDOW_S"), refundTimeoutHours: num("BILLING_REFUND_TIMEOUT_H"), scheduleMs: num("BILLING_SCHEDULE_MS") },
		providers,
		alerts: { emails: alertEmails, intervalSeconds: num("ALERT_INTERVAL_S"), digestAt: digestAt === "off" ? undefined : digestAt },
		intake: {
			maxBytes: num("INTAKE_MAX_MB") * 1024 * 1024,
			maxPages: num("INTAKE_MAX_PAGES"),
			maxPixels: num("INTAKE_MAX_MEGAPIXELS") * 1_000_000,
			maxSidePx: num("INTAKE_MAX_SIDE_PX"),
			ocrConcurrency: num("INTAKE_OCR_CONCURRENCY") || os.availableParallelism(),
			ocrLangs: v.INTAKE_OCR_LANGS ?? "eng+hin",
			ocrTimeoutMs: num("INTAKE_OCR_TIMEOUT_MS"),
			fetchTimeoutMs: num("INTAKE_FETCH_TIMEOUT_MS"),
			allowPrivateUrls: v.INTAKE_ALLOW_PRIVATE_URLS === "true",
			smtp: v.INTAKE_SMTP_PORT !== undefined ? { port: num("INTAKE_SMTP_PORT"), host: v.INTAKE_SMTP_HOST ?? "0.0.0.0" } : undefined,
			mailMaxBytes: num("INTAKE_MAIL_MAX_MB") * 1024 * 1024,
			imapUrls: imapUrls(v.INTAKE_IMAP_URLS),
			imapPollMs: num("INTAKE_IMAP_POLL_MS")
		}
	};
}

/** A cron pattern croner accepts (5 or 6 fields), or ConfigError. */
function checkCron(pattern: string): string {
	try {
		new Cron(pattern, { paused: true, timezone: "UTC" }).stop();
	} catch (err) {
		throw new ConfigError("SCHEDULER_CRON", `SCHEDULER_CRON must be a cron pattern like "0 9 * * *", got '${shown(pattern)}': ${(err as Error).message}`);
	}
	return pattern;
}

/** An IANA time zone name Intl knows, or ConfigError. */
function checkTimeZone(tz: string): string {
	try {
		new Intl.DateTimeFormat("en", { timeZone: tz });
	} catch {
		throw new ConfigError("SCHEDULER_TZ", `SCHEDULER_TZ must be an IANA time zone like Asia/Kolkata, got '${shown(tz)}'`);
	}
	return tz;
}

/**
 * A provider's settings when every required one is set; undefined when none is; a ConfigError naming the first
 * missing variable when only some are (a half-configured provider is a mistake, not a reason to use the sandbox).
 */
function group(v: Record<string, string | undefined>, required: string[]): boolean {
	const set = required.filter((n) => v[n]);
	if (set.length === 0) return false;
	const missing = required.find((n) => !v[n]);
	if (missing) throw new ConfigError(missing, `${missing} must be set when ${set.join(", ")} ${set.length > 1 ? "are" : "is"} set`);
	return true;
}

function providersConfig(v: Record<string, string | undefined>): ProvidersConfig {
	const num = (name: string): number => Number(v[name]);
	const out: ProvidersConfig = {
		emailRatePerSecond: num("SMTP_RATE_PER_S"),
		resilience: {
			timeoutMs: num("PROVIDER_TIMEOUT_MS"),
			retries: num("PROVIDER_RETRIES"),
			retryBaseMs: num("PROVIDER_RETRY_BASE_MS"),
			retryBudgetMs: num("PROVIDER_RETRY_BUDGET_MS"),
			circuitFailures: num("PROVIDER_CIRCUIT_FAILURES"),
			circuitCooldownMs: num("PROVIDER_CIRCUIT_COOLDOWN_S") * 1000
		}
	};
	const str = (name: string): string => v[name] ?? "";
	if (group(v, ["WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"])) {
		out.whatsapp = {
			apiUrl: str("WHATSAPP_API_URL").replace(/\/+$/, ""),
			apiVersion: str("WHATSAPP_API_VERSION"),
			phoneNumberId: str("WHATSAPP_PHONE_NUMBER_ID"),
			token: str("WHATSAPP_TOKEN"),
			appSecret: str("WHATSAPP_APP_SECRET"),
			verifyToken: str("WHATSAPP_VERIFY_TOKEN"),
			ratePerSecond: num("WHATSAPP_RATE_PER_S")
		};
	}
	const rcsAuth = v.RCS_TOKEN ? "RCS_TOKEN" : "RCS_SERVICE_ACCOUNT_FILE";
	if (group(v, ["RCS_AGENT_ID", "RCS_CLIENT_TOKEN", rcsAuth])) {
		out.rcs = {
			apiUrl: str("RCS_API_URL").replace(/\/+$/, ""),
			agentId: str("RCS_AGENT_ID"),
			clientToken: str("RCS_CLIENT_TOKEN"),
			serviceAccountFile: v.RCS_SERVICE_ACCOUNT_FILE,
			tokenUrl: v.RCS_TOKEN_URL,
			token: v.RCS_TOKEN,
			ratePerSecond: num("RCS_RATE_PER_S")
		};
	}
	if (group(v, ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"])) {
		out.twilio = {
			apiUrl: str("TWILIO_API_URL").replace(/\/+$/, ""),
			accountSid: str("TWILIO_ACCOUNT_SID"),
			authToken: str("TWILIO_AUTH_TOKEN"),
			from: str("TWILIO_FROM"),
			ratePerSecond: num("TWILIO_RATE_PER_S")
		};
	}
	return out;
}

/** INTAKE_IMAP_URLS split and checked (imap:// or imaps://, with a user); the message never shows a password. */
function imapUrls(raw: string | undefined): string[] {
	const list = (raw ?? "").split(",").map((u) => u.trim()).filter(Boolean);
	for (const [i, u] of list.entries()) {
		let url: URL;
		try {
			url = new URL(u);
		} catch {
			throw new ConfigError("INTAKE_IMAP_URLS", `INTAKE_IMAP_URLS entry ${i + 1} is not a URL (imaps://user:pass@host:993/INBOX)`);
		}
		if (url.protocol !== "imap:" && url.protocol !== "imaps:") throw new ConfigError("INTAKE_IMAP_URLS", `INTAKE_IMAP_URLS entry ${i + 1} must start with imap:// or imaps://`);
		if (!url.hostname || !url.username) throw new ConfigError("INTAKE_IMAP_URLS", `INTAKE_IMAP_URLS entry ${i + 1} needs a user and a host (imaps://user:pass@host:993/INBOX)`);
	}
	return list;
}

/** A node ID that is unique per process on a host. */
export function defaultNodeID(): string {
	return `${os.hostname().toLowerCase()}-${process.pid}`;
}

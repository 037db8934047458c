/**
 * Structured logs (pino). Every line written while a request, batch, chunk or case is being handled carries its IDs:
 * handlers run inside withLogContext({ requestId, batchId, ... }, fn) and a pino mixin adds the current IDs to each
 * line (AsyncLocalStorage). Personal data never appears in clear: known fields (CPF, phone, email, names) are masked
 * wherever they appear in a logged object.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { pino, type Logger, type LoggerOptions } from "pino";

export interface LogIds {
	requestId?: string;
	batchId?: string;
	chunk?: number;
	caseId?: string;
	clientId?: string;
	messageId?: string;
	/** a dispatch or billing run */
	runId?: string;
}

const context = new AsyncLocalStorage<LogIds>();

/** Runs fn with the given IDs added to every log line written inside it (nested contexts merge). */
export function withLogContext<T>(ids: LogIds, fn: () => T): T {
	const merged = { ...context.getStore(), ...stripUndefined(ids) };
	return context.run(merged, fn);
}

/** The IDs of the work being done now (empty outside any context). */
export function currentLogIds(): LogIds {
	return context.getStore() ?? {};
}

function stripUndefined(ids: LogIds): LogIds {
	const out: Record<string, unknown> = {};
	for (const [k, v] of Object.entries(ids)) if (v !== undefined && v !== null && v !== "") out[k] = v;
	return out as LogIds;
}

/** "123.456.789-09" -> "***.***.*89-09": keeps the last 4 digits, enough to tell records apart, not to identify. */
export function maskCpf(value: string): string {
	const digits = value.replace(/\D/g, "");
	if (digits.length < 4) return "***";
	return `***.***.*${digits.slice(-4, -2)}-${digits.slice(-2)}`;
}

/** "+5511987654321" -> "+55*******4321" (country code and last 4 digits kept). */
export function maskPhone(value: string): string {
	const digits = value.replace(/\D/g, "");
	if (digits.length <= 4) return "****";
	const cc = value.trim().startsWith("+") ? `+${digits.slice(0, 2)}` : "";
	const rest = cc ? digits.slice(2) : digits;
	return `${cc}${"*".repeat(Math.max(rest.length - 4, 0))}${rest.slice(-4)}`;
}

/** "maria.silva@example.com" -> "m***@example.com". */
export function maskEmail(value: string): string {
	const at = value.lastIndexOf("@");
	if (at < 1) return "***";
	return `${value[0]}***${value.slice(at)}`;
}

/** "Maria da Silva" -> "M. d. S." (initials only). */
export function maskName(value: string): string {
	return value
		.trim()
		.split(/\s+/)
		.filter(Boolean)
		.map((w) => `${Array.from(w)[0]}.`)
		.join(" ");
}

const MASKERS: Record<string, (v: string) => string> = {
	cpf: maskCpf,
	debtor_cpf: maskCpf,
	phone: maskPhone,
	to: maskPhone,
	email: maskEmail,
	debtor_name: maskName,
	applicant_name: maskName,
	name_on_record: maskName
};

/** Field names whose values are masked in every logged object, at any depth (see MASKERS). */
export const MASKED_FIELDS = Object.keys(MASKERS);

/** A deep copy of `value` with personal fields masked; other values unchanged. Depth-limited. */
export function maskPersonalData(value: unknown, depth = 0): unknown {
	if (depth > 6 || value === null || typeof value !== "object") return value;
	if (value instanceof Date || Buffer.isBuffer(value) || value instanceof Error) return value;
	if (Array.isArray(value)) return value.map((v) => maskPersonalData(v, depth + 1));
	const out: Record<string, unknown> = {};
	for (const [k, v] of Object.entries(value)) {
		const mask: ((v: string) => string) | undefined = Object.hasOwn(MASKERS, k) ? MASKERS[k] : undefined;
		out[k] = mask && typeof v === "string" ? (k === "to" && v.includes("@") ? maskEmail(v) : mask(v)) : maskPersonalData(v, depth + 1);
	}
	return out;
}

export interface LogOptions {
	level: string;
	format: "json" | "pretty";
	/** where lines go (default stdout); tests pass a stream to read them back */
	destination?: NodeJS.WritableStream;
}

/** pino options shared by the root logger and Moleculer's Pino logger. */
export function pinoOptions(level: string): LoggerOptions {
	return {
		level,
		base: undefined,
		timestamp: pino.stdTimeFunctions.isoTime,
		formatters: {
			level: (label) => ({ level: label }),
			log: (obj) => maskPersonalData(obj) as Record<string, unknown>
		},
		mixin: () => ({ ...context.getStore() })
	};
}

/** The process's root logger: JSON lines, or pretty when asked (e.g. on a TTY). */
export function createLogger(options: LogOptions): Logger {
	const opts = pinoOptions(options.level);
	if (options.destination) return pino(opts, options.destination);
	if (options.format === "pretty") {
		return pino({ ...opts, transport: { target: "pino-pretty", options: { colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" } } });
	}
	return pino(opts);
}

/**
 * A URL without its password, for logs and error messages (`amqp://guest:***@host/`). A string that is not a URL
 * keeps its shape with anything between "user:" and "@" masked, so a mistyped URL in an error still says what is wrong
 * without printing the password.
 */
export function redactUrl(url: string): string {
	try {
		const u = new URL(url);
		if (u.password) u.password = "***";
		return u.toString();
	} catch {
		return url.replace(/(\/\/[^/:@\s]*):[^@\s]*@/, "$1:***@");
	}
}

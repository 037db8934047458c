/**
 * HTTP-facing errors. Actions throw these (Moleculer client errors carry the HTTP status in `code`, a stable
 * machine code in `type`, and details in `data`); the gateway renders every error as
 * { error: { code, message, details } } with the right status.
 */
import { Errors } from "moleculer";

export type HttpError = InstanceType<typeof Errors.MoleculerClientError>;

export function httpError(status: number, code: string, message: string, details?: unknown): HttpError {
	return new Errors.MoleculerClientError(message, status, code, details);
}

export const badRequest = (message: string, details?: unknown): HttpError => httpError(400, "BAD_REQUEST", message, details);
export const unauthorized = (message: string): HttpError => httpError(401, "UNAUTHORIZED", message);
export const forbidden = (message: string): HttpError => httpError(403, "FORBIDDEN", message);
export const notFound = (what: string, id?: string): HttpError => httpError(404, "NOT_FOUND", id ? `${what} '${id}' not found` : `${what} not found`);
export const conflict = (message: string, details?: unknown): HttpError => httpError(409, "CONFLICT", message, details);
export const payloadTooLarge = (message: string): HttpError => httpError(413, "PAYLOAD_TOO_LARGE", message);
export const unsupportedMediaType = (message: string): HttpError => httpError(415, "UNSUPPORTED_MEDIA_TYPE", message);

export interface ErrorBody {
	error: { code: string; message: string; details?: unknown };
}

interface ErrorLike {
	name?: string;
	message?: string;
	code?: unknown;
	type?: unknown;
	data?: unknown;
}

/** Maps any error to an HTTP status and the JSON body; 5xx bodies never leak internals. */
export function toHttpError(err: unknown): { status: number; body: ErrorBody; internal: boolean } {
	const e: ErrorLike = err && typeof err === "object" ? (err as ErrorLike) : { message: String(err) };
	const type = typeof e.type === "string" ? e.type : undefined;
	const code = typeof e.code === "number" ? e.code : undefined;
	// Moleculer's own errors, mapped to what an HTTP client can act on
	if (type === "VALIDATION_ERROR") {
		const details = Array.isArray(e.data) ? e.data.map((d: { field?: string; message?: string; type?: string }) => ({ field: d.field, message: d.message, code: d.type })) : e.data;
		return { status: 400, body: { error: { code: "VALIDATION_ERROR", message: "request parameters are invalid", details } }, internal: false };
	}
	if (type === "SERVICE_NOT_FOUND" || type === "SERVICE_NOT_AVAILABLE" || e.name === "ServiceNotFoundError" || e.name === "ServiceNotAvailableError") {
		return { status: 503, body: { error: { code: "SERVICE_UNAVAILABLE", message: "the service handling this request is not running; retry later" } }, internal: false };
	}
	if (e.name === "RequestTimeoutError") {
		return { status: 504, body: { error: { code: "TIMEOUT", message: "the request timed out; it may still complete" } }, internal: false };
	}
	if (code !== undefined && code >= 400 && code < 500) {
		const c = type ?? (e.name === "NotFoundError" ? "NOT_FOUND" : "BAD_REQUEST");
		return { status: code, body: { error: { code: c, message: e.message ?? c, ...(e.data !== undefined ? { details: e.data } : {}) } }, internal: false };
	}
	// a deliberate "try again later" (503) or "took too long" (504) from a service, with its own code and message
	if ((code === 503 || code === 504) && type && type !== "SERVICE_NOT_AVAILABLE") {
		return { status: code, body: { error: { code: type, message: e.message ?? type, ...(e.data !== undefined ? { details: e.data } : {}) } }, internal: false };
	}
	const status = code !== undefined && code >= 500 && code < 600 ? code : 500;
	return { status, body: { error: { code: "INTERNAL", message: "internal error; the request ID identifies it in the logs" } }, internal: true };
}

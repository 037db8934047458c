/**
 * The console's client of the Paperwork JSON API: the operator's session (access token in memory and in this tab's
 * sessionStorage with the refresh token, so a reload keeps the session), Authorization on every call, one refresh
 * on a 401, and errors as ApiError with the API's code and message.
 */
export interface Operator {
	id?: string;
	email: string;
	name?: string;
	role: "operator" | "admin";
}

interface Session {
	accessToken: string;
	refreshToken?: string;
	operator: Operator;
}

export class ApiError extends Error {
	readonly status: number;
	readonly code: string;
	readonly retryAfter?: number;
	constructor(status: number, code: string, message: string, retryAfter?: number) {
		super(message);
		this.status = status;
		this.code = code;
		this.retryAfter = retryAfter;
	}
}

export const API = "/api/v1";
const KEY = "paperwork.session";
let session: Session | null = load();
const listeners = new Set<() => void>();

function load(): Session | null {
	try {
		const raw = sessionStorage.getItem(KEY);
		return raw ? (JSON.parse(raw) as Session) : null;
	} catch {
		return null;
	}
}

function save(s: Session | null): void {
	session = s;
	if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
	else sessionStorage.removeItem(KEY);
	for (const l of listeners) l();
}

export function currentOperator(): Operator | null {
	return session?.operator ?? null;
}

export function onSessionChange(l: () => void): () => void {
	listeners.add(l);
	return () => listeners.delete(l);
}

async function errorOf(res: Response): Promise<ApiError> {
	let code = `HTTP_${res.status}`;
	let message = res.statusText || "request failed";
	try {
		const body = (await res.json()) as { error?: { code?: string; message?: string } };
		if (body.error?.code) code = body.error.code;
		if (body.error?.message) message = body.error.message;
	} catch {
		// not JSON
	}
	const ra = Number(res.headers.get("retry-after"));
	return new ApiError(res.status, code, message, Number.isFinite(ra) && ra > 0 ? ra : undefined);
}

export async function login(email: string, password: string): Promise<void> {
	const res = await fetch(`${API}/auth/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email, password }) });
	if (!res.ok) throw await errorOf(res);
	const body = (await res.json()) as { accessToken: string; refreshToken: string; operator: Operator };
	save({ accessToken: body.accessToken, refreshToken: body.refreshToken, operator: body.operator });
}

export async function logout(): Promise<void> {
	const s = session;
	save(null);
	if (s?.refreshToken) await fetch(`${API}/auth/logout`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refreshToken: s.refreshToken }) }).catch(() => undefined);
}

let refreshing: Promise<boolean> | null = null;
async function refresh(): Promise<boolean> {
	const token = session?.refreshToken;
	if (!token) return false;
	refreshing ??= (async () => {
		try {
			const res = await fetch(`${API}/auth/refresh`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refreshToken: token }) });
			if (!res.ok) return false;
			const body = (await res.json()) as { accessToken: string; refreshToken: string; operator: Operator };
			save({ accessToken: body.accessToken, refreshToken: body.refreshToken, operator: body.operator });
			return true;
		} finally {
			refreshing = null;
		}
	})();
	return refreshing;
}

/** fetch() of an API path with the operator's token; a 401 refreshes the session once, then signs out. */
export async function apiFetch(path: string, init: RequestInit = {}): Promise<Response> {
	const go = () => {
		const headers = new Headers(init.headers);
		if (session) headers.set("Authorization", `Bearer ${session.accessToken}`);
		return fetch(path.startsWith("/") ? path : `${API}/${path}`, { ...init, headers });
	};
	let res = await go();
	if (res.status === 401 && session) {
		if (await refresh()) res = await go();
		if (res.status === 401) save(null);
	}
	if (!res.ok) throw await errorOf(res);
	return res;
}

/** An API call answering JSON. */
export async function api<T>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<T> {
	const { json, ...rest } = init;
	const headers = new Headers(rest.headers);
	if (json !== undefined) headers.set("Content-Type", "application/json");
	const res = await apiFetch(path, { ...rest, headers, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
	return (await res.json()) as T;
}

/** A query string from the set values. */
export function qs(params: Record<string, string | number | boolean | undefined | null>): string {
	const u = new URLSearchParams();
	for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") u.set(k, String(v));
	const s = u.toString();
	return s ? `?${s}` : "";
}

/** Every row of a paged list (for CSV export), `limit` at a time, at most `max`. */
export async function allRows<T>(path: string, params: Record<string, string | undefined>, limit = 200, max = 50_000): Promise<T[]> {
	const out: T[] = [];
	for (let offset = 0; offset < max; offset += limit) {
		const page = await api<{ total: number; items: T[] }>(`${path}${qs({ ...params, limit, offset })}`);
		out.push(...page.items);
		if (page.items.length < limit || out.length >= page.total) break;
	}
	return out;
}

/**
 * RabbitMQ's management HTTP API (the rabbitmq_management plugin), read for what AMQP cannot tell: how many messages
 * were published to a queue and taken off it (the console's in/out rates) and how old the message at its head is.
 * Used by the RabbitMQ backend's stats() when RABBITMQ_MANAGEMENT_URL is set; depths and consumers still come from
 * AMQP (a passive declare answers them now, while the management API's figures are sampled).
 *
 * - One request answers every queue asked for in the same turn of the event loop (the overview asks for all of them
 *   at once): GET /api/queues/{vhost}?name=<regex>&use_regex=true&columns=... with the queues and their retry queues.
 * - The broker samples these figures every `collect_statistics_interval` (5 s by default): counters and the head's
 *   timestamp lag by up to that long, so rates are only meaningful over several samples.
 * - Counters are cumulative since the queue was declared (or its node restarted, or stats were reset); a reader
 *   computes rates from differences and must take a drop as a reset.
 * - `head_message_timestamp` is the AMQP `timestamp` property (seconds) of the next message; RabbitMQ reports it for
 *   classic queues only, not for quorum queues (rabbitmq/rabbitmq-server#6813), so our quorum work queues have no
 *   oldest age ("n/a") unless a broker version adds it.
 * - A request has a short timeout; when the API is unreachable the caller answers without these figures and says why.
 * Credentials in the URL are sent as Basic auth and never logged or put in an error (see redactUrl in lib/log.ts).
 */
import type { Logger } from "pino";
import { errorMessage } from "./common.ts";

/** A queue as GET /api/queues/{vhost} lists it, restricted to the columns we ask for. */
export interface ManagementQueue {
	name: string;
	message_stats?: {
		/** messages published to the queue (by clients; not those dead-lettered into it) */
		publish?: number;
		/** deliveries acknowledged by consumers */
		ack?: number;
		/** deliveries to consumers in no-ack mode (taken off the queue at once) */
		deliver_no_ack?: number;
		/** basic.get in no-ack mode */
		get_no_ack?: number;
	};
	/** AMQP timestamp property of the head message, in seconds (classic queues only) */
	head_message_timestamp?: number;
}

/** What the management API adds to a queue's stats. */
export interface ManagementCounters {
	published: number;
	settled: number;
	/** the head message's timestamp in ms, when the broker reports one */
	headTimestampMs?: number;
}

const COLUMNS = ["name", "message_stats.publish", "message_stats.ack", "message_stats.deliver_no_ack", "message_stats.get_no_ack", "head_message_timestamp"];

/** Largest page the management API serves. */
const PAGE_SIZE = 500;
/** Pages read at most for one listing (5,000 queues). */
const MAX_PAGES = 10;

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const count = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0);

/**
 * The counters of `queue` from a listing of the vhost's queues (pure). null when the queue is not listed.
 * - published: message_stats.publish of Q: what producers (and dead-letter replays) sent. Retries coming back from
 *   the retry queues Q.retry.<n>.<bucket> are dead-lettered into Q, which the API does not count as publishing.
 * - settled: deliveries of Q acknowledged or taken without ack, minus those that were a failed attempt moved to a
 *   retry queue (the publishes of Q.retry.<n>.<bucket>, and of Q.retry.<n> of earlier versions): so, as in the
 *   in-process backend, a message counts once when it is handled or dead-lettered by our consumer, not once per
 *   attempt. Messages the broker itself dead-letters (a
 *   quorum queue's delivery limit) are not counted: the API has no counter for them.
 */
export function managementCounters(queue: string, listing: readonly ManagementQueue[]): ManagementCounters | null {
	const main = listing.find((q) => q.name === queue);
	if (!main) return null;
	// Q.retry.<n>.<bucket> (and Q.retry.<n>, the unbucketed retry queues of earlier versions)
	const retry = new RegExp(`^${escapeRegex(queue)}\\.retry\\.\\d+(\\.\\d+)?$`);
	const retried = listing.filter((q) => retry.test(q.name)).reduce((n, q) => n + count(q.message_stats?.publish), 0);
	const s = main.message_stats ?? {};
	const out: ManagementCounters = {
		published: count(s.publish),
		settled: Math.max(0, count(s.ack) + count(s.deliver_no_ack) + count(s.get_no_ack) - retried)
	};
	if (typeof main.head_message_timestamp === "number" && main.head_message_timestamp > 0) out.headTimestampMs = main.head_message_timestamp * 1000;
	return out;
}

/** The listing's items, checked to be what the API documents (an array of objects with a name). */
export function parseListing(body: unknown): ManagementQueue[] {
	const items = Array.isArray(body) ? body : (body as { items?: unknown } | null)?.items;
	if (!Array.isArray(items)) throw new Error("unexpected answer from the management API (no list of queues)");
	return items.filter((q): q is ManagementQueue => typeof q === "object" && q !== null && typeof (q as { name?: unknown }).name === "string");
}

/** The vhost named by an AMQP URL's path ("/" when it has none; "%2F" is "/"). */
export function vhostOf(amqpUrl: string): string {
	try {
		const p = new URL(amqpUrl).pathname;
		return p === "" || p === "/" ? "/" : decodeURIComponent(p.slice(1));
	} catch {
		return "/";
	}
}

export interface ManagementOptions {
	/** http(s)://user:pass@host:15672, optionally with a path prefix (a proxy) */
	url: string;
	vhost: string;
	logger: Logger;
	/** longest one request may take (default 2000 ms) */
	timeoutMs?: number;
}

/** Reads queue counters from the management API, one request per turn of the event loop. */
export class RabbitManagement {
	private readonly base: URL;
	private readonly auth: string | undefined;
	private readonly vhost: string;
	private readonly logger: Logger;
	private readonly timeoutMs: number;
	private pending: { names: Set<string>; result: Promise<ManagementQueue[]> } | undefined;
	/** the last failure's message, to log a failure streak once (and its end) instead of every overview refresh */
	private failing: string | undefined;

	constructor(options: ManagementOptions) {
		const u = new URL(options.url);
		// fetch refuses URLs with credentials: they go in the Authorization header
		this.auth = u.username || u.password ? `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString("base64")}` : undefined;
		u.username = "";
		u.password = "";
		if (!u.pathname.endsWith("/")) u.pathname += "/";
		u.search = "";
		u.hash = "";
		this.base = u;
		this.vhost = options.vhost;
		this.logger = options.logger;
		this.timeoutMs = options.timeoutMs ?? 2000;
	}

	/** The base URL, without credentials. */
	get url(): string {
		return this.base.toString();
	}

	/** The counters of `queue`: null when the API does not list it (yet), an Error when the API cannot be read. */
	async counters(queue: string): Promise<ManagementCounters | null | Error> {
		try {
			return managementCounters(queue, await this.listing(queue));
		} catch (err) {
			return err instanceof Error ? err : new Error(String(err));
		}
	}

	/** Joins the request of this turn of the event loop (or starts one) for `queue` and its retry queues. */
	private listing(queue: string): Promise<ManagementQueue[]> {
		if (!this.pending) {
			const names = new Set<string>();
			const result = new Promise<ManagementQueue[]>((resolve, reject) => {
				setImmediate(() => {
					this.pending = undefined;
					this.fetchQueues([...names]).then(resolve, reject);
				});
			});
			this.pending = { names, result };
		}
		this.pending.names.add(queue);
		return this.pending.result;
	}

	private async fetchQueues(names: string[]): Promise<ManagementQueue[]> {
		const url = new URL(`api/queues/${encodeURIComponent(this.vhost)}`, this.base);
		url.searchParams.set("name", `^(${names.map(escapeRegex).join("|")})(\\.retry\\.\\d+(\\.\\d+)?)?$`);
		url.searchParams.set("use_regex", "true");
		url.searchParams.set("page_size", String(PAGE_SIZE));
		url.searchParams.set("columns", COLUMNS.join(","));
		try {
			// every work queue has up to retries x 4 retry queues: with many queues or retries, more than one page
			const items: ManagementQueue[] = [];
			for (let page = 1; ; page++) {
				url.searchParams.set("page", String(page));
				const res = await fetch(url, { headers: { accept: "application/json", ...(this.auth ? { authorization: this.auth } : {}) }, signal: AbortSignal.timeout(this.timeoutMs) });
				if (!res.ok) {
					await res.body?.cancel();
					throw new Error(`RabbitMQ management API answered ${res.status} ${res.statusText}${res.status === 401 ? " (check the user and password of RABBITMQ_MANAGEMENT_URL)" : ""}`);
				}
				const body: unknown = await res.json();
				items.push(...parseListing(body));
				const pages = (body as { page_count?: unknown } | null)?.page_count;
				if (typeof pages !== "number" || page >= pages || page >= MAX_PAGES) break;
			}
			if (this.failing !== undefined) this.logger.info({ url: this.url }, "RabbitMQ management API answers again");
			this.failing = undefined;
			return items;
		} catch (err) {
			const cause = (err as { cause?: { code?: string; message?: string } }).cause;
			const reason =
				(err as { name?: string }).name === "TimeoutError"
					? `RabbitMQ management API did not answer within ${this.timeoutMs} ms`
					: `${errorMessage(err)}${cause?.code ?? cause?.message ? ` (${cause.code ?? cause.message})` : ""}`;
			const message = reason.startsWith("RabbitMQ management API") ? reason : `RabbitMQ management API unreachable: ${reason}`;
			if (this.failing === undefined) this.logger.warn({ url: this.url, err: message }, "cannot read queue counters; answering depths only");
			this.failing = message;
			throw new Error(message, { cause: err });
		}
	}
}

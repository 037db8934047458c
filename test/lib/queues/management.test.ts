/**
 * The management API reader of the RabbitMQ backend (lib/queues/management.ts), without a broker:
 * - the mapping from GET /api/queues/{vhost} JSON to counters, and from counters to QueueStats (pure functions);
 * - against a local HTTP server standing in for the API: one request for every queue asked in the same turn, Basic
 *   auth from the URL's credentials (never in the URL sent, the logs or the errors), and a short timeout.
 */
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { pino } from "pino";
import { RabbitManagement, managementCounters, parseListing, vhostOf, type ManagementQueue } from "../../../lib/queues/management.ts";
import { redactUrl } from "../../../lib/log.ts";
import { withCounters } from "../../../lib/queues/rabbitmq.ts";

describe("managementCounters (API JSON -> counters)", () => {
	const listing: ManagementQueue[] = [
		{ name: "pw.jobs", message_stats: { publish: 10, ack: 9, deliver_no_ack: 0, get_no_ack: 0 }, head_message_timestamp: 1_700_000_000 },
		// retry level 1's jitter buckets, and level 2's queue as earlier versions declared it (no bucket)
		{ name: "pw.jobs.retry.1.0", message_stats: { publish: 2 } },
		{ name: "pw.jobs.retry.1.3", message_stats: { publish: 1 } },
		{ name: "pw.jobs.retry.2", message_stats: { publish: 1 } },
		{ name: "pw.jobs.dlq", message_stats: { publish: 1 } },
		{ name: "pw.jobsX.retry.1.0", message_stats: { publish: 100 } },
		{ name: "pw.other", message_stats: { publish: 5, ack: 2, deliver_no_ack: 1, get_no_ack: 1 } }
	];

	it("published is the queue's publish count; settled its acks (and no-ack takes) less the failed attempts sent to its retry queues", () => {
		// 10 published; 9 acks = 5 handled + 1 dead-lettered + 3 attempts that went to retry.1 (1 of them again to retry.2)
		assert.deepEqual(managementCounters("pw.jobs", listing), { published: 10, settled: 5, headTimestampMs: 1_700_000_000_000 });
		assert.deepEqual(managementCounters("pw.other", listing), { published: 5, settled: 4 });
	});

	it("a queue with no message_stats yet has counted nothing; an unlisted queue is null; counters never go negative", () => {
		assert.deepEqual(managementCounters("pw.new", [{ name: "pw.new" }]), { published: 0, settled: 0 });
		assert.equal(managementCounters("pw.gone", listing), null);
		// samples of Q and its retry queue are taken at different moments: a retry publish seen before Q's ack
		assert.deepEqual(managementCounters("q", [{ name: "q", message_stats: { publish: 1, ack: 0 } }, { name: "q.retry.1", message_stats: { publish: 1 } }]), { published: 1, settled: 0 });
	});

	it("ignores values that are not counts, and a head timestamp of 0", () => {
		const odd = [{ name: "q", message_stats: { publish: "7", ack: -1 }, head_message_timestamp: 0 }] as unknown as ManagementQueue[];
		assert.deepEqual(managementCounters("q", odd), { published: 0, settled: 0 });
	});

	it("parseListing takes a paged answer or a plain list, and refuses anything else", () => {
		assert.deepEqual(parseListing({ items: [{ name: "a" }, { nope: 1 }], page: 1 }), [{ name: "a" }]);
		assert.deepEqual(parseListing([{ name: "b" }]), [{ name: "b" }]);
		assert.throws(() => parseListing({ error: "not_authorised" }), /unexpected answer from the management API/);
	});
});

describe("withCounters (AMQP stats + counters -> QueueStats)", () => {
	const now = 1_700_000_010_000;
	it("adds the counters and the head's age when messages wait", () => {
		const s = withCounters({ queue: "q", ready: 2, dead: 0, consumers: 0 }, { published: 2, settled: 0, headTimestampMs: 1_700_000_000_000 }, now);
		assert.deepEqual(s, { queue: "q", ready: 2, dead: 0, consumers: 0, published: 2, settled: 0, oldestAgeMs: 10_000 });
	});
	it("the age is unknown (absent) when the broker gives no head timestamp (quorum queues), null when nothing waits", () => {
		assert.equal("oldestAgeMs" in withCounters({ queue: "q", ready: 2, dead: 0, consumers: 1 }, { published: 2, settled: 0 }, now), false);
		assert.equal(withCounters({ queue: "q", ready: 0, dead: 0, consumers: 1 }, { published: 2, settled: 2, headTimestampMs: now - 5000 }, now).oldestAgeMs, null);
	});
	it("a queue the API does not list yet has counted nothing; an unreadable API leaves depths only, with the reason", () => {
		assert.deepEqual(withCounters({ queue: "q", ready: 0, dead: 0, consumers: 0 }, null, now), { queue: "q", ready: 0, dead: 0, consumers: 0, published: 0, settled: 0, oldestAgeMs: null });
		assert.deepEqual(withCounters({ queue: "q", ready: 1, dead: 0, consumers: 0 }, new Error("RabbitMQ management API unreachable: fetch failed"), now), {
			queue: "q",
			ready: 1,
			dead: 0,
			consumers: 0,
			countersError: "RabbitMQ management API unreachable: fetch failed"
		});
	});
});

describe("URLs", () => {
	it("vhostOf reads the AMQP URL's vhost", () => {
		assert.equal(vhostOf("amqp://u:p@h:5672"), "/");
		assert.equal(vhostOf("amqp://u:p@h:5672/"), "/");
		assert.equal(vhostOf("amqp://u:p@h:5672/%2F"), "/");
		assert.equal(vhostOf("amqps://u:p@h/paper%20work"), "paper work");
	});
	it("redactUrl hides the password, in a URL and in a string that is not one", () => {
		assert.equal(redactUrl("http://mon:s3cret@h:15672/"), "http://mon:***@h:15672/");
		// a mistyped URL (no scheme's colon) is not a URL, but its password is still masked
		assert.equal(redactUrl("http//mon:s3cret@h:15672/"), "http//mon:***@h:15672/");
		assert.equal(redactUrl("not a url"), "not a url");
	});
});

// a stand-in for the management API: counts requests, answers a fixed listing after `delayMs`
const requests: { url: string; auth: string | undefined }[] = [];
let delayMs = 0;
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
	requests.push({ url: req.url ?? "", auth: req.headers.authorization });
	setTimeout(() => {
		res.writeHead(200, { "content-type": "application/json" });
		const u = new URL(req.url ?? "", "http://x");
		if (u.searchParams.get("name")?.includes("paged")) {
			// a listing longer than a page: the API pages it (page_count), each page asked for by number
			const page = Number(u.searchParams.get("page"));
			const items = page === 1 ? [{ name: "pw.paged", message_stats: { publish: 9, ack: 9 } }] : [{ name: "pw.paged.retry.1.2", message_stats: { publish: 4 } }];
			res.end(JSON.stringify({ items, page, page_count: 2 }));
			return;
		}
		res.end(JSON.stringify({ items: [{ name: "pw.a", message_stats: { publish: 4, ack: 1 } }, { name: "pw.b", message_stats: { publish: 2 } }, { name: "pw.a.retry.1", message_stats: { publish: 1 } }] }));
	}, delayMs);
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const port = (server.address() as AddressInfo).port;
after(() => new Promise<void>((r) => server.close(() => r())));

const lines: string[] = [];
const logger = pino({ level: "info" }, new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) }));

describe("RabbitManagement against a stand-in API", () => {
	it("asks once for every queue of the same turn, on the AMQP vhost, with Basic auth from the URL", async () => {
		requests.length = 0;
		const m = new RabbitManagement({ url: `http://mon:s3cret@127.0.0.1:${port}/`, vhost: "/", logger });
		const [a, b, c] = await Promise.all([m.counters("pw.a"), m.counters("pw.b"), m.counters("pw.c")]);
		assert.deepEqual([a, b, c], [{ published: 4, settled: 0 }, { published: 2, settled: 0 }, null]);
		assert.equal(requests.length, 1);
		const u = new URL(requests[0]?.url ?? "", "http://x");
		assert.equal(u.pathname, "/api/queues/%2F");
		assert.equal(u.searchParams.get("name"), "^(pw\\.a|pw\\.b|pw\\.c)(\\.retry\\.\\d+(\\.\\d+)?)?$");
		assert.equal(u.searchParams.get("use_regex"), "true");
		assert.equal(requests[0]?.auth, `Basic ${Buffer.from("mon:s3cret").toString("base64")}`);
		assert.equal(m.url, `http://127.0.0.1:${port}/`);
		await m.counters("pw.a");
		assert.equal(requests.length, 2, "a later turn asks again (no stale cache)");
	});

	it("reads every page of a listing longer than one page", async () => {
		requests.length = 0;
		const m = new RabbitManagement({ url: `http://127.0.0.1:${port}/`, vhost: "/", logger });
		assert.deepEqual(await m.counters("pw.paged"), { published: 9, settled: 5 });
		assert.deepEqual(requests.map((r) => new URL(r.url, "http://x").searchParams.get("page")), ["1", "2"]);
	});

	it("gives up after its timeout with an error that names the API, logs the failure once and without the password", async () => {
		delayMs = 500;
		lines.length = 0;
		try {
			const m = new RabbitManagement({ url: `http://mon:s3cret@127.0.0.1:${port}`, vhost: "/", logger, timeoutMs: 100 });
			const first = await m.counters("pw.a");
			assert.ok(first instanceof Error);
			assert.equal(first.message, "RabbitMQ management API did not answer within 100 ms");
			assert.ok((await m.counters("pw.a")) instanceof Error);
			assert.equal(lines.filter((l) => l.includes("cannot read queue counters")).length, 1, "a failure streak is logged once");
			assert.ok(!lines.join("").includes("s3cret"), "the password is never logged");
		} finally {
			delayMs = 0;
		}
	});

	it("an API that is down is an error saying so", async () => {
		const closed = createServer();
		await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
		const freePort = (closed.address() as AddressInfo).port;
		await new Promise<void>((r) => closed.close(() => r()));
		const m = new RabbitManagement({ url: `http://mon:s3cret@127.0.0.1:${freePort}`, vhost: "/", logger });
		const err = await m.counters("pw.a");
		assert.ok(err instanceof Error);
		assert.match(err.message, /^RabbitMQ management API unreachable: fetch failed \(ECONNREFUSED\)$/);
	});
});

/**
 * The gateway keeps an idle keep-alive connection open for HTTP_KEEPALIVE_S (default 65 s: longer than a load
 * balancer's idle timeout and than providers keep their pooled webhook connections idle; Node's own 5 s made the
 * gateway close connections a client was about to reuse). Here 1 s: reused after a short pause, closed after it.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { startTestNode, type TestNode } from "../helpers/node.ts";
import { loadConfig } from "../../config/index.ts";

let node: TestNode;
before(async () => {
	node = await startTestNode({ HTTP_KEEPALIVE_S: "1" }, ["api", "clients"]);
});
after(async () => {
	await node.close();
});

/** A raw keep-alive connection (no client pool of its own to close it first): GETs on it, and when the server closed it. */
async function connection(base: string): Promise<{ get(path: string): Promise<string>; closed: Promise<number>; destroy(): void }> {
	const { hostname, port } = new URL(base);
	const socket = net.connect(Number(port), hostname);
	await once(socket, "connect");
	let buffered = "";
	let waiting: ((head: string) => void) | undefined;
	socket.setEncoding("utf8");
	socket.on("data", (d: string) => {
		buffered += d;
		// one response at a time: its head, then a body of Content-Length bytes
		const headEnd = buffered.indexOf("\r\n\r\n");
		if (headEnd < 0 || !waiting) return;
		const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, headEnd))?.[1] ?? 0);
		if (Buffer.byteLength(buffered.slice(headEnd + 4)) < length) return;
		const head = buffered.slice(0, headEnd);
		buffered = "";
		const w = waiting;
		waiting = undefined;
		w(head);
	});
	const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())));
	return {
		get: (path) =>
			new Promise((resolve) => {
				waiting = resolve;
				socket.write(`GET ${new URL(base).pathname}${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: keep-alive\r\n\r\n`);
			}),
		closed,
		destroy: () => socket.destroy()
	};
}

test("an idle connection stays open for HTTP_KEEPALIVE_S and is closed after it", async () => {
	const c = await connection(node.url);
	try {
		assert.match(await c.get("/openapi.json"), /^HTTP\/1\.1 200[\s\S]*keep-alive: timeout=1/i);
		await new Promise((r) => setTimeout(r, 300));
		assert.match(await c.get("/openapi.json"), /^HTTP\/1\.1 200/, "the same connection answers again after a short pause");
		const t0 = Date.now();
		const idle = (await c.closed) - t0;
		assert.ok(idle >= 800 && idle < 4000, `closed by the gateway after ~1 s idle, not Node's 5 s (${idle} ms)`);
	} finally {
		c.destroy();
	}
});

test("HTTP_KEEPALIVE_S defaults to 65 s and refuses what is not a whole number of seconds from 1 to 3600", () => {
	assert.equal(loadConfig({}).http.keepAliveMs, 65_000);
	assert.throws(() => loadConfig({ HTTP_KEEPALIVE_S: "0" }), /HTTP_KEEPALIVE_S/);
	assert.throws(() => loadConfig({ HTTP_KEEPALIVE_S: "soon" }), /HTTP_KEEPALIVE_S/);
});

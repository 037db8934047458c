/**
 * The gateway's callback batcher: callbacks of one turn go to a notifier in one call, each answered on its own (a
 * refusal keeps its status and code), and the request a provider signed crosses the wire byte for byte.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CallbackBatcher, answerOf, fromWire, outcomeOf, toWire, type WireCallback, type WireOutcome } from "../../../lib/delivery/callbacks.ts";
import { httpError } from "../../../lib/api/errors.ts";
import type { CallbackRequest } from "../../../lib/delivery/provider.ts";

const request = (body: string): CallbackRequest => ({ method: "POST", url: "https://pw.example/api/v1/webhooks/twilio?x=1", headers: { "x-twilio-signature": "sig" }, query: { x: "1" }, rawBody: Buffer.from(body) });

test("a callback crosses the wire unchanged: its exact bytes, headers, URL and query", () => {
	const bytes = Buffer.from([0xe2, 0x82, 0xb9, 0x00, 0xff, 0x7b]);
	const back = fromWire(JSON.parse(JSON.stringify(toWire("twilio", { ...request(""), rawBody: bytes }))) as WireCallback);
	assert.equal(back.provider, "twilio");
	assert.deepEqual(back.req.rawBody, bytes);
	assert.equal(back.req.url, "https://pw.example/api/v1/webhooks/twilio?x=1");
	assert.deepEqual(back.req.headers, { "x-twilio-signature": "sig" });
	assert.deepEqual(back.req.query, { x: "1" });
});

test("callbacks of one turn make one call; each gets its own answer, a refusal its status and code", async () => {
	const calls: WireCallback[][] = [];
	const batcher = new CallbackBatcher(async (items) => {
		calls.push(items);
		return items.map((w): WireOutcome => (Buffer.from(w.rawBody, "base64").toString() === "bad" ? outcomeOf(httpError(401, "CALLBACK_REJECTED", "bad signature")) : { ok: true, answer: { kind: "events", applied: 1, duplicate: 0, unknown: 0 } }));
	});
	const [a, b, c] = await Promise.allSettled([batcher.call("twilio", request("a")), batcher.call("twilio", request("bad")), batcher.call("whatsapp", request("c"))]);
	assert.equal(calls.length, 1, "one call for the three");
	assert.deepEqual(calls[0]?.map((w) => w.provider), ["twilio", "twilio", "whatsapp"]);
	assert.deepEqual(a.status === "fulfilled" && a.value, { kind: "events", applied: 1, duplicate: 0, unknown: 0 });
	assert.equal(c.status, "fulfilled");
	assert.equal(b.status, "rejected");
	const err = (b as PromiseRejectedResult).reason as { code: number; type: string; message: string };
	assert.deepEqual([err.code, err.type, err.message], [401, "CALLBACK_REJECTED", "bad signature"]);
});

test("a failed call fails every callback in it (the providers post them again); an unexpected error is a 5xx", async () => {
	const batcher = new CallbackBatcher(async () => {
		throw new Error("no notifier node");
	});
	const out = await Promise.allSettled([batcher.call("rcs", request("a")), batcher.call("rcs", request("b"))]);
	assert.deepEqual(
		out.map((o) => o.status),
		["rejected", "rejected"]
	);
	const internal = outcomeOf(new Error("disk full"));
	assert.deepEqual(internal, { ok: false, status: 500, code: "INTERNAL_ERROR", message: "disk full" });
	assert.throws(() => answerOf(internal), (e: Error & { code?: unknown }) => e.message === "disk full" && e.code === undefined);
});

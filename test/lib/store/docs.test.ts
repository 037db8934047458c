/** Document helpers: Date revival, sort parsing, update normalisation, content comparison. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { comparedFields, getPath, keyOf, normaliseUpdate, parseSort, reviveInPlace, sameContent, sameValue } from "../../../lib/store/docs.ts";

describe("store document helpers", () => {
	it("revives full ISO timestamps with milliseconds only", () => {
		const d: Record<string, unknown> = reviveInPlace({ a: "2026-01-02T03:04:05.678Z", b: "2026-01-02T03:04:05Z", c: [{ d: "1999-12-31T23:59:59.999Z" }], e: "2026-01-02" } as Record<string, unknown>);
		assert.ok(d.a instanceof Date);
		assert.equal(d.b, "2026-01-02T03:04:05Z");
		assert.ok(((d.c as { d: unknown }[])[0]).d instanceof Date);
		assert.equal(d.e, "2026-01-02");
	});

	it("parses moleculer-db sorts", () => {
		assert.deepEqual(parseSort("-createdAt name"), [["createdAt", -1], ["name", 1]]);
		assert.deepEqual(parseSort(["-a", "b,c"]), [["a", -1], ["b", 1], ["c", 1]]);
		assert.deepEqual(parseSort(undefined), []);
	});

	it("treats a plain update object as $set and drops _id", () => {
		assert.deepEqual(normaliseUpdate({ a: 1 }), { $set: { a: 1 }, $inc: {}, $unset: {} });
		assert.deepEqual(normaliseUpdate({ $set: { _id: "x", b: 2 } }), { $set: { b: 2 }, $inc: {}, $unset: {} });
	});

	it("compares content as JSON would see it", () => {
		assert.ok(sameValue({ a: 1, b: [1, { c: new Date(5) }], u: undefined }, { b: [1, { c: new Date(5) }], a: 1 }));
		assert.ok(!sameValue({ a: 1 }, { a: 1, b: null }));
		assert.ok(!sameValue([1, 2], [2, 1]));
		assert.ok(!sameValue(new Date(1), new Date(2)));
		const ignore = new Set(["batch"]);
		assert.ok(sameContent({ _id: "x", version: 3, previous: { a: 0 }, a: 1, batch: "b1" }, { a: 1, batch: "b2" }, ignore));
		assert.deepEqual(comparedFields({ _id: "x", version: 1, a: 1, batch: "b" }, ignore), { a: 1 });
	});

	it("reads dotted paths and business keys", () => {
		assert.equal(getPath({ a: { b: { c: 3 } } }, "a.b.c"), 3);
		assert.equal(getPath({ a: 1 }, "a.b"), undefined);
		assert.deepEqual(keyOf({ c: "x", r: 1 }, ["c", "r"], 0), ["x", 1]);
		assert.throws(() => keyOf({ c: "x" }, ["c", "r"], 7), /#7 has no value for key field 'r'/);
	});
});

/**
 * The SQLite query translation: values are bound parameters (never in the SQL text), paths are JSON-path
 * literals matching the index expressions, and the Mongo-style edge cases translate as documented.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { bindValue, fieldExpr, jsonPath, limitOffset, orderBy, updateExpr, whereClause, type SqlValue } from "../../../lib/store/query.ts";

describe("query translation", () => {
	it("writes JSON paths for dotted fields, quoting unusual names and rejecting unsafe ones", () => {
		assert.equal(jsonPath("a"), "$.a");
		assert.equal(jsonPath("a.b.0"), "$.a.b[0]");
		assert.equal(jsonPath("contract-id"), '$."contract-id"');
		assert.throws(() => jsonPath("a'); --"), /invalid field name/);
		assert.equal(fieldExpr("_id"), "_id");
		assert.equal(fieldExpr("a.b"), "json_extract(doc, '$.a.b')");
	});

	it("binds every value as a parameter", () => {
		const params: SqlValue[] = [];
		const evil = "x' OR 1=1 --";
		const sql = whereClause({ a: evil, b: { $in: [evil, 2] }, c: { $gt: new Date("2026-01-01T00:00:00.000Z") }, d: true }, params);
		assert.ok(!sql.includes(evil));
		assert.deepEqual(params, [evil, evil, 2, "2026-01-01T00:00:00.000Z", 1]);
	});

	it("translates null, $ne, $nin and $exists with MongoDB's missing-field meaning", () => {
		const p: SqlValue[] = [];
		assert.equal(whereClause({ a: null }, p), "json_extract(doc, '$.a') IS NULL");
		assert.equal(whereClause({ a: { $ne: 1 } }, p), "json_extract(doc, '$.a') IS NOT ?");
		assert.equal(whereClause({ a: { $nin: [1] } }, p), "(json_extract(doc, '$.a') IS NULL OR json_extract(doc, '$.a') NOT IN (?))");
		assert.equal(whereClause({ a: { $exists: false } }, p), "json_type(doc, '$.a') IS NULL");
		assert.equal(whereClause({ a: { $in: [] } }, p), "0");
		assert.equal(whereClause({}, p), "1");
	});

	it("rejects unknown operators", () => {
		assert.throws(() => whereClause({ a: { $where: "1" } }, []), /unsupported query operator/);
		assert.throws(() => whereClause({ $text: { $search: "x" } }, []), /unsupported top-level/);
		assert.throws(() => updateExpr({ $push: { a: 1 } } as Record<string, unknown>, []), /unsupported update operator/);
	});

	it("builds ORDER BY, LIMIT and OFFSET", () => {
		assert.equal(orderBy("-createdAt name"), " ORDER BY json_extract(doc, '$.createdAt') DESC, json_extract(doc, '$.name') ASC");
		assert.equal(orderBy(["_id"]), " ORDER BY _id ASC");
		assert.equal(orderBy(undefined), "");
		const p: SqlValue[] = [];
		assert.equal(limitOffset(undefined, 5, p), " LIMIT ? OFFSET ?");
		assert.deepEqual(p, [-1, 5]);
		assert.equal(limitOffset(null, null, []), "");
	});

	it("builds one json_set/json_remove expression for an update", () => {
		const p: SqlValue[] = [];
		const expr = updateExpr({ $set: { "a.b": { x: 1 }, _id: "ignored" }, $inc: { n: 2 }, $unset: { gone: "" } }, p);
		assert.equal(expr, "json_remove(json_set(doc, '$.a.b', json(?), '$.n', coalesce(json_extract(doc, '$.n'), 0) + ?), '$.gone')");
		assert.deepEqual(p, ['{"x":1}', 2]);
		assert.equal(updateExpr({}, []), null);
		assert.throws(() => updateExpr({ $inc: { n: Number.NaN } }, []), /finite number/);
	});

	it("binds booleans, Dates and objects as SQLite values", () => {
		assert.equal(bindValue(false), 0);
		assert.equal(bindValue(new Date(0)), "1970-01-01T00:00:00.000Z");
		assert.equal(bindValue({ a: 1 }), '{"a":1}');
		assert.equal(bindValue(undefined), null);
	});
});

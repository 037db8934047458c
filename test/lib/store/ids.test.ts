/** Generated document IDs: 24 hex characters, unique, increasing within a process. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { newId } from "../../../lib/store/ids.ts";

describe("newId", () => {
	it("makes unique, increasing 24-hex IDs prefixed by the time", () => {
		const before = Date.now();
		const list = Array.from({ length: 10_000 }, () => newId());
		assert.ok(list.every((id) => /^[0-9a-f]{24}$/.test(id)));
		assert.equal(new Set(list).size, list.length);
		for (let i = 1; i < list.length; i++) assert.ok(list[i] > list[i - 1], `${list[i]} > ${list[i - 1]}`);
		assert.ok(parseInt(list[0].slice(0, 12), 16) >= before);
	});
});

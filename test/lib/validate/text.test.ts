import { test } from "node:test";
import assert from "node:assert/strict";
import { checkText, cleanText } from "../../../lib/validate/text.ts";

test("text is trimmed and NFC-normalised", () => {
	assert.equal(cleanText("  João  "), "João");
	assert.equal(cleanText("Jo\u0061\u0303o"), "Jo\u00e3o", "a + combining tilde becomes ã");
	assert.equal(cleanText("क्षत्रिय"), "क्षत्रिय".normalize("NFC"));
	assert.equal(cleanText("\u0915\u093c"), "\u0915\u093c".normalize("NFC"));
	assert.equal(cleanText(undefined), "");
});

test("length and control characters", () => {
	assert.deepEqual(checkText(" ok ", "name"), { ok: true, value: "ok" });
	const long = checkText("x".repeat(201), "name", { maxLength: 200 });
	assert.equal(long.ok ? "" : long.code, "too_long");
	const ctl = checkText("a\u0007b", "name");
	assert.equal(ctl.ok ? "" : ctl.code, "invalid_text");
	const nl = checkText("a\nb", "name");
	assert.equal(nl.ok ? "" : nl.code, "invalid_text");
	assert.deepEqual(checkText("a\nb", "address", { multiline: true }), { ok: true, value: "a\nb" });
});

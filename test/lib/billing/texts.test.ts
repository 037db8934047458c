import { test } from "node:test";
import assert from "node:assert/strict";
import { statementText } from "../../../lib/delivery/texts.ts";

const w = { name: "Asha Rao", loanId: "L-100", amountDue: "12345.5", dueDate: "2026-03-17", statementDate: "2026-03-10" };

test("the statement SMS: amount and due date as the language writes them, and the link when there is a PDF", () => {
	assert.deepEqual(statementText("en", w, "https://x.example/s"), {
		subject: "Your loan statement (L-100, 10 March 2026)",
		body: "Dear Asha Rao, your loan L-100 statement: ₹12,345.50 due by 17 March 2026. Statement: https://x.example/s"
	});
	assert.match(statementText("mr", w).body, /₹१२,३४५\.५०/);
	assert.match(statementText("hi", w).body, /17 मार्च 2026 तक ₹12,345\.50 देय है/);
	assert.ok(!statementText("gu", w).body.includes("http"));
	assert.match(statementText("en", { ...w, amountDue: "0.00" }).body, /nothing is due/);
	assert.equal(statementText("fr", w).subject, "Your loan statement (L-100, 10 March 2026)");
});

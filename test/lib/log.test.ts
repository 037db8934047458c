import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { createLogger, maskCpf, maskEmail, maskName, maskPhone, withLogContext } from "../../lib/log.ts";

function capture() {
	const stream = new PassThrough();
	const lines: Record<string, unknown>[] = [];
	stream.on("data", (d: Buffer) => {
		for (const l of d.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l));
	});
	return { logger: createLogger({ level: "info", format: "json", destination: stream }), lines };
}

test("maskers keep just enough to tell records apart", () => {
	assert.equal(maskCpf("123.456.789-09"), "***.***.*89-09");
	assert.equal(maskPhone("+5511987654321"), "+55*******4321");
	assert.equal(maskEmail("maria.silva@example.com"), "m***@example.com");
	assert.equal(maskName("Maria da Silva"), "M. d. S.");
});

test("log lines carry the IDs of the work in hand, nested contexts merge", async () => {
	const { logger, lines } = capture();
	await withLogContext({ requestId: "r-1", batchId: "b-1" }, async () => {
		logger.info("outer");
		await withLogContext({ chunk: 3 }, async () => logger.info("inner"));
	});
	logger.info("outside");
	await new Promise((r) => setImmediate(r));
	assert.equal(lines[0].requestId, "r-1");
	assert.equal(lines[0].batchId, "b-1");
	assert.equal(lines[1].chunk, 3);
	assert.equal(lines[1].batchId, "b-1");
	assert.equal(lines[2].requestId, undefined);
});

test("personal data in logged objects is masked at any depth", async () => {
	const { logger, lines } = capture();
	logger.info({ record: { debtor_cpf: "12345678909", debtor_name: "Maria Silva", email: "maria@x.com", phone: "+5511987654321", amount: "10.00" } }, "row");
	await new Promise((r) => setImmediate(r));
	const text = JSON.stringify(lines[0]);
	for (const secret of ["12345678909", "Maria Silva", "maria@x.com", "+5511987654321"]) assert.ok(!text.includes(secret), `${secret} leaked`);
	assert.ok(text.includes('"amount":"10.00"'));
});

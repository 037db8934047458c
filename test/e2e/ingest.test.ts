/**
 * Ingestion end to end through the HTTP API on the embedded default: uploads (CSV, XLSX, multipart), client
 * formats, REST batches, the inbox, repeats, updates, file-level failures, rejections, and the client report.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingMessage } from "node:http";
import { createHmac } from "node:crypto";
import ExcelJS from "exceljs";
import { SMTPServer } from "smtp-server";
import { startTestNode, http, bearer, apiKey, freePort, metricSamples, type TestNode } from "../helpers/node.ts";
import { debtCsv, debtRow, waitForBatch, cpf, type BatchBody } from "../helpers/ingest.ts";

let node: TestNode;
let smtpPort = 0;
let metricsPort = 0;
const mails: { to: string; body: string }[] = [];
let smtp: SMTPServer;

before(async () => {
	smtpPort = await freePort();
	smtp = new SMTPServer({
		authOptional: true,
		disabledCommands: ["STARTTLS"],
		onData(stream, session, cb) {
			let body = "";
			stream.on("data", (d: Buffer) => (body += d.toString()));
			stream.on("end", () => {
				mails.push({ to: session.envelope.rcptTo.map((r) => r.address).join(","), body });
				cb();
			});
		}
	});
	await new Promise<void>((r) => smtp.listen(smtpPort, "127.0.0.1", r));
	metricsPort = await freePort();
	node = await startTestNode({ METRICS_PORT: String(metricsPort), INBOX_POLL_MS: "0", CHUNK_ROWS: "3", UPLOAD_LIMIT_MB: "1", SMTP_URL: `smtp://127.0.0.1:${smtpPort}`, QUEUE_RETRY_DELAY_MS: "50" });
});

after(async () => {
	await node.close();
	await new Promise<void>((r) => smtp.close(() => r()));
});

async function newClient(name: string, settings: Record<string, unknown> = {}): Promise<{ id: string; key: string }> {
	const res = await http<{ id: string; apiKey: string }>(`${node.url}/clients`, { method: "POST", headers: bearer(node.adminToken), json: { name, ...settings } });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	return { id: res.body.id, key: res.body.apiKey };
}

async function upload(key: string, body: string | Buffer, query = "?kind=debt", headers: Record<string, string> = { "Content-Type": "text/csv" }) {
	return http<{ batchId: string; status: string; error?: { code: string; message: string; details?: { batchId: string } } }>(`${node.url}/uploads${query}`, { method: "POST", headers: { ...apiKey(key), ...headers }, body });
}

async function rejections(key: string, id: string) {
	const res = await http<{ items: { line: number; field: string; code: string; message: string }[] }>(`${node.url}/batches/${id}/rejections`, { headers: apiKey(key) });
	assert.equal(res.status, 200);
	return res.body.items;
}

test("a default-format file with good and bad rows: exact counts and reasons, across chunks", async () => {
	const c = await newClient("default-co");
	const rows = [
		debtRow(1),
		debtRow(2, { debtor_cpf: "123.456.789-00" }), // bad check digits
		debtRow(3, { amount: "10.123" }), // 3 decimals
		debtRow(4, { due_date: "2025-02-30" }), // not a date
		debtRow(5),
		debtRow(6, { debtor_name: "" }), // required
		debtRow(7, { phone: "123" }), // not a phone
		debtRow(1, { amount: "999.00" }) // duplicate of line 2, in another chunk (CHUNK_ROWS=3)
	];
	const up = await upload(c.key, debtCsv(rows));
	assert.equal(up.status, 202);
	assert.equal(up.body.status, "RECEIVED");
	const b = await waitForBatch(node.url, c.key, up.body.batchId);
	assert.equal(b.status, "COMPLETED");
	assert.deepEqual(b.counts, { received: 8, valid: 2, rejected: 6, skipped: 0, inserted: 2, updated: 0, unchanged: 0 });
	assert.deepEqual(b.chunks, { total: 3, done: 3 });
	const rej = await rejections(c.key, up.body.batchId);
	assert.deepEqual(
		rej.map((r) => [r.line, r.field, r.code]),
		[
			[3, "debtor_cpf", "invalid_cpf"],
			[4, "amount", "too_many_decimals"],
			[5, "due_date", "invalid_date"],
			[7, "debtor_name", "required"],
			[8, "phone", "invalid_phone"],
			[9, "contract_id", "duplicate_key"]
		]
	);
	assert.match(rej[5].message, /already appeared on line 2/);
	const csv = await fetch(`${node.url}/batches/${up.body.batchId}/rejections?format=csv`, { headers: apiKey(c.key) });
	assert.match(csv.headers.get("content-type") ?? "", /text\/csv/);
	const text = await csv.text();
	assert.equal(text.split("\n")[0], "line,field,code,message");
	assert.equal(text.trim().split("\n").length, 7);
	const rec = await http<{ items: { data: Record<string, string>; version: number }[] }>(`${node.url}/records?kind=debt&contract_id=C000001`, { headers: apiKey(c.key) });
	assert.equal(rec.body.items.length, 1);
	assert.equal(rec.body.items[0].data.amount, "101.50", "the first row of a key wins");
	assert.equal(rec.body.items[0].data.phone, "+5511987654321");
});

test("a client format is checked when it is set: 400 naming the bad property", async () => {
	const res = await http<{ error: { code: string; message: string; details: { field: string }[] } }>(`${node.url}/clients`, {
		method: "POST",
		headers: bearer(node.adminToken),
		json: { name: "bad-format-co", format: { kind: "debt", delimiter: "#", columns: { CPF: "debtor_cpf" } } }
	});
	assert.equal(res.status, 400);
	assert.ok(res.body.error.details.some((d) => d.field === "format.delimiter"), JSON.stringify(res.body));
});

test("a Latin-1, semicolon, DD/MM/YYYY, 1.234,56 client file registers correctly", async () => {
	const format = {
		kind: "debt",
		delimiter: ";",
		encoding: "latin1",
		dateFormat: "DD/MM/YYYY",
		decimalSeparator: ",",
		thousandsSeparator: ".",
		columns: { CONTRATO: "contract_id", DEVEDOR: "debtor_name", CPF: "debtor_cpf", VALOR: "amount", VENCIMENTO: "due_date", TELEFONE: "phone" }
	};
	const c = await newClient("latin-co", { format });
	const lines = ["CONTRATO;DEVEDOR;CPF;VALOR;VENCIMENTO;TELEFONE;EXTRA", `X-1;João Conceição;${cpf(11)};1.234,56;05/03/2025;(21) 3456-7890;x`, `X-2;Ana Çá;${cpf(12)};"12,00";31/12/2024;;y`];
	const bytes = Buffer.from(lines.join("\r\n") + "\r\n", "latin1");
	const up = await upload(c.key, bytes, "");
	assert.equal(up.status, 202, JSON.stringify(up.body));
	const b = await waitForBatch(node.url, c.key, up.body.batchId);
	assert.equal(b.status, "COMPLETED", JSON.stringify(b));
	assert.equal(b.counts.inserted, 2);
	assert.deepEqual(b.unknownColumns, ["EXTRA"]);
	const rec = await http<{ items: { data: Record<string, string> }[] }>(`${node.url}/records?contract_id=X-1`, { headers: apiKey(c.key) });
	const d = rec.body.items[0].data;
	assert.equal(d.debtor_name, "João Conceição");
	assert.equal(d.amount, "1234.56");
	assert.equal(d.due_date, "2025-03-05");
	assert.equal(d.phone, "+552134567890");
	const byName = await http<{ items: unknown[] }>(`${node.url}/records?q=${encodeURIComponent("conceicao")}`, { headers: apiKey(c.key) });
	assert.equal(byName.body.items.length, 1, "search folds accents");
	const byPhone = await http<{ items: { key: string }[] }>(`${node.url}/records?phone=${encodeURIComponent("(21) 3456-7890")}`, { headers: apiKey(c.key) });
	assert.deepEqual(byPhone.body.items.map((r) => r.key), ["X-1"], "a phone as typed finds the record it was stored with");
	const byBatch = await http<{ total: number }>(`${node.url}/records?batchId=${up.body.batchId}`, { headers: apiKey(c.key) });
	assert.equal(byBatch.body.total, 2);
});

test("an XLSX upload (multipart) registers its rows with sheet line numbers", async () => {
	const c = await newClient("xlsx-co");
	const wb = new ExcelJS.Workbook();
	const ws = wb.addWorksheet("Debts");
	ws.addRow(["contract_id", "debtor_name", "debtor_cpf", "amount", "due_date", "email", "phone"]);
	ws.addRow(["XL-1", "Maria", cpf(21), 1500.5, new Date(Date.UTC(2025, 0, 10)), "", ""]);
	ws.addRow(["XL-2", "Pedro", "00000000000", 10, new Date(Date.UTC(2025, 0, 11)), "", ""]);
	const buf = Buffer.from(await wb.xlsx.writeBuffer());
	const form = new FormData();
	form.append("file", new Blob([buf]), "debts.xlsx");
	const res = await fetch(`${node.url}/uploads?kind=debt`, { method: "POST", headers: apiKey(c.key), body: form });
	assert.equal(res.status, 202);
	const { batchId } = (await res.json()) as { batchId: string };
	const b = await waitForBatch(node.url, c.key, batchId);
	assert.equal(b.status, "COMPLETED", JSON.stringify(b));
	assert.deepEqual([b.counts.inserted, b.counts.rejected], [1, 1]);
	const rej = await rejections(c.key, batchId);
	assert.deepEqual(rej.map((r) => [r.line, r.field, r.code]), [[3, "debtor_cpf", "invalid_cpf"]]);
	const got = await http<{ items: { data: Record<string, string> }[]; total: number }>(`${node.url}/records?contract_id=XL-1`, { headers: apiKey(c.key) });
	assert.equal(got.body.items[0].data.amount, "1500.50");
	assert.equal(got.body.items[0].data.due_date, "2025-01-10");
	const view = await http<{ file: { name: string; type: string } }>(`${node.url}/batches/${batchId}`, { headers: apiKey(c.key) });
	assert.deepEqual(view.body.file, { name: "debts.xlsx", size: buf.length, type: "xlsx" });
});

test("REST lines: open, add rows in calls, submit; counts, line numbers and rejections", async () => {
	const c = await newClient("rest-co");
	const open = await http<{ id: string; status: string }>(`${node.url}/batches`, { method: "POST", headers: apiKey(c.key), json: { kind: "debt" } });
	assert.equal(open.status, 201);
	assert.equal(open.body.status, "OPEN");
	assert.match(open.headers.get("location") ?? "", new RegExp(`/api/v1/batches/${open.body.id}$`));
	const id = open.body.id;
	const add1 = await http<{ accepted: number; lines: { first: number; last: number } }>(`${node.url}/batches/${id}/records`, { method: "POST", headers: apiKey(c.key), json: [debtRow(31), debtRow(32), { ...debtRow(33), amount: 12.5 }, debtRow(34)] });
	assert.equal(add1.status, 202);
	assert.deepEqual(add1.body.lines, { first: 1, last: 4 });
	const add2 = await http<{ accepted: number; lines: { first: number; last: number } }>(`${node.url}/batches/${id}/records`, { method: "POST", headers: apiKey(c.key), json: [debtRow(35, { debtor_cpf: "1" }), debtRow(31)] });
	assert.deepEqual(add2.body.lines, { first: 5, last: 6 });
	const bad = await http<{ error: { message: string } }>(`${node.url}/batches/${id}/records`, { method: "POST", headers: apiKey(c.key), json: [debtRow(36), "not a row"] });
	assert.equal(bad.status, 400);
	assert.match(bad.body.error.message, /row 2 of this call is not an object/);
	const sub = await http<{ status: string }>(`${node.url}/batches/${id}/submit`, { method: "POST", headers: apiKey(c.key) });
	assert.equal(sub.status, 202);
	assert.equal(sub.body.status, "RECEIVED");
	const late = await http(`${node.url}/batches/${id}/records`, { method: "POST", headers: apiKey(c.key), json: [debtRow(37)] });
	assert.equal(late.status, 409);
	const b = await waitForBatch(node.url, c.key, id);
	assert.deepEqual(b.counts, { received: 6, valid: 4, rejected: 2, skipped: 0, inserted: 4, updated: 0, unchanged: 0 });
	const rej = await rejections(c.key, id);
	assert.deepEqual(rej.map((r) => [r.line, r.code]), [[5, "invalid_cpf"], [6, "duplicate_key"]]);
	const rec = await http<{ items: { data: Record<string, string> }[] }>(`${node.url}/records?contract_id=C000033`, { headers: apiKey(c.key) });
	assert.equal(rec.body.items[0].data.amount, "12.50");
});

test("a file dropped in the inbox becomes a batch; an unknown client's file or an oversized one is moved aside", async () => {
	const c = await newClient("inbox-co");
	await node.platform.objects.put(`inbox/${c.id}/march.csv`, debtCsv([debtRow(41), debtRow(42)]));
	await node.platform.objects.put("inbox/nobody/x.csv", debtCsv([debtRow(43)]));
	await node.platform.objects.put(`inbox/${c.id}/huge.csv`, debtCsv(Array.from({ length: 15000 }, (_, i) => debtRow(5000 + i))));
	const scan = await http<{ taken: number }>(`${node.url}/inbox/scan`, { method: "POST", headers: bearer(node.operatorToken) });
	assert.equal(scan.status, 200);
	assert.equal(scan.body.taken, 1);
	const list = await http<{ items: { id: string; source: string }[] }>(`${node.url}/batches`, { headers: apiKey(c.key) });
	const batch = list.body.items.find((i) => i.source === "inbox");
	assert.ok(batch);
	const b = await waitForBatch(node.url, c.key, batch.id);
	assert.equal(b.counts.inserted, 2);
	assert.equal(await node.platform.objects.stat(`inbox/${c.id}/march.csv`), null, "taken out of the inbox");
	assert.ok(await node.platform.objects.stat("rejected/inbox/nobody/x.csv"));
	const huge = await node.platform.objects.stat(`rejected/inbox/${c.id}/huge.csv`);
	assert.match(huge?.metadata.reason ?? "", /larger than the limit of 1 MiB/);
	assert.equal((await http<{ taken: number }>(`${node.url}/inbox/scan`, { method: "POST", headers: bearer(node.operatorToken) })).body.taken, 0);
});

test("the same file twice: 409 with the earlier batch ID; re-sending changed rows updates them", async () => {
	const c = await newClient("repeat-co");
	const first = debtCsv([debtRow(51), debtRow(52)]);
	const up1 = await upload(c.key, first);
	await waitForBatch(node.url, c.key, up1.body.batchId);
	const again = await upload(c.key, first);
	assert.equal(again.status, 409);
	assert.equal(again.body.error?.details?.batchId, up1.body.batchId);
	assert.match(again.body.error?.message ?? "", new RegExp(up1.body.batchId));
	const changed = await upload(c.key, debtCsv([debtRow(51, { amount: "777.00" }), debtRow(52), debtRow(53)]));
	const b = await waitForBatch(node.url, c.key, changed.body.batchId);
	assert.deepEqual([b.counts.inserted, b.counts.updated, b.counts.unchanged], [1, 1, 1]);
	const rec = await http<{ items: { id: string; version: number; data: Record<string, string> }[] }>(`${node.url}/records?contract_id=C000051`, { headers: apiKey(c.key) });
	assert.equal(rec.body.items[0].version, 2);
	assert.equal(rec.body.items[0].data.amount, "777.00");
	const one = await http<{ previous: Record<string, string> }>(`${node.url}/records/${rec.body.items[0].id}`, { headers: apiKey(c.key) });
	assert.equal(one.body.previous.amount, "151.50", "the previous values are kept");
});

test("file-level problems: 415, 413, empty, header only, missing columns; another client's batch is 404", async () => {
	const c = await newClient("bad-files-co");
	const pdf = await upload(c.key, Buffer.from("%PDF-1.7\n%âãÏÓ\n1 0 obj\n<<>>\nendobj\n"), "?kind=debt", { "Content-Type": "application/pdf" });
	assert.equal(pdf.status, 415);
	const big = await upload(c.key, debtCsv(Array.from({ length: 15000 }, (_, i) => debtRow(1000 + i))));
	assert.equal(big.status, 413);
	const empty = await upload(c.key, "");
	assert.equal((await waitForBatch(node.url, c.key, empty.body.batchId)).error?.code, "empty_file");
	const headerOnly = await upload(c.key, "contract_id,debtor_name,debtor_cpf,amount,due_date\n");
	const ho = await waitForBatch(node.url, c.key, headerOnly.body.batchId);
	assert.equal(ho.status, "FAILED");
	assert.match(ho.error?.message ?? "", /no data rows/);
	const missing = await upload(c.key, "contract_id,debtor_name,value\nA,B,1\n");
	const m = await waitForBatch(node.url, c.key, missing.body.batchId);
	assert.equal(m.status, "FAILED");
	assert.match(m.error?.message ?? "", /missing required columns: debtor_cpf, amount, due_date/);
	const other = await newClient("other-co");
	assert.equal((await http(`${node.url}/batches/${missing.body.batchId}`, { headers: apiKey(other.key) })).status, 404);
	assert.equal((await http(`${node.url}/batches/${missing.body.batchId}/rejections`, { headers: apiKey(other.key) })).status, 404);
	assert.equal((await upload(c.key, "x", "?kind=invoice")).status, 400);
});

test("when a batch finishes the client gets a signed webhook and an email", async () => {
	const hookPort = await freePort();
	const got: { body: string; headers: IncomingMessage["headers"] }[] = [];
	let failFirst = true;
	const server = createServer((req, res) => {
		let body = "";
		req.on("data", (d: Buffer) => (body += d.toString()));
		req.on("end", () => {
			if (failFirst) {
				failFirst = false;
				res.writeHead(503).end();
				return;
			}
			got.push({ body, headers: req.headers });
			res.writeHead(204).end();
		});
	});
	server.listen(hookPort, "127.0.0.1");
	await once(server, "listening");
	try {
		const secret = "hook-secret-0123456789";
		const c = await newClient("hook-co", { webhook: { url: `http://127.0.0.1:${hookPort}/paperwork`, secret }, email: "ops@hook.example" });
		const up = await upload(c.key, debtCsv([debtRow(61), debtRow(62, { amount: "-1" })]));
		await waitForBatch(node.url, c.key, up.body.batchId);
		for (let i = 0; i < 100 && (got.length === 0 || !mails.some((m) => m.to === "ops@hook.example")); i++) await new Promise((r) => setTimeout(r, 100));
		assert.equal(got.length, 1, "delivered once, after one failed try");
		const sig = got[0].headers["x-paperwork-signature"];
		assert.equal(sig, `sha256=${createHmac("sha256", secret).update(got[0].body).digest("hex")}`);
		const payload = JSON.parse(got[0].body) as { event: string; batch: BatchBody };
		assert.equal(payload.event, "batch.finished");
		assert.equal(payload.batch.id, up.body.batchId);
		assert.deepEqual([payload.batch.counts.valid, payload.batch.counts.rejected], [1, 1]);
		const mail = mails.find((m) => m.to === "ops@hook.example");
		assert.ok(mail);
		assert.match(mail.body, /Rejected: +1/);
	} finally {
		server.close();
	}
});



test("records by CPF: a client finds its own debtor, formatted or not, and never another client's", async () => {
	const shared = cpf(4242);
	const a = await newClient("cpf-a");
	const b = await newClient("cpf-b");
	for (const [c, contract] of [[a, "A-1"], [b, "B-1"]] as const) {
		const up = await upload(c.key, debtCsv([debtRow(4242, { contract_id: contract })]));
		assert.equal(up.status, 202);
		assert.equal((await waitForBatch(node.url, c.key, up.body.batchId)).status, "COMPLETED");
	}
	const formatted = `${shared.slice(0, 3)}.${shared.slice(3, 6)}.${shared.slice(6, 9)}-${shared.slice(9)}`;
	for (const [c, contract] of [[a, "A-1"], [b, "B-1"]] as const) {
		for (const q of [shared, formatted]) {
			const got = await http<{ items: { key: string }[]; total: number }>(`${node.url}/records?cpf=${encodeURIComponent(q)}`, { headers: apiKey(c.key) });
			assert.equal(got.status, 200);
			assert.deepEqual([got.body.total, got.body.items.map((r) => r.key)], [1, [contract]]);
		}
	}
});

test("metrics: rows per client, and the CPU the parse threads and the registry's write thread use", async () => {
	const c = await newClient("metrics-co");
	const up = await upload(c.key, debtCsv([debtRow(1), debtRow(2), debtRow(3, { amount: "-1" }), debtRow(4)]));
	assert.equal((await waitForBatch(node.url, c.key, up.body.batchId)).status, "COMPLETED");
	const value = async (name: string, labels: RegExp): Promise<number> => {
		const samples = await metricSamples(metricsPort, name);
		const sample = samples.find((m) => labels.test(m.labels));
		assert.ok(sample, `${name} with ${labels} among ${JSON.stringify(samples)}`);
		return sample.value;
	};
	assert.equal(await value("paperwork_rows_received_total", new RegExp(`client="${c.id}"`)), 4);
	assert.equal(await value("paperwork_rows_rejected_total", new RegExp(`client="${c.id}"`)), 1);
	assert.ok(await value("paperwork_thread_cpu_seconds_total", /pool="parse"/) > 0);
	assert.ok(await value("paperwork_thread_cpu_seconds_total", /pool="register"/) > 0);
});

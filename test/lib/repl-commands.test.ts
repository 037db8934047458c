/**
 * The operator's REPL commands, called as moleculer-repl calls them, and `npm run repl` itself driven over stdin.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { replCommands } from "../../lib/repl-commands.ts";
import { ROOT, startTestNode, tempDir, http, apiKey, type TestNode } from "../helpers/node.ts";
import { waitForBatch } from "../helpers/ingest.ts";

let node: TestNode;
before(async () => {
	node = await startTestNode();
	await node.broker.call("clients.create", { name: "repl-co", email: "ops@repl.example" });
});
after(async () => {
	await node.close();
});

async function run(command: string, args: Record<string, string | undefined> = {}): Promise<string> {
	const lines: string[] = [];
	const cmd = replCommands((l) => lines.push(l)).find((c) => c.command.split(" ")[0] === command);
	assert.ok(cmd, `command ${command} exists`);
	await cmd.action(node.broker, args);
	return lines.join("\n");
}

test("health lists this node with every dependency up", async () => {
	const out = await run("health");
	assert.match(out, /node +status +store +objects +queues +search +transporter/);
	assert.match(out, new RegExp(`${node.broker.nodeID} +ok +up +up +up +up +up`));
});

test("clients lists clients with their IDs", async () => {
	const out = await run("clients");
	assert.match(out, /repl-co +.*ops@repl\.example/);
});

test("queues lists every work queue; dlq list/replay/purge answer for a known queue", async () => {
	const out = await run("queues");
	for (const q of ["files.arrived", "chunks.ready", "chunks.staged", "cases.dispatch", "cases.rendered"]) assert.match(out, new RegExp(q.replace(".", "\\.")));
	assert.equal(await run("dlq", { verb: "list", queue: "chunks.ready" }), "(none)");
	assert.equal(await run("dlq", { verb: "replay", queue: "chunks.ready" }), "replayed 0 message(s) onto chunks.ready");
	assert.equal(await run("dlq", { verb: "purge", queue: "chunks.ready" }), "purged 0 dead letter(s) of chunks.ready");
	await assert.rejects(run("dlq", { verb: "list", queue: "nope" }), /unknown queue 'nope'/);
	assert.match(await run("dlq", { verb: "explode", queue: "chunks.ready" }), /unknown verb 'explode'/);
});

test("npm run repl (embedded) answers the health command typed at its prompt", async () => {
	const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", path.join(ROOT, "scripts/repl.ts")], {
		cwd: ROOT,
		env: { PATH: process.env.PATH, DATA_DIR: tempDir(), PORT: "0", METRICS_PORT: "0", LOG_FORMAT: "json", HOME: tempDir() },
		stdio: ["pipe", "pipe", "pipe"]
	});
	let out = "";
	child.stdout.on("data", (d: Buffer) => (out += d.toString()));
	child.stderr.on("data", (d: Buffer) => (out += d.toString()));
	const waitFor = async (re: RegExp) => {
		for (let i = 0; i < 300 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 100));
		assert.match(out, re);
	};
	try {
		await waitFor(/paperwork \$/);
		child.stdin.write("health\n");
		await waitFor(/ok +up +up +up +up +up/);
	} finally {
		child.stdin.write("quit\n");
		child.stdin.end();
		await new Promise((r) => {
			const t = setTimeout(() => {
				child.kill("SIGKILL");
				r(null);
			}, 10_000);
			child.once("exit", () => {
				clearTimeout(t);
				r(null);
			});
		});
	}
});

test("billing start, runs, show, halted and resume drive a client's billing run", async () => {
	const c = (await node.broker.call("clients.create", { name: "repl-billing", billing: { statementDay: 10 } })) as { id: string };
	const started = await run("billing", { verb: "start", id: c.id, arg: "2026-11-10:nopdf" });
	const id = /billing run (\S+) for client/.exec(started)?.[1];
	assert.ok(id, started);
	assert.match(started, /cycle 2026-10-11\.\.2026-11-10 \(no PDFs\): 0 loan\(s\)/);
	assert.match(await run("billing", { verb: "runs", id: c.id }), new RegExp(`${id} +${c.id} +2026-10-11\\.\\.2026-11-10 +no +completed +0`));
	// a loan halted at the statement step, as a failing step leaves it
	const items = node.platform.store.adapter("billing_items");
	await items.insert({ _id: `${c.id}:2026-11-10:X1`, runId: id, clientId: c.id, loanId: "X1", cycleTo: "2026-11-10", step: "statement", status: "halted", attempts: 3, results: {}, halted: { step: "statement", reason: "store down", input: { loanId: "X1" }, at: new Date("2026-11-11T00:00:00Z") }, updatedAt: new Date() });
	const show = await run("billing", { verb: "show", id });
	assert.match(show, /completed_with_halts; 0 loans, 0 done, 0 active, 1 halted/);
	assert.match(show, /statement +0 +1 +0/);
	assert.match(await run("billing", { verb: "halted", id, arg: "statement" }), /X1 +statement +3 +2026-11-11T00:00:00\.000Z +store down/);
	assert.equal(await run("billing", { verb: "halted", id, arg: "render" }), "(none)");
	assert.match(await run("billing", { verb: "resume", id, arg: "statement" }), /resumed 1 halted loan\(s\) of billing run/);
	assert.match(await run("billing", { verb: "nope" }), /unknown verb 'nope'/);
	assert.match(await run("billing", { verb: "show" }), /usage: billing show <runId>/);
});

test("refunds lists open (or timed-out) refund requests of every client or one; passbook shows a loan's", async () => {
	const c = (await node.broker.call("clients.create", { name: "repl-refunds" })) as { id: string; apiKey: string };
	const upload = async (kind: string, csv: string) => {
		const res = await http<{ batchId: string }>(`${node.url}/uploads?kind=${kind}`, { method: "POST", headers: { ...apiKey(c.apiKey), "Content-Type": "text/csv" }, body: csv });
		assert.equal(res.status, 202, JSON.stringify(res.body));
		assert.equal((await waitForBatch(node.url, c.apiKey, res.body.batchId)).status, "COMPLETED");
	};
	await upload("loan", ["loan_id,applicant_name,language,phone,email,address_line1,address_line2,city,state,postal_code,loan_amount,annual_interest_rate,tenure_months,disbursement_date,first_emi_date,processing_fee", "RL-1,Asha Rao,en,9876543210,,12 MG Road,,Pune,Maharashtra,411001,3000,0,3,2025-12-01,2026-01-05,0"].join("\n"));
	await upload("repayment", ["payment_ref,loan_id,amount,paid_at,method,payer_ref", "RUPI-1,RL-1,1000.00,2026-01-05 10:00,upi,", "RUPI-2,RL-1,1000.00,2026-01-05 10:04,upi,"].join("\n"));
	let out = "";
	for (let i = 0; i < 100 && !/RUPI-2/.test(out); i++) {
		out = await run("refunds");
		if (!/RUPI-2/.test(out)) await new Promise((r) => setTimeout(r, 100));
	}
	assert.match(out, /id +client +loan +payment +of +amount +status +requested +notice/);
	assert.match(out, new RegExp(`${c.id} +RL-1 +RUPI-2 +RUPI-1 +1000\\.00 +requested +\\S+ +not delivered`));
	assert.match(await run("refunds", { status: "requested", clientId: c.id }), /RUPI-2/);
	assert.doesNotMatch(await run("refunds", { status: "open", clientId: "another-client" }), /RUPI-2/);
	assert.equal(await run("refunds", { status: "timed_out", clientId: c.id }), "(none)");
	assert.match(await run("refunds", { status: "lost" }), /unknown status 'lost'/);

	const pb = await run("passbook", { loanId: "RL-1", asOf: "2026-02-05" });
	assert.match(pb, new RegExp(`loan RL-1 \\(client ${c.id}\\) as of 2026-02-05: EMI 1000\\.00; billed 2000\\.00, penalties 0\\.00, charges 0\\.00 \\(GST 0\\.00\\), paid 1000\\.00, held 1000\\.00, refunded 0\\.00, bounced 0\\.00`));
	assert.match(pb, /next due: instalment 3 on 2026-03-05/);
	assert.match(pb, /1 +2026-01-05 +1000\.00 +1000\.00 +paid/);
	assert.match(pb, /2026-01-05 +held +RUPI-2/);
	assert.equal(await run("passbook", { loanId: "RL-1", clientId: c.id, asOf: "2026-02-05" }), pb);
	await assert.rejects(run("passbook", { loanId: "NOPE" }), /not found/i);
});

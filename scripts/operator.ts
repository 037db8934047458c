/**
 * `npm run operator -- add --email ana@example.com --role admin [--name "Ana"]`: creates an operator account in
 * the store this configuration points at (the first admin of a fresh install, typically). The password comes from
 * OPERATOR_PASSWORD or is asked for (not echoed); nothing secret is printed.
 * `npm run operator -- list`: the accounts (email, role, disabled).
 */
import { parseArgs } from "node:util";
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { pino } from "pino";
import { ConfigError, loadConfig } from "../config/index.ts";
import { createStore } from "../lib/store/index.ts";
import { AccountError, createOperator, OPERATOR_INDEXES, toOperatorView, type OperatorDoc } from "../lib/operators/accounts.ts";
import { writeAudit } from "../lib/audit/index.ts";

function fail(message: string, code = 2): never {
	process.stderr.write(`${message}\n`);
	process.exit(code);
}

/** Reads a password from the terminal without echoing it (or a line from a pipe). */
function askPassword(prompt: string): Promise<string> {
	return new Promise((resolve) => {
		let muted = false;
		const output = new Writable({
			write(chunk: Buffer, _enc, done) {
				if (!muted) process.stderr.write(chunk);
				done();
			}
		});
		const rl = createInterface({ input: process.stdin, output, terminal: process.stdin.isTTY === true });
		rl.question(prompt, (answer) => {
			rl.close();
			if (process.stdin.isTTY) process.stderr.write("\n");
			resolve(answer);
		});
		muted = true;
	});
}

async function main(): Promise<void> {
	const { values, positionals } = parseArgs({
		allowPositionals: true,
		options: { email: { type: "string" }, role: { type: "string", default: "operator" }, name: { type: "string" } }
	});
	const command = positionals[0];
	if (command !== "add" && command !== "list") fail("usage: npm run operator -- add --email <email> --role operator|admin [--name <name>]\n       npm run operator -- list");
	let config;
	try {
		config = loadConfig();
	} catch (err) {
		if (err instanceof ConfigError) fail(`configuration error: ${err.message}`, 78);
		throw err;
	}
	const store = createStore(config, pino({ level: "silent" }));
	const operators = store.adapter("operators");
	try {
		await operators.connect();
		await operators.ensureIndexes(OPERATOR_INDEXES);
		if (command === "list") {
			const rows = (await operators.find({ sort: "email" })) as OperatorDoc[];
			for (const o of rows.map(toOperatorView)) process.stdout.write(`${o.email}\t${o.role}${o.disabled ? "\tdisabled" : ""}\n`);
			return;
		}
		if (!values.email) fail("--email is required");
		if (values.role !== "operator" && values.role !== "admin") fail(`--role must be operator or admin, got '${values.role}'`);
		const password = process.env.OPERATOR_PASSWORD ?? (await askPassword(`password for ${values.email}: `));
		try {
			const doc = await createOperator(operators, { email: values.email, name: values.name, role: values.role, password });
			await writeAudit({ actor: `cli:${process.env.USER ?? "unknown"}`, role: "admin" }, { action: "operator.create", target: `operator:${doc._id}`, items: [doc._id], details: { role: doc.role } }, store);
			process.stdout.write(`operator ${doc.email} (${doc.role}) created\n`);
		} catch (err) {
			if (err instanceof AccountError) fail(err.message, err.reason === "exists" ? 1 : 2);
			throw err;
		}
	} finally {
		await store.close();
	}
}

main().catch((err: unknown) => {
	process.stderr.write(`operator command failed: ${err instanceof Error ? err.message : String(err)}\n`);
	process.exit(1);
});

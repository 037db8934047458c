/**
 * Intake across processes on RabbitMQ: an api/intake node and a reader node share the store and objects folder.
 * A reader killed with SIGKILL in the middle of OCR loses no document (its message comes back, its claim runs out
 * and a new reader takes the document over) and does none twice (one webhook event per document).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { execFileSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { AMQP_URL, apiKey, bearer, freePort, http, spawnNode, tempDir, deleteNamespaceQueues } from "../helpers/node.ts";
import { textPdf } from "../helpers/intake-corpus.ts";
import { signOperatorToken } from "../../lib/api/auth.ts";

const SECRET = "intake-it-secret-intake-it-secret";
const namespace = `it-${randomUUID().slice(0, 8)}`;
type Node = Awaited<ReturnType<typeof spawnNode>>;
let common: Record<string, string>;
let api: Node;
let reader: Node;
let base = "";
let key = "";
let dir = "";
let hook: Server;
const events: { event: string; id: string }[] = [];

before(async () => {
	dir = tempDir("paperwork-intake-it-");
	const hookPort = await freePort();
	hook = createServer((req, res) => {
		let body = "";
		req.on("data", (d: Buffer) => (body += d.toString()));
		req.on("end", () => {
			events.push({ event: String(req.headers["x-paperwork-event"]), id: (JSON.parse(body) as { document: { id: string } }).document.id });
			res.writeHead(204).end();
		});
	});
	await new Promise<void>((r) => hook.listen(hookPort, "127.0.0.1", r));
	const port = await freePort();
	// the nodes' temporary files under the test's folder: the reader killed mid-OCR cannot remove its own
	mkdirSync(path.join(dir, "tmp"));
	common = { TRANSPORTER: AMQP_URL, NAMESPACE: namespace, JWT_SECRET: SECRET, DATA_DIR: path.join(dir, "data"), TMPDIR: path.join(dir, "tmp"), INBOX_POLL_MS: "0", QUEUE_RETRY_DELAY_MS: "200", QUEUE_RETRIES: "8" };
	api = await spawnNode({ ...common, SERVICES: "api,clients,intake", PORT: String(port), NODE_ID: `api-${namespace}` });
	reader = await spawnNode({ ...common, SERVICES: "reader", INTAKE_OCR_CONCURRENCY: "1", NODE_ID: `reader-${namespace}` });
	base = `http://127.0.0.1:${port}/api/v1`;
	const admin = signOperatorToken(SECRET, "it", "admin");
	const c = await http<{ apiKey: string }>(`${base}/clients`, { method: "POST", headers: bearer(admin), json: { name: "intake-it", webhook: { url: `http://127.0.0.1:${hookPort}/h`, secret: "intake-it-webhook-secret" } } });
	assert.equal(c.status, 201, JSON.stringify(c.body));
	key = c.body.apiKey;
});

after(async () => {
	await Promise.all([api?.stop(), reader?.stop()]);
	await deleteNamespaceQueues(namespace);
	await new Promise<void>((r) => hook.close(() => r()));
	rmSync(dir, { recursive: true, force: true });
});

test("a reader killed with SIGKILL mid-OCR: every document is read, none twice", async () => {
	// four scanned invoices (born-digital pages rasterised at 300 dpi: OCR only)
	const ids: string[] = [];
	// rasterised first, then uploaded back to back: in a loaded full run one upload failed with "fetch failed" after
	// seconds of pdftoppm since the previous one (likely the idle keep-alive connection closed as fetch reused it)
	for (let n = 1; n <= 4; n++) {
		const pdf = path.join(dir, `inv${n}.pdf`);
		writeFileSync(pdf, textPdf([`Scan Supplies ${n}`, `Invoice No: SC-${1000 + n}`, "Invoice Date: 02/03/2026", `Total: ${n},500.00`]));
		execFileSync("pdftoppm", ["-r", "300", "-gray", "-png", "-singlefile", pdf, path.join(dir, `inv${n}`)]);
	}
	for (let n = 1; n <= 4; n++) {
		const res = await http<{ id: string }>(`${base}/intake`, { method: "POST", headers: { ...apiKey(key), "Content-Type": "image/png" }, body: readFileSync(path.join(dir, `inv${n}.png`)) }).catch((err: Error) => {
			throw new Error(`${err.message}; api node output:\n${api.output().slice(-4000)}\nreader output:\n${reader.output().slice(-2000)}`);
		});
		assert.equal(res.status, 202, JSON.stringify(res.body));
		ids.push(res.body.id);
	}
	// kill the reader while a Tesseract of it runs (a document mid-OCR)
	const status = async (id: string) => (await http<{ status: string }>(`${base}/intake/${id}`, { headers: apiKey(key) })).body.status;
	// the reader's tools run under its helper process (lib/intake/run-helper.ts): Tesseracts among its descendants
	const tesseractsOf = (root: number) => {
		const rows = execFileSync("ps", ["-e", "-o", "pid=,ppid=,comm="], { encoding: "utf8" }).trim().split("\n").map((l) => l.trim().split(/\s+/));
		const tree = new Set([root]);
		for (let grew = true; grew; ) {
			grew = false;
			for (const [pid, ppid] of rows) if (tree.has(Number(ppid)) && !tree.has(Number(pid))) grew = Boolean(tree.add(Number(pid)));
		}
		return rows.filter(([pid, , comm]) => tree.has(Number(pid)) && comm === "tesseract").map(([pid]) => Number(pid));
	};
	const killed = reader.child.pid ?? 0;
	let ocr: number[] = [];
	for (let i = 0; i < 600 && !(ocr = tesseractsOf(killed)).length; i++) await new Promise((r) => setTimeout(r, 50));
	assert.ok(ocr.length, "the reader is OCRing");
	reader.child.kill("SIGKILL");
	await new Promise((r) => reader.child.once("exit", r));
	// its helper kills the Tesseracts it started and exits: no OCR outlives the killed node
	// gone, or a zombie (killed, not yet reaped by whoever inherited it)
	const alive = (pid: number) => {
		try {
			return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
		} catch {
			return false;
		}
	};
	for (let i = 0; i < 100 && ocr.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
	assert.deepEqual(ocr.filter(alive), [], "the killed reader's Tesseracts are gone");
	const left = await Promise.all(ids.map(status));
	assert.ok(left.includes("PROCESSING"), `a document was left mid-read by the killed reader: ${left.join(", ")}`);
	assert.ok(left.filter((s) => s === "COMPLETED").length < ids.length);
	reader = await spawnNode({ ...common, SERVICES: "reader", INTAKE_OCR_CONCURRENCY: "2", NODE_ID: `reader2-${namespace}` });
	const docs: { status: string; fields: Record<string, { value: unknown }> }[] = [];
	for (const id of ids) {
		let d: { status: string; fields: Record<string, { value: unknown }> } | undefined;
		for (let i = 0; i < 1200; i++) {
			d = (await http<{ status: string; fields: Record<string, { value: unknown }> }>(`${base}/intake/${id}`, { headers: apiKey(key) })).body;
			if (!["PENDING", "PROCESSING"].includes(d.status)) break;
			await new Promise((r) => setTimeout(r, 200));
		}
		docs.push(d as (typeof docs)[number]);
	}
	assert.deepEqual(docs.map((d) => d.status), ["COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED"]);
	assert.deepEqual(docs.map((d) => d.fields.invoice_number.value), ["SC-1001", "SC-1002", "SC-1003", "SC-1004"]);
	assert.deepEqual(docs.map((d) => d.fields.total.value), [1500, 2500, 3500, 4500]);
	for (let i = 0; i < 100 && events.length < 4; i++) await new Promise((r) => setTimeout(r, 100));
	await new Promise((r) => setTimeout(r, 1000));
	assert.deepEqual(events.map((e) => `${e.event}:${ids.indexOf(e.id)}`).sort(), ["intake.completed:0", "intake.completed:1", "intake.completed:2", "intake.completed:3"], "one event per document");
});

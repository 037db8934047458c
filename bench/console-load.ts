/**
 * How fast the console's first screen is usable (issue #11: "first screen usable within 1 s on this machine"): in
 * Debian's Chromium (puppeteer-core, as the console tests), a signed-in operator opens /console/ and we time, from the
 * navigation's start (the page's own clock, performance.now()):
 *   content  the overview shows data: the health table's caption and a row per queue (the first things read), and
 *            the app answers input (its navigation is rendered; Preact handlers are attached when it renders)
 *   all data every call the overview makes (health, queues, batches, runs, intake) has answered
 * cold: a fresh browser context each time (empty cache, nothing loaded yet); warm: the same page navigated to
 * /console/ again (assets from the cache; the session, as after sign-in, in sessionStorage in both cases).
 * Figures are printed, not asserted; a shared machine makes them indicative.
 *
 *   node --disable-warning=ExperimentalWarning bench/console-load.ts [runs=5] [rabbitmq]
 * `rabbitmq`: the node's queues on the local RabbitMQ with RABBITMQ_MANAGEMENT_URL (the overview's /queues then
 * waits for the management API too); default the embedded node (in-process queues).
 */
import { randomUUID } from "node:crypto";
import type { Page } from "puppeteer-core";
import { startTestNode, http, deleteNamespaceQueues } from "../test/helpers/node.ts";
import { launchBrowser } from "../test/helpers/browser.ts";
import { createOperator } from "../lib/operators/accounts.ts";
import { AMQP_URL } from "../test/fixtures/queue-helpers.ts";
import { median } from "./fixtures/median.ts";

const runs = Number(process.argv[2] ?? 5);
const onRabbit = process.argv.includes("rabbitmq");
const namespace = `bench-console-${randomUUID().slice(0, 8)}`;
const env: Record<string, string> = onRabbit ? { AMQP_URL, RABBITMQ_MANAGEMENT_URL: process.env.RABBITMQ_MANAGEMENT_URL ?? "http://guest:guest@127.0.0.1:15672", NAMESPACE: namespace } : {};
const OPERATOR = { email: "bench@example.com", password: "bench password 1" };
const OVERVIEW_CALLS = [/\/api\/v1\/health$/, /\/api\/v1\/queues$/, /\/api\/v1\/batches\?/, /\/api\/v1\/dispatch\/runs\?/, /\/api\/v1\/intake\?/];

interface Timing {
	content: number;
	allData: number;
	wall: number;
}

const node = await startTestNode(env);
const chromium = await launchBrowser();
try {
	await createOperator(node.platform.store.adapter("operators"), { ...OPERATOR, role: "operator" });
	const base = node.url.replace("/api/v1", "");
	const login = await http<{ accessToken: string; refreshToken: string; operator: unknown }>(`${node.url}/auth/login`, { method: "POST", json: OPERATOR });
	if (login.status !== 200) throw new Error(`sign-in: HTTP ${login.status}`);
	const session = JSON.stringify({ accessToken: login.body.accessToken, refreshToken: login.body.refreshToken, operator: login.body.operator });

	/** Opens /console/ on the page and times it; the page's clock starts at the navigation. */
	async function open(page: Page): Promise<Timing> {
		const answered = new Set<number>();
		const onResponse = (res: { url(): string }) => {
			const i = OVERVIEW_CALLS.findIndex((re) => re.test(res.url()));
			if (i >= 0) answered.add(i);
		};
		page.on("response", onResponse);
		const t0 = performance.now();
		await page.goto(`${base}/console/`, { waitUntil: "domcontentloaded" });
		const content = await page.waitForFunction(
			() => {
				const d = (globalThis as unknown as { document: { querySelector(s: string): unknown } }).document;
				const ready = d.querySelector("header nav a") && d.querySelector("section[aria-labelledby=h-health] caption") && d.querySelector("section[aria-labelledby=h-queues] tbody tr[data-queue]");
				return ready ? performance.now() : false;
			},
			{ polling: "mutation", timeout: 30_000 }
		);
		const contentMs = (await content.jsonValue()) as number;
		const wall = performance.now() - t0;
		const until = Date.now() + 30_000;
		while (answered.size < OVERVIEW_CALLS.length && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
		if (answered.size < OVERVIEW_CALLS.length) throw new Error("the overview's calls did not all answer");
		// the moment the last of them finished, on the page's clock
		const allData = await page.evaluate(() => {
			const p = (globalThis as unknown as { performance: { getEntriesByType(t: string): { name: string; responseEnd: number }[] } }).performance;
			return Math.max(...p.getEntriesByType("resource").filter((e) => /\/api\/v1\/(health|queues|batches\?|dispatch\/runs\?|intake\?)/.test(e.name)).map((e) => e.responseEnd));
		});
		page.off("response", onResponse);
		return { content: contentMs, allData, wall };
	}

	const cold: Timing[] = [];
	const warm: Timing[] = [];
	for (let i = 0; i < runs; i++) {
		const context = await chromium.browser.createBrowserContext();
		try {
			const page = await context.newPage();
			await page.setViewport({ width: 1280, height: 900 });
			await page.evaluateOnNewDocument((s: string) => {
				const w = globalThis as unknown as { location: { protocol: string }; sessionStorage: { setItem(k: string, v: string): void } };
				if (w.location.protocol.startsWith("http")) w.sessionStorage.setItem("paperwork.session", s);
			}, session);
			cold.push(await open(page));
			warm.push(await open(page));
		} finally {
			await context.close();
		}
	}
	const show = (label: string, ts: Timing[]) => {
		const f = (k: keyof Timing) => `median ${median(ts.map((t) => t[k])).toFixed(0).padStart(5)} ms, max ${Math.max(...ts.map((t) => t[k])).toFixed(0).padStart(5)} ms`;
		console.log(`${label.padEnd(5)} content ${f("content")} | all data ${f("allData")} | wall (bench side) ${f("wall")}`);
	};
	console.log(`console first screen, ${runs} runs, ${onRabbit ? "RabbitMQ queues with the management API" : "embedded node (in-process queues)"}, Chromium ${await chromium.browser.version()}`);
	show("cold", cold);
	show("warm", warm);
} finally {
	await chromium.close();
	await node.close();
	if (onRabbit) await deleteNamespaceQueues(namespace);
}

/**
 * The operator console in Chromium for tests: Debian's Chromium through puppeteer-core, a page that records console
 * errors and failed requests, sign-in, an axe-core check (serious and critical violations) and screenshots saved
 * under test-output/console/ for review. Builds the console first when console/dist is missing.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { ROOT } from "./node.ts";

export const SHOTS = path.join(ROOT, "test-output", "console");

/** The few browser globals page functions use (the project compiles without the DOM library). */
export interface El {
	textContent: string | null;
	innerText: string;
	value: string;
	href: string;
	checked: boolean;
	getAttribute(name: string): string | null;
	click(): void;
	dispatchEvent(e: unknown): boolean;
}

export interface ConsoleBrowser {
	browser: Browser;
	close(): Promise<void>;
}

export async function launchBrowser(): Promise<ConsoleBrowser> {
	if (!existsSync(path.join(ROOT, "console/dist/index.html"))) {
		const built = spawnSync(path.join(ROOT, "node_modules/.bin/vite"), ["build", "--config", "console/vite.config.ts", "--logLevel", "warn"], { cwd: ROOT, encoding: "utf8" });
		assert.equal(built.status, 0, built.stderr);
	}
	mkdirSync(SHOTS, { recursive: true });
	const profile = mkdtempSync(path.join(os.tmpdir(), "paperwork-chromium-"));
	const browser = await puppeteer.launch({
		executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
		args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", `--user-data-dir=${profile}`]
	});
	return {
		browser,
		async close() {
			await browser.close();
			rmSync(profile, { recursive: true, force: true });
		}
	};
}

/** A page that records console errors, failed requests and HTTP errors; dialogs (confirmations) are accepted. */
export async function newPage(browser: Browser): Promise<{ page: Page; problems: string[] }> {
	const page = await browser.newPage();
	await page.setViewport({ width: 1280, height: 900 });
	const problems: string[] = [];
	page.on("console", (m) => {
		if (m.type() === "error") problems.push(`console: ${m.text()}`);
	});
	page.on("pageerror", (e) => problems.push(`page error: ${(e as Error).message}`));
	page.on("requestfailed", (r) => {
		if (!r.url().startsWith("blob:") && r.failure()?.errorText !== "net::ERR_ABORTED") problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
	});
	page.on("response", (r) => {
		if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`);
	});
	page.on("dialog", (d) => void d.accept());
	return { page, problems };
}

export async function signIn(page: Page, base: string, who: { email: string; password: string }): Promise<void> {
	await page.goto(`${base}/console/`, { waitUntil: "networkidle0" });
	await page.waitForSelector("form[aria-label='sign in']");
	await page.type("input[name=email]", who.email);
	await page.type("input[name=password]", who.password);
	await page.click("button[type=submit]");
	await page.waitForSelector("header nav");
}

const axeSource = readFileSync(path.join(ROOT, "node_modules/axe-core/axe.min.js"), "utf8");

/** Serious and critical axe-core violations on the page. */
export async function axe(page: Page): Promise<string[]> {
	await page.evaluate(axeSource);
	const result = await page.evaluate(async () => {
		const w = globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> }; document: unknown };
		const r = await w.axe.run(w.document, { resultTypes: ["violations"] });
		return r.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) }));
	});
	return result.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id} (${v.impact}) at ${v.targets.join(", ")}`);
}

/** Saves a screenshot of the screen, then checks accessibility and that nothing failed on the page so far. */
export async function screen(page: Page, name: string, problems: string[]): Promise<void> {
	await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
	assert.deepEqual(await axe(page), [], `accessibility of ${name}`);
	assert.deepEqual(problems, [], `no console errors or failed requests on ${name}`);
}

export async function textOf(page: Page, selector: string): Promise<string> {
	return page.$eval(selector, (e) => (e as unknown as El).innerText);
}

/** Sets a form control's value the way a person's edit ends (a "change" event), e.g. a date input. */
export async function setValue(page: Page, selector: string, value: string): Promise<void> {
	await page.$eval(
		selector,
		(e, v) => {
			const el = e as unknown as El;
			el.value = v;
			el.dispatchEvent(new (globalThis as unknown as { Event: new (t: string, o: unknown) => unknown }).Event("change", { bubbles: true }));
		},
		value
	);
}

/** Clicks the first button whose text starts with `label`. */
export async function clickButton(page: Page, label: string): Promise<void> {
	const clicked = await page.$$eval("button", (bs, l) => {
		const b = bs.find((x) => (x.textContent ?? "").trim().startsWith(l));
		(b as unknown as El | undefined)?.click();
		return !!b;
	}, label);
	assert.ok(clicked, `a button "${label}"`);
}

/** Files the page downloads go to `dir` (CSV exports). */
export async function downloadsTo(page: Page, dir: string): Promise<void> {
	const cdp = await page.createCDPSession();
	await cdp.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: dir });
}

/**
 * The Chromium engine: ONE long-lived headless Chromium (puppeteer-core) and a pool of reused tabs.
 *
 * Why this shape (DESIGN, measured): starting a browser per document is ~10x slower than reusing tabs; more
 * tabs than cores does not help, so the pool defaults to os.availableParallelism(). Each tab renders one
 * document at a time: setContent(html) then page.pdf() with the CSS page size (@page rules give the header
 * and the "page X of Y" footer, the same CSS WeasyPrint honours). Untagged PDFs by default (faster; text stays
 * extractable); `tagged: true` for accessible PDFs.
 *
 * Robustness:
 * - a document that exceeds its timeout rejects with RenderTimeoutError; its tab is crashed and closed, and a
 *   fresh tab replaces it on demand; other documents are unaffected;
 * - if the browser dies (disconnected), it is relaunched on the next document, and documents that were in
 *   flight are retried once on the new browser;
 * - after `recycleAfter` documents the browser is recycled: new work waits, in-flight pages finish, the
 *   browser is closed and a new one started (bounded memory over long runs);
 * - every network request from a page is aborted except data: URLs (fonts come from the system), and page
 *   JavaScript is off by default. The browser gets a fresh --user-data-dir, removed when it exits.
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import puppeteer from "puppeteer-core";
import type { Browser, CDPSession, HTTPRequest, Page } from "puppeteer-core";
import { countPdfPages, EngineClosedError, RenderError, RenderTimeoutError } from "./engine.ts";
import type { Engine, RenderJob, RenderOptions, RenderResult } from "./engine.ts";

export interface ChromiumOptions {
	/** default /usr/bin/chromium */
	executablePath?: string;
	/** tabs rendering in parallel; default os.availableParallelism() */
	tabs?: number;
	/** per-document timeout, default 30 s */
	timeoutMs?: number;
	/** documents after which the browser is restarted; 0 = never; default 2000 */
	recycleAfter?: number;
	/** tagged (accessible) PDF; default false (faster) */
	tagged?: boolean;
	/** run the page's scripts; default false (templates need none) */
	javaScript?: boolean;
	/** how long to wait for the browser to start; default 30 s */
	launchTimeoutMs?: number;
	/** more command-line switches */
	extraArgs?: string[];
}

/** The switches the network-closed, containerised deployment needs (see DESIGN). */
export const CHROMIUM_ARGS: readonly string[] = [
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	"--disable-extensions",
	"--disable-default-apps",
	"--mute-audio",
	"--hide-scrollbars",
	// no pre-started spare renderer: tabs are reused, so it would only hold memory
	"--disable-features=SpareRendererForSitePerProcess"
];

interface Tab {
	browser: Browser;
	page: Page;
	cdp: CDPSession;
}

export interface ChromiumStats {
	launches: number;
	documents: number;
	timeouts: number;
	crashes: number;
	recycles: number;
}

export class ChromiumEngine implements Engine {
	readonly name = "chromium" as const;
	readonly #executablePath: string;
	readonly #tabs: number;
	readonly #timeoutMs: number;
	readonly #recycleAfter: number;
	readonly #tagged: boolean;
	readonly #javaScript: boolean;
	readonly #launchTimeoutMs: number;
	readonly #args: string[];

	#browser?: Browser;
	/** the about:blank tab every browser opens with, used as the first tab rather than left idle */
	#blank?: Page;
	#launching?: Promise<Browser>;
	#idle: Tab[] = [];
	#queue: RenderJob[] = [];
	#running = 0;
	#docsThisBrowser = 0;
	#recycling = false;
	#closed = false;
	#drained?: () => void;
	readonly #stats: ChromiumStats = { launches: 0, documents: 0, timeouts: 0, crashes: 0, recycles: 0 };

	constructor(options: ChromiumOptions = {}) {
		this.#executablePath = options.executablePath ?? "/usr/bin/chromium";
		this.#tabs = Math.max(1, options.tabs ?? os.availableParallelism());
		this.#timeoutMs = options.timeoutMs ?? 30_000;
		this.#recycleAfter = Math.max(0, options.recycleAfter ?? 2000);
		this.#tagged = options.tagged ?? false;
		this.#javaScript = options.javaScript ?? false;
		this.#launchTimeoutMs = options.launchTimeoutMs ?? 30_000;
		this.#args = [...CHROMIUM_ARGS, ...(options.extraArgs ?? [])];
	}

	/** Process id of the current browser (for monitoring and tests), if one runs. */
	get pid(): number | undefined {
		return this.#browser?.process()?.pid;
	}

	/** Counters since the engine was created. */
	get stats(): Readonly<ChromiumStats> {
		return { ...this.#stats };
	}

	/** Starts the browser now rather than on the first document. */
	async warmUp(): Promise<void> {
		await this.#ensureBrowser();
	}

	render(html: string, options: RenderOptions = {}): Promise<RenderResult> {
		if (this.#closed) return Promise.reject(new EngineClosedError(this.name));
		return new Promise<RenderResult>((resolve, reject) => {
			this.#queue.push({ html, timeoutMs: options.timeoutMs ?? this.#timeoutMs, retried: false, resolve, reject });
			this.#pump();
		});
	}

	async close(): Promise<void> {
		if (this.#closed && !this.#browser && !this.#launching) return;
		this.#closed = true;
		for (const job of this.#queue.splice(0)) job.reject(new EngineClosedError(this.name));
		if (this.#running > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
		const launching = this.#launching;
		if (launching) await launching.catch(() => undefined);
		await this.#stopBrowser();
	}

	#pump(): void {
		while (!this.#closed && !this.#recycling && this.#running < this.#tabs && this.#queue.length > 0) {
			const job = this.#queue.shift() as RenderJob;
			this.#running++;
			void this.#run(job).finally(() => this.#finished());
		}
	}

	#finished(): void {
		this.#running--;
		this.#stats.documents++;
		this.#docsThisBrowser++;
		if (this.#recycleAfter > 0 && this.#docsThisBrowser >= this.#recycleAfter && !this.#closed) this.#recycling = true;
		if (this.#running === 0) {
			if (this.#drained) {
				this.#drained();
				this.#drained = undefined;
				return;
			}
			if (this.#recycling) {
				this.#stats.recycles++;
				void this.#stopBrowser().finally(() => {
					this.#recycling = false;
					this.#pump();
				});
				return;
			}
		}
		this.#pump();
	}

	async #run(job: RenderJob): Promise<void> {
		let browser: Browser | undefined;
		let tab: Tab | undefined;
		try {
			browser = await this.#ensureBrowser();
			tab = await this.#acquire(browser);
			const result = await this.#renderOn(tab, job);
			this.#release(tab);
			job.resolve(result);
		} catch (e) {
			if (e instanceof RenderTimeoutError) {
				this.#stats.timeouts++;
				this.#discard(tab);
				job.reject(e);
				return;
			}
			const browserDied = browser !== undefined && (!browser.connected || browser !== this.#browser);
			this.#discard(tab);
			if (browserDied && !job.retried && !this.#closed) {
				// The browser crashed under this document: run it once more on a fresh browser.
				job.retried = true;
				this.#queue.unshift(job);
				return;
			}
			job.reject(e instanceof RenderError ? e : new RenderError(this.name, `chromium failed to render: ${(e as Error).message}`, { cause: e }));
		}
	}

	async #renderOn(tab: Tab, job: RenderJob): Promise<RenderResult> {
		const work = (async (): Promise<RenderResult> => {
			await tab.page.setContent(job.html, { waitUntil: "load", timeout: 0 });
			const pdf = await tab.page.pdf({ printBackground: true, preferCSSPageSize: true, tagged: this.#tagged, outline: false, timeout: 0 });
			const buf = Buffer.from(pdf.buffer, pdf.byteOffset, pdf.byteLength);
			return { pdf: buf, pages: countPdfPages(buf) };
		})();
		let timer: NodeJS.Timeout | undefined;
		const timeout = new Promise<never>((_, reject) => {
			timer = setTimeout(() => reject(new RenderTimeoutError(this.name, job.timeoutMs)), job.timeoutMs);
		});
		work.catch(() => undefined); // a late failure of an abandoned page must not become an unhandled rejection
		try {
			return await Promise.race([work, timeout]);
		} finally {
			clearTimeout(timer);
		}
	}

	async #acquire(browser: Browser): Promise<Tab> {
		const idle = this.#idle.pop();
		if (idle && idle.browser === browser && browser.connected) return idle;
		if (idle) this.#discard(idle);
		return this.#newTab(browser);
	}

	#release(tab: Tab): void {
		if (!this.#closed && tab.browser === this.#browser && tab.browser.connected) this.#idle.push(tab);
		else this.#discard(tab);
	}

	/** Crashes and closes a tab (a hung renderer ignores a plain close); never waits for it. */
	#discard(tab: Tab | undefined): void {
		if (!tab) return;
		this.#idle = this.#idle.filter((t) => t !== tab);
		if (!tab.browser.connected) return;
		tab.cdp.send("Page.crash").catch(() => undefined);
		tab.page.close({ runBeforeUnload: false }).catch(() => undefined);
	}

	async #newTab(browser: Browser): Promise<Tab> {
		let page: Page;
		if (this.#blank && this.#blank.browser() === browser && !this.#blank.isClosed()) {
			page = this.#blank;
			this.#blank = undefined;
		} else {
			page = await browser.newPage();
		}
		const cdp = await page.createCDPSession();
		await page.setJavaScriptEnabled(this.#javaScript);
		await page.setRequestInterception(true);
		page.on("request", (req: HTTPRequest) => {
			if (req.isInterceptResolutionHandled()) return;
			if (req.url().startsWith("data:")) void req.continue().catch(() => undefined);
			else void req.abort("blockedbyclient").catch(() => undefined);
		});
		return { browser, page, cdp };
	}

	#ensureBrowser(): Promise<Browser> {
		if (this.#browser?.connected) return Promise.resolve(this.#browser);
		this.#launching ??= this.#launch().finally(() => {
			this.#launching = undefined;
		});
		return this.#launching;
	}

	async #launch(): Promise<Browser> {
		const userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), "paperwork-chromium-"));
		let browser: Browser;
		try {
			browser = await puppeteer.launch({
				executablePath: this.#executablePath,
				headless: true,
				pipe: true,
				userDataDir,
				args: this.#args,
				timeout: this.#launchTimeoutMs,
				handleSIGINT: false,
				handleSIGTERM: false,
				handleSIGHUP: false,
				protocolTimeout: Math.max(this.#timeoutMs * 2, 60_000)
			});
		} catch (e) {
			await fs.rm(userDataDir, { recursive: true, force: true }).catch(() => undefined);
			throw new RenderError(this.name, `cannot start chromium (${this.#executablePath}): ${(e as Error).message}`, { cause: e });
		}
		this.#stats.launches++;
		this.#docsThisBrowser = 0;
		browser.once("disconnected", () => {
			if (this.#browser === browser) {
				// Died on its own (killed, crashed): forget it; the next document launches a new one.
				this.#stats.crashes++;
				this.#browser = undefined;
				this.#idle = [];
			}
			void fs.rm(userDataDir, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
		});
		if (this.#closed) {
			await browser.close().catch(() => undefined);
			throw new EngineClosedError(this.name);
		}
		this.#blank = (await browser.pages().catch(() => []))[0];
		this.#browser = browser;
		return browser;
	}

	async #stopBrowser(): Promise<void> {
		const browser = this.#browser;
		this.#browser = undefined;
		this.#idle = [];
		if (!browser) return;
		const proc = browser.process();
		const exited = proc && proc.exitCode === null ? new Promise<void>((resolve) => proc.once("exit", () => resolve())) : Promise.resolve();
		await browser.close().catch(() => proc?.kill("SIGKILL"));
		await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
	}
}

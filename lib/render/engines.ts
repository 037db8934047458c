/**
 * The process's PDF engines: at most ONE engine per engine name per process, created lazily on the first
 * document (a node that never renders never starts Chromium) and shared by every renderer in the process
 * (e.g. two brokers in one test process share one Chromium). Users are counted: the engine is closed when the
 * last user releases it. Options come from config.render (engineOptions); the first user's options win.
 *
 * setEngineFactory() swaps how engines are made (tests wrap or fake the real engine); by default createEngine.
 */
import type { Config } from "../../config/index.ts";
import { createEngine } from "./engine.ts";
import type { Engine, EngineName, EngineOptions } from "./engine.ts";

export type EngineFactory = (name: EngineName, options: EngineOptions) => Promise<Engine>;

interface Shared {
	engine: Promise<Engine>;
	users: Set<object>;
}

let factory: EngineFactory = createEngine;
const shared = new Map<EngineName, Shared>();

/** Replaces the engine factory (undefined restores createEngine). Affects engines created afterwards. */
export function setEngineFactory(f?: EngineFactory): void {
	factory = f ?? createEngine;
}

/** Engine options from the render configuration: tabs/workers = concurrency, per-document timeout, recycling. */
export function engineOptions(render: Config["render"]): EngineOptions {
	return {
		chromium: { executablePath: render.chromiumPath, tabs: render.concurrency, timeoutMs: render.timeoutMs, recycleAfter: render.recycleAfter },
		weasyprint: { workers: render.concurrency, timeoutMs: render.timeoutMs, recycleAfter: render.recycleAfter }
	};
}

/** The process's engine `name` for `owner` (created on first use); the owner must call releaseEngines(owner). */
export function acquireEngine(owner: object, name: EngineName, options: EngineOptions): Promise<Engine> {
	let entry = shared.get(name);
	if (!entry) {
		const created = factory(name, options);
		const fresh: Shared = { engine: created, users: new Set() };
		entry = fresh;
		shared.set(name, fresh);
		// a failed start is forgotten, so the next document tries again
		created.catch(() => {
			if (shared.get(name) === fresh) shared.delete(name);
		});
	}
	entry.users.add(owner);
	return entry.engine;
}

/** Releases every engine `owner` acquired; an engine nobody uses any more is closed (in-flight documents finish). */
export async function releaseEngines(owner: object): Promise<void> {
	const closing: Promise<void>[] = [];
	for (const [name, entry] of shared) {
		if (!entry.users.delete(owner) || entry.users.size > 0) continue;
		shared.delete(name);
		closing.push(entry.engine.then((e) => e.close(), () => undefined));
	}
	await Promise.all(closing);
}

/** Names of the engines alive in this process (for tests and health). */
export function liveEngines(): EngineName[] {
	return [...shared.keys()];
}

/**
 * Health of this node: each dependency "up" or "down" (checked with a time limit, so a hung server reads as down).
 */
import type { Platform } from "./platform.ts";

export type DependencyName = "store" | "objects" | "queues" | "search" | "transporter";

export interface HealthReport {
	status: "ok" | "degraded";
	node: string;
	uptimeSeconds: number;
	dependencies: Record<DependencyName, "up" | "down">;
	/** which implementation backs each port on this node */
	implementations: Record<Exclude<DependencyName, "transporter">, string> & { transporter: string };
}

async function check(probe: () => Promise<boolean>, timeoutMs: number): Promise<"up" | "down"> {
	let timer: NodeJS.Timeout | undefined;
	try {
		const timeout = new Promise<boolean>((resolve) => {
			timer = setTimeout(() => resolve(false), timeoutMs);
		});
		return (await Promise.race([probe().catch(() => false), timeout])) ? "up" : "down";
	} finally {
		clearTimeout(timer);
	}
}

/** `transporter`: null in the embedded default (always up), else whether the transit is connected. */
export async function checkHealth(platform: Platform, node: string, transporter: { connected: boolean } | null, timeoutMs = 2000): Promise<HealthReport> {
	const [store, objects, queues, search] = await Promise.all([
		check(() => platform.store.ping(), timeoutMs),
		check(() => platform.objects.ping(), timeoutMs),
		check(() => platform.queues.ping(), timeoutMs),
		check(() => platform.search.ping(), timeoutMs)
	]);
	const dependencies = { store, objects, queues, search, transporter: transporter === null || transporter.connected ? ("up" as const) : ("down" as const) };
	return {
		status: Object.values(dependencies).every((d) => d === "up") ? "ok" : "degraded",
		node,
		uptimeSeconds: Math.round(process.uptime()),
		dependencies,
		implementations: {
			store: platform.store.kind,
			objects: platform.objects.kind,
			queues: platform.queues.kind,
			search: platform.search.kind,
			transporter: transporter === null ? "none (embedded)" : "amqp"
		}
	};
}

/**
 * Health of this node: each dependency "up" or "down" (checked with a time limit, so a hung server reads as down),
 * and when this node last saw each one change (it knows only what its own checks saw: from its first check on).
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
	/** when this node's checks last saw each dependency change state (`seen` false: no change since its first check, at `at`) */
	lastChange: Record<DependencyName, { at: Date; seen: boolean }>;
}

type States = Record<DependencyName, "up" | "down">;
const observed = new WeakMap<Platform, Record<DependencyName, { state: "up" | "down"; at: Date; seen: boolean }>>();

/** Records this check's states; returns when each dependency last changed as far as this node's checks know. */
export function trackChanges(platform: Platform, states: States, now = new Date()): HealthReport["lastChange"] {
	const before = observed.get(platform);
	const next = {} as Record<DependencyName, { state: "up" | "down"; at: Date; seen: boolean }>;
	for (const [k, state] of Object.entries(states) as [DependencyName, "up" | "down"][]) {
		const b = before?.[k];
		next[k] = !b ? { state, at: now, seen: false } : b.state !== state ? { state, at: now, seen: true } : b;
	}
	observed.set(platform, next);
	return Object.fromEntries(Object.entries(next).map(([k, v]) => [k, { at: v.at, seen: v.seen }])) as HealthReport["lastChange"];
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
		},
		lastChange: trackChanges(platform, dependencies)
	};
}

/** Readiness of a node: may Kubernetes send it work (HTTP requests, queue messages count as taken)? */
export interface Readiness {
	ready: boolean;
	node: string;
	/** why the node is not ready; empty when it is */
	reasons: string[];
	/** the queues this node's services bind, and whether each is consumed now */
	queues: { queue: string; consuming: boolean }[];
}

/** The queues a set of running services bind: the keys of each schema's `queues` (see mixins/queues.mixin.ts). */
export function boundQueues(services: readonly { schema: unknown }[]): string[] {
	const names = services.flatMap((s) => {
		const queues = (s.schema as { queues?: unknown } | undefined)?.queues;
		return queues && typeof queues === "object" ? Object.keys(queues) : [];
	});
	return [...new Set(names)].sort();
}

/**
 * Ready when the broker is started and not stopping, the store answers, the queue backend and the transporter are
 * connected, and every queue the node's services bind has a consumer that is consuming now. Objects and search are
 * left to /health: a node whose search is down still does useful work, and failing readiness for it would take
 * every pod out of service at once.
 */
export async function checkReadiness(input: {
	platform: Platform;
	node: string;
	broker: { started: boolean; stopping: boolean };
	transporter: { connected: boolean } | null;
	expectedQueues: readonly string[];
	timeoutMs?: number;
}): Promise<Readiness> {
	const { platform, broker, transporter, expectedQueues } = input;
	const timeoutMs = input.timeoutMs ?? 2000;
	const reasons: string[] = [];
	if (!broker.started) reasons.push("broker not started");
	if (broker.stopping) reasons.push("node stopping");
	const [store, queues] = await Promise.all([check(() => platform.store.ping(), timeoutMs), check(() => platform.queues.ping(), timeoutMs)]);
	if (store === "down") reasons.push(`store (${platform.store.kind}) unreachable`);
	if (queues === "down") reasons.push(`queue backend (${platform.queues.kind}) disconnected`);
	if (transporter !== null && !transporter.connected) reasons.push("transporter disconnected");
	const consumers = platform.queues.consumers();
	const states = expectedQueues.map((queue) => ({ queue, consuming: consumers.some((c) => c.queue === queue && c.consuming) }));
	for (const s of states) if (!s.consuming) reasons.push(`queue ${s.queue} not consumed`);
	return { ready: reasons.length === 0, node: input.node, reasons, queues: states };
}

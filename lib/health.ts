/**
 * Health of this node: each dependency "up" or "down" (checked with a time limit, so a hung server reads as down),
 * and when this node last saw each one change (it knows only what its own checks saw: from its first check on).
 *
 * The messaging providers are a dependency too, seen through their circuit breakers in the notifier nodes
 * (lib/delivery/providers/resilience.ts): "degraded" while a circuit is open or half-open, "up" when all are closed,
 * absent when no real provider is configured (the sandbox has no circuit). A degraded provider makes the status
 * "degraded" but not 503, and never fails readiness: the notifier still works (its cases fall back to their next
 * channel), as a node whose search is down does.
 */
import type { Platform } from "./platform.ts";
import { toolsState, type ToolCheck } from "./tools.ts";

/** The ports this node probes. */
export type PortName = "store" | "objects" | "queues" | "search" | "transporter";
export type DependencyName = PortName | "providers" | "tools";
export type DependencyState = "up" | "down" | "degraded";

/** One provider's circuit breaker as one notifier node sees it. */
export interface ProviderCircuit {
	/** the notifier node */
	node: string;
	channel: string;
	/** "whatsapp-cloud", "google-rbm", "twilio", "smtp" */
	provider: string;
	state: "closed" | "open" | "half-open";
	/** when the circuit entered this state */
	since?: Date;
	/** consecutive failed calls */
	failures: number;
	/** the last failure counted against the circuit: an HTTP status or an error code (no URLs, bodies or secrets) */
	lastFailure?: { at: Date; reason: string };
	/** the calls a second this notifier allows itself: its share of the provider's rate limit (0: no limit) */
	ratePerSecond?: number;
}

export interface HealthReport {
	status: "ok" | "degraded";
	node: string;
	uptimeSeconds: number;
	/**
	 * the ports, up or down; `providers` when a real provider is configured: degraded while a circuit is not closed;
	 * `tools` when a service of this node runs local programs (lib/tools.ts): degraded while one is missing
	 */
	dependencies: Record<PortName, "up" | "down"> & { providers?: "up" | "degraded"; tools?: "up" | "degraded" };
	/** which implementation backs each port on this node */
	implementations: Record<Exclude<PortName, "transporter">, string> & { transporter: string };
	/** when this node's checks last saw each dependency change state (`seen` false: no change since its first check, at `at`) */
	lastChange: Partial<Record<DependencyName, { at: Date; seen: boolean }>>;
	/** the configured providers' circuits, per notifier node (empty: none configured, or no notifier answered) */
	providers: ProviderCircuit[];
	/** the local programs this node's services run, each found or missing (empty: none here) */
	tools: ToolCheck[];
}

type States = Partial<Record<DependencyName, DependencyState>>;
const observed = new WeakMap<Platform, Partial<Record<DependencyName, { state: DependencyState; at: Date; seen: boolean }>>>();

/** Records this check's states; returns when each dependency last changed as far as this node's checks know. */
export function trackChanges(platform: Platform, states: States, now = new Date()): HealthReport["lastChange"] {
	const before = observed.get(platform);
	const next: Partial<Record<DependencyName, { state: DependencyState; at: Date; seen: boolean }>> = {};
	for (const [k, state] of Object.entries(states) as [DependencyName, DependencyState][]) {
		const b = before?.[k];
		next[k] = !b ? { state, at: now, seen: false } : b.state !== state ? { state, at: now, seen: true } : b;
	}
	observed.set(platform, next);
	return Object.fromEntries(Object.entries(next).map(([k, v]) => [k, { at: v.at, seen: v.seen }])) as HealthReport["lastChange"];
}

/** What `notifier.providers` answers (Dates arrive as strings from another node). */
export type ProvidersAnswer = Record<
	string,
	{
		provider: string;
		sandbox: boolean;
		circuit: { state: ProviderCircuit["state"]; failures: number; since?: Date | string; lastFailure?: { at: Date | string; reason: string } };
		/** this node's share of the provider's rate limit, and the live notifier nodes it is shared among */
		ratePerSecond?: number;
		notifierNodes?: number;
	}
>;

/** The real providers' circuits in one notifier node's answer (the sandbox has none worth showing). */
export function circuitsOf(node: string, answer: ProvidersAnswer): ProviderCircuit[] {
	return Object.entries(answer)
		.filter(([, p]) => !p.sandbox)
		.map(([channel, p]) => ({
			node,
			channel,
			provider: p.provider,
			state: p.circuit.state,
			failures: p.circuit.failures,
			...(p.circuit.since ? { since: new Date(p.circuit.since) } : {}),
			...(p.circuit.lastFailure ? { lastFailure: { at: new Date(p.circuit.lastFailure.at), reason: p.circuit.lastFailure.reason.slice(0, 200) } } : {}),
			...(p.ratePerSecond !== undefined ? { ratePerSecond: p.ratePerSecond } : {})
		}));
}

/** The providers dependency: absent without a real provider, degraded while any circuit is open or half-open. */
export function providersState(circuits: readonly ProviderCircuit[]): "up" | "degraded" | undefined {
	if (circuits.length === 0) return undefined;
	return circuits.every((c) => c.state === "closed") ? "up" : "degraded";
}

/** The HTTP status of a report: 503 when a port is down; a degraded provider or a missing program alone answers 200. */
export function healthStatusCode(report: HealthReport): 200 | 503 {
	return Object.values(report.dependencies).includes("down") ? 503 : 200;
}

/** `work`'s answer, or `fallback` when it fails or takes longer than `timeoutMs` (a hung server reads as down). */
async function within<T>(work: () => Promise<T>, timeoutMs: number, fallback: T): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	try {
		const timeout = new Promise<T>((resolve) => {
			timer = setTimeout(() => resolve(fallback), timeoutMs);
		});
		return await Promise.race([work().catch(() => fallback), timeout]);
	} finally {
		clearTimeout(timer);
	}
}

async function check(probe: () => Promise<boolean>, timeoutMs: number): Promise<"up" | "down"> {
	return (await within(probe, timeoutMs, false)) ? "up" : "down";
}

/**
 * `transporter`: null in the embedded default (always up), else whether the transit is connected. `circuits`: the
 * providers' circuits from the notifier nodes (ops asks them), within the same time limit; none when it fails.
 * `tools`: this node's local programs (lib/tools.ts checkTools), within the same time limit; none when it fails.
 */
export async function checkHealth(platform: Platform, node: string, transporter: { connected: boolean } | null, timeoutMs = 2000, circuits?: () => Promise<ProviderCircuit[]>, tools?: () => Promise<ToolCheck[]>): Promise<HealthReport> {
	const [store, objects, queues, search, providers, programs] = await Promise.all([
		check(() => platform.store.ping(), timeoutMs),
		check(() => platform.objects.ping(), timeoutMs),
		check(() => platform.queues.ping(), timeoutMs),
		check(() => platform.search.ping(), timeoutMs),
		circuits ? within(circuits, timeoutMs, []) : [],
		tools ? within(tools, timeoutMs, []) : []
	]);
	const providerState = providersState(providers);
	const toolState = toolsState(programs);
	const dependencies = {
		store,
		objects,
		queues,
		search,
		transporter: transporter === null || transporter.connected ? ("up" as const) : ("down" as const),
		...(providerState ? { providers: providerState } : {}),
		...(toolState ? { tools: toolState } : {})
	};
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
		lastChange: trackChanges(platform, dependencies),
		providers,
		tools: programs
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

/**
 * Overview: health of each dependency and when this node saw it change, queue depths with in/out rates, the oldest
 * waiting message and consumers (a queue nobody consumes stands out; what a queue backend does not report reads
 * "n/a", with the reason when it could not be read), and the last batches, dispatch runs and intake documents.
 * Rates are taken over the readings of the last 30 s: RabbitMQ's counters (its management API) move once per its
 * 5 s statistics interval, so two readings 5 s apart would swing between 0 and twice the true rate.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { useApi, useNow, ago, when, ErrorBox, Link } from "../ui.tsx";
import { useClients } from "./batches.tsx";

interface Health {
	status: string;
	node: string;
	dependencies: Record<string, string>;
	lastChange?: Record<string, { at: string; seen: boolean }>;
	/** the local programs this node's services run */
	tools?: { tool: string; neededBy: string; state: string; detail?: string }[];
}
interface QueueStat {
	queue: string;
	ready: number;
	dead: number;
	consumers: number;
	published?: number;
	settled?: number;
	oldestAgeMs?: number | null;
	countersError?: string;
}
interface Rate {
	in: number;
	out: number;
}

function duration(ms: number): string {
	const s = Math.round(ms / 1000);
	if (s < 60) return `${s} s`;
	if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
	return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** How far back the rates look (the overview reads every 5 s). */
const RATE_WINDOW_MS = 30_000;

interface Reading {
	at: number;
	byQueue: Map<string, QueueStat>;
}

/**
 * Messages in and out per second between the oldest reading of the last RATE_WINDOW_MS and this one (from the second
 * reading on; a counter that went down was reset and reads 0 until the window has passed).
 */
function useRates(data: QueueStat[] | undefined, at: number | null): Map<string, Rate> {
	const history = useRef<Reading[]>([]);
	const [rates, setRates] = useState<Map<string, Rate>>(new Map());
	useEffect(() => {
		if (!data || at === null) return;
		const h = history.current;
		h.push({ at, byQueue: new Map(data.map((q) => [q.queue, q])) });
		// keep the oldest reading that still spans the window
		while (h.length > 2 && at - (h[1] as Reading).at >= RATE_WINDOW_MS) h.shift();
		const first = h[0] as Reading;
		if (h.length < 2 || at <= first.at) return;
		const secs = (at - first.at) / 1000;
		const next = new Map<string, Rate>();
		for (const q of data) {
			const b = first.byQueue.get(q.queue);
			if (q.published === undefined || q.settled === undefined || b?.published === undefined || b.settled === undefined) continue;
			next.set(q.queue, { in: Math.max(0, q.published - b.published) / secs, out: Math.max(0, q.settled - b.settled) / secs });
		}
		setRates(next);
	}, [at]);
	return rates;
}

/** "n/a" for a figure the queue backend does not report, with the reason when it could not be read. */
function NotReported({ q }: { q: QueueStat }) {
	return q.countersError ? <span title={q.countersError}>n/a</span> : <>n/a</>;
}

interface RunRow {
	id: string;
	status: string;
	from: string;
	to: string;
	cases: number;
	startedAt: string;
}
interface IntakeRow {
	id: string;
	clientId: string;
	status: string;
	type: string | null;
	file: { name: string };
	createdAt: string;
}
interface BatchRow {
	id: string;
	clientId: string;
	kind: string;
	status: string;
	counts: { received: number; rejected: number };
	createdAt: string;
}

export function Overview() {
	const health = useApi<Health>("/api/v1/health", 5000);
	const queues = useApi<{ queues: QueueStat[] }>("queues", 5000);
	const batches = useApi<{ items: BatchRow[] }>("batches?limit=10", 5000);
	const runs = useApi<{ items: RunRow[] }>("dispatch/runs?limit=5", 5000);
	const intake = useApi<{ items: IntakeRow[] }>("intake?limit=5", 5000);
	const rates = useRates(queues.data?.queues, queues.at);
	const clients = useClients();
	const clientName = (id: string) => clients.data?.items.find((c) => c.id === id)?.name ?? id;
	const now = useNow();
	const rate = (q: QueueStat, k: keyof Rate) => {
		if (q.published === undefined) return <NotReported q={q} />;
		const r = rates.get(q.queue);
		return r ? `${r[k].toFixed(1)}/s` : "…";
	};
	return (
		<>
			<p class="muted">Refreshed every 5 s; updated {ago(queues.at, now)}.</p>
			<section aria-labelledby="h-health">
				<h2 id="h-health">Health</h2>
				<ErrorBox error={health.error} />
				{health.data && (
					<table>
						<caption>Node {health.data.node}: {health.data.status}</caption>
						<thead>
							<tr>
								<th scope="col">Dependency</th>
								<th scope="col">State</th>
								<th scope="col">Last change</th>
							</tr>
						</thead>
						<tbody>
							{Object.entries(health.data.dependencies).map(([k, v]) => {
								const c = health.data?.lastChange?.[k];
								return (
									<tr>
										<td>{k}</td>
										<td class={v === "up" ? "ok" : "bad"}>{v}</td>
										<td data-testid={`changed-${k}`}>{!c ? "n/a" : c.seen ? `${ago(c.at, now)} (${when(c.at)})` : `none seen since this node's first check, ${when(c.at)}`}</td>
									</tr>
								);
							})}
						</tbody>
					</table>
				)}
				{health.data?.tools?.some((t) => t.state !== "up") && (
					<ul data-testid="missing-tools">
						{health.data.tools
							.filter((t) => t.state !== "up")
							.map((t) => (
								<li class="bad">
									{t.tool} ({t.neededBy}): {t.detail ?? "missing"}
								</li>
							))}
					</ul>
				)}
			</section>
			<section aria-labelledby="h-queues">
				<h2 id="h-queues">Queues</h2>
				<ErrorBox error={queues.error} />
				<table>
					<thead>
						<tr>
							<th scope="col">Queue</th>
							<th scope="col">Waiting</th>
							<th scope="col">In</th>
							<th scope="col">Out</th>
							<th scope="col">Oldest waiting</th>
							<th scope="col">Consumers</th>
							<th scope="col">Dead letters</th>
						</tr>
					</thead>
					<tbody>
						{(queues.data?.queues ?? []).map((q) => (
							<tr class={q.consumers === 0 ? "warn" : undefined} data-queue={q.queue}>
								<td>{q.queue}</td>
								<td>{q.ready}</td>
								<td data-rate="in">{rate(q, "in")}</td>
								<td data-rate="out">{rate(q, "out")}</td>
								<td>{q.oldestAgeMs === undefined ? <NotReported q={q} /> : q.oldestAgeMs === null ? "none" : duration(q.oldestAgeMs)}</td>
								<td>{q.consumers === 0 ? <strong>none</strong> : q.consumers}</td>
								<td>{q.dead > 0 ? <Link to={`/dead-letters?queue=${encodeURIComponent(q.queue)}`}>{q.dead}</Link> : 0}</td>
							</tr>
						))}
					</tbody>
				</table>
				<p class="muted">
					In and out: messages per second over the last 30 s. On RabbitMQ they and the oldest waiting message come from its management API
					(RABBITMQ_MANAGEMENT_URL), sampled every 5 s; it reports no oldest message for quorum queues.
				</p>
				{(queues.data?.queues ?? []).some((q) => q.countersError) && (
					<p class="error" data-testid="counters-error">
						{(queues.data?.queues ?? []).find((q) => q.countersError)?.countersError}
					</p>
				)}
			</section>
			<section aria-labelledby="h-batches">
				<h2 id="h-batches">Last batches</h2>
				<ErrorBox error={batches.error} />
				<table>
					<thead>
						<tr>
							<th scope="col">Batch</th>
							<th scope="col">Client</th>
							<th scope="col">Kind</th>
							<th scope="col">Status</th>
							<th scope="col">Rows</th>
							<th scope="col">Created</th>
						</tr>
					</thead>
					<tbody>
						{(batches.data?.items ?? []).map((b) => (
							<tr>
								<td>
									<Link to={`/batches/${b.id}`}>{b.id}</Link>
								</td>
								<td>{clientName(b.clientId)}</td>
								<td>{b.kind}</td>
								<td class={`status-${b.status}`}>{b.status}</td>
								<td>{b.counts.received}</td>
								<td>{when(b.createdAt)}</td>
							</tr>
						))}
					</tbody>
				</table>
			</section>
			<section aria-labelledby="h-runs">
				<h2 id="h-runs">Last dispatch runs</h2>
				<ErrorBox error={runs.error} />
				<table>
					<thead>
						<tr>
							<th scope="col">Run</th>
							<th scope="col">Status</th>
							<th scope="col">Window</th>
							<th scope="col">Cases</th>
							<th scope="col">Started</th>
						</tr>
					</thead>
					<tbody>
						{(runs.data?.items ?? []).map((r) => (
							<tr>
								<td>
									<Link to={`/runs/${encodeURIComponent(r.id)}`}>{r.id}</Link>
								</td>
								<td class={`run-${r.status}`}>{r.status}</td>
								<td>
									{r.from} to {r.to}
								</td>
								<td>{r.cases}</td>
								<td>{when(r.startedAt)}</td>
							</tr>
						))}
					</tbody>
				</table>
			</section>
			<section aria-labelledby="h-intake">
				<h2 id="h-intake">Last intake documents</h2>
				<ErrorBox error={intake.error} />
				<table>
					<thead>
						<tr>
							<th scope="col">File</th>
							<th scope="col">Client</th>
							<th scope="col">Type</th>
							<th scope="col">Status</th>
							<th scope="col">Received</th>
						</tr>
					</thead>
					<tbody>
						{(intake.data?.items ?? []).map((d) => (
							<tr>
								<td>
									<Link to={`/intake/${encodeURIComponent(d.id)}`}>{d.file.name}</Link>
								</td>
								<td>{clientName(d.clientId)}</td>
								<td>{d.type ?? ""}</td>
								<td class={`status-${d.status}`}>{d.status}</td>
								<td>{when(d.createdAt)}</td>
							</tr>
						))}
					</tbody>
				</table>
			</section>
		</>
	);
}

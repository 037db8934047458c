/** Overview: health of each dependency, queue depths and consumers (a queue nobody consumes stands out), last batches. */
import { useApi, useNow, ago, when, ErrorBox, Link } from "../ui.tsx";

interface Health {
	status: string;
	node: string;
	dependencies: Record<string, string>;
}
interface QueueStat {
	queue: string;
	ready: number;
	dead: number;
	consumers: number;
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
	const now = useNow();
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
							</tr>
						</thead>
						<tbody>
							{Object.entries(health.data.dependencies).map(([k, v]) => (
								<tr>
									<td>{k}</td>
									<td class={v === "up" ? "ok" : "bad"}>{v}</td>
								</tr>
							))}
						</tbody>
					</table>
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
							<th scope="col">Consumers</th>
							<th scope="col">Dead letters</th>
						</tr>
					</thead>
					<tbody>
						{(queues.data?.queues ?? []).map((q) => (
							<tr class={q.consumers === 0 ? "warn" : undefined}>
								<td>{q.queue}</td>
								<td>{q.ready}</td>
								<td>{q.consumers === 0 ? <strong>none</strong> : q.consumers}</td>
								<td>{q.dead > 0 ? <Link to={`/dead-letters?queue=${encodeURIComponent(q.queue)}`}>{q.dead}</Link> : 0}</td>
							</tr>
						))}
					</tbody>
				</table>
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
								<td>{b.clientId}</td>
								<td>{b.kind}</td>
								<td class={`status-${b.status}`}>{b.status}</td>
								<td>{b.counts.received}</td>
								<td>{when(b.createdAt)}</td>
							</tr>
						))}
					</tbody>
				</table>
			</section>
		</>
	);
}

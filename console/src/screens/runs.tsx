/**
 * Dispatch runs: the list (client filter and paging in the URL, CSV export), starting a run over a date window, and
 * one run's live counts by case status and channel (updating while it runs, stopping when it ends).
 */
import { useState } from "preact/hooks";
import { api, allRows, qs } from "../api.ts";
import { navigate, type Route } from "../router.ts";
import { useApi, useNow, ago, when, ErrorBox, Link, downloadCsv, Field, FilterSelect, Pager, SortHeader } from "../ui.tsx";
import { ClientName, useClients } from "./batches.tsx";
import { CASE_STATUSES } from "./cases.tsx";

interface RunRow {
	id: string;
	kind: "scheduled" | "manual";
	status: "running" | "completed" | "failed";
	from: string;
	to: string;
	includePending: boolean;
	clientId?: string;
	caseId?: string;
	requestedBy?: string;
	picked: { created: number; retried: number; existing: number };
	cases: number;
	byStatus: Record<string, number>;
	byChannel: Record<string, number>;
	error?: string;
	startedAt: string;
	finishedAt?: string;
}

const LIMIT = 20;
const CSV_COLUMNS = ["id", "kind", "status", "from", "to", "includePending", "clientId", "caseId", "picked.created", "picked.retried", "picked.existing", "cases", ...CASE_STATUSES.map((s) => `byStatus.${s}`), "error", "startedAt", "finishedAt"];

export function Runs(props: { route: Route }) {
	const clientId = props.route.query.get("clientId") ?? "";
	const page = Math.max(1, Number(props.route.query.get("page") ?? "1") || 1);
	const sort = props.route.query.get("sort") ?? "-startedAt";
	const list = useApi<{ total: number; items: RunRow[] }>(`dispatch/runs${qs({ clientId, sort, limit: LIMIT, offset: (page - 1) * LIMIT })}`, 5000);
	const clients = useClients();
	const names = new Map((clients.data?.items ?? []).map((c) => [c.id, c.name]));
	const items = list.data?.items ?? [];
	const exportCsv = async () => {
		const rows = await allRows<RunRow>("dispatch/runs", { clientId, sort }, 200, 10_000);
		downloadCsv("dispatch-runs.csv", CSV_COLUMNS, rows as unknown as Record<string, unknown>[]);
	};
	return (
		<>
			<form class="filters" aria-label="filters" onSubmit={(e) => e.preventDefault()}>
				<FilterSelect label="Client" name="clientId" value={clientId} options={(clients.data?.items ?? []).map((c) => ({ value: c.id, label: c.name }))} any="all clients" />
				<button type="button" onClick={() => void exportCsv()}>
					Export CSV
				</button>
			</form>
			<ErrorBox error={list.error} />
			<table data-testid="runs">
				<thead>
					<tr>
						<th scope="col">Run</th>
						<SortHeader field="kind" label="Kind" sort={sort} />
						<SortHeader field="status" label="Status" sort={sort} />
						<th scope="col">Window</th>
						<th scope="col">Client</th>
						<th scope="col">Cases</th>
						<th scope="col">Delivered</th>
						<th scope="col">Failed</th>
						<SortHeader field="startedAt" label="Started" sort={sort} />
					</tr>
				</thead>
				<tbody>
					{items.map((r) => (
						<tr>
							<td>
								<Link to={`/runs/${encodeURIComponent(r.id)}`}>{r.id}</Link>
							</td>
							<td>{r.caseId ? "resend" : r.kind}</td>
							<td class={`run-${r.status}`}>{r.status}</td>
							<td>
								{r.from} to {r.to}
							</td>
							<td>{r.clientId ? (names.get(r.clientId) ?? r.clientId) : "all"}</td>
							<td>{r.cases}</td>
							<td>{r.byStatus.delivered ?? 0}</td>
							<td>{r.byStatus.failed ?? 0}</td>
							<td>{when(r.startedAt)}</td>
						</tr>
					))}
				</tbody>
			</table>
			<Pager total={list.data?.total ?? 0} limit={LIMIT} page={page} />
			<StartRun clients={clients.data?.items ?? []} />
		</>
	);
}

function StartRun(props: { clients: { id: string; name: string }[] }) {
	const today = new Date().toISOString().slice(0, 10);
	const [from, setFrom] = useState(new Date(Date.now() - 7 * 86_400_000).toISOString().slice(0, 10));
	const [to, setTo] = useState(today);
	const [clientId, setClientId] = useState("");
	const [includePending, setIncludePending] = useState(true);
	const [error, setError] = useState<string | null>(null);
	const submit = async (e: Event) => {
		e.preventDefault();
		if (!confirm(`Start a dispatch run for loans disbursed ${from} to ${to}${clientId ? " of one client" : " of every client"}${includePending ? ", retrying pending and failed cases" : ""}?`)) return;
		setError(null);
		try {
			const run = await api<RunRow>("dispatch/runs", { method: "POST", json: { from, to, includePending, ...(clientId ? { clientId } : {}) } });
			navigate(`/runs/${encodeURIComponent(run.id)}`);
		} catch (err) {
			setError((err as Error).message);
		}
	};
	return (
		<section aria-labelledby="h-start">
			<h2 id="h-start">Start a dispatch run</h2>
			<form class="filters" onSubmit={submit}>
				<Field label="Disbursed from">
					<input type="date" required value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
				</Field>
				<Field label="Disbursed to">
					<input type="date" required value={to} onChange={(e) => setTo(e.currentTarget.value)} />
				</Field>
				<Field label="Client">
					<select value={clientId} onChange={(e) => setClientId(e.currentTarget.value)}>
						<option value="">every client</option>
						{props.clients.map((c) => (
							<option value={c.id}>{c.name}</option>
						))}
					</select>
				</Field>
				<label class="check">
					<input type="checkbox" checked={includePending} onChange={(e) => setIncludePending(e.currentTarget.checked)} /> Retry pending and failed cases
				</label>
				<button type="submit">Start run</button>
			</form>
			{error && (
				<p class="error" role="alert">
					{error}
				</p>
			)}
		</section>
	);
}

export function RunDetail(props: { id: string }) {
	const run = useApi<RunRow>(`dispatch/runs/${encodeURIComponent(props.id)}`, 1000, (r) => r.status === "running");
	const now = useNow();
	const r = run.data;
	return (
		<>
			<ErrorBox error={run.error} />
			{r && (
				<>
					<p>
						<span class={`status run-${r.status}`} data-testid="run-status">
							{r.status}
						</span>{" "}
						<span class="muted" data-testid="run-updated">
							{r.status === "running" ? `live: updated ${ago(run.at, now)}` : `finished ${when(r.finishedAt)}`}
						</span>
					</p>
					<dl class="facts">
						<dt>Run</dt>
						<dd>{r.id}</dd>
						<dt>Kind</dt>
						<dd>
							{r.kind}
							{r.caseId && (
								<>
									{", resend of case "}
									<Link to={`/cases/${encodeURIComponent(r.caseId)}`}>{r.caseId}</Link>
								</>
							)}
							{r.requestedBy ? `, by ${r.requestedBy}` : ""}
						</dd>
						<dt>Window</dt>
						<dd>
							{r.from} to {r.to}
							{r.includePending ? ", retrying pending and failed cases" : ""}
						</dd>
						<dt>Client</dt>
						<dd>{r.clientId ? <ClientName id={r.clientId} /> : "every client"}</dd>
						<dt>Picked</dt>
						<dd>
							{r.picked.created} new, {r.picked.retried} retried, {r.picked.existing} already had a case
						</dd>
						<dt>Started</dt>
						<dd>{when(r.startedAt)}</dd>
					</dl>
					{r.error && (
						<p class="error" role="alert">
							{r.error}
						</p>
					)}
					<table data-testid="run-counts">
						<caption>
							{r.cases} cases by status (<Link to={`/cases?runId=${encodeURIComponent(r.id)}`}>list them</Link>)
						</caption>
						<thead>
							<tr>
								{CASE_STATUSES.map((s) => (
									<th scope="col">{s}</th>
								))}
							</tr>
						</thead>
						<tbody>
							<tr>
								{CASE_STATUSES.map((s) => (
									<td data-count={s}>{s in r.byStatus && r.byStatus[s] > 0 ? <Link to={`/cases?runId=${encodeURIComponent(r.id)}&status=${s}`}>{r.byStatus[s]}</Link> : (r.byStatus[s] ?? 0)}</td>
								))}
							</tr>
						</tbody>
					</table>
					<table>
						<caption>By channel of the current or last attempt</caption>
						<thead>
							<tr>
								<th scope="col">Channel</th>
								<th scope="col">Cases</th>
							</tr>
						</thead>
						<tbody>
							{Object.entries(r.byChannel).map(([ch, n]) => (
								<tr>
									<td>{ch}</td>
									<td>{n}</td>
								</tr>
							))}
						</tbody>
					</table>
				</>
			)}
		</>
	);
}

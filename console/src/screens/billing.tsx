/**
 * Billing runs: the list (client filter and paging in the URL, CSV export), and one run's live counts per step with
 * its halted loans (step, reason, input) and a resume of the selected or all halted loans (audited by the API).
 */
import { useState } from "preact/hooks";
import { api, allRows, qs } from "../api.ts";
import { navigate, type Route } from "../router.ts";
import { useApi, useNow, ago, when, ErrorBox, Link, Pager, downloadCsv, Field, FilterSelect } from "../ui.tsx";
import { ClientName, useClients } from "./batches.tsx";

interface BillingRun {
	id: string;
	clientId: string;
	cycle: { from: string; to: string };
	pdf: boolean;
	status: "running" | "completed" | "completed_with_halts";
	counts: { loans: number; done: number; active: number; halted: number; steps: Record<string, { active: number; halted: number; passed: number }> };
	startedBy?: string;
	createdAt: string;
	updatedAt?: string;
}

interface Halted {
	loanId: string;
	step: string;
	reason?: string;
	input?: unknown;
	haltedAt?: string;
	attempts?: number;
}

const LIMIT = 20;

export function BillingRuns(props: { route: Route }) {
	const clientId = props.route.query.get("clientId") ?? "";
	const page = Math.max(1, Number(props.route.query.get("page") ?? "1") || 1);
	const list = useApi<{ total: number; items: BillingRun[] }>(`billing/runs${qs({ clientId, limit: LIMIT, offset: (page - 1) * LIMIT })}`, 5000);
	const clients = useClients();
	const names = new Map((clients.data?.items ?? []).map((c) => [c.id, c.name]));
	const exportCsv = async () => {
		const rows = await allRows<BillingRun>("billing/runs", { clientId }, 200);
		downloadCsv("billing-runs.csv", ["id", "clientId", "cycle.from", "cycle.to", "status", "counts.loans", "counts.done", "counts.active", "counts.halted", "startedBy", "createdAt"], rows as unknown as Record<string, unknown>[]);
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
			<table data-testid="billing-runs">
				<thead>
					<tr>
						<th scope="col">Run</th>
						<th scope="col">Client</th>
						<th scope="col">Cycle</th>
						<th scope="col">Status</th>
						<th scope="col">Loans</th>
						<th scope="col">Done</th>
						<th scope="col">Halted</th>
						<th scope="col">Started</th>
					</tr>
				</thead>
				<tbody>
					{(list.data?.items ?? []).map((r) => (
						<tr class={r.counts.halted > 0 ? "warn" : undefined}>
							<td>
								<Link to={`/billing/${encodeURIComponent(r.id)}`}>{r.id}</Link>
							</td>
							<td>{names.get(r.clientId) ?? r.clientId}</td>
							<td>
								{r.cycle.from} to {r.cycle.to}
							</td>
							<td>{r.status}</td>
							<td>{r.counts.loans}</td>
							<td>{r.counts.done}</td>
							<td>{r.counts.halted}</td>
							<td>{when(r.createdAt)}</td>
						</tr>
					))}
				</tbody>
			</table>
			{list.data && <Pager total={list.data.total} limit={LIMIT} page={page} />}
			<StartBillingRun clients={clients.data?.items ?? []} />
		</>
	);
}

/** Bills a client's active loans for a cycle (the same cycle again is the same run, resumed). */
function StartBillingRun(props: { clients: { id: string; name: string }[] }) {
	const [clientId, setClientId] = useState("");
	const [cycleTo, setCycleTo] = useState("");
	const [pdf, setPdf] = useState(true);
	const [error, setError] = useState<string | null>(null);
	const submit = async (e: Event) => {
		e.preventDefault();
		if (!clientId || !confirm(`Bill every active loan of this client for the cycle ending ${cycleTo || "on its last statement day"}?`)) return;
		setError(null);
		try {
			const run = await api<BillingRun>("billing/runs", { method: "POST", json: { clientId, pdf, ...(cycleTo ? { cycleTo } : {}) } });
			navigate(`/billing/${encodeURIComponent(run.id)}`);
		} catch (err) {
			setError((err as Error).message);
		}
	};
	return (
		<section aria-labelledby="h-start-billing">
			<h2 id="h-start-billing">Start a billing run</h2>
			<form class="filters" onSubmit={submit}>
				<Field label="Client">
					<select required value={clientId} onChange={(e) => setClientId(e.currentTarget.value)}>
						<option value="">choose…</option>
						{props.clients.map((c) => (
							<option value={c.id}>{c.name}</option>
						))}
					</select>
				</Field>
				<Field label="Statement date (empty: the last statement day)">
					<input type="date" value={cycleTo} onChange={(e) => setCycleTo(e.currentTarget.value)} />
				</Field>
				<label class="check">
					<input type="checkbox" checked={pdf} onChange={(e) => setPdf(e.currentTarget.checked)} /> PDF statements
				</label>
				<button type="submit">Start billing run</button>
			</form>
			{error && (
				<p class="error" role="alert">
					{error}
				</p>
			)}
		</section>
	);
}

export function BillingRunDetail(props: { id: string }) {
	const path = `billing/runs/${encodeURIComponent(props.id)}`;
	const run = useApi<BillingRun>(path, 2000, (r) => r.status === "running");
	const halted = useApi<{ total: number; items: Halted[] }>(`${path}/halted?limit=500`, 0);
	const now = useNow();
	const [selected, setSelected] = useState<Set<string>>(new Set());
	const [msg, setMsg] = useState<string | null>(null);
	const [fail, setFail] = useState<Error | null>(null);
	const r = run.data;
	const items = halted.data?.items ?? [];
	const resume = async (loanIds?: string[]) => {
		const n = loanIds?.length ?? halted.data?.total ?? 0;
		if (n === 0 || !confirm(`Resume ${n} halted loan${n === 1 ? "" : "s"} of run ${props.id} from the step each halted at?`)) return;
		setFail(null);
		try {
			const res = await api<{ resumed: number }>(`${path}/resume`, { method: "POST", json: loanIds ? { loanIds } : {} });
			setMsg(`Resumed ${res.resumed}.`);
			setSelected(new Set());
			run.reload();
			halted.reload();
		} catch (err) {
			setFail(err as Error);
		}
	};
	const toggle = (id: string) => {
		const next = new Set(selected);
		if (next.has(id)) next.delete(id);
		else next.add(id);
		setSelected(next);
	};
	return (
		<>
			<ErrorBox error={run.error ?? halted.error ?? fail} />
			{r && (
				<>
					<p>
						<span class="status" data-testid="billing-status">
							{r.status}
						</span>{" "}
						<span class="muted">{r.status === "running" ? `live: updated ${ago(run.at, now)}` : `last change ${when(r.updatedAt)}`}</span>
					</p>
					<dl class="facts">
						<dt>Run</dt>
						<dd>{r.id}</dd>
						<dt>Client</dt>
						<dd>
							<Link to={`/billing?clientId=${encodeURIComponent(r.clientId)}`}>
								<ClientName id={r.clientId} />
							</Link>
						</dd>
						<dt>Cycle</dt>
						<dd>
							{r.cycle.from} to {r.cycle.to}
							{r.pdf ? ", with PDF statements" : ", without PDFs"}
						</dd>
						<dt>Started</dt>
						<dd>
							{when(r.createdAt)}
							{r.startedBy ? ` by ${r.startedBy}` : ""}
						</dd>
						<dt>Loans</dt>
						<dd>
							{r.counts.loans}: {r.counts.done} done, {r.counts.active} in progress, {r.counts.halted} halted
						</dd>
					</dl>
					<table data-testid="billing-steps">
						<caption>Per step</caption>
						<thead>
							<tr>
								<th scope="col">Step</th>
								<th scope="col">In progress</th>
								<th scope="col">Halted</th>
								<th scope="col">Passed</th>
							</tr>
						</thead>
						<tbody>
							{Object.entries(r.counts.steps).map(([step, c]) => (
								<tr>
									<td>{step}</td>
									<td>{c.active}</td>
									<td>{c.halted}</td>
									<td>{c.passed}</td>
								</tr>
							))}
						</tbody>
					</table>
				</>
			)}
			<section aria-labelledby="h-halted">
				<h2 id="h-halted">Halted loans ({halted.data?.total ?? 0})</h2>
				<div class="actions">
					<button type="button" disabled={selected.size === 0} onClick={() => void resume([...selected])}>
						Resume selected ({selected.size})
					</button>
					<button type="button" disabled={!halted.data?.total} onClick={() => void resume()}>
						Resume all
					</button>
				</div>
				{msg && <p role="status">{msg}</p>}
				<table>
					<thead>
						<tr>
							<th scope="col">
								<span class="sr-only">Select</span>
							</th>
							<th scope="col">Loan</th>
							<th scope="col">Step</th>
							<th scope="col">Reason</th>
							<th scope="col">Tries</th>
							<th scope="col">Halted</th>
						</tr>
					</thead>
					<tbody>
						{items.map((h) => (
							<tr>
								<td>
									<input type="checkbox" aria-label={`select ${h.loanId}`} checked={selected.has(h.loanId)} onChange={() => toggle(h.loanId)} />
								</td>
								<td>{h.loanId}</td>
								<td>{h.step}</td>
								<td>{h.reason ?? ""}</td>
								<td>{h.attempts ?? ""}</td>
								<td>{when(h.haltedAt)}</td>
							</tr>
						))}
					</tbody>
				</table>
			</section>
		</>
	);
}

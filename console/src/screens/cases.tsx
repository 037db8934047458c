/**
 * Delivery cases: the list (server-side filters status, channel, loan, run, client and creation dates, all in the
 * URL; paging; CSV export of the filtered rows), and one case with every attempt on a timeline (channel, provider,
 * status history, failure reasons, why the next channel was tried) and a resend that reuses the stored PDF.
 */
import { useState } from "preact/hooks";
import { api, allRows, qs } from "../api.ts";
import { setQuery, type Route } from "../router.ts";
import { useApi, useNow, ago, when, ErrorBox, Link, Pager, DateRange, downloadCsv, Field, FilterSelect, SortHeader } from "../ui.tsx";
import { ClientName, useClients } from "./batches.tsx";

export interface CaseRow {
	id: string;
	clientId: string;
	loanId: string;
	documentType: string;
	status: string;
	runId: string;
	runIds: string[];
	try: number;
	plan?: string[];
	channel?: string;
	documentId?: string;
	failure?: { code: string; reason: string };
	dueDate: string;
	createdAt: string;
	updatedAt: string;
	finishedAt?: string;
}

interface HistoryEntry {
	status: string;
	at: string;
	source: "send" | "callback" | "timeout" | "courier";
	code?: string;
	reason?: string;
}

interface Attempt {
	id: string;
	runId: string;
	try: number;
	channel: string;
	provider: string;
	providerMessageId?: string;
	status: string;
	history: HistoryEntry[];
	failure?: { code: string; reason: string };
	sentAt?: string;
	deliveredAt?: string;
	timedOutAt?: string;
	courier?: { name: string; trackingNumber: string; dispatchedOn: string; deliveredOn?: string };
	createdAt: string;
	outcomeKnown: boolean;
	deadline?: string;
}

interface CaseDetailBody extends CaseRow {
	attempts: Attempt[];
	events: { attemptId: string; provider: string; status: string; at: string; receivedAt: string; applied: boolean; code?: string; reason?: string }[];
}

export const CASE_STATUSES = ["pending", "sending", "sent", "dispatched", "delivered", "failed"];
export const CHANNELS = ["whatsapp", "rcs", "sms", "email", "courier"];
const OPEN = new Set(["pending", "sending"]);
const LIMIT = 20;

function filtersOf(route: Route) {
	const q = route.query;
	const get = (k: string) => q.get(k) ?? "";
	return { clientId: get("clientId"), status: get("status"), channel: get("channel"), loan_id: get("loan_id"), runId: get("runId"), from: get("from"), to: get("to") };
}

export function Cases(props: { route: Route }) {
	const f = filtersOf(props.route);
	const page = Math.max(1, Number(props.route.query.get("page") ?? "1") || 1);
	const sort = props.route.query.get("sort") ?? "-createdAt";
	const list = useApi<{ total: number; items: CaseRow[] }>(`cases${qs({ ...f, sort, limit: LIMIT, offset: (page - 1) * LIMIT })}`, 5000);
	const clients = useClients();
	const names = new Map((clients.data?.items ?? []).map((c) => [c.id, c.name]));
	const set = (k: string) => (e: Event) => setQuery({ [k]: (e.currentTarget as HTMLInputElement).value.trim(), page: undefined });
	const exportCsv = async () => {
		const rows = await allRows<CaseRow>("cases", { ...f, sort });
		downloadCsv("cases.csv", ["id", "clientId", "loanId", "documentType", "status", "channel", "try", "runId", "failure.code", "failure.reason", "dueDate", "createdAt", "finishedAt"], rows as unknown as Record<string, unknown>[]);
	};
	return (
		<>
			<form class="filters" aria-label="filters" onSubmit={(e) => e.preventDefault()}>
				<FilterSelect label="Client" name="clientId" value={f.clientId} options={(clients.data?.items ?? []).map((c) => ({ value: c.id, label: c.name }))} any="all clients" />
				<FilterSelect label="Status" name="status" value={f.status} options={CASE_STATUSES} />
				<FilterSelect label="Channel" name="channel" value={f.channel} options={CHANNELS} />
				<Field label="Loan ID">
					<input name="loan_id" value={f.loan_id} onChange={set("loan_id")} />
				</Field>
				<Field label="Run">
					<input name="runId" value={f.runId} onChange={set("runId")} />
				</Field>
				<DateRange from={f.from} to={f.to} />
				<button type="button" onClick={() => void exportCsv()}>
					Export CSV
				</button>
			</form>
			<ErrorBox error={list.error} />
			<table data-testid="cases">
				<thead>
					<tr>
						<th scope="col">Loan</th>
						<th scope="col">Client</th>
						<th scope="col">Document</th>
						<SortHeader field="status" label="Status" sort={sort} />
						<SortHeader field="channel" label="Channel" sort={sort} />
						<th scope="col">Try</th>
						<th scope="col">Run</th>
						<SortHeader field="createdAt" label="Created" sort={sort} />
					</tr>
				</thead>
				<tbody>
					{(list.data?.items ?? []).map((c) => (
						<tr>
							<td>
								<Link to={`/cases/${encodeURIComponent(c.id)}`}>{c.loanId}</Link>
							</td>
							<td>{names.get(c.clientId) ?? c.clientId}</td>
							<td>{c.documentType}</td>
							<td class={`case-${c.status}`}>{c.status}</td>
							<td>{c.channel ?? ""}</td>
							<td>{c.try}</td>
							<td>
								<Link to={`/runs/${encodeURIComponent(c.runId)}`}>{c.runId}</Link>
							</td>
							<td>{when(c.createdAt)}</td>
						</tr>
					))}
				</tbody>
			</table>
			{list.data && <Pager total={list.data.total} limit={LIMIT} page={page} />}
		</>
	);
}

/** Why the case went on from `a` to the next attempt of the same try (a fallback), in words. */
export function fallbackReason(a: Attempt): string {
	if (a.timedOutAt) return `no delivery reported by ${when(a.deadline ?? a.timedOutAt)}: timed out ${when(a.timedOutAt)}`;
	if (a.failure) return `${a.channel} failed: ${a.failure.code}: ${a.failure.reason}`;
	const last = a.history[a.history.length - 1];
	if (last?.status === "failed") return `${a.channel} reported failed${last.reason ? `: ${last.reason}` : ""}`;
	return `${a.channel} ended as ${a.status}`;
}

function Timeline(props: { c: CaseDetailBody }) {
	const attempts = props.c.attempts;
	if (attempts.length === 0) return <p>No attempt yet: the case waits for its document or its run.</p>;
	return (
		<ol class="timeline" data-testid="timeline">
			{attempts.map((a, i) => {
				const next = attempts[i + 1];
				return (
					<li data-attempt={a.id} class={`attempt attempt-${a.status}`}>
						<h3>
							Try {a.try}: {a.channel} via {a.provider} <span class={`case-${a.status}`}>{a.status}</span>
						</h3>
						<p class="muted">
							attempt {a.id}, run <Link to={`/runs/${encodeURIComponent(a.runId)}`}>{a.runId}</Link>, started {when(a.createdAt)}
							{a.providerMessageId ? `, provider message ${a.providerMessageId}` : ""}
							{a.deadline ? `, moves on at ${when(a.deadline)} without a delivery` : ""}
						</p>
						{!a.outcomeKnown && <p class="error">The provider's answer to this send is unknown (the sender stopped mid-call, or the connection broke after the request went out); it is not sent again: its status callbacks or its delivery timeout decide.</p>}
						{a.failure && (
							<p class="error" data-testid="failure">
								{a.failure.code}: {a.failure.reason}
							</p>
						)}
						{a.courier && (
							<p>
								Courier {a.courier.name}, tracking {a.courier.trackingNumber}, dispatched {a.courier.dispatchedOn}
								{a.courier.deliveredOn ? `, delivered ${a.courier.deliveredOn}` : ""}
							</p>
						)}
						<table>
							<caption class="sr-only">Status history of attempt {a.id}</caption>
							<thead>
								<tr>
									<th scope="col">At</th>
									<th scope="col">Status</th>
									<th scope="col">From</th>
									<th scope="col">Reason</th>
								</tr>
							</thead>
							<tbody>
								{a.history.map((h) => (
									<tr>
										<td>{when(h.at)}</td>
										<td>{h.status}</td>
										<td>{h.source}</td>
										<td>{[h.code, h.reason].filter(Boolean).join(": ")}</td>
									</tr>
								))}
							</tbody>
						</table>
						{next && (
							<p class="fallback" data-testid="fallback">
								{next.try === a.try ? `Fell back to ${next.channel}: ${fallbackReason(a)}.` : `Try ${next.try} started by run ${next.runId} (a later run's retry or an operator's resend).`}
							</p>
						)}
					</li>
				);
			})}
		</ol>
	);
}

export function CaseDetail(props: { id: string }) {
	const c = useApi<CaseDetailBody>(`cases/${encodeURIComponent(props.id)}`, 2000, (d) => OPEN.has(d.status));
	const now = useNow();
	const [msg, setMsg] = useState<{ text: string; runId: string } | null>(null);
	const [fail, setFail] = useState<Error | null>(null);
	const d = c.data;
	const resend = async () => {
		if (!d || !confirm(`Resend case ${d.id} (loan ${d.loanId}) on its plan, reusing its stored document? This is try ${d.try + 1}.`)) return;
		setFail(null);
		try {
			const run = await api<{ id: string }>(`cases/${encodeURIComponent(d.id)}/resend`, { method: "POST", json: {} });
			setMsg({ text: `Resent as try ${d.try + 1} in run ${run.id}.`, runId: run.id });
			c.reload();
		} catch (err) {
			setFail(err as Error);
		}
	};
	return (
		<>
			<ErrorBox error={c.error ?? fail} />
			{d && (
				<>
					<p>
						<span class={`status case-${d.status}`} data-testid="case-status">
							{d.status}
						</span>{" "}
						<span class="muted">{OPEN.has(d.status) ? `live: updated ${ago(c.at, now)}` : d.finishedAt ? `ended ${when(d.finishedAt)}` : ""}</span>
					</p>
					<dl class="facts">
						<dt>Case</dt>
						<dd>{d.id}</dd>
						<dt>Loan</dt>
						<dd>
							<Link to={`/search?by=loan_id&value=${encodeURIComponent(d.loanId)}`}>{d.loanId}</Link>
						</dd>
						<dt>Client</dt>
						<dd>
							<Link to={`/cases?clientId=${encodeURIComponent(d.clientId)}`}>
								<ClientName id={d.clientId} />
							</Link>
						</dd>
						<dt>Document</dt>
						<dd>
							{d.documentType}
							{d.documentId ? `, stored document ${d.documentId}` : ", no document stored yet"}
						</dd>
						<dt>Plan</dt>
						<dd>{d.plan?.join(" → ") ?? "not chosen yet"}</dd>
						<dt>Try</dt>
						<dd>{d.try}</dd>
						<dt>Runs</dt>
						<dd>
							{d.runIds.map((r, i) => (
								<>
									{i > 0 && ", "}
									<Link to={`/runs/${encodeURIComponent(r)}`}>{r}</Link>
								</>
							))}
						</dd>
						<dt>Due</dt>
						<dd>{d.dueDate}</dd>
					</dl>
					{d.failure && (
						<p class="error">
							Failed: {d.failure.code}: {d.failure.reason}
						</p>
					)}
					<div class="actions">
						<button type="button" disabled={OPEN.has(d.status)} onClick={() => void resend()} title={OPEN.has(d.status) ? "a try is under way" : undefined}>
							Resend
						</button>
						{msg && (
							<p role="status">
								{msg.text} <Link to={`/runs/${encodeURIComponent(msg.runId)}`}>Follow the run</Link>
							</p>
						)}
					</div>
					<section aria-labelledby="h-attempts">
						<h2 id="h-attempts">Attempts</h2>
						<Timeline c={d} />
					</section>
					<section aria-labelledby="h-events">
						<h2 id="h-events">Status events as received</h2>
						<table>
							<thead>
								<tr>
									<th scope="col">Received</th>
									<th scope="col">Attempt</th>
									<th scope="col">Provider</th>
									<th scope="col">Status</th>
									<th scope="col">Applied</th>
									<th scope="col">Reason</th>
								</tr>
							</thead>
							<tbody>
								{d.events.map((e) => (
									<tr>
										<td>{when(e.receivedAt)}</td>
										<td>{e.attemptId}</td>
										<td>{e.provider}</td>
										<td>{e.status}</td>
										<td>{e.applied ? "yes" : "no (duplicate or late)"}</td>
										<td>{[e.code, e.reason].filter(Boolean).join(": ")}</td>
									</tr>
								))}
							</tbody>
						</table>
					</section>
				</>
			)}
		</>
	);
}

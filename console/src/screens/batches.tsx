/**
 * Batches: the list (server-side filters, sorting and paging, all in the URL; CSV export of the filtered rows; upload
 * on a client's behalf), and one batch's live progress with its rejections grouped by code and the API's CSV.
 */
import { useState } from "preact/hooks";
import { api, apiFetch, allRows, qs, type Operator } from "../api.ts";
import { navigate, setQuery, type Route } from "../router.ts";
import { useApi, useNow, ago, when, ErrorBox, Link, Pager, DateRange, SortHeader, downloadCsv, Field, FilterSelect } from "../ui.tsx";

export interface BatchRow {
	id: string;
	clientId: string;
	kind: string;
	source: string;
	status: string;
	file?: { name: string; size: number };
	counts: { received: number; valid: number; rejected: number; skipped: number; inserted: number; updated: number; unchanged: number };
	chunks: { total: number; done: number };
	createdAt: string;
	updatedAt: string;
	finishedAt: string | null;
	error: { code: string; message: string } | null;
}

interface ClientRow {
	id: string;
	name: string;
}

const STATUSES = ["OPEN", "RECEIVED", "SPLITTING", "PROCESSING", "COMPLETED", "FAILED"];
const LIMIT = 20;

export function useClients() {
	return useApi<{ items: ClientRow[] }>("clients?limit=500");
}

/** A client's name (its ID until the clients have loaded, or when it is not among them). */
export function ClientName(props: { id: string }) {
	const clients = useClients();
	return <>{clients.data?.items.find((c) => c.id === props.id)?.name ?? props.id}</>;
}

function filtersOf(route: Route) {
	const q = route.query;
	return { clientId: q.get("clientId") ?? "", status: q.get("status") ?? "", kind: q.get("kind") ?? "", source: q.get("source") ?? "", file: q.get("file") ?? "", from: q.get("from") ?? "", to: q.get("to") ?? "" };
}

export function Batches(props: { route: Route; me: Operator }) {
	const f = filtersOf(props.route);
	const sort = props.route.query.get("sort") ?? "-createdAt";
	const page = Math.max(1, Number(props.route.query.get("page") ?? "1") || 1);
	const params = { ...f, sort };
	const list = useApi<{ total: number; items: BatchRow[] }>(`batches${qs({ ...params, limit: LIMIT, offset: (page - 1) * LIMIT })}`, 5000);
	const clients = useClients();
	const names = new Map((clients.data?.items ?? []).map((c) => [c.id, c.name]));
	const set = (k: string) => (e: Event) => setQuery({ [k]: (e.currentTarget as HTMLInputElement).value, page: undefined });
	const exportCsv = async () => {
		const rows = await allRows<BatchRow>("batches", params);
		downloadCsv("batches.csv", ["id", "clientId", "kind", "source", "status", "counts.received", "counts.valid", "counts.rejected", "createdAt", "finishedAt"], rows as unknown as Record<string, unknown>[]);
	};
	return (
		<>
			<form class="filters" aria-label="filters" onSubmit={(e) => e.preventDefault()}>
				<FilterSelect label="Client" name="clientId" value={f.clientId} options={(clients.data?.items ?? []).map((c) => ({ value: c.id, label: c.name }))} any="all clients" />
				<FilterSelect label="Status" name="status" value={f.status} options={STATUSES} />
				<Field label="Kind">
					<select value={f.kind} onChange={set("kind")}>
						<option value="">any</option>
						<option value="debt">debt</option>
						<option value="loan">loan</option>
					</select>
				</Field>
				<Field label="Source">
					<select value={f.source} onChange={set("source")}>
						<option value="">any</option>
						<option value="upload">upload</option>
						<option value="rest">rest</option>
						<option value="inbox">inbox</option>
					</select>
				</Field>
				<Field label="File name">
					<input type="search" value={f.file} placeholder="part of the name" onChange={set("file")} />
				</Field>
				<DateRange from={f.from} to={f.to} />
				<button type="button" onClick={() => void exportCsv()}>
					Export CSV
				</button>
			</form>
			<ErrorBox error={list.error} />
			<table>
				<thead>
					<tr>
						<th scope="col">Batch</th>
						<th scope="col">Client</th>
						<SortHeader field="kind" label="Kind" sort={sort} />
						<SortHeader field="status" label="Status" sort={sort} />
						<th scope="col">Rows</th>
						<th scope="col">Rejected</th>
						<SortHeader field="createdAt" label="Created" sort={sort} />
					</tr>
				</thead>
				<tbody>
					{(list.data?.items ?? []).map((b) => (
						<tr>
							<td>
								<Link to={`/batches/${b.id}`}>{b.file?.name ?? b.id}</Link>
							</td>
							<td>{names.get(b.clientId) ?? b.clientId}</td>
							<td>{b.kind}</td>
							<td class={`status-${b.status}`}>{b.status}</td>
							<td>{b.counts.received}</td>
							<td>{b.counts.rejected}</td>
							<td>{when(b.createdAt)}</td>
						</tr>
					))}
				</tbody>
			</table>
			{list.data && <Pager total={list.data.total} limit={LIMIT} page={page} />}
			<Upload clients={clients.data?.items ?? []} onDone={list.reload} />
		</>
	);
}

function Upload(props: { clients: ClientRow[]; onDone(): void }) {
	const [clientId, setClientId] = useState("");
	const [kind, setKind] = useState("debt");
	const [file, setFile] = useState<File | null>(null);
	const [msg, setMsg] = useState<string | null>(null);
	const [error, setError] = useState<string | null>(null);
	const submit = async (e: Event) => {
		e.preventDefault();
		if (!file || !clientId) return;
		setError(null);
		try {
			const res = await api<{ batchId: string }>(`uploads${qs({ kind, clientId })}`, { method: "POST", body: file, headers: { "Content-Type": file.type || "text/csv", "Content-Disposition": `attachment; filename*=UTF-8''${encodeURIComponent(file.name)}` } });
			setMsg(`Uploaded as batch ${res.batchId}`);
			props.onDone();
			navigate(`/batches/${res.batchId}`);
		} catch (err) {
			setError((err as Error).message);
		}
	};
	return (
		<section aria-labelledby="h-upload">
			<h2 id="h-upload">Upload on a client's behalf</h2>
			<form class="filters" onSubmit={submit}>
				<Field label="Client">
					<select required value={clientId} onChange={(e) => setClientId(e.currentTarget.value)}>
						<option value="">choose…</option>
						{props.clients.map((c) => (
							<option value={c.id}>{c.name}</option>
						))}
					</select>
				</Field>
				<Field label="Kind">
					<select value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
						<option value="debt">debt</option>
						<option value="loan">loan</option>
					</select>
				</Field>
				<Field label="File (CSV or XLSX)">
					<input type="file" required accept=".csv,.xlsx,text/csv" onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
				</Field>
				<button type="submit">Upload</button>
			</form>
			{msg && <p role="status">{msg}</p>}
			{error && (
				<p class="error" role="alert">
					{error}
				</p>
			)}
		</section>
	);
}

const ENDED = new Set(["COMPLETED", "FAILED"]);

interface Rejections {
	total: number;
	items: { line: number; field: string; code: string; message: string }[];
	codes?: { code: string; count: number }[];
}

export function BatchDetail(props: { id: string }) {
	const batch = useApi<BatchRow>(`batches/${encodeURIComponent(props.id)}`, 1000, (b) => !ENDED.has(b.status));
	const now = useNow();
	const [code, setCode] = useState("");
	const ended = batch.data ? ENDED.has(batch.data.status) : false;
	const rejections = useApi<Rejections>(batch.data && ended && batch.data.counts.rejected > 0 ? `batches/${encodeURIComponent(props.id)}/rejections${qs({ codes: true, code, limit: 500 })}` : null);
	const [csvUrl, setCsvUrl] = useState<string | null>(null);
	const downloadCsvFromApi = async () => {
		const res = await apiFetch(`batches/${encodeURIComponent(props.id)}/rejections?format=csv`);
		const url = URL.createObjectURL(await res.blob());
		setCsvUrl(url);
		const a = document.createElement("a");
		a.href = url;
		a.download = `rejections-${props.id}.csv`;
		document.body.append(a);
		a.click();
		a.remove();
	};
	const b = batch.data;
	return (
		<>
			<ErrorBox error={batch.error} />
			{b && (
				<>
					<p>
						<span class={`status status-${b.status}`} data-testid="batch-status">
							{b.status}
						</span>{" "}
						<span class="muted" data-testid="batch-updated">
							{ended ? `finished ${when(b.finishedAt)}` : `live: updated ${ago(batch.at, now)}`}
						</span>
					</p>
					<dl class="facts">
						<dt>Batch</dt>
						<dd>{b.id}</dd>
						<dt>Client</dt>
						<dd>
							<Link to={`/batches?clientId=${b.clientId}`}>
								<ClientName id={b.clientId} />
							</Link>
						</dd>
						<dt>Kind / source</dt>
						<dd>
							{b.kind} / {b.source}
						</dd>
						{b.file && (
							<>
								<dt>File</dt>
								<dd>
									{b.file.name} ({b.file.size} bytes)
								</dd>
							</>
						)}
						<dt>Chunks</dt>
						<dd>
							<progress max={Math.max(1, b.chunks.total)} value={b.chunks.done} aria-label="chunks done" /> {b.chunks.done} of {b.chunks.total}
						</dd>
					</dl>
					<table data-testid="batch-counts">
						<caption>Counts</caption>
						<thead>
							<tr>
								{Object.keys(b.counts).map((k) => (
									<th scope="col">{k}</th>
								))}
							</tr>
						</thead>
						<tbody>
							<tr>
								{Object.entries(b.counts).map(([k, v]) => (
									<td data-count={k}>{v}</td>
								))}
							</tr>
						</tbody>
					</table>
					{b.error && (
						<p class="error" role="alert">
							{b.error.code}: {b.error.message}
						</p>
					)}
					{b.counts.rejected > 0 && ended && (
						<section aria-labelledby="h-rej">
							<h2 id="h-rej">Rejected rows</h2>
							<button type="button" onClick={() => void downloadCsvFromApi()}>
								Download rejections CSV
							</button>
							{csvUrl && (
								<a href={csvUrl} download={`rejections-${b.id}.csv`} data-testid="csv-link">
									rejections-{b.id}.csv
								</a>
							)}
							<ErrorBox error={rejections.error} />
							<ul class="codes" aria-label="rejections by code">
								<li>
									<button type="button" aria-pressed={code === ""} onClick={() => setCode("")}>
										all
									</button>
								</li>
								{(rejections.data?.codes ?? []).map((c) => (
									<li>
										<button type="button" aria-pressed={code === c.code} onClick={() => setCode(c.code)}>
											{c.code}: <span data-code-count={c.code}>{c.count}</span>
										</button>
									</li>
								))}
							</ul>
							<table>
								<thead>
									<tr>
										<th scope="col">Line</th>
										<th scope="col">Field</th>
										<th scope="col">Code</th>
										<th scope="col">Message</th>
									</tr>
								</thead>
								<tbody>
									{(rejections.data?.items ?? []).map((r) => (
										<tr>
											<td>{r.line}</td>
											<td>{r.field}</td>
											<td>{r.code}</td>
											<td>{r.message}</td>
										</tr>
									))}
								</tbody>
							</table>
						</section>
					)}
				</>
			)}
		</>
	);
}

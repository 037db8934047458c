/** Search by business key across clients, a record with its versions, and its documents with an inline PDF preview. */
import { useEffect, useState } from "preact/hooks";
import { apiFetch, qs } from "../api.ts";
import { navigate, setQuery, type Route } from "../router.ts";
import { useApi, when, ErrorBox, Link, Field } from "../ui.tsx";
import type { CaseRow } from "./cases.tsx";

const KEYS: { key: string; label: string }[] = [
	{ key: "loan_id", label: "Loan ID" },
	{ key: "contract_id", label: "Contract ID" },
	{ key: "cpf", label: "CPF" },
	{ key: "phone", label: "Phone" },
	{ key: "email", label: "Email" },
	{ key: "batchId", label: "Batch ID" },
	{ key: "file", label: "File name" },
	{ key: "q", label: "Name or text" }
];

interface RecordRow {
	id: string;
	clientId: string;
	kind: string;
	key: string;
	version: number;
	batchId: string;
	line: number;
	registeredAt: string;
	data: Record<string, unknown>;
	previous?: Record<string, unknown>;
}

export function Search(props: { route: Route }) {
	const by = props.route.query.get("by") ?? "loan_id";
	const value = props.route.query.get("value") ?? "";
	const [draft, setDraft] = useState(value);
	const [draftBy, setDraftBy] = useState(by);
	useEffect(() => {
		setDraft(value);
		setDraftBy(by);
	}, [by, value]);
	const results = useApi<{ total: number; items: RecordRow[] }>(value ? `records${qs({ [by]: value, limit: 100 })}` : null);
	const submit = (e: Event) => {
		e.preventDefault();
		if (draftBy === "batchId" && draft.trim()) {
			// a batch ID opens the batch
			navigate(`/batches/${encodeURIComponent(draft.trim())}`);
			return;
		}
		if (draftBy === "file" && draft.trim()) {
			// a file name lists the batches of files with that name (any client, any case)
			navigate(`/batches?file=${encodeURIComponent(draft.trim())}`);
			return;
		}
		setQuery({ by: draftBy, value: draft.trim() }, false);
	};
	return (
		<>
			<form class="filters" role="search" onSubmit={submit}>
				<Field label="Search by">
					<select value={draftBy} onChange={(e) => setDraftBy(e.currentTarget.value)}>
						{KEYS.map((k) => (
							<option value={k.key}>{k.label}</option>
						))}
					</select>
				</Field>
				<Field label="Value">
					<input name="value" value={draft} onInput={(e) => setDraft(e.currentTarget.value)} required />
				</Field>
				<button type="submit">Search</button>
			</form>
			<ErrorBox error={results.error} />
			{results.data && (
				<table>
					<caption>{results.data.total} found</caption>
					<thead>
						<tr>
							<th scope="col">Record</th>
							<th scope="col">Client</th>
							<th scope="col">Kind</th>
							<th scope="col">Version</th>
							<th scope="col">Registered</th>
						</tr>
					</thead>
					<tbody>
						{results.data.items.map((r) => (
							<tr>
								<td>
									<Link to={`/records/${encodeURIComponent(r.id)}`}>{r.key}</Link>
								</td>
								<td>{r.clientId}</td>
								<td>{r.kind}</td>
								<td>{r.version}</td>
								<td>{when(r.registeredAt)}</td>
							</tr>
						))}
					</tbody>
				</table>
			)}
		</>
	);
}

interface DocRow {
	id: string;
	template: string;
	language: string;
	pages: number;
	bytes: number;
	createdAt: string;
}

export function RecordDetail(props: { id: string }) {
	const rec = useApi<RecordRow>(`records/${encodeURIComponent(props.id)}`);
	const docs = useApi<{ items: DocRow[] }>(`documents${qs({ recordId: props.id })}`);
	const cases = useApi<{ total: number; items: CaseRow[] }>(rec.data ? `cases${qs({ loan_id: rec.data.key, clientId: rec.data.clientId, limit: 50 })}` : null);
	const [preview, setPreview] = useState<{ id: string; url: string } | null>(null);
	const [error, setError] = useState<Error | null>(null);
	useEffect(() => () => (preview ? URL.revokeObjectURL(preview.url) : undefined), [preview]);
	const show = async (id: string) => {
		try {
			const res = await apiFetch(`documents/${encodeURIComponent(id)}/pdf`);
			setPreview({ id, url: URL.createObjectURL(await res.blob()) });
		} catch (err) {
			setError(err as Error);
		}
	};
	const r = rec.data;
	return (
		<>
			<ErrorBox error={rec.error} />
			{r && (
				<>
					<dl class="facts">
						<dt>Key</dt>
						<dd data-testid="record-key">{r.key}</dd>
						<dt>Client</dt>
						<dd>{r.clientId}</dd>
						<dt>Kind</dt>
						<dd>{r.kind}</dd>
						<dt>Version</dt>
						<dd>{r.version}</dd>
						<dt>Last written by</dt>
						<dd>
							<Link to={`/batches/${r.batchId}`}>batch {r.batchId}</Link>, line {r.line}, {when(r.registeredAt)}
						</dd>
					</dl>
					<table>
						<caption>Values (version {r.version}{r.previous ? ` and the version before` : ""})</caption>
						<thead>
							<tr>
								<th scope="col">Field</th>
								<th scope="col">Value</th>
								{r.previous && <th scope="col">Before</th>}
							</tr>
						</thead>
						<tbody>
							{Object.entries(r.data).map(([k, v]) => (
								<tr>
									<td>{k}</td>
									<td>{typeof v === "object" && v !== null ? JSON.stringify(v) : String(v ?? "")}</td>
									{r.previous && <td>{JSON.stringify(r.previous[k]) !== JSON.stringify(v) ? String(r.previous[k] ?? "") : ""}</td>}
								</tr>
							))}
						</tbody>
					</table>
				</>
			)}
			<section aria-labelledby="h-docs">
				<h2 id="h-docs">Documents</h2>
				<ErrorBox error={docs.error ?? error} />
				{docs.data && docs.data.items.length === 0 && <p>No document made from this record yet.</p>}
				<ul>
					{(docs.data?.items ?? []).map((d) => (
						<li>
							<button type="button" onClick={() => void show(d.id)}>
								{d.template} ({d.language}, {d.pages} pages) {when(d.createdAt)}
							</button>
						</li>
					))}
				</ul>
				{preview && <iframe class="pdf" title={`document ${preview.id}`} src={preview.url} data-testid="pdf-preview" />}
			</section>
			{r && (
				<section aria-labelledby="h-cases">
					<h2 id="h-cases">Delivery cases</h2>
					<ErrorBox error={cases.error} />
					{cases.data && cases.data.items.length === 0 && <p>No delivery case for this record.</p>}
					<ul data-testid="record-cases">
						{(cases.data?.items ?? []).map((c) => (
							<li>
								<Link to={`/cases/${encodeURIComponent(c.id)}`}>
									{c.documentType}: {c.status}
									{c.channel ? ` on ${c.channel}` : ""}, try {c.try}
								</Link>
							</li>
						))}
					</ul>
					{cases.data && cases.data.total > 0 && <Link to={`/cases${qs({ loan_id: r.key, clientId: r.clientId })}`}>All cases of {r.key}</Link>}
				</section>
			)}
		</>
	);
}

/**
 * Intake: documents received to be read (list and search with server-side filters in the URL, paging, CSV export),
 * and one document with its pages (text layer or OCR and its confidence), its text, its fields with their
 * confidence and the correction form (PATCH /intake/:id; audited when an operator corrects).
 */
import { useEffect, useState } from "preact/hooks";
import { api, apiFetch, allRows, qs } from "../api.ts";
import { setQuery, type Route } from "../router.ts";
import { useApi, when, ErrorBox, Link, Pager, DateRange, downloadCsv, saveBlob, Field, FilterSelect } from "../ui.tsx";
import { ClientName, useClients } from "./batches.tsx";

interface FieldValue {
	value: string | number | null;
	source: string;
	confidence?: number;
	corrected?: string;
}

interface IntakeRow {
	id: string;
	clientId: string;
	status: string;
	type: string | null;
	reference: string | null;
	source: string;
	file: { name: string; size: number; mime: string; pages?: number };
	pages: { n: number; source: "layer" | "ocr" | "none"; confidence?: number; chars?: number; error?: string }[];
	fields: Record<string, FieldValue>;
	template: string | null;
	checks: { code: string; message: string; field?: string }[];
	error: { code: string; message: string } | null;
	corrections: { field: string; old: FieldValue | null; value: string | number | null; by: string; at: string }[];
	createdAt: string;
	updatedAt: string;
	finishedAt: string | null;
}

const STATUSES = ["PENDING", "PROCESSING", "COMPLETED", "NEEDS_REVIEW", "FAILED"];
const READ = new Set(["COMPLETED", "NEEDS_REVIEW"]);
const LIMIT = 20;

function filtersOf(route: Route) {
	const q = route.query;
	const get = (k: string) => q.get(k) ?? "";
	return { clientId: get("clientId"), q: get("q"), type: get("type"), status: get("status"), seller: get("seller"), taxId: get("taxId"), from: get("from"), to: get("to") };
}

function valueOf(v: FieldValue | undefined | null): string {
	return v === undefined || v === null || v.value === null ? "" : String(v.value);
}

function confidenceOf(c: number | undefined): string {
	if (c === undefined) return "";
	// fields carry 0-1, pages Tesseract's 0-100
	return c <= 1 ? `${Math.round(c * 100)} %` : `${Math.round(c)} %`;
}

export function Intake(props: { route: Route }) {
	const f = filtersOf(props.route);
	const page = Math.max(1, Number(props.route.query.get("page") ?? "1") || 1);
	const list = useApi<{ total: number; items: IntakeRow[] }>(`intake${qs({ ...f, limit: LIMIT, offset: (page - 1) * LIMIT })}`, 5000);
	const clients = useClients();
	const names = new Map((clients.data?.items ?? []).map((c) => [c.id, c.name]));
	const set = (k: string) => (e: Event) => setQuery({ [k]: (e.currentTarget as HTMLInputElement).value.trim(), page: undefined });
	const exportCsv = async () => {
		const rows = await allRows<IntakeRow>("intake", f, 200);
		downloadCsv("intake.csv", ["id", "clientId", "status", "type", "reference", "source", "file.name", "file.size", "fields.seller.value", "fields.total.value", "createdAt", "finishedAt"], rows as unknown as Record<string, unknown>[]);
	};
	return (
		<>
			<form class="filters" role="search" aria-label="filters" onSubmit={(e) => e.preventDefault()}>
				<Field label="Text">
					<input name="q" value={f.q} onChange={set("q")} />
				</Field>
				<FilterSelect label="Client" name="clientId" value={f.clientId} options={(clients.data?.items ?? []).map((c) => ({ value: c.id, label: c.name }))} any="all clients" />
				<FilterSelect label="Status" name="status" value={f.status} options={STATUSES} />
				<Field label="Type">
					<input name="type" value={f.type} onChange={set("type")} class="narrow" />
				</Field>
				<Field label="Seller">
					<input name="seller" value={f.seller} onChange={set("seller")} />
				</Field>
				<Field label="Tax ID">
					<input name="taxId" value={f.taxId} onChange={set("taxId")} />
				</Field>
				<DateRange from={f.from} to={f.to} />
				<button type="button" onClick={() => void exportCsv()}>
					Export CSV
				</button>
			</form>
			<ErrorBox error={list.error} />
			<table data-testid="intake">
				<thead>
					<tr>
						<th scope="col">File</th>
						<th scope="col">Client</th>
						<th scope="col">Type</th>
						<th scope="col">Status</th>
						<th scope="col">Pages</th>
						<th scope="col">Total</th>
						<th scope="col">Received</th>
					</tr>
				</thead>
				<tbody>
					{(list.data?.items ?? []).map((d) => (
						<tr>
							<td>
								<Link to={`/intake/${encodeURIComponent(d.id)}`}>{d.file.name}</Link>
							</td>
							<td>{names.get(d.clientId) ?? d.clientId}</td>
							<td>{d.type ?? ""}</td>
							<td class={`status-${d.status}`}>{d.status}</td>
							<td>{d.file.pages ?? d.pages.length}</td>
							<td>{valueOf(d.fields.total)}</td>
							<td>{when(d.createdAt)}</td>
						</tr>
					))}
				</tbody>
			</table>
			{list.data && <Pager total={list.data.total} limit={LIMIT} page={page} />}
		</>
	);
}

export function IntakeDetail(props: { id: string }) {
	const path = `intake/${encodeURIComponent(props.id)}`;
	const doc = useApi<IntakeRow>(path, 2000, (d) => !READ.has(d.status) && d.status !== "FAILED");
	const [text, setText] = useState<string | null>(null);
	const [fail, setFail] = useState<Error | null>(null);
	const d = doc.data;
	const readable = d ? READ.has(d.status) : false;
	useEffect(() => {
		if (!readable) return;
		let stopped = false;
		apiFetch(`${path}/text`)
			.then((r) => r.text())
			.then((t) => !stopped && setText(t))
			.catch((err: Error) => !stopped && setFail(err));
		return () => {
			stopped = true;
		};
	}, [path, readable, d?.updatedAt]);
	const original = async () => {
		try {
			const res = await apiFetch(`${path}/file`);
			saveBlob(d?.file.name ?? "original", await res.blob());
		} catch (err) {
			setFail(err as Error);
		}
	};
	return (
		<>
			<ErrorBox error={doc.error ?? fail} />
			{d && (
				<>
					<p>
						<span class={`status status-${d.status}`} data-testid="intake-status">
							{d.status}
						</span>{" "}
						{d.finishedAt && <span class="muted">read {when(d.finishedAt)}</span>}
					</p>
					<dl class="facts">
						<dt>Document</dt>
						<dd>{d.id}</dd>
						<dt>File</dt>
						<dd>
							{d.file.name} ({d.file.mime}, {d.file.size} bytes){" "}
							<button type="button" onClick={() => void original()}>
								Download original
							</button>
						</dd>
						<dt>Client</dt>
						<dd>
							<Link to={`/intake?clientId=${encodeURIComponent(d.clientId)}`}>
								<ClientName id={d.clientId} />
							</Link>
						</dd>
						<dt>Type / template</dt>
						<dd>
							{d.type ?? "unknown"} / {d.template ?? "generic rules"}
						</dd>
						<dt>Source</dt>
						<dd>
							{d.source}
							{d.reference ? `, reference ${d.reference}` : ""}
						</dd>
						<dt>Received</dt>
						<dd>{when(d.createdAt)}</dd>
					</dl>
					{d.error && (
						<p class="error" role="alert">
							{d.error.code}: {d.error.message}
						</p>
					)}
					<table data-testid="intake-pages">
						<caption>Pages</caption>
						<thead>
							<tr>
								<th scope="col">Page</th>
								<th scope="col">Read from</th>
								<th scope="col">OCR confidence</th>
								<th scope="col">Characters</th>
							</tr>
						</thead>
						<tbody>
							{d.pages.map((p) => (
								<tr>
									<td>{p.n}</td>
									<td>{p.source === "layer" ? "text layer" : p.source === "ocr" ? "OCR" : "nothing read"}</td>
									<td>{confidenceOf(p.confidence)}</td>
									<td>
										{p.chars ?? ""}
										{p.error ? ` (${p.error})` : ""}
									</td>
								</tr>
							))}
						</tbody>
					</table>
					{d.checks.length > 0 && (
						<section aria-labelledby="h-checks">
							<h2 id="h-checks">Checks to review</h2>
							<ul data-testid="intake-checks">
								{d.checks.map((c) => (
									<li>
										{c.field ? `${c.field}: ` : ""}
										{c.code}: {c.message}
									</li>
								))}
							</ul>
						</section>
					)}
					<Corrections doc={d} path={path} onDone={doc.reload} />
					{d.corrections.length > 0 && (
						<table>
							<caption>Corrections</caption>
							<thead>
								<tr>
									<th scope="col">At</th>
									<th scope="col">By</th>
									<th scope="col">Field</th>
									<th scope="col">Was</th>
									<th scope="col">Now</th>
								</tr>
							</thead>
							<tbody>
								{d.corrections.map((c) => (
									<tr>
										<td>{when(c.at)}</td>
										<td>{c.by}</td>
										<td>{c.field}</td>
										<td>{valueOf(c.old)}</td>
										<td>{c.value === null ? "" : String(c.value)}</td>
									</tr>
								))}
							</tbody>
						</table>
					)}
					<section aria-labelledby="h-text">
						<h2 id="h-text">Text</h2>
						{readable ? (
							<pre class="text" data-testid="intake-text" tabIndex={0}>
								{text ?? "loading…"}
							</pre>
						) : (
							<p>Not read yet.</p>
						)}
					</section>
					<Deliveries path={path} finished={readable || d.status === "FAILED"} />
				</>
			)}
		</>
	);
}

interface DeliveryRow {
	deliveryId: string;
	event: string;
	host: string;
	status: number | null;
	ok: boolean;
	error: string | null;
	at: string;
}

/** The document's webhook attempts, newest first, and "Send again" (the same event, under the same delivery ID). */
function Deliveries(props: { path: string; finished: boolean }) {
	const list = useApi<{ total: number; items: DeliveryRow[] }>(`${props.path}/deliveries`, 5000);
	const [msg, setMsg] = useState<string | null>(null);
	const [fail, setFail] = useState<Error | null>(null);
	const again = async () => {
		if (!confirm("Send this document's event to its client's webhook again, under the same delivery ID?")) return;
		setFail(null);
		try {
			const r = await api<{ event: string }>(`${props.path}/redeliver`, { method: "POST", json: {} });
			setMsg(`${r.event} is queued to be sent again.`);
			list.reload();
		} catch (err) {
			setFail(err as Error);
		}
	};
	const rows = list.data?.items ?? [];
	return (
		<section aria-labelledby="h-deliveries">
			<h2 id="h-deliveries">Webhook deliveries</h2>
			<ErrorBox error={list.error ?? fail} />
			{msg && <p role="status">{msg}</p>}
			{list.data && rows.length === 0 ? (
				<p>None: the client has no webhook, or the document's event has not been sent yet.</p>
			) : (
				<table data-testid="intake-deliveries">
					<thead>
						<tr>
							<th scope="col">When</th>
							<th scope="col">Event</th>
							<th scope="col">Target</th>
							<th scope="col">Answer</th>
						</tr>
					</thead>
					<tbody>
						{rows.map((r) => (
							<tr>
								<td>{when(r.at)}</td>
								<td>{r.event}</td>
								<td>{r.host}</td>
								<td class={r.ok ? "ok" : "bad"}>{r.ok ? `delivered (${r.status})` : r.error ?? `HTTP ${r.status}`}</td>
							</tr>
						))}
					</tbody>
				</table>
			)}
			{props.finished && (
				<button type="button" onClick={() => void again()}>
					Send again
				</button>
			)}
		</section>
	);
}

/** The fields with their confidence, editable: only the changed ones are sent. */
function Corrections(props: { doc: IntakeRow; path: string; onDone(): void }) {
	const d = props.doc;
	const [draft, setDraft] = useState<Record<string, string>>({});
	const [extra, setExtra] = useState({ name: "", value: "" });
	const [msg, setMsg] = useState<string | null>(null);
	const [error, setError] = useState<string | null>(null);
	const editable = READ.has(d.status);
	const flagged = new Set(d.checks.map((c) => c.field).filter(Boolean));
	const submit = async (e: Event) => {
		e.preventDefault();
		const fields: Record<string, string | number | null> = {};
		for (const [k, v] of Object.entries(draft)) {
			if (v === valueOf(d.fields[k])) continue;
			fields[k] = v === "" ? null : typeof d.fields[k]?.value === "number" && v.trim() !== "" && Number.isFinite(Number(v)) ? Number(v) : v;
		}
		if (extra.name.trim()) fields[extra.name.trim()] = extra.value;
		if (Object.keys(fields).length === 0) {
			setError("Nothing changed.");
			return;
		}
		setError(null);
		try {
			await api(props.path, { method: "PATCH", json: { fields } });
			setMsg(`Saved ${Object.keys(fields).length} field${Object.keys(fields).length === 1 ? "" : "s"}.`);
			setDraft({});
			setExtra({ name: "", value: "" });
			props.onDone();
		} catch (err) {
			setError((err as Error).message);
		}
	};
	return (
		<section aria-labelledby="h-fields">
			<h2 id="h-fields">Fields</h2>
			<form onSubmit={submit} aria-label="correct fields">
				<table data-testid="intake-fields">
					<thead>
						<tr>
							<th scope="col">Field</th>
							<th scope="col">Value</th>
							<th scope="col">Found by</th>
							<th scope="col">Confidence</th>
						</tr>
					</thead>
					<tbody>
						{Object.entries(d.fields).map(([k, v]) => (
							<tr class={flagged.has(k) ? "warn" : undefined}>
								<th scope="row">{k}</th>
								<td>
									{editable ? (
										<input name={`field-${k}`} aria-label={`${k} value`} value={draft[k] ?? valueOf(v)} onInput={(e) => setDraft({ ...draft, [k]: e.currentTarget.value })} />
									) : (
										valueOf(v)
									)}
								</td>
								<td>{v.source}</td>
								<td>{confidenceOf(v.confidence)}</td>
							</tr>
						))}
					</tbody>
				</table>
				{editable && (
					<div class="filters">
						<Field label="Add a field (name)">
							<input name="extra-name" pattern="[a-z][a-z0-9_]{0,40}" value={extra.name} onInput={(e) => setExtra({ ...extra, name: e.currentTarget.value })} />
						</Field>
						<Field label="Value">
							<input name="extra-value" value={extra.value} onInput={(e) => setExtra({ ...extra, value: e.currentTarget.value })} />
						</Field>
						<button type="submit">Save corrections</button>
					</div>
				)}
			</form>
			{!editable && <p class="muted">Fields can be corrected once the document is read.</p>}
			{msg && <p role="status">{msg}</p>}
			{error && (
				<p class="error" role="alert">
					{error}
				</p>
			)}
		</section>
	);
}

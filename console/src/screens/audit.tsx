/** The audit log: every change an operator made, newest first, filtered and paged on the server, exportable as CSV. */
import { allRows, qs } from "../api.ts";
import { setQuery, type Route } from "../router.ts";
import { useApi, when, ErrorBox, Field, Pager, DateRange, downloadCsv } from "../ui.tsx";

interface Entry {
	id: string;
	at: string;
	actor: string;
	role: string;
	action: string;
	target: string;
	items: string[];
	count: number;
	clientId: string | null;
}

const LIMIT = 50;

export function Audit(props: { route: Route }) {
	const q = props.route.query;
	const f = { actor: q.get("actor") ?? "", action: q.get("action") ?? "", clientId: q.get("clientId") ?? "", from: q.get("from") ?? "", to: q.get("to") ?? "" };
	const page = Math.max(1, Number(q.get("page") ?? "1") || 1);
	const list = useApi<{ total: number; items: Entry[] }>(`audit${qs({ ...f, limit: LIMIT, offset: (page - 1) * LIMIT })}`);
	const set = (k: string) => (e: Event) => setQuery({ [k]: (e.currentTarget as HTMLInputElement).value, page: undefined });
	return (
		<>
			<form class="filters" aria-label="audit filters" onSubmit={(e) => e.preventDefault()}>
				<Field label="Who">
					<input value={f.actor} onChange={set("actor")} />
				</Field>
				<Field label="Action">
					<select value={f.action} onChange={set("action")}>
						<option value="">any</option>
						{["dlq.replay", "dlq.purge", "key.issue", "key.revoke", "client.create", "client.update", "operator.create", "operator.update", "upload"].map((a) => (
							<option value={a}>{a}</option>
						))}
					</select>
				</Field>
				<Field label="Client ID">
					<input value={f.clientId} onChange={set("clientId")} />
				</Field>
				<DateRange from={f.from} to={f.to} />
				<button type="button" onClick={() => void allRows<Entry>("audit", f).then((rows) => downloadCsv("audit.csv", ["at", "actor", "role", "action", "target", "count", "clientId", "items"], rows as unknown as Record<string, unknown>[]))}>
					Export CSV
				</button>
			</form>
			<ErrorBox error={list.error} />
			<table data-testid="audit">
				<thead>
					<tr>
						<th scope="col">When</th>
						<th scope="col">Who</th>
						<th scope="col">Action</th>
						<th scope="col">On</th>
						<th scope="col">How many</th>
						<th scope="col">Items</th>
					</tr>
				</thead>
				<tbody>
					{(list.data?.items ?? []).map((e) => (
						<tr>
							<td>{when(e.at)}</td>
							<td>
								{e.actor} ({e.role})
							</td>
							<td>{e.action}</td>
							<td>{e.target}</td>
							<td>{e.count}</td>
							<td>{e.items.slice(0, 5).join(", ") + (e.items.length > 5 ? ` and ${e.items.length - 5} more` : "")}</td>
						</tr>
					))}
				</tbody>
			</table>
			{list.data && <Pager total={list.data.total} limit={LIMIT} page={page} />}
		</>
	);
}

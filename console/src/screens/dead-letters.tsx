/**
 * Dead letters per queue: error, attempts and time; filter by error text; replay selected, all matching, or the first
 * N back to their queue; purge (admins). Every action asks for confirmation with its count and is audited by the API.
 */
import { useState } from "preact/hooks";
import { api, qs, type Operator } from "../api.ts";
import { setQuery, type Route } from "../router.ts";
import { useApi, when, ErrorBox, Field, downloadCsv } from "../ui.tsx";

interface DeadLetter {
	id: string;
	messageId: string;
	queue: string;
	attempts: number;
	error: string;
	failedAt: string;
	payload: unknown;
}

export function DeadLetters(props: { route: Route; me: Operator }) {
	const queues = useApi<{ queues: { queue: string; dead: number; consumers: number }[] }>("queues", 5000);
	const queue = props.route.query.get("queue") ?? queues.data?.queues.find((q) => q.dead > 0)?.queue ?? queues.data?.queues[0]?.queue ?? "";
	const error = props.route.query.get("error") ?? "";
	const list = useApi<{ items: DeadLetter[]; matching?: number }>(queue ? `queues/${encodeURIComponent(queue)}/dead-letters${qs({ error, limit: 1000 })}` : null);
	const [selected, setSelected] = useState<Set<string>>(new Set());
	const [first, setFirst] = useState("10");
	const [msg, setMsg] = useState<string | null>(null);
	const [fail, setFail] = useState<Error | null>(null);
	const items = list.data?.items ?? [];
	const matching = list.data?.matching ?? items.length;
	const toggle = (id: string) => {
		const next = new Set(selected);
		if (next.has(id)) next.delete(id);
		else next.add(id);
		setSelected(next);
	};
	const act = async (label: string, count: number, run: () => Promise<Record<string, number>>) => {
		if (count === 0 || !confirm(`${label}: ${count} dead letter${count === 1 ? "" : "s"} of ${queue}. Go on?`)) return;
		setFail(null);
		try {
			const res = await run();
			setMsg(`${label}: ${res.replayed ?? res.purged ?? 0} done.`);
			setSelected(new Set());
			list.reload();
			queues.reload();
		} catch (err) {
			setFail(err as Error);
		}
	};
	const path = `queues/${encodeURIComponent(queue)}/dead-letters`;
	const replay = (body: Record<string, unknown>) => () => api<Record<string, number>>(`${path}/replay`, { method: "POST", json: body });
	const n = Math.max(1, Number(first) || 1);
	return (
		<>
			<form class="filters" aria-label="dead-letter filters" onSubmit={(e) => e.preventDefault()}>
				<Field label="Queue">
					<select value={queue} onChange={(e) => setQuery({ queue: e.currentTarget.value, error: undefined })}>
						{(queues.data?.queues ?? []).map((q) => (
							<option value={q.queue}>
								{q.queue} ({q.dead})
							</option>
						))}
					</select>
				</Field>
				<Field label="Error contains">
					<input value={error} onChange={(e) => setQuery({ error: e.currentTarget.value })} />
				</Field>
				<button type="button" onClick={() => downloadCsv(`dead-letters-${queue}.csv`, ["id", "messageId", "attempts", "failedAt", "error"], items as unknown as Record<string, unknown>[])}>
					Export CSV
				</button>
			</form>
			<div class="actions">
				<button type="button" disabled={selected.size === 0} onClick={() => void act("Replay selected", selected.size, replay({ ids: [...selected] }))}>
					Replay selected ({selected.size})
				</button>
				<button type="button" disabled={matching === 0} onClick={() => void act("Replay all matching", matching, replay(error ? { error } : {}))}>
					Replay all matching ({matching})
				</button>
				<Field label="First N">
					<input type="number" min="1" value={first} onInput={(e) => setFirst(e.currentTarget.value)} class="narrow" />
				</Field>
				<button type="button" disabled={matching === 0} onClick={() => void act(`Replay first ${n}`, Math.min(n, matching), replay({ first: n, ...(error ? { error } : {}) }))}>
					Replay first N
				</button>
				{props.me.role === "admin" && (
					<button type="button" class="danger" disabled={items.length === 0} onClick={() => void act("Purge", queues.data?.queues.find((q) => q.queue === queue)?.dead ?? items.length, () => api(path, { method: "DELETE" }))}>
						Purge all
					</button>
				)}
			</div>
			{msg && <p role="status">{msg}</p>}
			<ErrorBox error={list.error ?? fail} />
			<table>
				<caption>
					{matching} dead letter{matching === 1 ? "" : "s"}
					{error ? " matching" : ""}
				</caption>
				<thead>
					<tr>
						<th scope="col">
							<span class="sr-only">Select</span>
						</th>
						<th scope="col">Failed</th>
						<th scope="col">Attempts</th>
						<th scope="col">Error</th>
						<th scope="col">Message</th>
					</tr>
				</thead>
				<tbody>
					{items.map((d) => (
						<tr>
							<td>
								<input type="checkbox" aria-label={`select ${d.messageId}`} checked={selected.has(d.id)} onChange={() => toggle(d.id)} />
							</td>
							<td>{when(d.failedAt)}</td>
							<td>{d.attempts}</td>
							<td>{d.error}</td>
							<td>
								<code>{d.messageId}</code>
							</td>
						</tr>
					))}
				</tbody>
			</table>
		</>
	);
}

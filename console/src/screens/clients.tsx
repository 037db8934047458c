/** Clients and their API keys: create (the key is shown once), revoke, webhook, email and format settings. */
import { useState } from "preact/hooks";
import { api, type Operator } from "../api.ts";
import { useApi, when, ErrorBox, Link, Field } from "../ui.tsx";

interface ClientRow {
	id: string;
	name: string;
	email?: string;
	webhook?: { url: string };
	format?: Record<string, unknown>;
	createdAt: string;
}

function ShownOnce(props: { apiKey: string }) {
	return (
		<p role="status" class="once">
			New API key (shown once, copy it now): <code data-testid="new-key">{props.apiKey}</code>
		</p>
	);
}

export function Clients(props: { me: Operator }) {
	const list = useApi<{ items: ClientRow[] }>("clients?limit=500");
	const [name, setName] = useState("");
	const [created, setCreated] = useState<{ id: string; apiKey: string } | null>(null);
	const [error, setError] = useState<Error | null>(null);
	const create = async (e: Event) => {
		e.preventDefault();
		setError(null);
		try {
			const c = await api<{ id: string; apiKey: string }>("clients", { method: "POST", json: { name } });
			setCreated(c);
			setName("");
			list.reload();
		} catch (err) {
			setError(err as Error);
		}
	};
	return (
		<>
			<ErrorBox error={list.error ?? error} />
			<table>
				<thead>
					<tr>
						<th scope="col">Client</th>
						<th scope="col">ID</th>
						<th scope="col">Report email</th>
						<th scope="col">Webhook</th>
						<th scope="col">Created</th>
					</tr>
				</thead>
				<tbody>
					{(list.data?.items ?? []).map((c) => (
						<tr>
							<td>
								<Link to={`/clients/${c.id}`}>{c.name}</Link>
							</td>
							<td>
								<code>{c.id}</code>
							</td>
							<td>{c.email ?? ""}</td>
							<td>{c.webhook?.url ?? ""}</td>
							<td>{when(c.createdAt)}</td>
						</tr>
					))}
				</tbody>
			</table>
			{props.me.role === "admin" && (
				<section aria-labelledby="h-new-client">
					<h2 id="h-new-client">New client</h2>
					<form class="filters" onSubmit={create}>
						<Field label="Name">
							<input required value={name} onInput={(e) => setName(e.currentTarget.value)} />
						</Field>
						<button type="submit">Create client</button>
					</form>
					{created && <ShownOnce apiKey={created.apiKey} />}
				</section>
			)}
		</>
	);
}

export function ClientDetail(props: { id: string; me: Operator }) {
	const client = useApi<ClientRow>(`clients/${encodeURIComponent(props.id)}`);
	const admin = props.me.role === "admin";
	const keys = useApi<{ items: { id: string; createdAt: string; revokedAt: string | null }[] }>(admin ? `clients/${encodeURIComponent(props.id)}/keys` : null);
	const [newKey, setNewKey] = useState<string | null>(null);
	const [error, setError] = useState<Error | null>(null);
	const [msg, setMsg] = useState<string | null>(null);
	const [email, setEmail] = useState<string | null>(null);
	const [hookUrl, setHookUrl] = useState("");
	const [hookSecret, setHookSecret] = useState("");
	const [format, setFormat] = useState<string | null>(null);
	const run = async (fn: () => Promise<void>) => {
		setError(null);
		setMsg(null);
		try {
			await fn();
		} catch (err) {
			setError(err as Error);
		}
	};
	const issue = () =>
		run(async () => {
			const k = await api<{ apiKey: string }>(`clients/${encodeURIComponent(props.id)}/keys`, { method: "POST" });
			setNewKey(k.apiKey);
			keys.reload();
		});
	const revoke = (keyId: string) =>
		run(async () => {
			if (!confirm(`Revoke key ${keyId}? Calls with it fail at once.`)) return;
			await api(`clients/${encodeURIComponent(props.id)}/keys/${encodeURIComponent(keyId)}`, { method: "DELETE" });
			setMsg(`Key ${keyId} revoked.`);
			keys.reload();
		});
	const save = (body: Record<string, unknown>) =>
		run(async () => {
			await api(`clients/${encodeURIComponent(props.id)}`, { method: "PATCH", json: body });
			setMsg("Saved.");
			client.reload();
		});
	const c = client.data;
	return (
		<>
			<ErrorBox error={client.error ?? error} />
			{msg && <p role="status">{msg}</p>}
			{c && (
				<dl class="facts">
					<dt>Name</dt>
					<dd>{c.name}</dd>
					<dt>ID</dt>
					<dd>
						<code>{c.id}</code>
					</dd>
					<dt>Batches</dt>
					<dd>
						<Link to={`/batches?clientId=${c.id}`}>this client's batches</Link>
					</dd>
				</dl>
			)}
			{admin && c && (
				<>
					<section aria-labelledby="h-keys">
						<h2 id="h-keys">API keys</h2>
						<table>
							<thead>
								<tr>
									<th scope="col">Key ID</th>
									<th scope="col">Issued</th>
									<th scope="col">State</th>
									<th scope="col">
										<span class="sr-only">Actions</span>
									</th>
								</tr>
							</thead>
							<tbody>
								{(keys.data?.items ?? []).map((k) => (
									<tr>
										<td>
											<code>{k.id}</code>
										</td>
										<td>{when(k.createdAt)}</td>
										<td>{k.revokedAt ? `revoked ${when(k.revokedAt)}` : "active"}</td>
										<td>
											{!k.revokedAt && (
												<button type="button" class="danger" onClick={() => void revoke(k.id)}>
													Revoke {k.id}
												</button>
											)}
										</td>
									</tr>
								))}
							</tbody>
						</table>
						<button type="button" onClick={() => void issue()}>
							Issue a new key
						</button>
						{newKey && <ShownOnce apiKey={newKey} />}
					</section>
					<section aria-labelledby="h-settings">
						<h2 id="h-settings">Settings</h2>
						<form class="filters" onSubmit={(e) => (e.preventDefault(), void save({ email: email ?? c.email ?? "" }))}>
							<Field label="Report email">
								<input type="email" required value={email ?? c.email ?? ""} onInput={(e) => setEmail(e.currentTarget.value)} />
							</Field>
							<button type="submit">Save email</button>
						</form>
						<form class="filters" onSubmit={(e) => (e.preventDefault(), void save({ webhook: { url: hookUrl, secret: hookSecret } }))}>
							<Field label={`Webhook URL${c.webhook ? ` (now ${c.webhook.url})` : ""}`}>
								<input type="url" required value={hookUrl} onInput={(e) => setHookUrl(e.currentTarget.value)} />
							</Field>
							<Field label="Webhook secret (16+ characters)">
								<input type="password" required minLength={16} value={hookSecret} onInput={(e) => setHookSecret(e.currentTarget.value)} />
							</Field>
							<button type="submit">Save webhook</button>
						</form>
						<form
							onSubmit={(e) => {
								e.preventDefault();
								let parsed: unknown;
								try {
									parsed = JSON.parse(format ?? "{}");
								} catch {
									setError(new Error("the format is not valid JSON"));
									return;
								}
								void save({ format: parsed });
							}}
						>
							<Field label="File format (JSON)">
								<textarea rows={8} cols={60} value={format ?? JSON.stringify(c.format ?? {}, null, 2)} onInput={(e) => setFormat(e.currentTarget.value)} />
							</Field>
							<button type="submit">Save format</button>
						</form>
					</section>
				</>
			)}
		</>
	);
}

/** Operators (admins): the accounts, a new account, disable and enable. */
import { useState } from "preact/hooks";
import { api, type Operator } from "../api.ts";
import { useApi, when, ErrorBox, Field } from "../ui.tsx";

interface OperatorRow {
	id: string;
	email: string;
	name: string;
	role: string;
	disabled: boolean;
	lastLoginAt: string | null;
}

export function Operators(props: { me: Operator }) {
	const list = useApi<{ items: OperatorRow[] }>("operators");
	const [form, setForm] = useState({ email: "", name: "", role: "operator", password: "" });
	const [error, setError] = useState<Error | null>(null);
	const [msg, setMsg] = useState<string | null>(null);
	const run = async (fn: () => Promise<unknown>, done: string) => {
		setError(null);
		try {
			await fn();
			setMsg(done);
			list.reload();
		} catch (err) {
			setError(err as Error);
		}
	};
	const input = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });
	return (
		<>
			<ErrorBox error={list.error ?? error} />
			{msg && <p role="status">{msg}</p>}
			<table>
				<thead>
					<tr>
						<th scope="col">Email</th>
						<th scope="col">Name</th>
						<th scope="col">Role</th>
						<th scope="col">Last sign-in</th>
						<th scope="col">State</th>
					</tr>
				</thead>
				<tbody>
					{(list.data?.items ?? []).map((o) => (
						<tr>
							<td>{o.email}</td>
							<td>{o.name}</td>
							<td>{o.role}</td>
							<td>{when(o.lastLoginAt)}</td>
							<td>
								{o.email === props.me.email ? (
									"you"
								) : (
									<button type="button" onClick={() => void run(() => api(`operators/${o.id}`, { method: "PATCH", json: { disabled: !o.disabled } }), `${o.email} ${o.disabled ? "enabled" : "disabled"}.`)}>
										{o.disabled ? `Enable ${o.email}` : `Disable ${o.email}`}
									</button>
								)}
							</td>
						</tr>
					))}
				</tbody>
			</table>
			<section aria-labelledby="h-new-op">
				<h2 id="h-new-op">New operator</h2>
				<form
					class="filters"
					onSubmit={(e) => {
						e.preventDefault();
						void run(() => api("operators", { method: "POST", json: form }), `${form.email} created.`).then(() => setForm({ email: "", name: "", role: "operator", password: "" }));
					}}
				>
					<Field label="Email">
						<input type="email" required value={form.email} onInput={input("email")} />
					</Field>
					<Field label="Name">
						<input value={form.name} onInput={input("name")} />
					</Field>
					<Field label="Role">
						<select value={form.role} onChange={input("role")}>
							<option value="operator">operator</option>
							<option value="admin">admin</option>
						</select>
					</Field>
					<Field label="Password (12+ characters)">
						<input type="password" required minLength={12} autocomplete="new-password" value={form.password} onInput={input("password")} />
					</Field>
					<button type="submit">Create operator</button>
				</form>
			</section>
		</>
	);
}

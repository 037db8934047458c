/**
 * The operator console: sign-in, then the screens of the pipeline (overview, batches, search, dead letters,
 * delivery cases and dispatch runs, intake documents, billing runs, clients and keys, operators, audit).
 */
import { render, type ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import "./style.css";
import { currentOperator, login, logout, onSessionChange, ApiError, type Operator } from "./api.ts";
import { navigate, useRoute, type Route } from "./router.ts";
import { Link, Field } from "./ui.tsx";
import { Overview } from "./screens/overview.tsx";
import { Batches, BatchDetail } from "./screens/batches.tsx";
import { Search, RecordDetail } from "./screens/search.tsx";
import { DeadLetters } from "./screens/dead-letters.tsx";
import { Clients, ClientDetail } from "./screens/clients.tsx";
import { Operators } from "./screens/operators.tsx";
import { Audit } from "./screens/audit.tsx";
import { Cases, CaseDetail } from "./screens/cases.tsx";
import { Runs, RunDetail } from "./screens/runs.tsx";
import { Intake, IntakeDetail } from "./screens/intake.tsx";
import { BillingRuns, BillingRunDetail } from "./screens/billing.tsx";

interface Screen {
	/** path pattern: a literal, or ending in "/:id" */
	path: string;
	title: string;
	/** shown in the navigation */
	nav?: boolean;
	admin?: boolean;
	render(route: Route, id: string, me: Operator): ComponentChildren;
}

const SCREENS: Screen[] = [
	{ path: "/", title: "Overview", nav: true, render: () => <Overview /> },
	{ path: "/batches", title: "Batches", nav: true, render: (r, _id, me) => <Batches route={r} me={me} /> },
	{ path: "/batches/:id", title: "Batch", render: (_r, id) => <BatchDetail id={id} /> },
	{ path: "/search", title: "Search", nav: true, render: (r) => <Search route={r} /> },
	{ path: "/records/:id", title: "Record", render: (_r, id) => <RecordDetail id={id} /> },
	{ path: "/cases", title: "Cases", nav: true, render: (r) => <Cases route={r} /> },
	{ path: "/cases/:id", title: "Case", render: (_r, id) => <CaseDetail id={id} /> },
	{ path: "/runs", title: "Dispatch runs", nav: true, render: (r) => <Runs route={r} /> },
	{ path: "/runs/:id", title: "Dispatch run", render: (_r, id) => <RunDetail id={id} /> },
	{ path: "/intake", title: "Intake", nav: true, render: (r) => <Intake route={r} /> },
	{ path: "/intake/:id", title: "Intake document", render: (_r, id) => <IntakeDetail id={id} /> },
	{ path: "/billing", title: "Billing runs", nav: true, render: (r) => <BillingRuns route={r} /> },
	{ path: "/billing/:id", title: "Billing run", render: (_r, id) => <BillingRunDetail id={id} /> },
	{ path: "/dead-letters", title: "Dead letters", nav: true, render: (r, _id, me) => <DeadLetters route={r} me={me} /> },
	{ path: "/clients", title: "Clients", nav: true, render: (_r, _id, me) => <Clients me={me} /> },
	{ path: "/clients/:id", title: "Client", render: (_r, id, me) => <ClientDetail id={id} me={me} /> },
	{ path: "/operators", title: "Operators", nav: true, admin: true, render: (_r, _id, me) => <Operators me={me} /> },
	{ path: "/audit", title: "Audit log", nav: true, render: (r) => <Audit route={r} /> }
];

function match(path: string): { screen: Screen; id: string } | null {
	for (const s of SCREENS) {
		if (!s.path.endsWith("/:id")) {
			if (s.path === path) return { screen: s, id: "" };
			continue;
		}
		const prefix = s.path.slice(0, -":id".length);
		if (path.startsWith(prefix) && path.length > prefix.length && !path.slice(prefix.length).includes("/")) return { screen: s, id: decodeURIComponent(path.slice(prefix.length)) };
	}
	return null;
}

function SignIn() {
	const [email, setEmail] = useState("");
	const [password, setPassword] = useState("");
	const [error, setError] = useState<string | null>(null);
	const [busy, setBusy] = useState(false);
	const submit = async (e: Event) => {
		e.preventDefault();
		setBusy(true);
		setError(null);
		try {
			await login(email, password);
			const next = new URLSearchParams(location.search).get("next");
			navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/", true);
		} catch (err) {
			const e2 = err as ApiError;
			setError(e2.status === 429 ? `Too many failed sign-ins: try again in ${e2.retryAfter ?? "a few"} s.` : e2.message);
		} finally {
			setBusy(false);
		}
	};
	return (
		<main class="signin">
			<h1>Paperwork console</h1>
			<form onSubmit={submit} aria-label="sign in">
				<Field label="Email">
					<input name="email" type="email" autocomplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
				</Field>
				<Field label="Password">
					<input name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
				</Field>
				{error && (
					<p class="error" role="alert">
						{error}
					</p>
				)}
				<button type="submit" disabled={busy}>
					Sign in
				</button>
			</form>
		</main>
	);
}

function App() {
	const route = useRoute();
	const [me, setMe] = useState(currentOperator());
	useEffect(() => onSessionChange(() => setMe(currentOperator())), []);
	const found = match(route.path);
	useEffect(() => {
		document.title = `${found?.screen.title ?? "Not found"} · Paperwork console`;
	}, [found?.screen.title]);
	if (!me) {
		if (route.path !== "/login") {
			const here = `${route.path}${route.query.toString() ? `?${route.query}` : ""}`;
			navigate(`/login${here !== "/" ? `?next=${encodeURIComponent(here)}` : ""}`, true);
		}
		return <SignIn />;
	}
	if (route.path === "/login") {
		navigate("/", true);
		return null;
	}
	return (
		<div class="layout">
			<header>
				<strong class="brand">Paperwork</strong>
				<nav aria-label="screens">
					{SCREENS.filter((s) => s.nav && (!s.admin || me.role === "admin")).map((s) => (
						<Link to={s.path} class={found?.screen === s ? "active" : undefined}>
							{s.title}
						</Link>
					))}
					<a href="/api/docs">API docs</a>
				</nav>
				<span class="me">
					{me.email} ({me.role}){" "}
					<button type="button" onClick={() => void logout()}>
						Sign out
					</button>
				</span>
			</header>
			<main>
				{found ? (
					<>
						<h1>{found.screen.title}</h1>
						{found.screen.admin && me.role !== "admin" ? <p class="error">This screen is for admins.</p> : found.screen.render(route, found.id, me)}
					</>
				) : (
					<>
						<h1>Not found</h1>
						<p>
							No screen at this address. <Link to="/">Overview</Link>
						</p>
					</>
				)}
			</main>
		</div>
	);
}

render(<App />, document.getElementById("app") as HTMLElement);

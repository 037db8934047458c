/** Shared pieces of the console's screens: links, data loading with polling, paging, sortable headers, CSV export. */
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError } from "./api.ts";
import { BASE, linkHandler, setQuery } from "./router.ts";

export function Link(props: { to: string; children: ComponentChildren; class?: string }) {
	return (
		<a href={`${BASE}${props.to}`} onClick={linkHandler(props.to)} class={props.class}>
			{props.children}
		</a>
	);
}

export interface Loaded<T> {
	data: T | null;
	error: ApiError | Error | null;
	loading: boolean;
	/** when the data was last fetched */
	at: number | null;
	reload(): void;
}

/**
 * Loads `path` (re-loading when it changes); with `pollMs`, again every pollMs while `keepPolling(data)` says so.
 */
export function useApi<T>(path: string | null, pollMs = 0, keepPolling: (d: T) => boolean = () => true): Loaded<T> {
	const [state, setState] = useState<{ data: T | null; error: Error | null; loading: boolean; at: number | null }>({ data: null, error: null, loading: path !== null, at: null });
	const [tick, setTick] = useState(0);
	const keep = useRef(keepPolling);
	keep.current = keepPolling;
	useEffect(() => {
		if (path === null) return;
		let stopped = false;
		let timer: ReturnType<typeof setTimeout> | undefined;
		const load = async () => {
			try {
				const data = await api<T>(path);
				if (stopped) return;
				setState({ data, error: null, loading: false, at: Date.now() });
				if (pollMs > 0 && keep.current(data)) timer = setTimeout(load, pollMs);
			} catch (err) {
				if (stopped) return;
				setState((s) => ({ ...s, error: err as Error, loading: false }));
				if (pollMs > 0) timer = setTimeout(load, pollMs * 3);
			}
		};
		setState((s) => ({ ...s, loading: true }));
		void load();
		return () => {
			stopped = true;
			if (timer) clearTimeout(timer);
		};
	}, [path, pollMs, tick]);
	const reload = useCallback(() => setTick((t) => t + 1), []);
	return { ...state, reload };
}

/** Re-renders every `ms` (for "updated 2 s ago"). */
export function useNow(ms = 1000): number {
	const [now, setNow] = useState(Date.now());
	useEffect(() => {
		const t = setInterval(() => setNow(Date.now()), ms);
		return () => clearInterval(t);
	}, [ms]);
	return now;
}

export function ago(at: number | string | Date | null | undefined, now = Date.now()): string {
	if (at === null || at === undefined) return "never";
	const s = Math.max(0, Math.round((now - new Date(at).getTime()) / 1000));
	if (s < 60) return `${s} s ago`;
	if (s < 3600) return `${Math.floor(s / 60)} min ago`;
	if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
	return `${Math.floor(s / 86400)} d ago`;
}

export function when(v: string | Date | null | undefined): string {
	if (!v) return "";
	const d = new Date(v);
	return Number.isNaN(d.getTime()) ? String(v) : d.toISOString().replace("T", " ").slice(0, 19);
}

export function ErrorBox(props: { error: Error | null }) {
	if (!props.error) return null;
	return (
		<p class="error" role="alert">
			{props.error.message}
		</p>
	);
}

/** Previous / next over a server-side paged list; the offset lives in the URL (`page`). */
export function Pager(props: { total: number; limit: number; page: number }) {
	const pages = Math.max(1, Math.ceil(props.total / props.limit));
	return (
		<nav class="pager" aria-label="pages">
			<button type="button" disabled={props.page <= 1} onClick={() => setQuery({ page: String(props.page - 1) })}>
				Previous
			</button>
			<span>
				page {props.page} of {pages} ({props.total} in all)
			</span>
			<button type="button" disabled={props.page >= pages} onClick={() => setQuery({ page: String(props.page + 1) })}>
				Next
			</button>
		</nav>
	);
}

/** A column header that sorts the list on the server (`sort` in the URL: "field" or "-field"). */
export function SortHeader(props: { field: string; label: string; sort: string }) {
	const active = props.sort.replace(/^-/, "") === props.field;
	const desc = props.sort.startsWith("-");
	const next = active && !desc ? `-${props.field}` : props.field;
	return (
		<th aria-sort={active ? (desc ? "descending" : "ascending") : "none"}>
			<button type="button" class="sort" onClick={() => setQuery({ sort: next, page: undefined })}>
				{props.label} {active ? (desc ? "▼" : "▲") : ""}
			</button>
		</th>
	);
}

function csvField(v: unknown): string {
	const s = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
	return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Saves rows as a CSV file (the columns given, in order). */
export function downloadCsv(name: string, columns: string[], rows: Record<string, unknown>[]): void {
	const text = [columns.join(","), ...rows.map((r) => columns.map((c) => csvField(c.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], r))).join(","))].join("\n") + "\n";
	saveBlob(name, new Blob([text], { type: "text/csv;charset=utf-8" }));
}

export function saveBlob(name: string, blob: Blob): string {
	const url = URL.createObjectURL(blob);
	const a = document.createElement("a");
	a.href = url;
	a.download = name;
	document.body.append(a);
	a.click();
	a.remove();
	return url;
}

export function Field(props: { label: string; children: ComponentChildren }) {
	return (
		<label class="field">
			<span>{props.label}</span>
			{props.children}
		</label>
	);
}

/** A list filter kept in the URL as `name`: one of `options` (a value, or {value, label}), or none (`any`). */
export function FilterSelect(props: { label: string; name: string; value: string; options: readonly (string | { value: string; label: string })[]; any?: string }) {
	return (
		<Field label={props.label}>
			<select value={props.value} onChange={(e) => setQuery({ [props.name]: e.currentTarget.value, page: undefined })}>
				<option value="">{props.any ?? "any"}</option>
				{props.options.map((o) => (typeof o === "string" ? <option value={o}>{o}</option> : <option value={o.value}>{o.label}</option>))}
			</select>
		</Field>
	);
}

/** "From" and "To" date filters kept in the URL (`from`, `to`). */
export function DateRange(props: { from: string; to: string }) {
	const set = (k: string) => (e: Event) => setQuery({ [k]: (e.currentTarget as HTMLInputElement).value, page: undefined });
	return (
		<>
			<Field label="From">
				<input type="date" value={props.from} onChange={set("from")} />
			</Field>
			<Field label="To">
				<input type="date" value={props.to} onChange={set("to")} />
			</Field>
		</>
	);
}

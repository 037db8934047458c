/**
 * A small history router for /console: the screen and its state live in the URL (path and query), so a reload or a
 * shared link opens the same screen with the same filters.
 */
import { useEffect, useState } from "preact/hooks";

export const BASE = "/console";

export interface Route {
	/** the path under /console, e.g. "/batches/abc" */
	path: string;
	query: URLSearchParams;
}

const listeners = new Set<() => void>();

function current(): Route {
	const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
	return { path: p === "" ? "/" : p, query: new URLSearchParams(location.search) };
}

/** Goes to a console URL ("/batches?status=FAILED"); `replace` keeps the history entry (filters as you type). */
export function navigate(to: string, replace = false): void {
	const url = `${BASE}${to === "/" ? "/" : to}`;
	if (replace) history.replaceState(null, "", url);
	else history.pushState(null, "", url);
	for (const l of listeners) l();
}

/** Sets query parameters of the current screen (empty values removed). */
export function setQuery(changes: Record<string, string | undefined>, replace = true): void {
	const r = current();
	for (const [k, v] of Object.entries(changes)) {
		if (v === undefined || v === "") r.query.delete(k);
		else r.query.set(k, v);
	}
	const q = r.query.toString();
	navigate(`${r.path}${q ? `?${q}` : ""}`, replace);
}

export function useRoute(): Route {
	const [route, setRoute] = useState(current);
	useEffect(() => {
		const update = () => setRoute(current());
		listeners.add(update);
		addEventListener("popstate", update);
		return () => {
			listeners.delete(update);
			removeEventListener("popstate", update);
		};
	}, []);
	return route;
}

/** A link inside the console (client-side navigation; opens normally with a modifier key). */
export function linkHandler(to: string) {
	return (e: MouseEvent) => {
		if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
		e.preventDefault();
		navigate(to);
	};
}

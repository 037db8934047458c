/**
 * Serving the operator console's build (console/dist) under /console: a file that exists is sent with its type and a
 * long cache (Vite names assets by content hash); a path that looks like a file but is missing is a 404; any other
 * path is a screen of the single-page app and gets index.html, so deep links reload into the right screen. Every
 * answer carries a Content-Security-Policy without inline scripts.
 */
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const CONSOLE_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../console/dist");

/** Scripts and styles only from this origin; PDFs previewed from blob: URLs; no framing by other sites. */
export const CONSOLE_CSP = [
	"default-src 'self'",
	"script-src 'self'",
	"style-src 'self'",
	"img-src 'self' data: blob:",
	"frame-src 'self' blob:",
	"object-src 'none'",
	"connect-src 'self' blob:",
	"base-uri 'none'",
	"form-action 'self'",
	"frame-ancestors 'none'"
].join("; ");

const TYPES: Record<string, string> = {
	".html": "text/html; charset=utf-8",
	".js": "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
	".png": "image/png",
	".ico": "image/x-icon",
	".json": "application/json",
	".woff2": "font/woff2",
	".map": "application/json"
};

export type ConsoleAnswer = { status: 200; body: Buffer; headers: Record<string, string> } | { status: 404 | 503; message: string };

/** What to answer for `/console/<rel>` (rel without the leading slash, "" for the app's root). */
export async function consoleFile(rel: string, dist = CONSOLE_DIST): Promise<ConsoleAnswer> {
	const headers = { "Content-Security-Policy": CONSOLE_CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer" };
	const clean = path.posix.normalize(`/${rel}`).slice(1);
	const looksLikeFile = /\.[A-Za-z0-9]+$/.test(clean);
	if (looksLikeFile) {
		const file = path.join(dist, clean);
		if (!file.startsWith(dist + path.sep)) return { status: 404, message: `no console file '${rel}'` };
		try {
			if (!(await stat(file)).isFile()) return { status: 404, message: `no console file '${rel}'` };
			const ext = path.extname(file);
			const immutable = clean.startsWith("assets/");
			return { status: 200, body: await readFile(file), headers: { ...headers, "Content-Type": TYPES[ext] ?? "application/octet-stream", "Cache-Control": immutable ? "public, max-age=31536000, immutable" : "no-cache" } };
		} catch {
			return { status: 404, message: `no console file '${rel}'` };
		}
	}
	try {
		return { status: 200, body: await readFile(path.join(dist, "index.html")), headers: { ...headers, "Content-Type": TYPES[".html"], "Cache-Control": "no-cache" } };
	} catch {
		return { status: 503, message: "the console is not built: run `bash scripts/setup.sh` (or `npm run console:build`)" };
	}
}

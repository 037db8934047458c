/**
 * Fetching a document from a link on a client's behalf, without letting the link reach inside our network: the
 * host is resolved first and every address checked (loopback, private, link-local, CGNAT, multicast, unspecified,
 * IPv6 unique-local and mapped forms are refused), the connection goes to the checked address (no second DNS answer
 * can swap it), redirects are followed by hand (at most 5) and each target is checked again. A time limit covers
 * the whole download; the body streams into the same size-capped spool as an upload.
 */
import { lookup } from "node:dns/promises";
import http from "node:http";
import https from "node:https";
import { BlockList, isIP } from "node:net";
import type { Readable } from "node:stream";
import { IntakeCheckError } from "./checks.ts";

const blocked = new BlockList();
for (const [net, bits] of [["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12], ["192.0.0.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["224.0.0.0", 4], ["240.0.0.0", 4]] as const) blocked.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [["::", 128], ["::1", 128], ["fc00::", 7], ["fe80::", 10], ["ff00::", 8], ["64:ff9b::", 96]] as const) blocked.addSubnet(net, bits, "ipv6");

/** True for an address a client's link must not reach. */
export function isPrivateAddress(address: string): boolean {
	const family = isIP(address);
	if (family === 4) return blocked.check(address, "ipv4");
	if (family === 6) {
		const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
		if (mapped) return blocked.check(mapped[1], "ipv4");
		return blocked.check(address, "ipv6");
	}
	return true;
}

export interface FetchOptions {
	allowPrivate: boolean;
	timeoutMs: number;
	maxRedirects?: number;
}

export interface Fetched {
	body: Readable;
	contentType?: string;
	finalUrl: string;
	filename?: string;
}

const refused = (message: string) => new IntakeCheckError(400, "url_refused", message);

/** Resolves a URL's host to one checked address. */
async function resolve(u: URL, allowPrivate: boolean): Promise<{ address: string; family: number }> {
	const host = u.hostname.replace(/^\[|\]$/g, "");
	const found = isIP(host) ? [{ address: host, family: isIP(host) }] : await lookup(host, { all: true }).catch(() => []);
	if (!found.length) throw new IntakeCheckError(400, "url_unreachable", `the host ${host} does not resolve`);
	if (!allowPrivate) {
		const bad = found.find((a) => isPrivateAddress(a.address));
		if (bad) throw refused(`the link points to a private, loopback or link-local address (${host}); only public addresses are fetched`);
	}
	return found[0];
}

/** GETs `url` (http or https) and resolves with the body stream of a 2xx answer; throws IntakeCheckError otherwise. */
export async function fetchUrl(url: string, opts: FetchOptions): Promise<Fetched> {
	const deadline = AbortSignal.timeout(opts.timeoutMs);
	let current: URL;
	try {
		current = new URL(url);
	} catch {
		throw new IntakeCheckError(400, "bad_url", "url must be an absolute http(s) URL");
	}
	for (let hop = 0; hop <= (opts.maxRedirects ?? 5); hop++) {
		if (current.protocol !== "http:" && current.protocol !== "https:") throw new IntakeCheckError(400, "bad_url", "only http and https links are fetched");
		if (current.username || current.password) throw new IntakeCheckError(400, "bad_url", "links with credentials are not fetched");
		const target = await resolve(current, opts.allowPrivate);
		const res = await new Promise<http.IncomingMessage>((ok, fail) => {
			const mod = current.protocol === "https:" ? https : http;
			const req = mod.get(current, {
				signal: deadline,
				headers: { "User-Agent": "Paperwork-Intake/1", Accept: "application/pdf,image/*;q=0.9,*/*;q=0.1" },
				// connect to the address checked above, whatever a second DNS answer would say
				lookup: (_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) => (o?.all ? cb(null, [target]) : cb(null, target.address, target.family))
			} as https.RequestOptions);
			req.once("response", ok);
			req.once("error", fail);
		}).catch((err: Error) => {
			if (deadline.aborted) throw new IntakeCheckError(400, "url_timeout", `the link did not answer within ${opts.timeoutMs} ms`);
			throw new IntakeCheckError(400, "url_unreachable", `the link could not be fetched: ${err.message}`);
		});
		const status = res.statusCode ?? 0;
		if (status >= 300 && status < 400 && res.headers.location) {
			res.resume();
			current = new URL(res.headers.location, current);
			continue;
		}
		if (status < 200 || status >= 300) {
			res.resume();
			throw new IntakeCheckError(400, "url_status", `the link answered HTTP ${status}`);
		}
		deadline.addEventListener("abort", () => res.destroy(new IntakeCheckError(400, "url_timeout", `the download took longer than ${opts.timeoutMs} ms`)), { once: true });
		const cd = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(String(res.headers["content-disposition"] ?? ""));
		const fromPath = decodeURIComponent(current.pathname.split("/").pop() ?? "") || undefined;
		return { body: res, contentType: res.headers["content-type"], finalUrl: current.toString(), filename: cd?.[1] ?? fromPath };
	}
	throw new IntakeCheckError(400, "url_redirects", "the link redirects too many times");
}

/**
 * Fetching a document from a link on a client's behalf, without letting the link reach inside our network: the
 * host is resolved first and every address checked against the special-purpose ranges of IANA's IPv4 and IPv6
 * registries (loopback, private, link-local, CGNAT, benchmarking, documentation, multicast, broadcast, reserved;
 * IPv6: anything outside global unicast 2000::/3, unique-local, site-local, Teredo, and the forms that carry an IPv4
 * address: mapped ::ffff:0:0/96, NAT64 64:ff9b::/96 and 6to4 2002::/16 are judged by that IPv4 address; the
 * deprecated IPv4-compatible ::/96 is refused). The connection goes to the checked address (no second DNS answer can
 * swap it), redirects are followed by hand (at most 5) and each target is checked again. A time limit covers the
 * whole download; the body streams into the same size-capped spool as an upload.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import type { Readable } from "node:stream";
import { IntakeCheckError } from "./checks.ts";

/** IPv4 special-purpose ranges a link must not reach (IANA IPv4 Special-Purpose Address Registry, and more). */
const V4_RANGES: [string, number, string][] = [
	["0.0.0.0", 8, "this network"],
	["10.0.0.0", 8, "private"],
	["100.64.0.0", 10, "shared address space (CGNAT)"],
	["127.0.0.0", 8, "loopback"],
	["169.254.0.0", 16, "link-local"],
	["172.16.0.0", 12, "private"],
	["192.0.0.0", 24, "IETF protocol assignments"],
	["192.0.2.0", 24, "documentation"],
	["192.88.99.0", 24, "6to4 relay anycast"],
	["192.168.0.0", 16, "private"],
	["198.18.0.0", 15, "benchmarking"],
	["198.51.100.0", 24, "documentation"],
	["203.0.113.0", 24, "documentation"],
	["224.0.0.0", 4, "multicast"],
	["255.255.255.255", 32, "broadcast"],
	["240.0.0.0", 4, "reserved"]
];

/** IPv6 ranges refused outright (first match names the reason); what is not in 2000::/3 is refused after them. */
const V6_RANGES: [string, number, string][] = [
	["::", 128, "unspecified"],
	["::1", 128, "loopback"],
	["::", 96, "IPv4-compatible (deprecated)"],
	["64:ff9b:1::", 48, "local-use IPv4/IPv6 translation"],
	["100::", 64, "discard-only"],
	["2001::", 23, "IETF protocol assignments (Teredo, benchmarking, ORCHID)"],
	["2001:db8::", 32, "documentation"],
	["3fff::", 20, "documentation"],
	["fc00::", 7, "unique-local"],
	["fe80::", 10, "link-local"],
	["fec0::", 10, "site-local (deprecated)"],
	["ff00::", 8, "multicast"]
];

/** IPv6 forms that carry an IPv4 address (the byte where it starts): judged by that address. */
const V6_EMBEDDING: [string, number, string, number][] = [
	["::ffff:0:0", 96, "IPv4-mapped", 12],
	["64:ff9b::", 96, "NAT64", 12],
	["2002::", 16, "6to4", 2]
];

function v4Bytes(address: string): number[] {
	return address.split(".").map(Number);
}

/** The 16 bytes of an IPv6 address (zone ID dropped, a dotted IPv4 tail read), or null when it is not one. */
export function v6Bytes(address: string): number[] | null {
	let a = address.replace(/^\[|\]$/g, "").split("%")[0].toLowerCase();
	if (isIP(a) !== 6) return null;
	const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
	if (tail) {
		const [w, x, y, z] = v4Bytes(tail[1]);
		a = `${a.slice(0, tail.index)}${((w << 8) | x).toString(16)}:${((y << 8) | z).toString(16)}`;
	}
	const [head, rest] = a.split("::") as [string, string | undefined];
	const words = (s: string) => (s ? s.split(":").map((h) => parseInt(h, 16)) : []);
	const left = words(head);
	const right = rest === undefined ? [] : words(rest);
	const all = rest === undefined ? left : [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
	if (all.length !== 8) return null;
	return all.flatMap((w) => [w >> 8, w & 0xff]);
}

function inPrefix(bytes: number[], net: number[], bits: number): boolean {
	for (let i = 0; i < bits; i += 8) {
		const take = Math.min(8, bits - i);
		const mask = (0xff << (8 - take)) & 0xff;
		if ((bytes[i / 8] & mask) !== (net[i / 8] & mask)) return false;
	}
	return true;
}

const V4 = V4_RANGES.map(([net, bits, why]) => ({ net: v4Bytes(net), bits, why: `${why}, ${net}/${bits}` }));
const V6 = V6_RANGES.map(([net, bits, why]) => ({ net: v6Bytes(net) as number[], bits, why: `${why}, ${net}/${bits}` }));
const EMBEDDING = V6_EMBEDDING.map(([net, bits, why, at]) => ({ net: v6Bytes(net) as number[], bits, why, at }));
const GLOBAL_UNICAST = v6Bytes("2000::") as number[];

/**
 * Why a client's link must not reach `address` (the special-purpose range it is in, e.g. "loopback, 127.0.0.0/8"),
 * or null for a public address. Anything that is not an IP address is refused.
 */
export function addressBlock(address: string): string | null {
	const family = isIP(address.split("%")[0]);
	if (family === 4) {
		const b = v4Bytes(address);
		return V4.find((r) => inPrefix(b, r.net, r.bits))?.why ?? null;
	}
	const b = family === 6 ? v6Bytes(address) : null;
	if (!b) return "not an IP address";
	for (const e of EMBEDDING) {
		if (!inPrefix(b, e.net, e.bits)) continue;
		const v4 = b.slice(e.at, e.at + 4).join(".");
		const inner = addressBlock(v4);
		return inner ? `${e.why} form of ${v4}: ${inner}` : null;
	}
	const named = V6.find((r) => inPrefix(b, r.net, r.bits));
	if (named) return named.why;
	return inPrefix(b, GLOBAL_UNICAST, 3) ? null : "not global unicast, outside 2000::/3";
}

/** True for an address a client's link must not reach. */
export function isPrivateAddress(address: string): boolean {
	return addressBlock(address) !== null;
}

/** A host's addresses, as dns.lookup({all: true}) gives them. */
export type Lookup = (host: string) => Promise<{ address: string; family: number }[]>;

export interface FetchOptions {
	allowPrivate: boolean;
	timeoutMs: number;
	maxRedirects?: number;
	/** resolves a host name once per hop (default: the system resolver); the connection goes to what it answered */
	lookup?: Lookup;
	/** addresses reached even though they are private when private ones are refused (a closed network's own server) */
	allowAddresses?: readonly string[];
}

export interface Fetched {
	body: Readable;
	contentType?: string;
	finalUrl: string;
	filename?: string;
}

const refused = (message: string) => new IntakeCheckError(400, "url_refused", message);
const systemLookup: Lookup = (host) => dnsLookup(host, { all: true });

/** Resolves a URL's host and checks every address it has; resolves with the one to connect to. */
async function resolve(u: URL, hop: number, opts: FetchOptions): Promise<{ address: string; family: number }> {
	const host = u.hostname.replace(/^\[|\]$/g, "");
	const found = isIP(host) ? [{ address: host, family: isIP(host) }] : await (opts.lookup ?? systemLookup)(host).catch(() => []);
	if (!found.length) throw new IntakeCheckError(400, "url_unreachable", `the host ${host} does not resolve`);
	if (!opts.allowPrivate) {
		for (const a of found) {
			const why = opts.allowAddresses?.includes(a.address) ? null : addressBlock(a.address);
			if (why) throw refused(`the link ${hop ? "redirects" : "points"} to ${a.address === host ? host : `${host} (${a.address})`}: ${why}; only public addresses are fetched`);
		}
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
		const target = await resolve(current, hop, opts);
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
			try {
				current = new URL(res.headers.location, current);
			} catch {
				throw new IntakeCheckError(400, "bad_url", "the link redirects to something that is not a URL");
			}
			continue;
		}
		if (status < 200 || status >= 300) {
			res.resume();
			throw new IntakeCheckError(400, "url_status", `the link answered HTTP ${status}`);
		}
		const timedOut = () => new IntakeCheckError(400, "url_timeout", `the download took longer than ${opts.timeoutMs} ms`);
		if (deadline.aborted) {
			res.destroy();
			throw timedOut();
		}
		deadline.addEventListener("abort", () => res.destroy(timedOut()), { once: true });
		const cd = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(String(res.headers["content-disposition"] ?? ""));
		const fromPath = decodeURIComponent(current.pathname.split("/").pop() ?? "") || undefined;
		return { body: res, contentType: res.headers["content-type"], finalUrl: current.toString(), filename: cd?.[1] ?? fromPath };
	}
	throw new IntakeCheckError(400, "url_redirects", "the link redirects too many times");
}

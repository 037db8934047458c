/**
 * A PDF's structure checked in process, so a sound upload costs no child process: every spawn from a large Node
 * process copies its page tables (measured 15-30 ms of main-thread CPU at 0.4-0.9 GB RSS, on top of the tool's own
 * ~20 ms start-up), and qpdf --requires-password, pdfinfo and qpdf --check were three of a born-digital document's
 * four spawns.
 *
 * What "sound" means here, strictly: the header at byte 0; `startxref` and `%%EOF` at the end; cross-reference
 * tables or streams (with /Prev chains, hybrid /XRefStm, object streams) whose every in-use entry points at the
 * object it names; every object parses; every Flate stream inflates; no /Encrypt; a page tree whose leaves number
 * its /Count, each with a MediaBox (own or inherited). Such a file gets its page count and largest page from here.
 * Anything else (encryption, a damaged or unusual file, a filter not decoded here, a stream that inflates past the
 * budget) answers null, and the caller asks qpdf and pdfinfo as before: this module can only say "sound", never
 * refuse a file, so the tools keep the last word on every doubtful one. The one exception is a page tree whose
 * /Count already passes the page limit: the answer is that count, before any object is read (a PDF bomb is refused
 * in milliseconds, as pdfinfo would refuse it).
 */
import { inflateSync } from "node:zlib";

export interface PdfFacts {
	pages: number;
	/** the largest MediaBox, in points (absent when the /Count alone passed the limit) */
	maxPagePt?: { width: number; height: number };
}

/** files above this are left to the tools (it runs on the main thread, ~10-20 ms for a 250 KB file; the tools' start-up is small beside a big file's reading) */
export const MAX_INSPECT_BYTES = 4 * 1024 * 1024;
/** bytes all Flate streams of one file may inflate to before the tools take over */
const INFLATE_BUDGET = 32 * 1024 * 1024;

class Unsure extends Error {}
const unsure = (why: string): never => {
	throw new Unsure(why);
};

interface Ref {
	ref: [number, number];
}
interface Name {
	name: string;
}
type Dict = Map<string, PdfValue>;
type PdfValue = number | boolean | null | string | Name | Ref | PdfValue[] | Dict | Stream;
interface Stream {
	dict: Dict;
	/** raw (still encoded) bytes */
	start: number;
	end: number;
}

const isRef = (v: PdfValue | undefined): v is Ref => typeof v === "object" && v !== null && "ref" in v;
const isName = (v: PdfValue | undefined): v is Name => typeof v === "object" && v !== null && "name" in v;
const isDict = (v: PdfValue | undefined): v is Dict => v instanceof Map;
const isStream = (v: PdfValue | undefined): v is Stream => typeof v === "object" && v !== null && "dict" in v;

const WS = new Set([0x00, 0x09, 0x0a, 0x0c, 0x0d, 0x20]);
const DELIM = new Set([0x28, 0x29, 0x3c, 0x3e, 0x5b, 0x5d, 0x7b, 0x7d, 0x2f, 0x25]);

/** A tokenizer and object parser over the file's bytes. */
class Parser {
	pos = 0;
	readonly b: Buffer;
	constructor(b: Buffer) {
		this.b = b;
	}

	skipSpace(): void {
		const b = this.b;
		for (;;) {
			while (this.pos < b.length && WS.has(b[this.pos])) this.pos++;
			if (b[this.pos] !== 0x25) return; // %comment
			while (this.pos < b.length && b[this.pos] !== 0x0a && b[this.pos] !== 0x0d) this.pos++;
		}
	}

	/** a run of regular characters (a keyword or a number) */
	word(): string {
		this.skipSpace();
		const start = this.pos;
		while (this.pos < this.b.length && !WS.has(this.b[this.pos]) && !DELIM.has(this.b[this.pos])) this.pos++;
		return this.b.toString("latin1", start, this.pos);
	}

	expect(keyword: string): void {
		if (this.word() !== keyword) unsure(`expected ${keyword}`);
	}

	/** the next object; `N G R` references are read as such */
	value(depth = 0): PdfValue {
		if (depth > 100) unsure("nesting too deep");
		this.skipSpace();
		const b = this.b;
		const c = b[this.pos];
		if (c === undefined) return unsure("unexpected end");
		if (c === 0x2f) {
			this.pos++;
			const start = this.pos;
			while (this.pos < b.length && !WS.has(b[this.pos]) && !DELIM.has(b[this.pos])) this.pos++;
			return { name: b.toString("latin1", start, this.pos) };
		}
		if (c === 0x3c && b[this.pos + 1] === 0x3c) {
			this.pos += 2;
			const d: Dict = new Map();
			for (;;) {
				this.skipSpace();
				if (b[this.pos] === 0x3e && b[this.pos + 1] === 0x3e) {
					this.pos += 2;
					return d;
				}
				const k = this.value(depth + 1);
				if (!isName(k)) return unsure("dictionary key is not a name");
				d.set(k.name, this.value(depth + 1));
			}
		}
		if (c === 0x3c) {
			const end = b.indexOf(0x3e, this.pos);
			if (end < 0 || !/^[0-9A-Fa-f\s]*$/.test(b.toString("latin1", this.pos + 1, end))) return unsure("bad hex string");
			this.pos = end + 1;
			return "";
		}
		if (c === 0x28) {
			let level = 0;
			for (; this.pos < b.length; this.pos++) {
				const x = b[this.pos];
				if (x === 0x5c) this.pos++;
				else if (x === 0x28) level++;
				else if (x === 0x29 && --level === 0) {
					this.pos++;
					return "";
				}
			}
			return unsure("unterminated string");
		}
		if (c === 0x5b) {
			this.pos++;
			const a: PdfValue[] = [];
			for (;;) {
				this.skipSpace();
				if (b[this.pos] === 0x5d) {
					this.pos++;
					return a;
				}
				a.push(this.value(depth + 1));
			}
		}
		const w = this.word();
		if (w === "true") return true;
		if (w === "false") return false;
		if (w === "null") return null;
		if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(w)) return unsure(`unexpected token ${w.slice(0, 20)}`);
		const n = Number(w);
		if (/^\d+$/.test(w)) {
			// N G R ?
			const save = this.pos;
			const g = this.word();
			if (/^\d+$/.test(g) && this.word() === "R") return { ref: [n, Number(g)] };
			this.pos = save;
		}
		return n;
	}
}

interface XrefEntry {
	/** 1: at a byte offset; 2: inside the object stream numbered `offset` */
	type: 1 | 2;
	offset: number;
	gen: number;
}

/** The checker for one file: the cross-reference, objects read once each. */
class Pdf {
	readonly p: Parser;
	readonly xref = new Map<number, XrefEntry>();
	trailer: Dict = new Map();
	private readonly cache = new Map<number, PdfValue>();
	private readonly objStreams = new Map<number, Map<number, PdfValue>>();
	private inflated = 0;

	readonly b: Buffer;
	constructor(b: Buffer) {
		this.b = b;
		this.p = new Parser(b);
	}

	readXref(): void {
		const tail = this.b.toString("latin1", Math.max(0, this.b.length - 1024));
		const m = /startxref\s+(\d+)\s+%%EOF\s*$/.exec(tail);
		if (!m) unsure("no startxref and %%EOF at the end");
		const seen = new Set<number>();
		let at: number | undefined = Number(m?.[1]);
		let first = true;
		while (at !== undefined) {
			if (seen.has(at) || seen.size > 64 || at >= this.b.length) unsure("bad /Prev chain");
			seen.add(at);
			const trailer = this.readSection(at);
			if (first) this.trailer = trailer;
			first = false;
			const stm = trailer.get("XRefStm");
			if (typeof stm === "number") this.readSection(stm);
			const prev = trailer.get("Prev");
			at = typeof prev === "number" ? prev : undefined;
		}
	}

	/** one xref table + trailer, or one xref stream; older sections never override newer entries */
	private readSection(at: number): Dict {
		const p = this.p;
		p.pos = at;
		const save = p.pos;
		if (p.word() === "xref") {
			for (;;) {
				const s = p.word();
				if (s === "trailer") break;
				const count = Number(p.word());
				if (!/^\d+$/.test(s) || !Number.isInteger(count)) unsure("bad xref subsection");
				p.skipSpace();
				for (let i = 0; i < count; i++) {
					const line = this.b.toString("latin1", p.pos, p.pos + 20);
					const e = /^(\d{10}) (\d{5}) ([nf])[ \r\n]{2}$/.exec(line);
					if (!e) unsure("bad xref entry");
					const num = Number(s) + i;
					// free entries are not recorded: a hybrid file's table marks its object-stream members free
					if (e?.[3] === "n" && !this.xref.has(num) && num > 0) this.xref.set(num, { type: 1, offset: Number(e[1]), gen: Number(e[2]) });
					p.pos += 20;
				}
			}
			const t = p.value();
			if (!isDict(t)) return unsure("bad trailer");
			return t;
		}
		p.pos = save;
		const s = this.objectAt(at, undefined);
		if (!isStream(s) || (s.dict.get("Type") as Name | undefined)?.name !== "XRef") return unsure("startxref points at no xref");
		const data = this.decode(s);
		const w = s.dict.get("W");
		if (!Array.isArray(w) || w.length !== 3 || !w.every((x) => typeof x === "number" && x >= 0 && x <= 8)) return unsure("bad /W");
		const [w0, w1, w2] = w as number[];
		const size = s.dict.get("Size");
		const index = (s.dict.get("Index") as number[] | undefined) ?? [0, typeof size === "number" ? size : 0];
		const row = w0 + w1 + w2;
		const int = (o: number, n: number) => {
			let v = 0;
			for (let k = 0; k < n; k++) v = v * 256 + data[o + k];
			return v;
		};
		let o = 0;
		for (let i = 0; i + 1 < index.length; i += 2) {
			for (let k = 0; k < index[i + 1]; k++) {
				if (o + row > data.length) unsure("short xref stream");
				const type = w0 ? int(o, w0) : 1;
				const f2 = int(o + w0, w1);
				const f3 = int(o + w0 + w1, w2);
				o += row;
				const num = index[i] + k;
				if (this.xref.has(num)) continue;
				if (type === 1 && num > 0) this.xref.set(num, { type: 1, offset: f2, gen: f3 });
				else if (type === 2) this.xref.set(num, { type: 2, offset: f2, gen: f3 });
			}
		}
		return s.dict;
	}

	/** the indirect object at a byte offset (`N G obj ... endobj`), checked to be `num` when given */
	private objectAt(offset: number, num: number | undefined, gen = 0): PdfValue {
		const p = this.p;
		p.pos = offset;
		const n = Number(p.word());
		const g = Number(p.word());
		p.expect("obj");
		if ((num !== undefined && (n !== num || g !== gen)) || !Number.isInteger(n)) unsure(`object ${num} is not at its offset`);
		const v = p.value();
		const kw = p.word();
		if (kw === "endobj") return v;
		if (kw !== "stream" || !isDict(v)) return unsure(`object ${n} lacks endobj`);
		// the data starts after the EOL that follows "stream"
		if (this.b[p.pos] === 0x0d) p.pos++;
		if (this.b[p.pos] === 0x0a) p.pos++;
		const start = p.pos;
		let len = v.get("Length");
		if (isRef(len)) {
			const saved = p.pos;
			len = this.resolve(len);
			p.pos = saved;
		}
		if (typeof len !== "number" || !Number.isInteger(len) || len < 0 || start + len > this.b.length) return unsure("bad stream /Length");
		p.pos = start + len;
		p.expect("endstream");
		p.expect("endobj");
		return { dict: v, start, end: start + len };
	}

	resolve(v: PdfValue | undefined): PdfValue {
		if (!isRef(v)) return v ?? null;
		const [num, gen] = v.ref;
		if (this.cache.has(num)) return this.cache.get(num) ?? null;
		const e = this.xref.get(num);
		let out: PdfValue = null;
		if (e && e.offset >= 0) {
			if (e.type === 1) {
				if (e.gen !== gen) unsure(`reference ${num} ${gen} R names another generation`);
				this.cache.set(num, null); // a /Length that refers to its own stream
				out = this.objectAt(e.offset, num, e.gen);
			} else {
				out = this.fromObjStream(e.offset, num);
			}
		}
		this.cache.set(num, out);
		return out;
	}

	private fromObjStream(stmNum: number, num: number): PdfValue {
		let objs = this.objStreams.get(stmNum);
		if (!objs) {
			const s = this.resolve({ ref: [stmNum, 0] });
			if (!isStream(s) || (s.dict.get("Type") as Name | undefined)?.name !== "ObjStm") return unsure("bad object stream");
			const data = this.decode(s);
			const n = s.dict.get("N");
			const first = s.dict.get("First");
			if (typeof n !== "number" || typeof first !== "number" || first > data.length) return unsure("bad object stream header");
			const sub = new Parser(data);
			const head: [number, number][] = [];
			for (let i = 0; i < n; i++) {
				const on = Number(sub.word());
				const off = Number(sub.word());
				if (!Number.isInteger(on) || !Number.isInteger(off)) unsure("bad object stream header");
				head.push([on, off]);
			}
			objs = new Map();
			for (const [on, off] of head) {
				sub.pos = first + off;
				const v = sub.value();
				if (isRef(v)) unsure("a reference as an object stream member");
				objs.set(on, v);
			}
			this.objStreams.set(stmNum, objs);
		}
		if (!objs.has(num)) unsure(`object ${num} missing from its object stream`);
		return objs.get(num) ?? null;
	}

	/** a stream's data: Flate inflated (within the budget, PNG predictors undone), image codecs left as they are */
	decode(s: Stream): Buffer {
		const raw = this.b.subarray(s.start, s.end);
		const f = s.dict.get("Filter");
		const filters = (Array.isArray(f) ? f : f === undefined ? [] : [f]).map((x) => (isName(x) ? x.name : unsure("bad /Filter")));
		if (filters.length === 0) return raw;
		const [first, ...rest] = filters;
		if (first !== "FlateDecode" && first !== "Fl") {
			if (filters.every((x) => ["DCTDecode", "JPXDecode", "CCITTFaxDecode", "JBIG2Decode"].includes(x)) && filters.length === 1) return raw;
			return unsure(`filter ${first} not decoded here`);
		}
		if (rest.length > 1 || (rest.length === 1 && !["DCTDecode", "JPXDecode"].includes(rest[0]))) unsure("filter chain not decoded here");
		let out: Buffer;
		try {
			out = inflateSync(raw, { maxOutputLength: INFLATE_BUDGET - this.inflated });
		} catch {
			return unsure("a Flate stream does not inflate within the budget");
		}
		this.inflated += out.length;
		let parms = s.dict.get("DecodeParms");
		if (Array.isArray(parms)) parms = parms[0];
		parms = this.resolve(parms);
		const predictor = isDict(parms) ? parms.get("Predictor") : undefined;
		if (typeof predictor === "number" && predictor >= 10 && isDict(parms)) {
			const cols = parms.get("Columns");
			const colors = parms.get("Colors") ?? 1;
			const bpc = parms.get("BitsPerComponent") ?? 8;
			if (typeof cols !== "number" || typeof colors !== "number" || typeof bpc !== "number") return unsure("bad predictor parameters");
			return unpng(out, Math.ceil((cols * colors * bpc) / 8), Math.max(1, Math.ceil((colors * bpc) / 8)));
		}
		if (typeof predictor === "number" && predictor > 1) unsure("TIFF predictor not decoded here");
		return out;
	}

	/** every in-use object parses (and its streams decode) */
	verifyAll(): void {
		for (const [num, e] of this.xref) {
			if (e.offset < 0) continue;
			const v = this.resolve({ ref: [num, e.type === 1 ? e.gen : 0] });
			if (isStream(v) && (v.dict.get("Type") as Name | undefined)?.name !== "XRef") this.decode(v);
		}
	}

	/** the page tree: leaves counted (bounded by the limit) and the largest MediaBox */
	pages(maxPages: number): PdfFacts {
		const root = this.resolve(this.trailer.get("Root"));
		if (!isDict(root)) return unsure("no document catalog");
		const top = this.resolve(root.get("Pages"));
		if (!isDict(top)) return unsure("no page tree");
		const count = this.resolve(top.get("Count"));
		if (typeof count !== "number" || !Number.isInteger(count) || count < 1) return unsure("bad page /Count");
		if (count > maxPages) return { pages: count };
		let leaves = 0;
		let width = 0;
		let height = 0;
		const seen = new Set<PdfValue>();
		const walk = (node: PdfValue, box: PdfValue, depth: number): void => {
			if (!isDict(node) || seen.has(node) || depth > 64) unsure("bad page tree");
			seen.add(node);
			const d = node as Dict;
			const own = this.resolve(d.get("MediaBox"));
			const mb = own === null ? box : own;
			const kids = this.resolve(d.get("Kids"));
			const type = (d.get("Type") as Name | undefined)?.name;
			if (type === "Pages" || (type === undefined && Array.isArray(kids))) {
				if (!Array.isArray(kids)) unsure("a page tree node without /Kids");
				for (const k of kids as PdfValue[]) walk(this.resolve(k), mb, depth + 1);
				return;
			}
			if (type !== "Page") unsure("a page tree leaf is not a page");
			if (++leaves > maxPages) unsure("more pages than the /Count");
			const nums = Array.isArray(mb) ? mb.map((x) => this.resolve(x)) : [];
			if (nums.length !== 4 || !nums.every((x) => typeof x === "number")) unsure("a page without a MediaBox");
			const [x1, y1, x2, y2] = nums as number[];
			width = Math.max(width, Math.abs(x2 - x1));
			height = Math.max(height, Math.abs(y2 - y1));
		};
		walk(top, null, 0);
		if (leaves !== count) unsure("the page tree's leaves differ from its /Count");
		return { pages: count, maxPagePt: { width, height } };
	}
}

/** Undoes the PNG predictors (per row: none, Sub, Up, Average, Paeth) of a Flate stream. */
function unpng(data: Buffer, rowBytes: number, bpp: number): Buffer {
	const stride = rowBytes + 1;
	if (data.length % stride !== 0) unsure("a predicted stream of partial rows");
	const rows = data.length / stride;
	const out = Buffer.alloc(rows * rowBytes);
	for (let r = 0; r < rows; r++) {
		const type = data[r * stride];
		for (let i = 0; i < rowBytes; i++) {
			const x = data[r * stride + 1 + i];
			const a = i >= bpp ? out[r * rowBytes + i - bpp] : 0;
			const b = r > 0 ? out[(r - 1) * rowBytes + i] : 0;
			const c = r > 0 && i >= bpp ? out[(r - 1) * rowBytes + i - bpp] : 0;
			let v: number;
			if (type === 0) v = x;
			else if (type === 1) v = x + a;
			else if (type === 2) v = x + b;
			else if (type === 3) v = x + ((a + b) >> 1);
			else if (type === 4) {
				const p = a + b - c;
				const pa = Math.abs(p - a);
				const pb = Math.abs(p - b);
				const pc = Math.abs(p - c);
				v = x + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
			} else return unsure("bad PNG predictor row");
			out[r * rowBytes + i] = v & 0xff;
		}
	}
	return out;
}

/**
 * The facts of a sound, unencrypted PDF (see the top of this file), or null when the tools must decide. A /Count
 * past `maxPages` answers that count at once.
 */
export function inspectPdf(bytes: Buffer, maxPages: number): PdfFacts | null {
	if (bytes.length > MAX_INSPECT_BYTES || bytes.toString("latin1", 0, 5) !== "%PDF-") return null;
	const pdf = new Pdf(bytes);
	try {
		pdf.readXref();
		if (pdf.trailer.has("Encrypt")) return null;
		const facts = pdf.pages(maxPages);
		if (facts.pages > maxPages) return facts;
		pdf.verifyAll();
		return facts;
	} catch {
		// Unsure, or anything a malformed file provokes (a bad inflate, a short buffer): the tools decide
		return null;
	}
}

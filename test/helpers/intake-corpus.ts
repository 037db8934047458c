/**
 * The intake test corpus, generated (no real person's data): born-digital invoices in English, Hindi and
 * Portuguese from issuers with different layouts (HTML rendered to PDF by the project's Chromium engine), the same
 * pages rasterised at 300 dpi as scans (PNG), and hostile files (a PNG named .pdf, a truncated PDF, a
 * user-password PDF and an owner-encrypted one made with qpdf, 0 bytes, 11 MB, thousands of pages, an image
 * 50,000 px wide). Each invoice lists the fields the reader must extract, exactly.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { deflateSync } from "node:zlib";
import { ChromiumEngine } from "../../lib/render/chromium.ts";
import { gstinCheckChar, cnpjCheckDigits } from "../../lib/fields/taxid.ts";
import { cpf } from "./ingest.ts";

/** A valid GSTIN: state code, PAN, entity number, Z, check character. */
export function gstin(state: string, pan: string, entity = "1"): string {
	const first = `${state}${pan}${entity}Z`;
	return first + gstinCheckChar(first);
}

/** A valid CNPJ (14 digits) from its first 12. */
export function cnpj(twelve: string): string {
	const [a, b] = cnpjCheckDigits(twelve);
	return `${twelve}${a}${b}`;
}

export const fmtCnpj = (c: string) => `${c.slice(0, 2)}.${c.slice(2, 5)}.${c.slice(5, 8)}/${c.slice(8, 12)}-${c.slice(12)}`;
export const fmtCpf = (c: string) => `${c.slice(0, 3)}.${c.slice(3, 6)}.${c.slice(6, 9)}-${c.slice(9)}`;

export const IDS = {
	saffron: gstin("24", "AAECS1234F"),
	rao: gstin("29", "AAKFR5678M"),
	ganga: gstin("09", "AAFFG4321Q"),
	sharma: gstin("07", "ABCPS9876R"),
	horizonte: cnpj("112223330001"),
	beatriz: cpf(424242),
	lotus: gstin("27", "AABCB2468L"),
	// a GSTIN whose check character is wrong
	badBuyer: (() => {
		const g = gstin("33", "AAGCK1357N");
		return g.slice(0, 14) + (g[14] === "A" ? "B" : "A");
	})()
};

export interface CorpusInvoice {
	name: string;
	lang: "en" | "hi" | "pt";
	html: string;
	status: "COMPLETED" | "NEEDS_REVIEW";
	/** field -> value the reader must find (born-digital) */
	fields: Record<string, string | number>;
	/** the fields also asserted on the 300 dpi scan (OCR) */
	scanFields: string[];
	/** check codes expected (NEEDS_REVIEW) */
	checks?: string[];
	template?: string;
}

const page = (body: string, lang: string) => `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><style>
@page { size: A4; margin: 18mm }
body { font-family: "Noto Sans", "Noto Sans Devanagari", sans-serif; font-size: 12pt; color: #000 }
h1 { font-size: 20pt; margin: 0 0 4mm } table { border-collapse: collapse; width: 100% } td, th { padding: 1.5mm 2mm; text-align: left }
.r { text-align: right } .box { margin: 4mm 0 } .items td, .items th { border-bottom: 0.3mm solid #888 }
</style></head><body>${body}</body></html>`;

export const INVOICES: CorpusInvoice[] = [
	{
		name: "saffron-en",
		lang: "en",
		template: "Saffron Textiles Pvt Ltd",
		status: "COMPLETED",
		html: page(`<h1>SAFFRON TEXTILES PVT LTD</h1><div>14 Mill Road, Surat, Gujarat 395003</div><div>GSTIN: ${IDS.saffron}</div>
<h2>TAX INVOICE</h2>
<table><tr><td>Bill No.: ST/2026/0415</td><td class="r">Dated: 05-11-2026</td></tr>
<tr><td>Buyer: Rao Garments LLP</td><td class="r">Buyer GSTIN: ${IDS.rao}</td></tr>
<tr><td>Payment due by: 05-12-2026</td><td></td></tr></table>
<table class="items box"><tr><th>Item</th><th class="r">Qty</th><th class="r">Rate</th><th class="r">Amount</th></tr>
<tr><td>Cotton fabric, 60 in</td><td class="r">300</td><td class="r">150.00</td><td class="r">45,000.00</td></tr></table>
<table><tr><td>Taxable Value</td><td class="r">45,000.00</td></tr><tr><td>CGST @ 2.5%</td><td class="r">1,125.00</td></tr>
<tr><td>SGST @ 2.5%</td><td class="r">1,125.00</td></tr><tr><td><b>Net Payable (INR)</b></td><td class="r"><b>47,250.00</b></td></tr></table>`, "en"),
		fields: { invoice_number: "ST/2026/0415", issue_date: "2026-11-05", due_date: "2026-12-05", subtotal: 45000, cgst: 1125, sgst: 1125, tax_total: 2250, total: 47250, currency: "INR", seller_name: "Saffron Textiles Pvt Ltd", seller_tax_id: IDS.saffron, buyer_name: "Rao Garments LLP", buyer_tax_id: IDS.rao },
		scanFields: ["invoice_number", "issue_date", "due_date", "subtotal", "total", "seller_tax_id", "buyer_tax_id"]
	},
	{
		name: "ganga-hi",
		lang: "hi",
		status: "COMPLETED",
		html: page(`<h1>गंगा ट्रेडर्स</h1><div>कर बीजक / Tax Invoice</div>
<table class="box"><tr><td>Invoice No: GT-0098</td><td class="r">Invoice Date: 12/10/2026</td></tr>
<tr><td>Due Date: 11/11/2026</td><td></td></tr></table>
<div>विक्रेता / Seller: गंगा ट्रेडर्स, GSTIN: ${IDS.ganga}</div>
<div>क्रेता / Bill To: शर्मा इलेक्ट्रिकल्स, GSTIN: ${IDS.sharma}</div>
<table class="items box"><tr><th>विवरण</th><th class="r">राशि</th></tr><tr><td>तांबे के तार</td><td class="r">₹ 1,20,000.00</td></tr></table>
<table><tr><td>Sub Total</td><td class="r">₹ 1,20,000.00</td></tr><tr><td>IGST @ 18%</td><td class="r">₹ 21,600.00</td></tr>
<tr><td><b>Grand Total</b></td><td class="r"><b>₹ 1,41,600.00</b></td></tr></table>`, "hi"),
		fields: { invoice_number: "GT-0098", issue_date: "2026-10-12", due_date: "2026-11-11", subtotal: 120000, igst: 21600, tax_total: 21600, total: 141600, currency: "INR", seller_name: "गंगा ट्रेडर्स", seller_tax_id: IDS.ganga, buyer_name: "शर्मा इलेक्ट्रिकल्स", buyer_tax_id: IDS.sharma },
		// on the scan Tesseract reads the seller's "09" as "OP" (no O/0 correction makes that a GSTIN) and the buyer's "07" as "O7" (corrected)
		scanFields: ["invoice_number", "issue_date", "due_date", "subtotal", "igst", "total", "seller_name", "buyer_name", "buyer_tax_id"]
	},
	{
		name: "horizonte-pt",
		lang: "pt",
		status: "COMPLETED",
		html: page(`<h1>Papelaria Horizonte Ltda</h1><div>Rua das Acácias 100, Curitiba - PR</div>
<h2>Fatura nº 2026/771</h2>
<div>Emitente: Papelaria Horizonte Ltda</div><div>CNPJ: ${fmtCnpj(IDS.horizonte)}</div>
<div class="box">Cliente: Beatriz Exemplo</div><div>CPF: ${fmtCpf(IDS.beatriz)}</div>
<table class="box"><tr><td>Data de emissão: 03/11/2026</td><td class="r">Vencimento: 03/12/2026</td></tr></table>
<table class="items box"><tr><th>Descrição</th><th class="r">Valor</th></tr><tr><td>Cadernos e canetas</td><td class="r">R$ 1.234,56</td></tr></table>
<table><tr><td>Valor dos produtos</td><td class="r">R$ 1.234,56</td></tr><tr><td>ICMS</td><td class="r">R$ 222,22</td></tr>
<tr><td><b>Valor total</b></td><td class="r"><b>R$ 1.456,78</b></td></tr></table>`, "pt"),
		fields: { invoice_number: "2026/771", issue_date: "2026-11-03", due_date: "2026-12-03", subtotal: 1234.56, icms: 222.22, tax_total: 222.22, total: 1456.78, currency: "BRL", seller_name: "Papelaria Horizonte Ltda", seller_tax_id: IDS.horizonte, buyer_name: "Beatriz Exemplo", buyer_tax_id: IDS.beatriz },
		scanFields: ["invoice_number", "issue_date", "due_date", "subtotal", "total", "seller_tax_id", "buyer_tax_id"]
	},
	{
		name: "lotus-mismatch",
		lang: "en",
		status: "NEEDS_REVIEW",
		checks: ["totals_mismatch", "bad_check_digit"],
		html: page(`<h1>Blue Lotus Foods</h1><div>GSTIN: ${IDS.lotus}</div><h2>Invoice</h2>
<div>Invoice Number: BLF-2211</div><div>Invoice Date: 2026-11-20</div>
<div class="box">Bill To: Kaveri Caterers, GSTIN: ${IDS.badBuyer}</div>
<table><tr><td>Subtotal</td><td class="r">₹ 10,000.00</td></tr><tr><td>GST @ 5%</td><td class="r">₹ 500.00</td></tr>
<tr><td><b>Total</b></td><td class="r"><b>₹ 10,600.00</b></td></tr></table>`, "en"),
		fields: { invoice_number: "BLF-2211", issue_date: "2026-11-20", subtotal: 10000, gst: 500, total: 10600, seller_tax_id: IDS.lotus, buyer_tax_id: IDS.badBuyer, buyer_name: "Kaveri Caterers" },
		scanFields: []
	}
];

/** A minimal PDF with `pages` pages of one line of text each (for the page-count bomb and quick tests). */
export function minimalPdf(pages: number, text = "Page"): Buffer {
	const objs: string[] = [];
	objs.push("<< /Type /Catalog /Pages 2 0 R >>");
	const kids = Array.from({ length: pages }, (_v, i) => `${4 + i * 2} 0 R`).join(" ");
	objs.push(`<< /Type /Pages /Kids [${kids}] /Count ${pages} >>`);
	objs.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
	for (let i = 0; i < pages; i++) {
		const stream = `BT /F1 24 Tf 72 720 Td (${text} ${i + 1}) Tj ET`;
		objs.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${5 + i * 2} 0 R >>`);
		objs.push(`<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`);
	}
	let out = "%PDF-1.4\n";
	const offsets: number[] = [];
	objs.forEach((o, i) => {
		offsets.push(Buffer.byteLength(out));
		out += `${i + 1} 0 obj\n${o}\nendobj\n`;
	});
	const xref = Buffer.byteLength(out);
	out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("")}`;
	out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
	return Buffer.from(out, "latin1");
}

/** A one-page PDF with these lines of text (Helvetica, born-digital: it has a text layer). */
export function textPdf(lines: string[]): Buffer {
	const esc = (t: string) => t.replace(/[\\()]/g, (c) => `\\${c}`);
	const body = lines.map((l, i) => `BT /F1 12 Tf 72 ${740 - i * 18} Td (${esc(l)}) Tj ET`).join("\n");
	const objs = [
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>",
		`<< /Length ${Buffer.byteLength(body, "latin1")} >>\nstream\n${body}\nendstream`
	];
	let out = "%PDF-1.4\n";
	const offsets: number[] = [];
	objs.forEach((o, i) => {
		offsets.push(Buffer.byteLength(out, "latin1"));
		out += `${i + 1} 0 obj\n${o}\nendobj\n`;
	});
	const xref = Buffer.byteLength(out, "latin1");
	out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("")}`;
	out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
	return Buffer.from(out, "latin1");
}

/** A real grey PNG `width` x `height` (white), small on disk however wide. */
export function whitePng(width: number, height: number): Buffer {
	const crcTable = Array.from({ length: 256 }, (_v, n) => {
		let c = n;
		for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
		return c >>> 0;
	});
	const crc = (b: Buffer) => {
		let c = 0xffffffff;
		for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
		return (c ^ 0xffffffff) >>> 0;
	};
	const chunk = (type: string, data: Buffer) => {
		const len = Buffer.alloc(4);
		len.writeUInt32BE(data.length);
		const td = Buffer.concat([Buffer.from(type, "latin1"), data]);
		const c = Buffer.alloc(4);
		c.writeUInt32BE(crc(td));
		return Buffer.concat([len, td, c]);
	};
	const ihdr = Buffer.alloc(13);
	ihdr.writeUInt32BE(width, 0);
	ihdr.writeUInt32BE(height, 4);
	ihdr[8] = 8; // bit depth
	ihdr[9] = 0; // greyscale
	const row = Buffer.alloc(width + 1, 0xff);
	row[0] = 0;
	const raw = Buffer.concat(Array.from({ length: height }, () => row));
	return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

export interface Corpus {
	dir: string;
	/** born-digital PDF of each invoice */
	pdf: Record<string, string>;
	/** 300 dpi PNG scan of each invoice's first page */
	scan: Record<string, string>;
	hostile: Record<"pngAsPdf" | "truncated" | "userPassword" | "ownerOnly" | "empty" | "big" | "manyPages" | "wideImage", string>;
}

/** Renders the invoices and writes the hostile files into `dir`. */
export async function buildCorpus(dir: string, opts: { scans?: string[] } = {}): Promise<Corpus> {
	const engine = new ChromiumEngine({ tabs: 1 });
	const pdf: Record<string, string> = {};
	const scan: Record<string, string> = {};
	try {
		for (const inv of INVOICES) {
			const { pdf: bytes } = await engine.render(inv.html);
			pdf[inv.name] = path.join(dir, `${inv.name}.pdf`);
			writeFileSync(pdf[inv.name], bytes);
		}
	} finally {
		await engine.close();
	}
	for (const name of opts.scans ?? []) {
		const prefix = path.join(dir, `${name}-scan`);
		execFileSync("pdftoppm", ["-r", "300", "-gray", "-png", "-singlefile", "-f", "1", "-l", "1", pdf[name], prefix]);
		scan[name] = `${prefix}.png`;
	}
	const first = pdf[INVOICES[0].name];
	const h = (n: string) => path.join(dir, n);
	const bytes = readFileSync(first);
	writeFileSync(h("png-named.pdf"), whitePng(200, 100));
	writeFileSync(h("truncated.pdf"), bytes.subarray(0, Math.floor(bytes.length / 2)));
	execFileSync("qpdf", ["--encrypt", "user-secret", "owner-secret", "256", "--", first, h("user-password.pdf")]);
	execFileSync("qpdf", ["--encrypt", "", "owner-secret", "256", "--", pdf["lotus-mismatch"], h("owner-only.pdf")]);
	writeFileSync(h("empty.pdf"), Buffer.alloc(0));
	writeFileSync(h("big.pdf"), Buffer.concat([Buffer.from("%PDF-1.4\n"), Buffer.alloc(11 * 1024 * 1024, 0x20)]));
	writeFileSync(h("many-pages.pdf"), minimalPdf(3000));
	writeFileSync(h("wide.png"), whitePng(50_000, 2));
	return {
		dir,
		pdf,
		scan,
		hostile: { pngAsPdf: h("png-named.pdf"), truncated: h("truncated.pdf"), userPassword: h("user-password.pdf"), ownerOnly: h("owner-only.pdf"), empty: h("empty.pdf"), big: h("big.pdf"), manyPages: h("many-pages.pdf"), wideImage: h("wide.png") }
	};
}

/** A grey frame of a TIFF: 8 bits a pixel, `data` row by row (absent: a frame that only declares its size). */
export interface GreyFrame {
	width: number;
	height: number;
	data?: Buffer;
}

/**
 * A baseline little-endian TIFF of grey frames, uncompressed, laid out as libtiff writes it: the image data first,
 * the directories (IFDs) after it, so a large file's first IFD is far from its head. `loop` points the last IFD back
 * at the first (a corrupt chain).
 */
export function greyTiff(frames: GreyFrame[], opts: { loop?: boolean } = {}): Buffer {
	const parts: Buffer[] = [];
	const header = Buffer.alloc(8);
	header.write("II", 0, "latin1");
	header.writeUInt16LE(42, 2);
	parts.push(header);
	let offset = 8;
	const strips = frames.map((f) => {
		const data = f.data ?? Buffer.alloc(0);
		const at = offset;
		parts.push(data);
		offset += data.length;
		if (offset % 2) {
			parts.push(Buffer.alloc(1));
			offset++;
		}
		return { at, length: data.length };
	});
	const ENTRIES = 12;
	const ifdSize = 2 + ENTRIES * 12 + 4 + 16;
	const firstIfd = offset;
	frames.forEach((f, i) => {
		const at = offset;
		const ifd = Buffer.alloc(ifdSize);
		ifd.writeUInt16LE(ENTRIES, 0);
		const rational = at + 2 + ENTRIES * 12 + 4;
		const entries: [number, number, number][] = [
			[256, 4, f.width],
			[257, 4, f.height],
			[258, 3, 8],
			[259, 3, 1],
			[262, 3, 1],
			[273, 4, strips[i]?.at ?? 0],
			[277, 3, 1],
			[278, 4, f.height],
			[279, 4, strips[i]?.length ?? 0],
			[282, 5, rational],
			[283, 5, rational + 8],
			[296, 3, 2]
		];
		entries.forEach(([tag, type, value], k) => {
			const e = 2 + k * 12;
			ifd.writeUInt16LE(tag, e);
			ifd.writeUInt16LE(type, e + 2);
			ifd.writeUInt32LE(1, e + 4);
			if (type === 3) ifd.writeUInt16LE(value, e + 8);
			else ifd.writeUInt32LE(value, e + 8);
		});
		const last = i === frames.length - 1;
		ifd.writeUInt32LE(last ? (opts.loop ? firstIfd : 0) : at + ifdSize, 2 + ENTRIES * 12);
		// 150 dpi, both ways
		ifd.writeUInt32LE(150, rational - at);
		ifd.writeUInt32LE(1, rational - at + 4);
		ifd.writeUInt32LE(150, rational - at + 8);
		ifd.writeUInt32LE(1, rational - at + 12);
		parts.push(ifd);
		offset += ifdSize;
	});
	header.writeUInt32LE(firstIfd, 4);
	return Buffer.concat(parts);
}

/** The grey frame of a one-page PDF of `lines`, rasterised by pdftoppm at `dpi` (a page "scanned" to a TIFF). */
export function scannedFrame(dir: string, lines: string[], dpi = 150): GreyFrame {
	const src = path.join(dir, `frame-${lines.join(" ").replace(/[^A-Za-z0-9]/g, "").slice(0, 20)}.pdf`);
	writeFileSync(src, textPdf(lines));
	const prefix = src.replace(/\.pdf$/, "");
	execFileSync("pdftoppm", ["-r", String(dpi), "-gray", "-singlefile", src, prefix]);
	const pgm = readFileSync(`${prefix}.pgm`);
	const m = /^P5\s+(\d+)\s+(\d+)\s+255\s/.exec(pgm.toString("latin1", 0, 40));
	if (!m) throw new Error("pdftoppm wrote no PGM");
	return { width: Number(m[1]), height: Number(m[2]), data: pgm.subarray(m[0].length) };
}

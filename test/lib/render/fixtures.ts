/**
 * Shared test data for the render tests: one loan per language whose name extracts cleanly from both
 * engines' PDFs, and small wrappers around poppler's pdfinfo / pdftotext (installed by the project's setup;
 * the tests fail, not skip, when they are missing).
 */
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export const LANGS = ["en", "hi", "mr", "gu"] as const;
export type Lang = (typeof LANGS)[number];

/**
 * Names chosen because pdftotext recovers them intact from both engines (Indic extraction is imperfect:
 * WeasyPrint's PDFs in particular can reorder vowel signs, e.g. "प्रिय" -> "प्रय", so words with pre-base
 * matras such as ि are avoided in what the tests look for).
 */
export const NAMES: Record<Lang, string> = {
	en: "Rajesh Kumar Sharma",
	hi: "सीमा गुप्ता",
	mr: "सुनील पाटील",
	gu: "નિશા શાહ"
};

/** The loan amount 5,00,000 as each language prints it (Marathi uses Devanagari digits). */
export const AMOUNTS: Record<Lang, string> = {
	en: "₹5,00,000.00",
	hi: "₹5,00,000.00",
	mr: "₹५,००,०००.००",
	gu: "₹5,00,000.00"
};

/** "Page X of Y" as each language's footer prints it (the counters are Latin digits in every language). */
export const FOOTER: Record<Lang, (page: number, pages: number) => string> = {
	en: (p, n) => `Page ${p} of ${n}`,
	hi: (p, n) => `पृष्ठ ${p} / ${n}`,
	mr: (p, n) => `पृष्ठ ${p} / ${n}`,
	gu: (p, n) => `પૃષ્ઠ ${p} / ${n}`
};

export function loan(lang: Lang, extra: Record<string, unknown> = {}): Record<string, unknown> {
	return {
		loan_id: "LN2026000123",
		applicant_name: NAMES[lang],
		phone: "+919876543210",
		address_line1: "12 MG Road",
		address_line2: null,
		city: "Pune",
		state: "Maharashtra",
		postal_code: "411001",
		loan_amount: "500000",
		annual_interest_rate: "10.5",
		tenure_months: 60,
		disbursement_date: "2026-01-15",
		first_emi_date: "2026-02-10",
		processing_fee: "5000",
		...extra
	};
}

async function withFile<T>(pdf: Buffer, fn: (file: string) => Promise<T>): Promise<T> {
	const dir = await fs.mkdtemp(path.join(os.tmpdir(), "paperwork-pdf-"));
	try {
		const file = path.join(dir, "doc.pdf");
		await fs.writeFile(file, pdf);
		return await fn(file);
	} finally {
		await fs.rm(dir, { recursive: true, force: true });
	}
}

/** Page count according to poppler's pdfinfo. */
export function pdfinfoPages(pdf: Buffer): Promise<number> {
	return withFile(pdf, async (file) => {
		const { stdout } = await run("pdfinfo", [file]);
		const m = /^Pages:\s+(\d+)/m.exec(stdout);
		if (!m) throw new Error(`pdfinfo printed no page count:\n${stdout}`);
		return Number(m[1]);
	});
}

/** The text of the PDF according to poppler's pdftotext. */
export function pdftotext(pdf: Buffer): Promise<string> {
	return withFile(pdf, async (file) => (await run("pdftotext", ["-enc", "UTF-8", file, "-"], { maxBuffer: 32 * 1024 * 1024 })).stdout);
}

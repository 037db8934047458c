import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
	TemplateRegistry,
	DEFAULT_TEMPLATES_DIR,
	UnknownTemplateError,
	UnknownLanguageError,
	InvalidDataError,
	TemplateError,
	contentHash,
	canonicalJson,
	cssString,
	templates,
	toHtml,
	validate
} from "../../../lib/render/templates.ts";
import { LANGS, loan, AMOUNTS, NAMES } from "./fixtures.ts";

const debt = { contract_id: "C-77", debtor_name: "Maria Silva", amount: "1234.5", due_date: "2026-03-31" };
const statement = { loan_id: "L-9", applicant_name: "Asha Rao", statement_date: "2026-03-10", cycle_from: "2026-02-11", amount_due: "520", due_date: "2026-03-17", entries: [{ date: "2026-03-05", kind: "instalment", ref: "3", debit: "1000.00", credit: "0.00", balance: "2020.00" }] };

test("the repository's templates are folders with a manifest", () => {
	assert.deepEqual(templates.list(), ["debt-notice", "loan-statement", "welcome-letter"]);
	const m = templates.manifest("welcome-letter");
	assert.equal(m.kind, "loan");
	assert.deepEqual(m.languages, ["en", "hi", "mr", "gu"]);
	assert.ok(m.required.includes("applicant_name"));
	assert.equal(templates.manifest("debt-notice").kind, "debt");
});

test("unknown template and unknown language are typed 400 errors naming them", () => {
	for (const id of ["nope", "../templates", "_partials", "", "Welcome-Letter"]) {
		assert.throws(() => validate(id, "en", loan("en")), (e: unknown) => e instanceof UnknownTemplateError && e.status === 400 && e.code === "UNKNOWN_TEMPLATE" && e.templateId === id, id);
	}
	assert.throws(
		() => toHtml("welcome-letter", "fr", loan("en")),
		(e: unknown) => e instanceof UnknownLanguageError && e instanceof TemplateError && e.language === "fr" && e.templateId === "welcome-letter" && e.available.includes("gu") && /fr/.test(e.message)
	);
	assert.throws(() => validate("debt-notice", "hi", debt), UnknownLanguageError);
});

test("missing required fields are listed before rendering", () => {
	const r = validate("welcome-letter", "en", {});
	assert.equal(r.ok, false);
	assert.deepEqual(r.missing, ["loan_id", "applicant_name", "address_line1", "city", "state", "postal_code", "loan_amount", "annual_interest_rate", "tenure_months", "disbursement_date", "first_emi_date"]);
	const partial = loan("en", { applicant_name: "  ", address_line1: null });
	delete partial.first_emi_date;
	assert.deepEqual(validate("welcome-letter", "en", partial).missing, ["applicant_name", "address_line1", "first_emi_date"]);
	assert.throws(
		() => toHtml("welcome-letter", "hi", partial),
		(e: unknown) => e instanceof InvalidDataError && e.status === 400 && e.code === "INVALID_DATA" && e.missing.join() === "applicant_name,address_line1,first_emi_date" && /applicant_name/.test(e.message)
	);
	assert.deepEqual(validate("debt-notice", "en", { contract_id: "x" }).missing, ["debtor_name", "amount", "due_date"]);
	assert.equal(validate("welcome-letter", "en", loan("en")).ok, true);
	assert.equal(validate("welcome-letter", "gu", "not an object").missing.length, 11);
});

test("fields of the wrong type, or unusable for the EMI maths, are reported as invalid", () => {
	const r = validate("welcome-letter", "en", loan("en", { loan_amount: "12,000", first_emi_date: "2026-02-30", annual_interest_rate: -1 }));
	assert.deepEqual(r.invalid.map((f) => f.field).sort(), ["annual_interest_rate", "first_emi_date", "loan_amount"]);
	const months = validate("welcome-letter", "en", loan("en", { tenure_months: 0 }));
	assert.deepEqual(months.invalid.map((f) => f.field), ["tenure_months"]);
	assert.match(months.invalid[0].message, /tenure_months/);
	assert.throws(() => toHtml("welcome-letter", "en", loan("en", { loan_amount: "0" })), (e: unknown) => e instanceof InvalidDataError && e.invalid[0].field === "loan_amount");
});

test("the letter holds the letter, the whole EMI schedule and the charges, formatted per language", () => {
	for (const lang of LANGS) {
		const html = toHtml("welcome-letter", lang, loan(lang));
		assert.match(html, new RegExp(`<html lang="${lang}">`));
		assert.ok(html.includes(NAMES[lang]), `${lang}: name`);
		assert.ok(html.includes(AMOUNTS[lang]), `${lang}: loan amount formatted for the language`);
		assert.equal((html.match(/<tr><td class="num">/g) ?? []).length, 60, `${lang}: 60 schedule rows`);
		assert.equal((html.match(/<section class="page/g) ?? []).length, 3, "letter, schedule, charges in ONE document");
		assert.match(html, /break-before: page/);
		assert.match(html, /counter\(page\)/);
		assert.match(html, /counter\(pages\)/);
		assert.doesNotMatch(html, /(src|href)=|url\(|@import/i, "no external resources");
	}
	const en = toHtml("welcome-letter", "en", loan("en"));
	assert.ok(en.includes("₹10,746.95"), "EMI of 5,00,000 at 10.5 % over 60 months");
	assert.ok(en.includes("10.50%"));
	assert.ok(en.includes("15 January 2026"));
	assert.ok(en.includes("10 January 2031"), "last EMI date");
	assert.ok(en.includes("Cheque / NACH bounce charges"));
	assert.ok(en.includes("₹5,000.00 (one time"), "processing fee from the record");
	assert.match(en, /content: "Page " counter\(page\) " of " counter\(pages\)/);
	const hi = toHtml("welcome-letter", "hi", loan("hi"));
	assert.ok(hi.includes("10 जनवरी 2031"));
	assert.ok(hi.includes("शुल्कों की अनुसूची"));
	assert.ok(hi.includes("₹10,746.95"));
	const mr = toHtml("welcome-letter", "mr", loan("mr"));
	assert.ok(mr.includes("₹१०,७४६.९५"));
	assert.ok(mr.includes("१० जानेवारी, २०३१"));
	const gu = toHtml("welcome-letter", "gu", loan("gu"));
	assert.ok(gu.includes("10 જાન્યુઆરી, 2031"));
	assert.ok(gu.includes("શુલ્કની સૂચિ"));
});

test("a client's charges configuration changes the schedule of charges", () => {
	const html = toHtml("welcome-letter", "en", loan("en"), { charges: { items: [{ key: "late_payment", kind: "fixed", amount: "999", basis: "per_instance" }] } });
	assert.ok(html.includes("₹999.00 per instance"));
	assert.ok(!html.includes("Foreclosure charges"));
});

test("data is escaped, never evaluated: <script>, {{x}} and CSS-breaking values print as text", () => {
	const evil = loan("en", {
		applicant_name: "<script>alert(1)</script>",
		address_line1: "{{x}}",
		address_line2: "{{> layout}}",
		city: "{lender}",
		loan_id: "\"};</style><b>x</b>{{applicant_name}}",
		lender_name: "ACME \\\" ' <i>"
	});
	const html = toHtml("welcome-letter", "en", evil);
	assert.ok(!html.includes("<script>"), "no live script element");
	assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
	assert.ok(html.includes("<div>{{x}}</div>"), "{{x}} printed as-is");
	assert.ok(html.includes("<div>{{&gt; layout}}</div>"));
	assert.ok(html.includes("<div>{lender}, Maharashtra 411001</div>"), "placeholders inside data are not filled");
	assert.ok(!html.includes("<b>x</b>") && !html.includes("<i>"));
	assert.equal(html.split("</style>").length, 2, "the data cannot close the style element");
	assert.ok(html.includes("Dear &lt;script&gt;alert(1)&lt;/script&gt;,"), "escaped inside translated messages too");
	assert.equal(cssString("a\"b</style>"), String.raw`"a\22 b\3C /style\3E "`);
});

test("every template renders in every language it declares, and each language has the same messages", () => {
	for (const id of templates.list()) {
		const m = templates.manifest(id);
		const keys = (lang: string): string[] => {
			const flat: string[] = [];
			const walk = (o: Record<string, unknown>, p: string): void => {
				for (const [k, v] of Object.entries(o)) {
					if (typeof v === "string") flat.push(p + k);
					else walk(v as Record<string, unknown>, `${p}${k}.`);
				}
			};
			walk(JSON.parse(fs.readFileSync(path.join(DEFAULT_TEMPLATES_DIR, id, "messages", `${lang}.json`), "utf8")) as Record<string, unknown>, "");
			return flat.sort();
		};
		for (const lang of m.languages) {
			assert.deepEqual(keys(lang), keys(m.languages[0]), `${id}/${lang} has the same message keys as ${m.languages[0]}`);
			const data = id === "welcome-letter" ? loan("en") : id === "loan-statement" ? statement : debt;
			assert.match(toHtml(id, lang, data), /<\/html>\s*$/);
		}
	}
	const pt = toHtml("debt-notice", "pt-BR", { ...debt, currency: "BRL", notice_date: "2026-04-02" });
	assert.ok(pt.includes("R$\u00a01.234,50"));
	assert.ok(pt.includes("31 de março de 2026"));
	assert.ok(pt.includes("Página "));
	assert.ok(toHtml("debt-notice", "en", debt).includes("₹1,234.50"));
});

test("a template is added with a folder, no code change", () => {
	const root = fs.mkdtempSync(path.join(os.tmpdir(), "paperwork-templates-"));
	try {
		fs.cpSync(DEFAULT_TEMPLATES_DIR, root, { recursive: true });
		const dir = path.join(root, "receipt");
		fs.mkdirSync(path.join(dir, "messages"), { recursive: true });
		fs.mkdirSync(path.join(dir, "partials"));
		fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify({ id: "receipt", version: "3", kind: "payment", languages: ["en"], required: ["payer", "paid"], fields: { paid: "amount" } }));
		fs.writeFileSync(path.join(dir, "template.hbs"), '{{#> layout title=(t "title") header_left=(css-text lender) header_right=(css-t "title") footer_left=(css-t "page.generated") footer_right=(css-t "page.footer")}}<p>{{t "thanks" payer=payer paid=(money paid)}}</p>{{> stamp}}{{/layout}}');
		fs.writeFileSync(path.join(dir, "partials", "stamp.hbs"), '<p class="stamp">PAID</p>');
		fs.writeFileSync(path.join(dir, "style.css"), ".stamp { color: green; }");
		fs.writeFileSync(path.join(dir, "messages", "en.json"), JSON.stringify({ title: "Receipt", thanks: "Thank you {payer}, we received {paid}." }));
		const reg = new TemplateRegistry(root);
		assert.deepEqual(reg.list(), ["debt-notice", "loan-statement", "receipt", "welcome-letter"]);
		assert.deepEqual(reg.validate("receipt", "en", { paid: "x" }), { ok: false, missing: ["payer"], invalid: [{ field: "paid", expected: "an amount of 0 or more with at most 2 decimals", message: "must be an amount of 0 or more with at most 2 decimals" }] });
		const html = reg.toHtml("receipt", "en", { payer: "Asha", paid: 150000 });
		assert.ok(html.includes("Thank you Asha, we received ₹1,50,000.00."));
		assert.ok(html.includes('<p class="stamp">PAID</p>'));
		assert.ok(html.includes(".stamp { color: green; }"), "the folder's CSS is inlined after the shared CSS");
		assert.ok(html.includes("font-family: \"Noto Sans\""), "shared CSS inlined");
		assert.equal(reg.contentHash("receipt", "en", { payer: "Asha", paid: 1 }), contentHash("receipt", "3", "en", { paid: 1, payer: "Asha" }));
	} finally {
		fs.rmSync(root, { recursive: true, force: true });
	}
});

test("content hash: stable over key order, sensitive to every input", () => {
	const a = contentHash("welcome-letter", "1.0.0", "en", { b: 1, a: { y: [1, { d: 2, c: 3 }], x: null } });
	const b = contentHash("welcome-letter", "1.0.0", "en", { a: { x: null, y: [1, { c: 3, d: 2 }] }, b: 1, skipped: undefined });
	assert.match(a, /^[0-9a-f]{64}$/);
	assert.equal(a, b);
	assert.notEqual(a, contentHash("welcome-letter", "1.0.1", "en", { b: 1, a: { y: [1, { d: 2, c: 3 }], x: null } }));
	assert.notEqual(a, contentHash("welcome-letter", "1.0.0", "hi", { b: 1, a: { y: [1, { d: 2, c: 3 }], x: null } }));
	assert.notEqual(a, contentHash("debt-notice", "1.0.0", "en", { b: 1, a: { y: [1, { d: 2, c: 3 }], x: null } }));
	assert.notEqual(a, contentHash("welcome-letter", "1.0.0", "en", { b: 2, a: { y: [1, { d: 2, c: 3 }], x: null } }));
	assert.notEqual(a, contentHash("welcome-letter", "1.0.0", "en", { b: 1, a: { y: [1, { d: 2, c: 3 }], x: null } }, { charges: [] }));
	assert.equal(canonicalJson({ z: new Date(Date.UTC(2026, 0, 1)), a: [undefined, "x"] }), '{"a":[null,"x"],"z":"2026-01-01T00:00:00.000Z"}');
	assert.equal(templates.contentHash("welcome-letter", "en", loan("en")), contentHash("welcome-letter", templates.manifest("welcome-letter").version, "en", loan("en")));
});

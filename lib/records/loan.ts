/**
 * The loan kind (lender, India): one disbursed loan that gets a welcome letter with its EMI schedule, identified by
 * (client, loan_id). Names and addresses may be in Devanagari or Gujarati script (kept NFC-normalised).
 * Default CSV header: loan_id,applicant_name,language,phone,email,address_line1,address_line2,city,state,postal_code,
 * loan_amount,annual_interest_rate,tenure_months,disbursement_date,first_emi_date,processing_fee.
 */
import type { KindSpec, RawRow, ValidateContext, ValidationResult } from "./kind.ts";
import { RowCheck } from "./kind.ts";
import { checkText } from "../validate/text.ts";
import { parseAmount, parseBoundedDecimal, parseWholeNumber } from "../validate/decimal.ts";
import { parseDate } from "../validate/dates.ts";
import { normalizeEmail } from "../validate/email.ts";
import { normalizeInPhone } from "../validate/phone.ts";
import { type Check, fail, ok, shown } from "../validate/result.ts";

export const LANGUAGES = ["en", "hi", "mr", "gu"] as const;
export type Language = (typeof LANGUAGES)[number];

/** Accepted spellings of each language (compared lower-cased). */
const LANGUAGE_NAMES: Record<string, Language> = {
	en: "en", english: "en",
	hi: "hi", hindi: "hi", "हिंदी": "hi", "हिन्दी": "hi",
	mr: "mr", marathi: "mr", "मराठी": "mr",
	gu: "gu", gujarati: "gu", "ગુજરાતી": "gu"
};

export type LoanRecord = {
	loan_id: string;
	applicant_name: string;
	language: Language;
	/** E.164, "+919876543210" */
	phone: string;
	email: string | null;
	address_line1: string;
	address_line2: string | null;
	city: string;
	state: string;
	/** 6-digit PIN code */
	postal_code: string;
	/** canonical decimal, 2 decimals */
	loan_amount: string;
	/** percent per year, shortest exact decimal: "12.5" */
	annual_interest_rate: string;
	tenure_months: number;
	disbursement_date: string;
	/** after disbursement_date */
	first_emi_date: string;
	/** canonical decimal, 2 decimals; zero allowed */
	processing_fee: string | null;
};

export function parseLanguage(raw: string): Check<Language> {
	const lang = LANGUAGE_NAMES[raw.trim().toLowerCase()];
	return lang ? ok(lang) : fail("invalid_language", `language ${shown(raw.trim())} is not supported; use one of en, hi, mr, gu`);
}

function parsePin(raw: string): Check<string> {
	const d = raw.replace(/\s/g, "");
	return /^[1-9]\d{5}$/.test(d) ? ok(d) : fail("invalid_postal_code", `postal_code ${shown(raw)} is not a 6-digit Indian PIN code`);
}

function validate(raw: RawRow, ctx: ValidateContext): ValidationResult<LoanRecord> {
	const r = new RowCheck(raw);
	const s = ctx.numberStyle;
	const text = (field: string, maxLength: number) => (v: string) => checkText(v, field, { maxLength });
	const loan_id = r.required("loan_id", text("loan_id", 64));
	const applicant_name = r.required("applicant_name", text("applicant_name", 200));
	const language = r.optional("language", parseLanguage);
	const phone = r.required("phone", normalizeInPhone);
	const email = r.optional("email", normalizeEmail);
	const address_line1 = r.required("address_line1", text("address_line1", 200));
	const address_line2 = r.optional("address_line2", text("address_line2", 200));
	const city = r.required("city", text("city", 100));
	const state = r.required("state", text("state", 100));
	const postal_code = r.required("postal_code", parsePin);
	const loan_amount = r.required("loan_amount", (v) => parseAmount(v, s, "loan_amount"));
	const annual_interest_rate = r.required("annual_interest_rate", (v) => parseBoundedDecimal(v, s, "annual_interest_rate", "0", "100", 4));
	const tenure_months = r.required("tenure_months", (v) => parseWholeNumber(v, "tenure_months", 1, 480));
	const disbursement_date = r.required("disbursement_date", (v) => parseDate(v, ctx.dateFormat, "disbursement_date"));
	const first_emi_date = r.required("first_emi_date", (v) => parseDate(v, ctx.dateFormat, "first_emi_date"));
	if (disbursement_date !== undefined && first_emi_date !== undefined && first_emi_date <= disbursement_date) {
		r.fail("first_emi_date", "date_order", `first_emi_date ${first_emi_date} must be after disbursement_date ${disbursement_date}`);
	}
	const processing_fee = r.optional("processing_fee", (v) => parseAmount(v, s, "processing_fee", { allowZero: true }));
	if (r.errors.length > 0) return { ok: false, errors: r.errors };
	return {
		ok: true,
		record: {
			loan_id: loan_id as string,
			applicant_name: applicant_name as string,
			language: language ?? "en",
			phone: phone as string,
			email: email ?? null,
			address_line1: address_line1 as string,
			address_line2: address_line2 ?? null,
			city: city as string,
			state: state as string,
			postal_code: postal_code as string,
			loan_amount: loan_amount as string,
			annual_interest_rate: annual_interest_rate as string,
			tenure_months: tenure_months as number,
			disbursement_date: disbursement_date as string,
			first_emi_date: first_emi_date as string,
			processing_fee: processing_fee ?? null
		}
	};
}

export const loan: KindSpec<LoanRecord> = {
	kind: "loan",
	fields: [
		{ name: "loan_id", required: true, description: "the lender's loan number (the business key)" },
		{ name: "applicant_name", required: true, description: "the borrower's name (Latin, Devanagari or Gujarati script)" },
		{ name: "language", required: false, description: "letter language: en, hi, mr or gu (default en)" },
		{ name: "phone", required: true, description: "Indian mobile number" },
		{ name: "email", required: false, description: "the borrower's e-mail" },
		{ name: "address_line1", required: true, description: "postal address, first line" },
		{ name: "address_line2", required: false, description: "postal address, second line" },
		{ name: "city", required: true, description: "city" },
		{ name: "state", required: true, description: "state" },
		{ name: "postal_code", required: true, description: "6-digit PIN code" },
		{ name: "loan_amount", required: true, description: "principal, greater than zero, at most 2 decimals" },
		{ name: "annual_interest_rate", required: true, description: "annual rate in percent, 0-100" },
		{ name: "tenure_months", required: true, description: "number of monthly instalments, 1-480" },
		{ name: "disbursement_date", required: true, description: "date the loan was paid out" },
		{ name: "first_emi_date", required: true, description: "date of the first instalment (after disbursement)" },
		{ name: "processing_fee", required: false, description: "one-off fee, zero or more, at most 2 decimals" }
	],
	keyFields: ["loan_id"],
	timeZone: "Asia/Kolkata",
	validate
};

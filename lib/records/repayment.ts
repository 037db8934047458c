/**
 * The repayment kind (lender, India): one payment a borrower made towards a loan, identified by (client,
 * payment_ref): the UPI, NACH or bank transaction ID, so the same payment reported twice (by two files, or by a
 * retried upload) is one repayment. A payment of the same amount on the same loan a few minutes apart under another
 * reference is accepted too (a borrower's payment is never refused); billing flags it as a suspected duplicate
 * (lib/billing/duplicates.ts).
 * A payment that bounced (a cheque returned, a NACH/ECS debit returned) comes with status `bounced`, in its own row
 * or as the same payment_ref sent again (the record is updated): it is not a payment, billing never applies it and
 * charges the client's bounce charge for it. No status, or `paid`, is a payment (records stored before the column
 * existed read as paid; a paid record is stored without the field).
 * Default CSV header: payment_ref,loan_id,amount,paid_at,method,payer_ref,status.
 */
import type { KindSpec, RawRow, ValidateContext, ValidationResult } from "./kind.ts";
import { RowCheck } from "./kind.ts";
import { checkText } from "../validate/text.ts";
import { parseAmount } from "../validate/decimal.ts";
import { parseDate } from "../validate/dates.ts";
import { fail, ok, shown, type Check } from "../validate/result.ts";

export const PAYMENT_METHODS = ["upi", "nach", "neft", "imps", "rtgs", "card", "cheque", "cash", "other"] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

/** paid: a payment (the default); bounced: presented but returned unpaid (cheque, NACH/ECS return) */
export const REPAYMENT_STATUSES = ["paid", "bounced"] as const;
export type RepaymentStatus = (typeof REPAYMENT_STATUSES)[number];

export type RepaymentRecord = {
	payment_ref: string;
	loan_id: string;
	/** canonical decimal, 2 decimals, greater than zero */
	amount: string;
	/** the instant of payment, UTC, to the second: "2026-11-02T04:30:00Z" (no milliseconds: stays a string in every store) */
	paid_at: string;
	method: PaymentMethod;
	/** the payer's own reference (VPA, account, mandate), when given */
	payer_ref: string | null;
	/** "bounced" when the payment was returned unpaid; absent: paid */
	status?: RepaymentStatus;
};

/** India has had no daylight saving since 1945: Asia/Kolkata is always UTC+05:30. */
const IST_OFFSET_MINUTES = 330;

const pad = (n: number, w = 2): string => String(n).padStart(w, "0");

/** A UTC instant as "YYYY-MM-DDTHH:MM:SSZ". */
export function instantString(ms: number): string {
	const d = new Date(ms);
	return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`;
}

const WITH_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Parses a payment time: an ISO date-time with an offset or Z ("2026-11-02T10:00:00+05:30"), a local date-time
 * "YYYY-MM-DD HH:MM[:SS]" (India time), or a date alone in the client's date format (midnight, India time).
 */
export function parsePaidAt(raw: string, dateFormat: string): Check<string> {
	const t = raw.trim();
	const m = WITH_TIME.exec(t);
	if (m) {
		const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0));
		const date = parseDate(`${m[1]}-${m[2]}-${m[3]}`, "YYYY-MM-DD", "paid_at");
		if (!date.ok) return date;
		if (h > 23 || mi > 59 || s > 59) return fail("invalid_date", `paid_at ${shown(t)} has no time ${m[4]}:${m[5]}${m[6] ? `:${m[6]}` : ""}`);
		let offset = IST_OFFSET_MINUTES;
		const z = m[7];
		if (z && z.toUpperCase() !== "Z") {
			const sign = z.startsWith("-") ? -1 : 1;
			const digits = z.slice(1).replace(":", "");
			offset = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2)));
		} else if (z) {
			offset = 0;
		}
		return ok(instantString(Date.UTC(y, mo - 1, d, h, mi, s) - offset * 60_000));
	}
	const date = parseDate(t, dateFormat, "paid_at");
	if (!date.ok) return fail("invalid_date", `paid_at ${shown(t)} is neither a date-time (YYYY-MM-DD HH:MM, or ISO 8601 with an offset) nor a date in the format ${dateFormat}`);
	const [y, mo, d] = date.value.split("-").map(Number);
	return ok(instantString(Date.UTC(y, mo - 1, d) - IST_OFFSET_MINUTES * 60_000));
}

function parseMethod(raw: string): Check<PaymentMethod> {
	const v = raw.trim().toLowerCase();
	return (PAYMENT_METHODS as readonly string[]).includes(v) ? ok(v as PaymentMethod) : fail("invalid_method", `method ${shown(raw)} is not one of ${PAYMENT_METHODS.join(", ")}`);
}

function parseStatus(raw: string): Check<RepaymentStatus> {
	const v = raw.trim().toLowerCase();
	return (REPAYMENT_STATUSES as readonly string[]).includes(v) ? ok(v as RepaymentStatus) : fail("invalid_status", `status ${shown(raw)} is not one of ${REPAYMENT_STATUSES.join(", ")} (empty: paid)`);
}

function validate(raw: RawRow, ctx: ValidateContext): ValidationResult<RepaymentRecord> {
	const r = new RowCheck(raw);
	const text = (field: string, maxLength: number) => (v: string) => checkText(v, field, { maxLength });
	const payment_ref = r.required("payment_ref", text("payment_ref", 64));
	const loan_id = r.required("loan_id", text("loan_id", 64));
	const amount = r.required("amount", (v) => parseAmount(v, ctx.numberStyle, "amount"));
	const paid_at = r.required("paid_at", (v) => parsePaidAt(v, ctx.dateFormat));
	if (paid_at !== undefined && paid_at.slice(0, 10) > ctx.today) {
		r.fail("paid_at", "future_date", `paid_at ${paid_at} is in the future (today is ${ctx.today})`);
	}
	const method = r.optional("method", parseMethod);
	const payer_ref = r.optional("payer_ref", text("payer_ref", 128));
	const status = r.optional("status", parseStatus);
	if (r.errors.length > 0) return { ok: false, errors: r.errors };
	return {
		ok: true,
		record: {
			payment_ref: payment_ref as string,
			loan_id: loan_id as string,
			amount: amount as string,
			paid_at: paid_at as string,
			method: method ?? "other",
			payer_ref: payer_ref ?? null,
			...(status === "bounced" ? { status } : {})
		}
	};
}

export const repayment: KindSpec<RepaymentRecord> = {
	kind: "repayment",
	fields: [
		{ name: "payment_ref", required: true, description: "the payment's transaction reference: UPI, NACH or bank ID (the business key)" },
		{ name: "loan_id", required: true, description: "the loan the payment is for" },
		{ name: "amount", required: true, description: "amount paid, greater than zero, at most 2 decimals" },
		{ name: "paid_at", required: true, description: "when it was paid: YYYY-MM-DD HH:MM (India time), ISO 8601 with an offset, or a date" },
		{ name: "method", required: false, description: `how it was paid: ${PAYMENT_METHODS.join(", ")} (default other)` },
		{ name: "payer_ref", required: false, description: "the payer's own reference (VPA, account or mandate)" },
		{ name: "status", required: false, description: `${REPAYMENT_STATUSES.join(" or ")} (default paid): bounced is a cheque or NACH/ECS debit returned unpaid, never applied, charged the bounce charge` }
	],
	keyFields: ["payment_ref"],
	timeZone: "Asia/Kolkata",
	validate
};

/** The India calendar date ("YYYY-MM-DD") of a stored paid_at instant (fixed UTC+05:30: no Intl on the hot path). */
export function indiaDate(paidAt: string): string {
	return instantString(Date.parse(paidAt) + IST_OFFSET_MINUTES * 60_000).slice(0, 10);
}

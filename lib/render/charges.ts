/**
 * The schedule of charges printed with a loan's welcome letter. The processing fee comes from the loan
 * record; every other charge comes from the client's configuration (ChargesConfig), falling back to
 * DEFAULT_CHARGES. Names and wording are message keys (charges.items.<key>, charges.basis.<basis>), so one
 * configuration prints in every language; amounts and rates are formatted for the document's language.
 * Billing levies some of the same items (lib/billing/loans.ts penaltyRuleOf): `late_payment`, `cheque_bounce` and
 * `nach_bounce`, with GST at `taxRate` on those marked `plusTax`.
 */
import type { Formatter } from "./format.ts";

/** How a charge is expressed. */
export type ChargeKind = "fixed" | "percent" | "actuals" | "nil";

export interface ChargeItem {
	/** names the charge: the message key `charges.items.<key>` */
	key: string;
	kind: ChargeKind;
	/** for "fixed": the amount (decimal string or number) */
	amount?: string | number;
	/** for "percent": the rate in percent (2 means 2 %) */
	rate?: string | number;
	/**
	 * phrase around the value: the message key `charges.basis.<basis>`, whose `{amount}` / `{rate}`
	 * placeholders receive the formatted value ("{rate} per month on the overdue amount")
	 */
	basis?: string;
	/** adds the message `charges.plus_tax` ("plus GST as applicable"); billing adds GST at the schedule's taxRate */
	plusTax?: boolean;
}

export interface ChargesConfig {
	/** currency of fixed amounts (ISO 4217), default INR */
	currency?: string;
	/** GST in percent on each charge marked plusTax (decimal string or number), default DEFAULT_TAX_RATE */
	taxRate?: string | number;
	items: ChargeItem[];
}

/** GST on charges (18 % on financial services) when a schedule sets no taxRate. */
export const DEFAULT_TAX_RATE = "18";

/** The charges printed when a client has configured none. */
export const DEFAULT_CHARGES: ChargesConfig = Object.freeze({
	currency: "INR",
	items: Object.freeze([
		{ key: "late_payment", kind: "percent", rate: "2", basis: "per_month_overdue" },
		{ key: "cheque_bounce", kind: "fixed", amount: "500", basis: "per_instance", plusTax: true },
		{ key: "foreclosure", kind: "percent", rate: "4", basis: "of_outstanding_principal", plusTax: true },
		{ key: "part_prepayment", kind: "percent", rate: "2", basis: "of_prepaid_amount", plusTax: true },
		{ key: "duplicate_statement", kind: "fixed", amount: "250", basis: "per_request", plusTax: true },
		{ key: "instrument_swap", kind: "fixed", amount: "500", basis: "per_instance", plusTax: true },
		{ key: "stamp_duty", kind: "actuals", basis: "at_actuals" }
	]) as ChargeItem[]
}) as ChargesConfig;

/** Looks a message up by key and fills its `{name}` placeholders; the result is plain text (not escaped). */
export type Translate = (key: string, params?: Record<string, string>) => string;

/** One printed line: the charge's name and its value, both translated plain text. */
export interface ChargeLine {
	key: string;
	name: string;
	value: string;
}

export class ChargesConfigError extends Error {
	constructor(message: string) {
		super(message);
		this.name = "ChargesConfigError";
	}
}

const KEY = /^[a-z][a-z0-9_]*$/;
/** an amount of 0 or more with at most 2 decimals (billing counts it in paise) */
const AMOUNT = /^\d+(?:\.\d{1,2})?$/;
/** a rate of 0 or more in percent */
const RATE = /^\d+(?:\.\d+)?$/;

const isDecimal = (v: unknown, re: RegExp): boolean => (typeof v === "string" || (typeof v === "number" && Number.isFinite(v))) && re.test(String(v).trim());

/** Throws ChargesConfigError when a configuration cannot be printed (checked when a client saves it). */
export function checkChargesConfig(config: ChargesConfig): void {
	if (!config || !Array.isArray(config.items)) throw new ChargesConfigError("charges configuration needs an items list");
	if (config.taxRate !== undefined && (!isDecimal(config.taxRate, RATE) || Number(config.taxRate) > 100)) throw new ChargesConfigError("charges.taxRate must be a percentage from 0 to 100");
	config.items.forEach((item, i) => {
		const at = `charges.items[${i}]`;
		if (!KEY.test(item.key ?? "")) throw new ChargesConfigError(`${at}.key must be a lower-case identifier`);
		if (item.basis !== undefined && !KEY.test(item.basis)) throw new ChargesConfigError(`${at}.basis must be a lower-case identifier`);
		if (item.kind === "fixed" && item.amount === undefined) throw new ChargesConfigError(`${at} is fixed and needs an amount`);
		if (item.kind === "percent" && item.rate === undefined) throw new ChargesConfigError(`${at} is a percentage and needs a rate`);
		if (!["fixed", "percent", "actuals", "nil"].includes(item.kind)) throw new ChargesConfigError(`${at}.kind must be fixed, percent, actuals or nil`);
		if (item.kind === "fixed" && !isDecimal(item.amount, AMOUNT)) throw new ChargesConfigError(`${at}.amount must be an amount of 0 or more with at most 2 decimals`);
		if (item.kind === "percent" && !isDecimal(item.rate, RATE)) throw new ChargesConfigError(`${at}.rate must be a percentage of 0 or more`);
		if (item.plusTax !== undefined && typeof item.plusTax !== "boolean") throw new ChargesConfigError(`${at}.plusTax must be true or false`);
	});
}

function valueText(item: ChargeItem, fmt: Formatter, t: Translate, currency: string): string {
	const params: Record<string, string> = {};
	let plain: string;
	switch (item.kind) {
		case "fixed":
			plain = params.amount = fmt.money(item.amount ?? 0, currency);
			break;
		case "percent":
			plain = params.rate = fmt.percent(item.rate ?? 0);
			break;
		case "actuals":
			plain = t("charges.basis.at_actuals");
			break;
		default:
			plain = t("charges.basis.nil");
	}
	let text = item.basis ? t(`charges.basis.${item.basis}`, params) : plain;
	if (item.plusTax) text = `${text} ${t("charges.plus_tax")}`;
	return text;
}

/**
 * The lines of the schedule: the processing fee first (when the record has one), then the configured
 * charges in their order. A configured "processing_fee" item is used only when the record has no fee.
 */
export function chargeLines(processingFee: string | number | undefined | null, config: ChargesConfig | undefined, fmt: Formatter, t: Translate): ChargeLine[] {
	const cfg = config ?? DEFAULT_CHARGES;
	const currency = cfg.currency ?? "INR";
	const lines: ChargeLine[] = [];
	const hasFee = processingFee !== undefined && processingFee !== null && processingFee !== "";
	if (hasFee) {
		const item: ChargeItem = { key: "processing_fee", kind: "fixed", amount: processingFee, basis: "once", plusTax: true };
		lines.push({ key: item.key, name: t("charges.items.processing_fee"), value: valueText(item, fmt, t, currency) });
	}
	for (const item of cfg.items) {
		if (hasFee && item.key === "processing_fee") continue;
		lines.push({ key: item.key, name: t(`charges.items.${item.key}`), value: valueText(item, fmt, t, currency) });
	}
	return lines;
}

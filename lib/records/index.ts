/**
 * The table of record kinds. Everything kind-specific (fields, required fields, business key, validation) is
 * looked up here, so adding a kind is one file (see debt.ts) plus one line in KINDS.
 */
import type { KindSpec, RawRow, ValidateContext, ValidateOptions, ValidationResult } from "./kind.ts";
import { debt, type DebtRecord } from "./debt.ts";
import { loan, type LoanRecord } from "./loan.ts";
import { repayment, type RepaymentRecord } from "./repayment.ts";
import { DEFAULT_DATE_FORMAT, isoDateIn } from "../validate/dates.ts";
import { DEFAULT_NUMBER_STYLE } from "../validate/decimal.ts";

export type { DebtRecord } from "./debt.ts";
export type { LoanRecord } from "./loan.ts";
export type { RepaymentRecord } from "./repayment.ts";
export type { FieldError, FieldSpec, KindSpec, RawRow, ValidateContext, ValidateOptions, ValidationResult } from "./kind.ts";

export interface RecordsByKind {
	debt: DebtRecord;
	loan: LoanRecord;
	repayment: RepaymentRecord;
}
export type Kind = keyof RecordsByKind;
export type CanonicalRecord = RecordsByKind[Kind];

export const KINDS: { [K in Kind]: KindSpec<RecordsByKind[K]> } = { debt, loan, repayment };
export const KIND_NAMES = Object.keys(KINDS) as Kind[];

export function isKind(value: unknown): value is Kind {
	return typeof value === "string" && Object.hasOwn(KINDS, value);
}

export function kindSpec<K extends Kind>(kind: K): KindSpec<RecordsByKind[K]> {
	const spec = KINDS[kind];
	if (!spec) throw new Error(`unknown record kind '${String(kind)}'; known kinds: ${KIND_NAMES.join(", ")}`);
	return spec;
}

/** Canonical field names of a kind, in default-header order. */
export function fieldNames(kind: Kind): string[] {
	return kindSpec(kind).fields.map((f) => f.name);
}

export function requiredFields(kind: Kind): string[] {
	return kindSpec(kind).fields.filter((f) => f.required).map((f) => f.name);
}

/** The default CSV header line of a kind. */
export function defaultHeader(kind: Kind): string {
	return fieldNames(kind).join(",");
}

/** Resolves the defaults once (call per chunk/batch, not per row). */
export function validateContext(kind: Kind, options: ValidateOptions = {}): ValidateContext {
	return {
		dateFormat: options.dateFormat ?? DEFAULT_DATE_FORMAT,
		numberStyle: options.numberStyle ?? DEFAULT_NUMBER_STYLE,
		today: options.today ?? isoDateIn(options.now ?? new Date(), kindSpec(kind).timeZone)
	};
}

/** Validates and normalises one raw row (canonical field -> raw string). */
export function validate<K extends Kind>(kind: K, raw: RawRow, options: ValidateOptions = {}): ValidationResult<RecordsByKind[K]> {
	return kindSpec(kind).validate(raw, validateContext(kind, options));
}

/** Same as validate() with a context resolved once by validateContext() (the per-row hot path). */
export function validateWith<K extends Kind>(kind: K, raw: RawRow, ctx: ValidateContext): ValidationResult<RecordsByKind[K]> {
	return KINDS[kind].validate(raw, ctx);
}

/**
 * The business key of a record within its client, as one string (key field values joined by U+001F), for
 * duplicate detection; the store's unique index is [client, ...KINDS[kind].keyFields].
 */
export function businessKey(kind: Kind, record: CanonicalRecord | RawRow): string {
	const fields = kindSpec(kind).keyFields;
	const r = record as Record<string, unknown>;
	if (fields.length === 1) return String(r[fields[0]] ?? "");
	return fields.map((f) => String(r[f] ?? "")).join("\u001f");
}

/** Key field names of a kind (e.g. ["contract_id"]). */
export function keyFields(kind: Kind): string[] {
	return kindSpec(kind).keyFields;
}

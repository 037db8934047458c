/**
 * What a record kind is: its canonical fields, required fields, business key and validation. Each kind is one file
 * (debt.ts, loan.ts) registered in index.ts, so a third kind is one new file plus one line in the table.
 */
import type { Check } from "../validate/result.ts";
import type { NumberStyle } from "../validate/decimal.ts";
import { cleanText } from "../validate/text.ts";

/** One field failure; a row may have several (one per bad field). field "*" is a row-level problem. */
export interface FieldError {
	field: string;
	code: string;
	message: string;
}

export interface FieldSpec {
	name: string;
	required: boolean;
	description: string;
}

/** Per-batch settings the validators need (from the client format), plus "today" for the future-date check. */
export interface ValidateOptions {
	dateFormat?: string;
	numberStyle?: NumberStyle;
	/** "YYYY-MM-DD" that counts as today; computed from `now` in the kind's time zone when absent */
	today?: string;
	/** injectable clock (tests); default new Date() */
	now?: Date;
}

/** Validation context with every default resolved (built once per chunk, not per row). */
export interface ValidateContext {
	dateFormat: string;
	numberStyle: NumberStyle;
	today: string;
}

export type ValidationResult<R> = { ok: true; record: R } | { ok: false; errors: FieldError[] };

/** A raw row: canonical field -> the string read from the file (absent or "" when the column is missing/empty). */
export type RawRow = Record<string, string | undefined>;

export interface KindSpec<R> {
	kind: string;
	/** canonical fields in the order of the default CSV header */
	fields: FieldSpec[];
	/** fields that, with the client, identify a record (a unique index on [client, ...keyFields]) */
	keyFields: string[];
	/** time zone whose calendar date is "today" for this kind's date checks */
	timeZone: string;
	validate(raw: RawRow, ctx: ValidateContext): ValidationResult<R>;
}

/** The "required" failure of an empty or missing field. */
export function requiredError(field: string): Check<never> {
	return { ok: false, code: "required", message: `${field} is required but is empty or missing` };
}

/** Collects field errors while a row is validated. */
export class RowCheck {
	readonly errors: FieldError[] = [];
	readonly raw: RawRow;
	constructor(raw: RawRow) {
		this.raw = raw;
	}

	/** The cleaned (trimmed, NFC) value, "" when absent. */
	text(field: string): string {
		return cleanText(this.raw[field]);
	}

	/** A required field: "required" error when empty, else the validator's verdict. */
	required<T>(field: string, check: (value: string) => Check<T>): T | undefined {
		const v = this.text(field);
		return this.apply(field, v === "" ? requiredError(field) : check(v));
	}

	/** An optional field: null when empty, else the validator's verdict. */
	optional<T>(field: string, check: (value: string) => Check<T>): T | null | undefined {
		const v = this.text(field);
		if (v === "") return null;
		return this.apply(field, check(v));
	}

	apply<T>(field: string, c: Check<T>): T | undefined {
		if (c.ok) return c.value;
		this.errors.push({ field, code: c.code, message: c.message });
		return undefined;
	}

	fail(field: string, code: string, message: string): void {
		this.errors.push({ field, code, message });
	}
}

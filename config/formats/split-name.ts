/**
 * Transform "split-name": for clients whose files carry the person's name in two columns.
 * Map them in the format as extra fields, e.g.
 *   { "kind": "debt", "transform": "split-name", "columns": { "FIRST NAME": "first_name", "LAST NAME": "last_name", ... } }
 * and this joins them (single spaces, either part may be empty) into debtor_name (debts) or applicant_name (loans).
 * A row where both parts are empty is left without a name, so validation rejects it as "required".
 */
import type { TransformContext } from "../../lib/etl/transforms.ts";

/** Canonical fields this transform fills: their columns need not be in the file. */
export const provides = ["debtor_name", "applicant_name"];
/** Extra fields (named in the format's columns) the file must have. */
export const requires = ["first_name", "last_name"];

export default function transform(row: Record<string, string>, ctx: TransformContext): Record<string, string> {
	const name = [row.first_name, row.last_name].map((s) => (s ?? "").trim().replace(/\s+/g, " ")).filter((s) => s !== "").join(" ");
	row[ctx.kind === "loan" ? "applicant_name" : "debtor_name"] = name;
	return row;
}

/** Query-string helpers the list actions share. */
import { badRequest } from "./errors.ts";

/** A date parameter (ISO 8601), or undefined when absent; a 400 naming the parameter when it is not a date. */
export function dateParam(name: string, v: string | undefined): Date | undefined {
	if (v === undefined || v === "") return undefined;
	const d = new Date(v);
	if (Number.isNaN(d.getTime())) throw badRequest(`${name} must be a date (ISO 8601), got '${v}'`, [{ field: name, message: "not a date" }]);
	return d;
}

/** The store condition for `from` (inclusive) and `to` (exclusive), or undefined when neither is given. */
export function dateRange(from: string | undefined, to: string | undefined): Record<string, Date> | undefined {
	const f = dateParam("from", from);
	const t = dateParam("to", to);
	if (!f && !t) return undefined;
	return { ...(f ? { $gte: f } : {}), ...(t ? { $lt: t } : {}) };
}

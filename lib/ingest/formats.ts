/**
 * Which format reads a batch: the client's own (set through the clients API) when it is for the batch's kind,
 * else the default format of the kind. REST batches always use the canonical field names.
 */
import { defaultFormat, validateFormat, type ClientFormat } from "../etl/format.ts";
import type { Kind } from "../records/index.ts";

export function formatFor(client: { format?: unknown } | null, kind: Kind, source: "rest" | "upload" | "inbox"): ClientFormat {
	if (source === "rest" || !client?.format) return defaultFormat(kind);
	const checked = validateFormat(client.format);
	if (checked.ok && checked.format.kind === kind) return checked.format;
	return defaultFormat(kind);
}

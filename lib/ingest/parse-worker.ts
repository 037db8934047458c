/**
 * A parse thread of the etl (see parse-pool.ts): parses and validates one chunk's CSV text with the batch's
 * format and header, and sends back the staged rows (with their folded search text, so the registry does not fold
 * it) as JSON text plus the rejections and counts. Parse contexts (column plan, transform, validators) are kept per
 * format and header, so a batch's chunks reuse one.
 */
import { serveJobs } from "../threads.ts";
import { createParseContext, parseChunk, type ParseContext } from "../etl/parse-chunk.ts";
import { loadTransform } from "../etl/transforms.ts";
import type { ParseJob, ParseOutput } from "./parse-pool.ts";
import { stagedSearchText, type StagedRecord } from "./register.ts";

const contexts = new Map<string, Promise<ParseContext>>();

function context(job: ParseJob): Promise<ParseContext> {
	const key = JSON.stringify([job.format, job.header]);
	let ctx = contexts.get(key);
	if (!ctx) {
		ctx = (async () => {
			const transform = job.format.transform ? await loadTransform(job.format.transform) : undefined;
			return createParseContext(job.format, job.header.text, { delimiter: job.header.delimiter, transform });
		})();
		if (contexts.size >= 16) contexts.delete(contexts.keys().next().value as string);
		contexts.set(key, ctx);
		ctx.catch(() => contexts.delete(key));
	}
	return ctx;
}

export async function runJob(job: ParseJob): Promise<ParseOutput> {
	const result = parseChunk(job.chunk, await context(job));
	const staged: StagedRecord[] = result.valid.map((v) => ({ ...v, searchText: stagedSearchText(v) }));
	return { staged: JSON.stringify(staged), valid: result.valid.length, rejections: result.rejections, rows: result.rows, rejectedRows: result.rejectedRows, skipped: result.skipped };
}

serveJobs(runJob);

/**
 * audit: reads the audit log (lib/audit) for operators: who changed what, when, on which items, how many;
 * newest first, filtered by actor, action, client and dates, a page at a time.
 */
import type { Context, ServiceSchema } from "moleculer";
import { auditStore, toAuditView, type AuditDoc } from "../lib/audit/index.ts";
import { dateRange } from "../lib/api/query.ts";

const auditService: ServiceSchema = {
	name: "audit",
	actions: {
		/** GET /audit?actor=&action=&clientId=&from=&to=&limit=&offset= */
		list: {
			params: {
				actor: { type: "string", optional: true, max: 254 },
				action: { type: "string", optional: true, max: 64 },
				clientId: { type: "string", optional: true, max: 64 },
				from: { type: "string", optional: true, max: 40, description: "at or after (ISO 8601)" },
				to: { type: "string", optional: true, max: 40, description: "before (ISO 8601)" },
				limit: { type: "number", convert: true, optional: true, min: 1, max: 500 },
				offset: { type: "number", convert: true, optional: true, min: 0 }
			},
			async handler(ctx: Context<{ actor?: string; action?: string; clientId?: string; from?: string; to?: string; limit?: number; offset?: number }>) {
				const p = ctx.params;
				const query: Record<string, unknown> = {};
				if (p.actor) query.actor = p.actor;
				if (p.action) query.action = p.action;
				if (p.clientId) query.clientId = p.clientId;
				const at = dateRange(p.from, p.to);
				if (at) query.at = at;
				const limit = p.limit ?? 50;
				const offset = p.offset ?? 0;
				const a = await auditStore();
				const [rows, total] = await Promise.all([a.find({ query, sort: "-at", limit, offset }), a.count({ query })]);
				return { total, limit, offset, items: (rows as AuditDoc[]).map(toAuditView) };
			}
		}
	}
};

export default auditService;

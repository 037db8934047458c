/**
 * Client records: what is stored, what an API caller sees (never the webhook secret), and the checks on the
 * settings a client can have (file format, webhook, report email, schedule of charges).
 */
import { badRequest } from "./api/errors.ts";
import { validateFormat } from "./etl/format.ts";
import { checkChargesConfig, ChargesConfigError, type ChargesConfig } from "./render/charges.ts";
import { CHANNELS, type Channel, type ClientChannelSettings } from "./delivery/provider.ts";
import type { IndexSpec } from "./store/types.ts";

export interface ClientDoc extends Record<string, unknown> {
	_id: string;
	name: string;
	format?: Record<string, unknown>;
	webhook?: { url: string; secret: string };
	email?: string;
	/** the schedule of charges printed on loan letters (templates' default when absent) */
	charges?: ChargesConfig;
	/** delivery: the channel plan and per-channel settings (default plan whatsapp, rcs, sms, email) */
	delivery?: ClientChannelSettings;
	/** billing: the day of the month a statement cycle ends (runs bill the month up to it; default the 1st) */
	billing?: { statementDay: number };
	/** document intake: OCR languages, the mail addresses that route to this client, allowed senders */
	intake?: IntakeSettings;
	createdAt: Date;
	updatedAt: Date;
}

/** A client's intake settings. */
export interface IntakeSettings {
	/** Tesseract languages, Latin script first ("eng+hin", "eng+por") */
	languages?: string;
	/** recipient addresses of mail for this client (plus-addressing: a+anything@x routes as a@x) */
	addresses?: string[];
	/** when set, only mail from these addresses or @domains is taken */
	senders?: string[];
}

export interface ClientView {
	id: string;
	name: string;
	format?: Record<string, unknown>;
	webhook?: { url: string; secretSet: true };
	email?: string;
	charges?: ChargesConfig;
	delivery?: ClientChannelSettings;
	/** billing: the day of the month a statement cycle ends (runs bill the month up to it; default the 1st) */
	billing?: { statementDay: number };
	intake?: IntakeSettings;
	createdAt: Date;
	updatedAt: Date;
}

export function toClientView(doc: ClientDoc): ClientView {
	return {
		id: doc._id,
		name: doc.name,
		...(doc.format ? { format: doc.format } : {}),
		...(doc.webhook ? { webhook: { url: doc.webhook.url, secretSet: true as const } } : {}),
		...(doc.email ? { email: doc.email } : {}),
		...(doc.charges ? { charges: doc.charges } : {}),
		...(doc.delivery ? { delivery: doc.delivery } : {}),
		...(doc.billing ? { billing: doc.billing } : {}),
		...(doc.intake ? { intake: doc.intake } : {}),
		createdAt: doc.createdAt,
		updatedAt: doc.updatedAt
	};
}

/** Validates the optional settings; returns only the ones given. Throws 400 naming the bad property. */
export function checkClientSettings(input: { format?: unknown; webhook?: { url: string; secret: string }; email?: string; charges?: unknown; intake?: IntakeSettings; delivery?: unknown; billing?: { statementDay: number } }): Partial<Pick<ClientDoc, "format" | "webhook" | "email" | "charges" | "intake" | "delivery" | "billing">> {
	const out: Partial<Pick<ClientDoc, "format" | "webhook" | "email" | "charges" | "intake" | "delivery" | "billing">> = {};
	if (input.billing !== undefined) out.billing = { statementDay: input.billing.statementDay };
	if (input.intake !== undefined) out.intake = { ...input.intake, ...(input.intake.addresses ? { addresses: input.intake.addresses.map((a) => a.trim().toLowerCase()) } : {}) };
	if (input.delivery !== undefined) out.delivery = checkDeliverySettings(input.delivery);
	if (input.charges !== undefined) {
		try {
			checkChargesConfig(input.charges as ChargesConfig);
		} catch (err) {
			if (err instanceof ChargesConfigError) throw badRequest(`charges are invalid: ${err.message}`, [{ field: "charges", message: err.message }]);
			throw err;
		}
		out.charges = input.charges as ChargesConfig;
	}
	if (input.format !== undefined) {
		const checked = validateFormat(input.format);
		if (!checked.ok) {
			throw badRequest(`format is invalid: ${checked.errors.map((e) => `${e.property}: ${e.message}`).join("; ")}`, checked.errors.map((e) => ({ field: `format.${e.property}`, message: e.message })));
		}
		out.format = checked.format as unknown as Record<string, unknown>;
	}
	if (input.webhook !== undefined) {
		const u = new URL(input.webhook.url);
		if (u.protocol !== "https:" && u.protocol !== "http:") throw badRequest("webhook.url must be an http(s) URL", [{ field: "webhook.url", message: "must be http or https" }]);
		out.webhook = { url: input.webhook.url, secret: input.webhook.secret };
	}
	if (input.email !== undefined) out.email = input.email.trim();
	return out;
}

/** Indexes of the `clients` collection (ensured by the clients service at start and by scripts/init.ts). */
export const CLIENT_INDEXES: IndexSpec[] = [{ fields: ["name"], unique: true }];

/** Indexes of the `api_keys` collection. */
export const API_KEY_INDEXES: IndexSpec[] = [{ fields: ["clientId"] }];

/** A client's delivery settings: a plan of known channels, each once, and per-channel settings as objects. */
export function checkDeliverySettings(input: unknown): ClientChannelSettings {
	const bad = (field: string, message: string) => badRequest(`delivery.${field} ${message}`, [{ field: `delivery.${field}`, message }]);
	if (typeof input !== "object" || input === null || Array.isArray(input)) throw bad("", "must be an object");
	const d = input as Record<string, unknown>;
	if (d.plan !== undefined) {
		if (!Array.isArray(d.plan) || d.plan.length === 0) throw bad("plan", `must be a non-empty list of channels (${CHANNELS.join(", ")})`);
		const seen = new Set<string>();
		for (const c of d.plan) {
			if (!CHANNELS.includes(c as Channel)) throw bad("plan", `names an unknown channel '${String(c)}'; use ${CHANNELS.join(", ")}`);
			if (seen.has(c as string)) throw bad("plan", `names '${String(c)}' twice`);
			seen.add(c as string);
		}
	}
	for (const k of ["whatsapp", "rcs", "sms", "email"]) {
		if (d[k] !== undefined && (typeof d[k] !== "object" || d[k] === null || Array.isArray(d[k]))) throw bad(k, "must be an object");
	}
	return d as ClientChannelSettings;
}

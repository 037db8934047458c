/**
 * Documents: turns a request (template + language + data, or template + a registered record) into a stored PDF,
 * rendering it at most once. The renderer service is thin wiring around DocumentMaker; this module runs without
 * a broker (its ports are passed in).
 *
 * Render once: a document is identified by (client, scope, content hash), where scope is the case ID or "adhoc"
 * and the hash covers the template id and version, the language, the data and the client's charges
 * configuration. Its PDF lives at `documents/<clientId>/<scope>/<hash>.pdf`; its metadata in the `documents`
 * collection with a deterministic _id and a unique index on (clientId, scope, hash). A request whose document
 * exists is answered from the store without rendering (reused). Identical requests in flight in this process
 * share one render; across processes both may render, the first insert wins and the other returns the stored
 * document (DuplicateKeyError).
 *
 * Errors are HTTP-shaped (lib/api/errors.ts): 4xx for what the caller can fix (unknown template or language,
 * missing or invalid fields, record of another kind: permanent for a queue message); 504 RENDER_TIMEOUT and 503
 * RENDER_FAILED (retryable) when the engine fails.
 */
import crypto from "node:crypto";
import { Errors } from "moleculer";
import { badRequest, httpError, notFound } from "../api/errors.ts";
import type { HttpError } from "../api/errors.ts";
import { isDuplicateKeyError } from "../store/errors.ts";
import type { StoreAdapter } from "../store/types.ts";
import type { ObjectStore } from "../objects/types.ts";
import { checkChargesConfig, ChargesConfigError } from "./charges.ts";
import type { ChargesConfig } from "./charges.ts";
import { InvalidDataError, TemplateError, UnknownLanguageError, UnknownTemplateError } from "./templates.ts";
import type { Manifest, TemplateRegistry } from "./templates.ts";
import { pickEngine, RenderError, RenderTimeoutError } from "./engine.ts";
import type { Engine, EngineName } from "./engine.ts";

/** The scope of documents made outside any case (POST /documents). */
export const ADHOC = "adhoc";

/** Case IDs end up in object keys and log lines: letters, digits and . _ : - only. */
const CASE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** What is asked for: exactly one of data / recordId. */
export interface DocumentRequest {
	clientId: string;
	/** the case this document belongs to; absent: an ad-hoc document */
	caseId?: string;
	template: string;
	/** default: the data's / record's `language`, else the template's first language */
	language?: string;
	data?: Record<string, unknown>;
	recordId?: string;
}

/** A registered record, as `registry.getRecord` returns it. */
export interface RegistryRecord {
	id: string;
	kind: string;
	key?: unknown;
	data: Record<string, unknown>;
}

/** The client settings the renderer reads (`clients.settings`). */
export interface ClientRenderSettings {
	/** the client's schedule of charges (DEFAULT_CHARGES when absent) */
	charges?: ChargesConfig | null;
}

/** A stored document (collection `documents`). No personal data beyond the PDF itself. */
export interface DocumentDoc extends Record<string, unknown> {
	_id: string;
	clientId: string;
	/** caseId, or "adhoc" */
	scope: string;
	caseId: string | null;
	recordId: string | null;
	hash: string;
	template: string;
	version: string;
	language: string;
	engine: EngineName;
	pages: number;
	bytes: number;
	/** object key of the PDF */
	key: string;
	createdAt: Date;
}

export interface DocumentPorts {
	/** the `documents` collection */
	store: StoreAdapter;
	objects: ObjectStore;
	templates: TemplateRegistry;
	/** the engine for a name (created lazily by the caller) */
	engine(name: EngineName): Promise<Engine>;
	/** the engine for templates whose manifest chooses none */
	configuredEngine?: EngineName;
	/** per-document render timeout */
	timeoutMs: number;
}

/** What the maker asks other services (per call, so calls carry the caller's context). */
export interface Lookups {
	clientSettings(clientId: string): Promise<ClientRenderSettings | null>;
	getRecord(clientId: string, recordId: string): Promise<RegistryRecord>;
}

export interface Produced {
	doc: DocumentDoc;
	/** true when the returned document was not rendered by this call */
	reused: boolean;
	/** true when this call ran the engine (even if another request's document won the insert) */
	rendered: boolean;
	engine: EngineName;
	/** wall time of this call */
	ms: number;
	/** time the engine took (0 when nothing was rendered) */
	renderMs: number;
}

/** The unique index of the documents collection. */
export const DOCUMENT_INDEXES = [
	{ fields: ["clientId", "scope", "hash"], unique: true, name: "documents_client_scope_hash" },
	{ fields: ["clientId", "caseId"], name: "documents_client_case" },
	{ fields: ["recordId", "-createdAt"], name: "documents_record" }
];

/** `documents/<clientId>/<caseId|adhoc>/<hash>.pdf` */
export function documentKey(clientId: string, scope: string, hash: string): string {
	return `documents/${clientId}/${scope}/${hash}.pdf`;
}

/** A stable document ID for (client, scope, hash): the same document always has the same ID. */
export function documentId(clientId: string, scope: string, hash: string): string {
	return `doc_${crypto.createHash("sha256").update(`${clientId}\u0000${scope}\u0000${hash}`).digest("hex").slice(0, 32)}`;
}

/** A file name for Content-Disposition (template id and document ID only: no personal data, ASCII). */
export function documentFileName(doc: Pick<DocumentDoc, "_id" | "template" | "language">): string {
	return `${doc.template}-${doc.language}-${doc._id}.pdf`.replace(/[^A-Za-z0-9._-]/g, "_");
}

/**
 * A registered record as the templates read it: its canonical fields, unchanged (a record, a case and a document
 * speak the same words; the welcome letter reads loan_id, address_line1..postal_code, annual_interest_rate,
 * disbursement_date... as ingestion registers them).
 */
export function recordView(_kind: string, data: Record<string, unknown>): Record<string, unknown> {
	return { ...data };
}

/** Template errors as HTTP 400s carrying what is wrong (the template, language or fields). */
export function templateHttpError(err: TemplateError): HttpError {
	if (err instanceof UnknownLanguageError) return httpError(400, err.code, err.message, { template: err.templateId, language: err.language, available: err.available });
	if (err instanceof InvalidDataError) return httpError(400, err.code, err.message, { template: err.templateId, missing: err.missing, invalid: err.invalid });
	if (err instanceof UnknownTemplateError) return httpError(400, err.code, err.message, { template: err.templateId });
	return httpError(err.status, err.code, err.message, { template: err.templateId });
}

/** Engine failures: a timeout names itself (504), anything else is a retryable 503. */
export function renderHttpError(err: RenderError): InstanceType<typeof Errors.MoleculerRetryableError> {
	if (err instanceof RenderTimeoutError) {
		return new Errors.MoleculerRetryableError(`rendering timed out: the document did not render within ${err.timeoutMs} ms (${err.engine}); its tab was replaced, retry later`, 504, "RENDER_TIMEOUT", {
			engine: err.engine,
			timeoutMs: err.timeoutMs
		});
	}
	return new Errors.MoleculerRetryableError(`rendering failed (${err.engine}): ${err.message}`, 503, "RENDER_FAILED", { engine: err.engine });
}

/** True for failures a retry cannot fix (the request itself is wrong): 4xx errors and template errors. */
export function isPermanentError(err: unknown): boolean {
	if (err instanceof TemplateError) return true;
	const code = (err as { code?: unknown } | null)?.code;
	return typeof code === "number" && code >= 400 && code < 500;
}

/** Makes and finds documents; one instance per renderer service. */
export class DocumentMaker {
	readonly #ports: DocumentPorts;
	/** identical requests in flight in this process share one result */
	readonly #inFlight = new Map<string, Promise<Produced>>();

	constructor(ports: DocumentPorts) {
		this.#ports = ports;
	}

	/**
	 * The document a client may read, or a 404 (another client's document is answered as absent); `clientId`
	 * undefined: any client's (operators).
	 */
	async find(clientId: string | undefined, id: string): Promise<DocumentDoc> {
		const doc = (await this.#ports.store.findById(id)) as DocumentDoc | null;
		if (!doc || (clientId !== undefined && doc.clientId !== clientId)) throw notFound("document", id);
		return doc;
	}

	/** The stored document for the request, rendering it only when none is stored yet. Throws HTTP-shaped errors. */
	async produce(req: DocumentRequest, lookups: Lookups): Promise<Produced> {
		const started = performance.now();
		try {
			const plan = await this.#plan(req, lookups);
			const shared = this.#inFlight.get(plan.id);
			if (shared) {
				const r = await shared;
				return { ...r, reused: true, rendered: false, ms: performance.now() - started, renderMs: 0 };
			}
			const work = this.#make(plan, started);
			this.#inFlight.set(plan.id, work);
			try {
				return await work;
			} finally {
				this.#inFlight.delete(plan.id);
			}
		} catch (err) {
			if (err instanceof TemplateError) throw templateHttpError(err);
			if (err instanceof RenderError) throw renderHttpError(err);
			throw err;
		}
	}

	/** Everything checked and derived before any rendering: template, language, data, charges, hash, key. */
	async #plan(req: DocumentRequest, lookups: Lookups): Promise<Plan> {
		const { templates } = this.#ports;
		if (typeof req.clientId !== "string" || !req.clientId) throw badRequest("clientId is required");
		if (req.caseId !== undefined && (typeof req.caseId !== "string" || !CASE_ID.test(req.caseId))) {
			throw badRequest("caseId must be 1-128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit", [{ field: "caseId", message: "invalid case ID" }]);
		}
		const hasData = req.data !== undefined && req.data !== null;
		const hasRecord = req.recordId !== undefined && req.recordId !== null && req.recordId !== "";
		if (hasData === hasRecord) throw badRequest("send either data (the document's fields) or recordId (a registered record), not both or neither", [{ field: hasData ? "recordId" : "data", message: "exactly one of data or recordId" }]);
		if (hasData && (typeof req.data !== "object" || Array.isArray(req.data))) throw badRequest("data must be an object", [{ field: "data", message: "must be an object" }]);
		const manifest = templates.manifest(req.template);
		let data: Record<string, unknown>;
		let recordId: string | null = null;
		if (hasRecord) {
			const record = await lookups.getRecord(req.clientId, String(req.recordId));
			if (record.kind !== manifest.kind) {
				throw httpError(400, "WRONG_RECORD_KIND", `template '${manifest.id}' prints ${manifest.kind} records; record '${record.id}' is a ${record.kind} record`, {
					template: manifest.id,
					expected: manifest.kind,
					kind: record.kind
				});
			}
			data = recordView(record.kind, record.data ?? {});
			recordId = record.id;
		} else data = req.data as Record<string, unknown>;
		const language = languageOf(req.language, data, manifest);
		const result = templates.validate(manifest.id, language, data);
		if (!result.ok) throw new InvalidDataError(manifest.id, result);
		const charges = await chargesOf(lookups, req.clientId);
		const hash = templates.contentHash(manifest.id, language, data, { charges: charges ?? null });
		const scope = req.caseId ?? ADHOC;
		return {
			manifest,
			language,
			data,
			charges,
			hash,
			scope,
			caseId: req.caseId ?? null,
			recordId,
			clientId: req.clientId,
			id: documentId(req.clientId, scope, hash),
			key: documentKey(req.clientId, scope, hash)
		};
	}

	async #make(plan: Plan, started: number): Promise<Produced> {
		const { store, objects, templates } = this.#ports;
		const engineName = pickEngine(plan.manifest.engine, this.#ports.configuredEngine);
		const existing = (await store.findById(plan.id)) as DocumentDoc | null;
		if (existing && (await objects.stat(existing.key))) {
			return { doc: existing, reused: true, rendered: false, engine: existing.engine, ms: performance.now() - started, renderMs: 0 };
		}
		const html = templates.toHtml(plan.manifest.id, plan.language, plan.data, { charges: plan.charges });
		const engine = await this.#ports.engine(engineName);
		const renderStarted = performance.now();
		const { pdf, pages } = await engine.render(html, { timeoutMs: this.#ports.timeoutMs });
		const renderMs = performance.now() - renderStarted;
		const put = await objects.put(plan.key, pdf, {
			contentType: "application/pdf",
			metadata: { template: plan.manifest.id, version: plan.manifest.version, language: plan.language, hash: plan.hash }
		});
		const fields = { pages, bytes: put.size, engine: engineName };
		if (existing) {
			// the metadata survived but the object was gone: stored again under the same key
			const doc = (await store.updateById(existing._id, { $set: fields })) as DocumentDoc;
			return { doc, reused: false, rendered: true, engine: engineName, ms: performance.now() - started, renderMs };
		}
		const doc: DocumentDoc = {
			_id: plan.id,
			clientId: plan.clientId,
			scope: plan.scope,
			caseId: plan.caseId,
			recordId: plan.recordId,
			hash: plan.hash,
			template: plan.manifest.id,
			version: plan.manifest.version,
			language: plan.language,
			key: plan.key,
			createdAt: new Date(),
			...fields
		};
		try {
			const stored = (await store.insert(doc)) as DocumentDoc;
			return { doc: stored, reused: false, rendered: true, engine: engineName, ms: performance.now() - started, renderMs };
		} catch (err) {
			if (!isDuplicateKeyError(err)) throw err;
			// another process stored the same document first: return its copy
			const winner = (await store.findById(plan.id)) ?? (await store.findOne({ clientId: plan.clientId, scope: plan.scope, hash: plan.hash }));
			if (!winner) throw err;
			return { doc: winner as DocumentDoc, reused: true, rendered: true, engine: engineName, ms: performance.now() - started, renderMs };
		}
	}
}

interface Plan {
	manifest: Manifest;
	language: string;
	data: Record<string, unknown>;
	charges?: ChargesConfig;
	hash: string;
	scope: string;
	caseId: string | null;
	recordId: string | null;
	clientId: string;
	id: string;
	key: string;
}

/** The client's charges configuration (settings.charges), checked; undefined when it has none (defaults apply). */
async function chargesOf(lookups: Lookups, clientId: string): Promise<ChargesConfig | undefined> {
	const settings = await lookups.clientSettings(clientId);
	const charges = settings?.charges ?? undefined;
	if (charges === undefined) return undefined;
	try {
		checkChargesConfig(charges);
	} catch (err) {
		if (err instanceof ChargesConfigError) throw httpError(422, "INVALID_CHARGES_CONFIG", `the client's charges configuration cannot be printed: ${err.message}`);
		throw err;
	}
	return charges;
}

/** The explicit language, else the data's `language`, else the template's first language. */
function languageOf(explicit: string | undefined, data: Record<string, unknown>, manifest: Manifest): string {
	if (typeof explicit === "string" && explicit.trim()) return explicit.trim();
	if (typeof data.language === "string" && data.language.trim()) return data.language.trim();
	return manifest.languages[0] as string;
}

/**
 * clients: the lenders and bureaus that send us records. Admins create and change them; each client has API keys
 * (stored hashed, shown once) and optional settings used by the pipeline: a file format, a webhook and an email for
 * batch reports. The gateway resolves X-API-Key through `resolveKey`.
 */
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { dbMixin } from "../mixins/db.mixin.ts";
import { getPlatform } from "../lib/platform.ts";
import { issueApiKey, apiKeyMatches, parseApiKey, type Caller } from "../lib/api/auth.ts";
import { badRequest, conflict, notFound } from "../lib/api/errors.ts";
import { API_KEY_INDEXES, CLIENT_INDEXES, checkClientSettings, toClientView, type ClientDoc, type IntakeSettings } from "../lib/clients.ts";
import type { StoreAdapter } from "../lib/store/types.ts";
import { audit } from "../lib/audit/index.ts";

interface KeyDoc extends Record<string, unknown> {
	_id: string;
	clientId: string;
	hash: string;
	createdAt: Date;
	revokedAt?: Date;
}

interface Methods {
	keys(): StoreAdapter;
	findClient(id: string): Promise<ClientDoc>;
	newKey(clientId: string, fixed?: string): Promise<{ apiKey: string; keyId: string }>;
}
interface Vars {
	adapter: StoreAdapter;
	_keys?: StoreAdapter;
}
type Self = Service<ServiceSettingSchema> & Vars & Methods;

const settingsParams = {
	format: { type: "object", optional: true },
	webhook: { type: "object", optional: true, props: { url: { type: "url" }, secret: { type: "string", min: 16 } } },
	email: { type: "email", optional: true },
	charges: { type: "object", optional: true },
	delivery: { type: "object", optional: true },
	billing: { type: "object", optional: true, strict: true, props: { statementDay: { type: "number", integer: true, min: 1, max: 31 } } },
	intake: { type: "object", optional: true, strict: "remove", props: { languages: { type: "string", optional: true, pattern: /^[a-z_]{3,8}(\+[a-z_]{3,8}){0,5}$/ }, addresses: { type: "array", optional: true, max: 50, items: { type: "email" } }, senders: { type: "array", optional: true, max: 500, items: { type: "string", min: 3, max: 254 } } } }
};

const clientsService: ServiceSchema<ServiceSettingSchema, Methods, Vars> = {
	name: "clients",
	mixins: [dbMixin("clients", { indexes: CLIENT_INDEXES })],
	actions: {
		create: {
			params: { name: { type: "string", min: 1, max: 200, trim: true }, ...settingsParams },
			async handler(this: Self, ctx: Context<{ name: string; format?: unknown; webhook?: { url: string; secret: string }; email?: string; charges?: unknown; intake?: IntakeSettings; delivery?: unknown; billing?: { statementDay: number } }>) {
				const settings = checkClientSettings(ctx.params);
				if (await this.adapter.findOne({ name: ctx.params.name })) throw conflict(`a client named '${ctx.params.name}' already exists`);
				const now = new Date();
				const doc = (await this.adapter.insert({ name: ctx.params.name, ...settings, createdAt: now, updatedAt: now })) as ClientDoc;
				const key = await this.newKey(doc._id);
				await audit(ctx, { action: "client.create", target: `client:${doc._id}`, items: [doc._id], clientId: doc._id, details: { keyId: key.keyId } });
				return { ...toClientView(doc), apiKey: key.apiKey, keyId: key.keyId };
			}
		},
		list: {
			params: { limit: { type: "number", convert: true, optional: true, min: 1, max: 500 }, offset: { type: "number", convert: true, optional: true, min: 0 } },
			async handler(this: Self, ctx: Context<{ limit?: number; offset?: number }>) {
				const limit = ctx.params.limit ?? 100;
				const offset = ctx.params.offset ?? 0;
				const [rows, total] = await Promise.all([this.adapter.find({ sort: "name", limit, offset }), this.adapter.count({})]);
				return { total, limit, offset, items: rows.map((r) => toClientView(r as ClientDoc)) };
			}
		},
		get: {
			params: { id: { type: "string" } },
			async handler(this: Self, ctx: Context<{ id: string }>) {
				return toClientView(await this.findClient(ctx.params.id));
			}
		},
		update: {
			params: { id: { type: "string" }, name: { type: "string", min: 1, max: 200, trim: true, optional: true }, ...settingsParams },
			async handler(this: Self, ctx: Context<{ id: string; name?: string; format?: unknown; webhook?: { url: string; secret: string }; email?: string; charges?: unknown; intake?: IntakeSettings; delivery?: unknown; billing?: { statementDay: number } }>) {
				await this.findClient(ctx.params.id);
				const settings = checkClientSettings(ctx.params);
				const set: Record<string, unknown> = { ...settings, updatedAt: new Date() };
				if (ctx.params.name !== undefined) {
					const other = await this.adapter.findOne({ name: ctx.params.name });
					if (other && other._id !== ctx.params.id) throw conflict(`a client named '${ctx.params.name}' already exists`);
					set.name = ctx.params.name;
				}
				if (Object.keys(set).length === 1) throw badRequest("nothing to change: send name, format, webhook, email, charges, intake, delivery or billing");
				const doc = await this.adapter.updateById(ctx.params.id, { $set: set });
				await audit(ctx, { action: "client.update", target: `client:${ctx.params.id}`, items: [ctx.params.id], clientId: ctx.params.id, details: { changed: Object.keys(set).filter((k) => k !== "updatedAt") } });
				return toClientView(doc as ClientDoc);
			}
		},
		createKey: {
			params: { id: { type: "string" } },
			async handler(this: Self, ctx: Context<{ id: string }>) {
				await this.findClient(ctx.params.id);
				const key = await this.newKey(ctx.params.id);
				await audit(ctx, { action: "key.issue", target: `client:${ctx.params.id}`, items: [key.keyId], clientId: ctx.params.id });
				return key;
			}
		},
		revokeKey: {
			params: { id: { type: "string" }, keyId: { type: "string" } },
			async handler(this: Self, ctx: Context<{ id: string; keyId: string }>) {
				const key = (await this.keys().findById(ctx.params.keyId)) as KeyDoc | null;
				if (!key || key.clientId !== ctx.params.id) throw notFound("API key", ctx.params.keyId);
				if (!key.revokedAt) {
					await this.keys().updateById(key._id, { $set: { revokedAt: new Date() } });
					await audit(ctx, { action: "key.revoke", target: `client:${ctx.params.id}`, items: [key._id], clientId: ctx.params.id });
				}
				return { id: key._id, revoked: true };
			}
		},
		/** Internal (not routed): X-API-Key -> caller, or null when unknown/revoked. */
		resolveKey: {
			visibility: "public",
			params: { apiKey: { type: "string" } },
			async handler(this: Self, ctx: Context<{ apiKey: string }>): Promise<Caller | null> {
				const parsed = parseApiKey(ctx.params.apiKey);
				if (!parsed) return null;
				const key = (await this.keys().findById(parsed.keyId)) as KeyDoc | null;
				if (!key || key.revokedAt || !apiKeyMatches(ctx.params.apiKey, key.hash)) return null;
				return { kind: "client", clientId: key.clientId, keyId: key._id };
			}
		},
		/** Internal: the client's full settings (format, webhook with secret, email) for the pipeline. */
		settings: {
			visibility: "public",
			params: { id: { type: "string" } },
			async handler(this: Self, ctx: Context<{ id: string }>) {
				return this.findClient(ctx.params.id);
			}
		},
		/** Internal, called at start-up: creates the "demo" client when the store has no client yet. */
		ensureDemo: {
			visibility: "public",
			async handler(this: Self): Promise<{ created: boolean; clientId?: string; apiKey?: string }> {
				// the key is made (and a DEMO_API_KEY checked) before anything is stored: a bad key creates nothing
				const issued = issueApiKey(getPlatform().config.auth.demoApiKey);
				const storeKey = (clientId: string) => this.keys().insert({ _id: issued.keyId, clientId, hash: issued.hash, createdAt: new Date() });
				if ((await this.adapter.count({})) > 0) {
					// a demo client an earlier start left without a key (it stopped half-way): give it its key now
					const demo = (await this.adapter.findOne({ name: "demo" })) as ClientDoc | null;
					if (!demo || (await this.keys().count({ query: { clientId: demo._id } })) > 0) return { created: false };
					try {
						await storeKey(demo._id);
					} catch {
						return { created: false }; // another node completed it at the same moment
					}
					return { created: true, clientId: demo._id, apiKey: issued.apiKey };
				}
				const now = new Date();
				let doc: ClientDoc;
				try {
					doc = (await this.adapter.insert({ name: "demo", createdAt: now, updatedAt: now })) as ClientDoc;
				} catch {
					return { created: false }; // another node created it at the same moment (unique name)
				}
				try {
					await storeKey(doc._id);
				} catch (err) {
					await this.adapter.removeById(doc._id); // all or nothing: no client without its key
					throw err;
				}
				return { created: true, clientId: doc._id, apiKey: issued.apiKey };
			}
		},

		/** GET /clients/:id/keys: the client's keys (IDs and dates; a key itself is never shown again). */
		listKeys: {
			params: { id: { type: "string" } },
			async handler(this: Self, ctx: Context<{ id: string }>) {
				await this.findClient(ctx.params.id);
				const rows = (await this.keys().find({ query: { clientId: ctx.params.id }, sort: "-createdAt" })) as KeyDoc[];
				return { items: rows.map((k) => ({ id: k._id, createdAt: k.createdAt, revokedAt: k.revokedAt ?? null })) };
			}
		}
	},

	methods: {
		keys(this: Self): StoreAdapter {
			this._keys ??= getPlatform().store.adapter("api_keys");
			return this._keys;
		},
		async findClient(this: Self, id: string): Promise<ClientDoc> {
			const doc = (await this.adapter.findById(id)) as ClientDoc | null;
			if (!doc) throw notFound("client", id);
			return doc;
		},
		async newKey(this: Self, clientId: string, fixed?: string) {
			const issued = issueApiKey(fixed);
			await this.keys().insert({ _id: issued.keyId, clientId, hash: issued.hash, createdAt: new Date() });
			return { apiKey: issued.apiKey, keyId: issued.keyId };
		}
	},

	async started(this: Self) {
		const keys = this.keys();
		await keys.connect();
		await keys.ensureIndexes(API_KEY_INDEXES);
	}
};

export default clientsService;

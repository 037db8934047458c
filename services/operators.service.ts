/**
 * operators: the people who run Paperwork, and their sign-in. `login` checks an email and password (scrypt) and
 * answers a short-lived access token (the HS256 JWT the gateway already checks, claims {sub: email, role}) and a
 * refresh token (stored hashed, replaced at each use); failed logins are throttled per account and per address
 * (429 with Retry-After). Admins list, create, change and disable operators; every change goes to the audit log.
 * Machine tokens from `npm run token` are not accounts and keep working.
 */
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { dbMixin } from "../mixins/db.mixin.ts";
import { getPlatform } from "../lib/platform.ts";
import { signOperatorToken, type Caller, type Role } from "../lib/api/auth.ts";
import { badRequest, conflict, httpError, notFound, unauthorized } from "../lib/api/errors.ts";
import { loadJwtSecret } from "../lib/secrets.ts";
import {
	AccountError,
	checkCredentials,
	createOperator,
	hashPassword,
	issueRefresh,
	MIN_PASSWORD,
	normaliseEmail,
	OPERATOR_INDEXES,
	REFRESH_INDEXES,
	revokeAllRefresh,
	revokeRefresh,
	toOperatorView,
	useRefresh,
	type OperatorDoc
} from "../lib/operators/accounts.ts";
import { LoginThrottle } from "../lib/operators/throttle.ts";
import { audit } from "../lib/audit/index.ts";
import type { StoreAdapter } from "../lib/store/types.ts";

/** failures allowed per account, and per address, in THROTTLE_WINDOW_MS */
export const ACCOUNT_FAILURES = 5;
export const ADDRESS_FAILURES = 20;
const THROTTLE_WINDOW_MS = 15 * 60_000;

interface Vars {
	adapter: StoreAdapter;
	_refresh?: StoreAdapter;
	byAccount: LoginThrottle;
	byAddress: LoginThrottle;
}
interface Methods {
	refreshStore(): StoreAdapter;
	session(doc: OperatorDoc): Promise<Session>;
	findOperator(id: string): Promise<OperatorDoc>;
}
type Self = Service<ServiceSettingSchema> & Vars & Methods;

interface Session {
	accessToken: string;
	tokenType: "Bearer";
	expiresIn: number;
	refreshToken: string;
	refreshExpiresAt: Date;
	operator: ReturnType<typeof toOperatorView>;
}

function tooMany(seconds: number) {
	return httpError(429, "TOO_MANY_REQUESTS", `too many failed sign-ins; try again in ${seconds} s`, { retryAfter: seconds });
}

function addressOf(ctx: Context): string {
	return ((ctx.meta as { $request?: { ip?: string } }).$request?.ip ?? "unknown").replace(/^::ffff:/, "");
}

const operatorsService: ServiceSchema<ServiceSettingSchema, Methods, Vars> = {
	name: "operators",
	mixins: [dbMixin("operators", { indexes: OPERATOR_INDEXES })],

	actions: {
		/** POST /auth/login {email, password} */
		login: {
			params: { email: { type: "string", min: 3, max: 254 }, password: { type: "string", min: 1, max: 1024 } },
			async handler(this: Self, ctx: Context<{ email: string; password: string }>): Promise<Session> {
				const email = normaliseEmail(ctx.params.email);
				const address = addressOf(ctx);
				const wait = Math.max(this.byAccount.retryAfter(email), this.byAddress.retryAfter(address));
				if (wait > 0) throw tooMany(wait);
				const doc = await checkCredentials(this.adapter, email, ctx.params.password);
				if (!doc) {
					this.byAccount.fail(email);
					this.byAddress.fail(address);
					this.logger.warn({ address }, "operator sign-in refused");
					throw unauthorized("email or password is wrong, or the account is disabled");
				}
				this.byAccount.clear(email);
				await this.adapter.updateById(doc._id, { $set: { lastLoginAt: new Date() } });
				this.logger.info({ operatorId: doc._id }, "operator signed in");
				return this.session(doc);
			}
		},

		/** POST /auth/refresh {refreshToken}: a new access token and a new refresh token (the old one is used up). */
		refresh: {
			params: { refreshToken: { type: "string", min: 1, max: 200 } },
			async handler(this: Self, ctx: Context<{ refreshToken: string }>): Promise<Session> {
				const operatorId = await useRefresh(this.refreshStore(), ctx.params.refreshToken);
				if (!operatorId) throw unauthorized("refresh token is unknown, expired or already used; sign in again");
				const doc = (await this.adapter.findById(operatorId)) as OperatorDoc | null;
				if (!doc || doc.disabledAt) throw unauthorized("the account is disabled; sign in again");
				return this.session(doc);
			}
		},

		/** POST /auth/logout {refreshToken}: the refresh token stops working (the access token expires on its own). */
		logout: {
			params: { refreshToken: { type: "string", min: 1, max: 200 } },
			async handler(this: Self, ctx: Context<{ refreshToken: string }>) {
				return { loggedOut: await revokeRefresh(this.refreshStore(), ctx.params.refreshToken) };
			}
		},

		/** GET /auth/me: who the bearer token says the caller is. */
		me: {
			async handler(this: Self, ctx: Context) {
				const caller = (ctx.meta as { auth?: Caller }).auth;
				if (caller?.kind !== "operator") throw unauthorized("an operator token is needed");
				const doc = (await this.adapter.findOne({ email: normaliseEmail(caller.sub) })) as OperatorDoc | null;
				return { sub: caller.sub, role: caller.role, ...(doc ? { operator: toOperatorView(doc) } : {}) };
			}
		},

		/** GET /operators (admin) */
		list: {
			params: { limit: { type: "number", convert: true, optional: true, min: 1, max: 500 }, offset: { type: "number", convert: true, optional: true, min: 0 } },
			async handler(this: Self, ctx: Context<{ limit?: number; offset?: number }>) {
				const limit = ctx.params.limit ?? 100;
				const offset = ctx.params.offset ?? 0;
				const [rows, total] = await Promise.all([this.adapter.find({ sort: "email", limit, offset }), this.adapter.count({})]);
				return { total, limit, offset, items: (rows as OperatorDoc[]).map(toOperatorView) };
			}
		},

		/** POST /operators (admin) {email, name?, role, password} */
		create: {
			params: {
				email: { type: "string", min: 3, max: 254 },
				name: { type: "string", optional: true, max: 200 },
				role: { type: "enum", values: ["operator", "admin"] },
				password: { type: "string", min: MIN_PASSWORD, max: 1024 }
			},
			async handler(this: Self, ctx: Context<{ email: string; name?: string; role: Role; password: string }>) {
				let doc: OperatorDoc;
				try {
					doc = await createOperator(this.adapter, ctx.params);
				} catch (err) {
					if (err instanceof AccountError) throw err.reason === "exists" ? conflict(err.message) : badRequest(err.message);
					throw err;
				}
				await audit(ctx, { action: "operator.create", target: `operator:${doc._id}`, items: [doc._id], details: { role: doc.role } });
				return toOperatorView(doc);
			}
		},

		/** PATCH /operators/:id (admin) {name?, role?, disabled?, password?} */
		update: {
			params: {
				id: { type: "string" },
				name: { type: "string", optional: true, min: 1, max: 200 },
				role: { type: "enum", values: ["operator", "admin"], optional: true },
				disabled: { type: "boolean", optional: true },
				password: { type: "string", optional: true, min: MIN_PASSWORD, max: 1024 }
			},
			async handler(this: Self, ctx: Context<{ id: string; name?: string; role?: Role; disabled?: boolean; password?: string }>) {
				const doc = await this.findOperator(ctx.params.id);
				const p = ctx.params;
				const set: Record<string, unknown> = {};
				if (p.name !== undefined) set.name = p.name.trim();
				if (p.role !== undefined) set.role = p.role;
				if (p.disabled !== undefined) set.disabledAt = p.disabled ? (doc.disabledAt ?? new Date()) : null;
				if (p.password !== undefined) set.passwordHash = await hashPassword(p.password);
				if (Object.keys(set).length === 0) throw badRequest("nothing to change: send name, role, disabled or password");
				const caller = (ctx.meta as { auth?: Caller }).auth;
				if (caller?.kind === "operator" && normaliseEmail(caller.sub) === doc.email && (p.disabled === true || p.role === "operator")) {
					throw badRequest("an admin cannot disable or demote their own account");
				}
				set.updatedAt = new Date();
				const updated = (await this.adapter.updateById(doc._id, { $set: set })) as OperatorDoc;
				// a disabled account or a new password ends every session at its next refresh
				if (p.disabled === true || p.password !== undefined) await revokeAllRefresh(this.refreshStore(), doc._id);
				const changed = Object.keys(set).filter((k) => k !== "updatedAt" && k !== "passwordHash");
				if (p.password !== undefined) changed.push("password");
				await audit(ctx, { action: "operator.update", target: `operator:${doc._id}`, items: [doc._id], details: { changed, ...(p.role ? { role: p.role } : {}), ...(p.disabled !== undefined ? { disabled: p.disabled } : {}) } });
				return toOperatorView(updated);
			}
		}
	},

	methods: {
		refreshStore(this: Self): StoreAdapter {
			this._refresh ??= getPlatform().store.adapter("operator_refresh");
			return this._refresh;
		},
		async findOperator(this: Self, id: string): Promise<OperatorDoc> {
			const doc = (await this.adapter.findById(id)) as OperatorDoc | null;
			if (!doc) throw notFound("operator", id);
			return doc;
		},
		async session(this: Self, doc: OperatorDoc): Promise<Session> {
			const { config } = getPlatform();
			const ttl = config.auth.operatorTokenTtlS;
			const refresh = await issueRefresh(this.refreshStore(), doc._id, config.auth.operatorRefreshTtlS * 1000);
			return {
				accessToken: signOperatorToken(loadJwtSecret(config), doc.email, doc.role, `${ttl}s`),
				tokenType: "Bearer",
				expiresIn: ttl,
				refreshToken: refresh.token,
				refreshExpiresAt: refresh.expiresAt,
				operator: toOperatorView(doc)
			};
		}
	},

	created(this: Self) {
		this.byAccount = new LoginThrottle({ limit: ACCOUNT_FAILURES, windowMs: THROTTLE_WINDOW_MS });
		this.byAddress = new LoginThrottle({ limit: ADDRESS_FAILURES, windowMs: THROTTLE_WINDOW_MS });
	},

	async started(this: Self) {
		const r = this.refreshStore();
		await r.connect();
		await r.ensureIndexes(REFRESH_INDEXES);
	}
};

export default operatorsService;

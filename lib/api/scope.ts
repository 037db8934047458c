/**
 * Whose data a call reads or writes. A client always gets its own (a `clientId` it sends is ignored); an operator
 * reads every client's data, or one client's when it sends `clientId`; a write an operator makes on a client's
 * behalf must name the client. Service-to-service calls (no caller) pass `clientId`.
 */
import type { Context } from "moleculer";
import type { Caller } from "./auth.ts";
import { badRequest, unauthorized } from "./errors.ts";

export function callerOf(ctx: Context): Caller | undefined {
	return (ctx.meta as { auth?: Caller }).auth;
}

/** The client whose data a read is limited to, or undefined for "every client" (operators only). */
export function readScope(ctx: Context, clientId: string | undefined): string | undefined {
	const auth = callerOf(ctx);
	if (auth?.kind === "client") return auth.clientId;
	if (auth?.kind === "operator") return clientId || undefined;
	if (!auth && clientId) return clientId;
	throw unauthorized("credentials required: send X-API-Key (clients) or Authorization: Bearer <token> (operators)");
}

/** The client a write is made for: the caller's own, or the `clientId` an operator (or a service) names. */
export function writeScope(ctx: Context, clientId: string | undefined): string {
	const auth = callerOf(ctx);
	if (auth?.kind === "client") return auth.clientId;
	if (clientId) return clientId;
	if (auth?.kind === "operator") throw badRequest("clientId is required: an operator acts on a client's behalf", [{ field: "clientId", message: "required for operators" }]);
	throw unauthorized("a client is needed: call with a client API key");
}

/** True when `doc` belongs to the scope (undefined scope: any client). */
export function inScope(scope: string | undefined, docClientId: string): boolean {
	return scope === undefined || scope === docClientId;
}

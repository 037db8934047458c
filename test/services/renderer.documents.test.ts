/**
 * The renderer's plain logic without a broker: storage keys and IDs, the loan record view the templates read,
 * error mapping (typed template errors -> 400 with details, engine errors -> 504/503), permanent vs retryable
 * failures, request checks, and the process-wide engine pool (one engine per name, closed by its last user).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
	ADHOC,
	DocumentMaker,
	documentFileName,
	documentId,
	documentKey,
	isPermanentError,
	recordView,
	renderHttpError,
	templateHttpError
} from "../../lib/render/documents.ts";
import { InvalidDataError, UnknownLanguageError, UnknownTemplateError, templates } from "../../lib/render/templates.ts";
import { RenderError, RenderTimeoutError } from "../../lib/render/engine.ts";
import type { Engine } from "../../lib/render/engine.ts";
import { acquireEngine, engineOptions, liveEngines, releaseEngines, setEngineFactory } from "../../lib/render/engines.ts";
import { loadConfig } from "../../config/index.ts";
import { httpError } from "../../lib/api/errors.ts";
import type { StoreAdapter } from "../../lib/store/types.ts";
import type { ObjectStore } from "../../lib/objects/types.ts";

test("a document's key and ID derive from client, scope and hash", () => {
	const hash = "a".repeat(64);
	assert.equal(documentKey("c1", "case-9", hash), `documents/c1/case-9/${hash}.pdf`);
	assert.equal(documentKey("c1", ADHOC, hash), `documents/c1/adhoc/${hash}.pdf`);
	assert.equal(documentId("c1", "case-9", hash), documentId("c1", "case-9", hash));
	assert.notEqual(documentId("c1", "case-9", hash), documentId("c2", "case-9", hash));
	assert.notEqual(documentId("c1", "case-9", hash), documentId("c1", ADHOC, hash));
	assert.match(documentId("c1", "case-9", hash), /^doc_[0-9a-f]{32}$/);
	assert.equal(documentFileName({ _id: "doc_1", template: "welcome-letter", language: "pt-BR" }), "welcome-letter-pt-BR-doc_1.pdf");
});

test("a registered loan is what the welcome letter reads: the canonical fields, unchanged", () => {
	const record = {
		loan_id: "L1",
		applicant_name: "A B",
		address_line1: "12 MG Road",
		address_line2: null,
		city: "Pune",
		state: "Maharashtra",
		postal_code: "411001",
		loan_amount: "1000.00",
		annual_interest_rate: "10.5",
		tenure_months: 12,
		disbursement_date: "2026-01-15",
		first_emi_date: "2026-02-10"
	};
	const v = recordView("loan", record);
	assert.deepEqual(v, record);
	assert.deepEqual(templates.validate("welcome-letter", "en", v), { ok: true, missing: [], invalid: [] });
	assert.deepEqual(recordView("debt", { contract_id: "C1" }), { contract_id: "C1" });
});

test("template errors become 400s with their code and details; engine errors 504 / 503", () => {
	const t = templateHttpError(new UnknownTemplateError("x"));
	assert.deepEqual([t.code, t.type, t.data], [400, "UNKNOWN_TEMPLATE", { template: "x" }]);
	const l = templateHttpError(new UnknownLanguageError("welcome-letter", "fr", ["en", "hi"]));
	assert.deepEqual([l.code, l.type, l.data], [400, "UNKNOWN_LANGUAGE", { template: "welcome-letter", language: "fr", available: ["en", "hi"] }]);
	const d = templateHttpError(new InvalidDataError("welcome-letter", { ok: false, missing: ["address_line1"], invalid: [{ field: "loan_amount", expected: "amount", message: "must be an amount" }] }));
	assert.equal(d.type, "INVALID_DATA");
	assert.deepEqual(d.data, { template: "welcome-letter", missing: ["address_line1"], invalid: [{ field: "loan_amount", expected: "amount", message: "must be an amount" }] });
	assert.match(d.message, /missing fields: address_line1/);
	const timeout = renderHttpError(new RenderTimeoutError("weasyprint", 30000));
	assert.deepEqual([timeout.code, timeout.type, timeout.retryable], [504, "RENDER_TIMEOUT", true]);
	assert.match(timeout.message, /within 30000 ms \(weasyprint\)/);
	const failed = renderHttpError(new RenderError("chromium", "browser crashed"));
	assert.deepEqual([failed.code, failed.type], [503, "RENDER_FAILED"]);
	assert.equal(isPermanentError(t), true);
	assert.equal(isPermanentError(new UnknownTemplateError("x")), true);
	assert.equal(isPermanentError(httpError(404, "NOT_FOUND", "record 'r' not found")), true);
	assert.equal(isPermanentError(timeout), false);
	assert.equal(isPermanentError(new Error("store down")), false);
});

test("requests are checked before anything is looked up or rendered", async () => {
	let touched = 0;
	const touch = (): never => {
		touched++;
		throw new Error("must not be reached");
	};
	const maker = new DocumentMaker({
		store: new Proxy({}, { get: touch }) as unknown as StoreAdapter,
		objects: new Proxy({}, { get: touch }) as unknown as ObjectStore,
		templates,
		engine: async () => touch(),
		timeoutMs: 1000
	});
	const lookups = { clientSettings: async () => touch(), getRecord: async () => touch() };
	const data = { loan_id: "L1" };
	const cases: [Record<string, unknown>, number, RegExp][] = [
		[{ clientId: "c1", template: "welcome-letter" }, 400, /either data .* or recordId/],
		[{ clientId: "c1", template: "welcome-letter", data, recordId: "r" }, 400, /not both/],
		[{ clientId: "c1", template: "welcome-letter", data: [1] }, 400, /data must be an object/],
		[{ clientId: "c1", caseId: "../x", template: "welcome-letter", data }, 400, /caseId/],
		[{ clientId: "c1", caseId: "a/b", template: "welcome-letter", data }, 400, /caseId/],
		[{ clientId: "c1", template: "nope", data }, 400, /unknown template 'nope'/],
		[{ clientId: "c1", template: "welcome-letter", language: "de", data }, 400, /no language 'de'/],
		[{ clientId: "c1", template: "welcome-letter", language: "en", data }, 400, /missing fields: applicant_name/]
	];
	for (const [req, code, message] of cases) {
		await assert.rejects(maker.produce(req as never, lookups), (err: Error & { code?: number }) => {
			assert.equal(err.code, code, JSON.stringify(req));
			assert.match(err.message, message);
			return true;
		});
	}
	assert.equal(touched, 0);
});

test("the engine pool: one engine per name per process, created on demand, closed by its last user", async () => {
	const made: string[] = [];
	const closed: string[] = [];
	setEngineFactory(async (name) => {
		made.push(name);
		const e: Engine = { name, render: async () => ({ pdf: Buffer.alloc(0), pages: 0 }), close: async () => void closed.push(name) };
		return e;
	});
	try {
		const options = engineOptions(loadConfig({ RENDER_CONCURRENCY: "3", RENDER_TIMEOUT_MS: "7000", RENDER_RECYCLE_AFTER: "50", CHROMIUM_PATH: "/opt/chrome" }).render);
		assert.deepEqual(options, {
			chromium: { executablePath: "/opt/chrome", tabs: 3, timeoutMs: 7000, recycleAfter: 50 },
			weasyprint: { workers: 3, timeoutMs: 7000, recycleAfter: 50 }
		});
		const a = {};
		const b = {};
		assert.deepEqual(liveEngines(), []);
		const e1 = await acquireEngine(a, "chromium", options);
		const e2 = await acquireEngine(b, "chromium", options);
		const w = await acquireEngine(b, "weasyprint", options);
		assert.equal(e1, e2);
		assert.deepEqual(made, ["chromium", "weasyprint"]);
		await releaseEngines(a);
		assert.deepEqual(closed, [], "still used by b");
		await releaseEngines(b);
		assert.deepEqual(closed.sort(), ["chromium", "weasyprint"]);
		assert.notEqual(w, e1);
		assert.deepEqual(liveEngines(), []);
		// a failed start is forgotten: the next use tries again
		setEngineFactory(async () => {
			throw new Error("no chromium here");
		});
		await assert.rejects(acquireEngine(a, "chromium", options), /no chromium here/);
		await new Promise((r) => setImmediate(r));
		assert.deepEqual(liveEngines(), []);
		await releaseEngines(a);
	} finally {
		setEngineFactory();
	}
});

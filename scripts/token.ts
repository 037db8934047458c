/**
 * `npm run token -- --role admin [--sub alice] [--expires 12h]`: prints an operator JWT signed with JWT_SECRET
 * (or the secret generated under DATA_DIR for the embedded default).
 * `npm run token -- --api-key`: prints a fresh API key in the right format (e.g. for DEMO_API_KEY).
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../config/index.ts";
import { loadJwtSecret } from "../lib/secrets.ts";
import { issueApiKey, signOperatorToken } from "../lib/api/auth.ts";

const { values } = parseArgs({
	options: {
		role: { type: "string", default: "operator" },
		sub: { type: "string", default: process.env.USER ?? "operator" },
		expires: { type: "string", default: "12h" },
		"api-key": { type: "boolean", default: false }
	}
});

if (values["api-key"]) {
	process.stdout.write(`${issueApiKey().apiKey}\n`);
} else {
	if (values.role !== "operator" && values.role !== "admin") {
		process.stderr.write(`--role must be operator or admin, got '${values.role}'\n`);
		process.exit(2);
	}
	const config = loadConfig();
	process.stdout.write(`${signOperatorToken(loadJwtSecret(config), values.sub, values.role, values.expires)}\n`);
}

/**
 * Test helper: a PostgreSQL database of its own for one test file, created on the server behind
 * TEST_DATABASE_URL (an admin URL; default the local server as scripts/setup.sh --test prepares it) and dropped
 * after, so concurrent test runs on one server never see each other's data.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

/** The admin URL the tests create their databases with. */
export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres:postgres@127.0.0.1:5432/postgres";

export interface TestDatabase {
	/** the URL of the new database (DATABASE_URL for nodes and stores) */
	url: string;
	name: string;
	/** drops the database, closing any connection still open to it */
	drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
	const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
	await client.connect();
	try {
		return await fn(client);
	} finally {
		await client.end();
	}
}

/** Creates `paperwork_test_<random>` and returns its URL. */
export async function createTestDatabase(): Promise<TestDatabase> {
	const name = `paperwork_test_${randomBytes(6).toString("hex")}`;
	await admin((c) => c.query(`CREATE DATABASE ${name}`));
	const u = new URL(ADMIN_DATABASE_URL);
	u.pathname = `/${name}`;
	return {
		url: u.toString(),
		name,
		drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined)
	};
}

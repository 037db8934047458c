/**
 * Test helper: an s3rver (an independent S3 implementation from npm) in this process, on a free loopback port,
 * storing into a fresh temp folder; stop() closes it and removes the folder.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import S3rver from "s3rver";

export interface S3rverHandle {
	endpoint: string;
	accessKey: string;
	secretKey: string;
	stop(): Promise<void>;
}

export async function startS3rver(): Promise<S3rverHandle> {
	const directory = fs.mkdtempSync(path.join(os.tmpdir(), "paperwork-s3rver-"));
	const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory });
	const address = await server.run();
	return {
		endpoint: `http://127.0.0.1:${address.port}`,
		// s3rver checks signatures against this fixed account
		accessKey: "S3RVER",
		secretKey: "S3RVER",
		async stop() {
			server.httpServer?.closeAllConnections();
			await server.close();
			fs.rmSync(directory, { recursive: true, force: true });
		}
	};
}

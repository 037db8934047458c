// Types for the parts of s3rver (an S3 implementation used as a test server) the object-store tests use.
declare module "s3rver" {
	import type { Server } from "node:http";

	interface S3rverOptions {
		address?: string;
		port?: number;
		silent?: boolean;
		directory?: string;
		resetOnClose?: boolean;
		allowMismatchedSignatures?: boolean;
		vhostBuckets?: boolean;
		configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
	}

	export default class S3rver {
		constructor(options?: S3rverOptions);
		httpServer?: Server;
		run(): Promise<{ address: string; port: number; family: string }>;
		close(): Promise<void>;
	}
}

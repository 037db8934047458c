/** A private smtp-server on a free loopback port that keeps the mails it receives; rcptTo matching `reject` gets 550. */
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

export interface Mail {
	from: string;
	to: string[];
	raw: string;
}

export interface LocalSmtp {
	url: string;
	mails: Mail[];
	close(): Promise<void>;
}

export async function startSmtp(reject?: RegExp): Promise<LocalSmtp> {
	const mails: Mail[] = [];
	const server = new SMTPServer({
		authOptional: true,
		disabledCommands: ["STARTTLS"],
		logger: false,
		onRcptTo(address, _session, cb) {
			if (reject?.test(address.address)) {
				const err = Object.assign(new Error("5.1.1 mailbox unavailable"), { responseCode: 550 });
				return cb(err);
			}
			cb();
		},
		onData(stream, session, cb) {
			const chunks: Buffer[] = [];
			stream.on("data", (d: Buffer) => chunks.push(d));
			stream.on("end", () => {
				mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "", to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString("utf8") });
				cb();
			});
		}
	});
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	const { port } = server.server.address() as AddressInfo;
	return { url: `smtp://127.0.0.1:${port}`, mails, close: () => new Promise<void>((r) => server.close(() => r())) };
}

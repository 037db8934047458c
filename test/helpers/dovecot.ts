/**
 * A private dovecot for IMAP tests: generated config in a temp folder (listen 127.0.0.1 on a free port, no TLS,
 * passwd-file users, maildir), started with `dovecot -c conf` and stopped with `dovecot -c conf stop`.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import path from "node:path";
import { freePort, tempDir } from "./node.ts";

export interface Dovecot {
	port: number;
	url(user: string, pass: string, mailbox?: string): string;
	stop(): Promise<void>;
}

/** Starts dovecot with the given users (user -> password). */
export async function startDovecot(users: Record<string, string>): Promise<Dovecot> {
	const dir = tempDir("paperwork-dovecot-");
	const port = await freePort();
	// dovecot's auth process (user dovecot) reads the passwd file: the folder must be searchable
	chmodSync(dir, 0o755);
	for (const d of ["mail", "run", "state"]) mkdirSync(path.join(dir, d));
	// mail is kept as `nobody` (dovecot refuses root)
	chownSync(path.join(dir, "mail"), 65534, 65534);
	const conf = path.join(dir, "dovecot.conf");
	writeFileSync(path.join(dir, "passwd"), Object.entries(users).map(([u, p]) => `${u}:{PLAIN}${p}\n`).join(""));
	writeFileSync(
		conf,
		`protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
mail_location = maildir:${dir}/mail/%u
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/passwd
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=${dir}/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
`
	);
	execFileSync("dovecot", ["-c", conf], { stdio: "ignore" });
	// wait until it accepts connections
	for (let i = 0; i < 100; i++) {
		const up = await new Promise<boolean>((resolve) => {
			const s = createConnection({ host: "127.0.0.1", port }, () => {
				s.destroy();
				resolve(true);
			});
			s.once("error", () => resolve(false));
		});
		if (up) break;
		await new Promise((r) => setTimeout(r, 100));
	}
	return {
		port,
		url: (user, pass, mailbox = "INBOX") => `imap://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@127.0.0.1:${port}/${mailbox}`,
		async stop() {
			try {
				execFileSync("dovecot", ["-c", conf, "stop"], { stdio: "ignore" });
			} finally {
				await new Promise((r) => setTimeout(r, 300));
				if (!process.env.KEEP_DOVECOT) rmSync(dir, { recursive: true, force: true });
			}
		}
	};
}

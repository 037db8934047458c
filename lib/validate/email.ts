/**
 * E-mail addresses: a pragmatic syntax check (what a delivery provider will accept), not full RFC 5322.
 * local@domain.tld, ASCII, no spaces, no consecutive or edge dots, domain labels of letters, digits and hyphens,
 * a top-level domain of letters (or an IDN "xn--" label). The domain is lower-cased; the local part is kept as written.
 */
import { type Check, fail, ok, shown } from "./result.ts";

const LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const TLD = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

export function normalizeEmail(raw: string): Check<string> {
	const t = raw.trim();
	const bad = (): Check<string> => fail("invalid_email", `email ${shown(t)} is not a valid e-mail address (expected name@example.com)`);
	if (t.length > 254) return fail("invalid_email", "email is longer than 254 characters");
	const at = t.lastIndexOf("@");
	if (at <= 0 || at === t.length - 1) return bad();
	const local = t.slice(0, at);
	const domain = t.slice(at + 1).toLowerCase();
	if (local.length > 64 || !LOCAL.test(local)) return bad();
	const labels = domain.split(".");
	if (labels.length < 2) return bad();
	for (const l of labels) if (!LABEL.test(l)) return bad();
	if (!TLD.test(labels[labels.length - 1])) return bad();
	return ok(`${local}@${domain}`);
}

/**
 * The shape every validator returns: a normalised value, or a stable machine code plus a message a client can act on.
 * Validators never throw on bad input; they are called once per field per row, so they stay allocation-light.
 */

export type Check<T> = { ok: true; value: T } | { ok: false; code: string; message: string };

export function ok<T>(value: T): Check<T> {
	return { ok: true, value };
}

export function fail<T = never>(code: string, message: string): Check<T> {
	return { ok: false, code, message };
}

/** Shows a raw value inside a message, shortened so a 1 MB garbage field does not end up in a report. */
export function shown(raw: string): string {
	return raw.length > 40 ? `'${raw.slice(0, 37)}...'` : `'${raw}'`;
}

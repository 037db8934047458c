/**
 * Money as whole paise in plain integers: exact (every amount billing adds, subtracts and compares is a whole
 * number of paise, and stays far below 2^53 paise, about 90 trillion rupees, which `paise` checks), and some
 * twenty times cheaper than decimal objects in the passbook's hot loop. Products that could leave the safe range
 * (a rate times an amount) go through BigInt.
 */

const AMOUNT = /^\s*(-?)(\d+)(?:\.(\d{1,2})0*)?\s*$/;

/** Parses a decimal amount with at most 2 decimals ("1234.5", "-3.25", "100") into paise; throws on anything else. */
export function paise(value: string): number {
	// the common shape first ("1234.56", as every stored amount is written), by character codes
	const len = value.length;
	if (len >= 4 && len <= 17 && value.charCodeAt(len - 3) === 46) {
		let n = 0;
		let i = value.charCodeAt(0) === 45 ? 1 : 0;
		const neg = i === 1;
		let ok = len - 3 > i;
		for (; ok && i < len; i++) {
			if (i === len - 3) continue;
			const c = value.charCodeAt(i) - 48;
			if (c < 0 || c > 9) ok = false;
			else n = n * 10 + c;
		}
		if (ok) return neg && n !== 0 ? -n : n;
	}
	const m = AMOUNT.exec(value);
	if (!m) throw new Error(`not an amount with at most 2 decimals: '${value}'`);
	const n = Number(m[2]) * 100 + Number((m[3] ?? "").padEnd(2, "0"));
	if (!Number.isSafeInteger(n)) throw new Error(`amount out of range: '${value}'`);
	return m[1] && n !== 0 ? -n : n;
}

/** Paise as a decimal string with 2 decimals ("-12.05"); a bigint for sums past the safe range. */
export function rupees(p: number | bigint): string {
	if (typeof p === "bigint") {
		const a = p < 0n ? -p : p;
		const frac = Number(a % 100n);
		return `${p < 0n ? "-" : ""}${a / 100n}.${frac < 10 ? "0" : ""}${frac}`;
	}
	const a = Math.abs(p);
	const frac = a % 100;
	return `${p < 0 ? "-" : ""}${(a - frac) / 100}.${frac < 10 ? "0" : ""}${frac}`;
}

/** A non-negative decimal rate ("2", "1.75") as an integer numerator over a power of ten. */
export interface Rate {
	num: bigint;
	den: bigint;
}

export function rateOf(value: string): Rate {
	const m = /^\s*(\d+)(?:\.(\d+))?\s*$/.exec(value);
	if (!m) throw new Error(`not a non-negative decimal rate: '${value}'`);
	const frac = m[2] ?? "";
	return { num: BigInt(m[1] + frac), den: 10n ** BigInt(frac.length) };
}

/** `amount` (paise, >= 0) times `percent` % rounded half-up to the paisa, exactly. */
export function percentOf(amount: number, percent: Rate): number {
	return ratio(amount, percent.num, 100n * percent.den);
}

/** amount * num / den (amount >= 0, num >= 0, den > 0) rounded half-up to a whole number, exactly. */
export function ratio(amount: number, num: bigint, den: bigint): number {
	const nn = Number(num);
	const dd = Number(den);
	const twice = 2 * amount * nn;
	// in plain numbers while every intermediate stays exact
	if (Number.isSafeInteger(twice + dd) && Number.isSafeInteger(nn) && Number.isSafeInteger(dd)) {
		const a = twice + dd;
		const b = 2 * dd;
		return (a - (a % b)) / b;
	}
	return Number((2n * BigInt(amount) * num + den) / (2n * den));
}

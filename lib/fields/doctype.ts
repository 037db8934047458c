/**
 * A document's type from its text, by rules a person can check: each type has cues (the words and labels such
 * documents print, in English, Hindi, Marathi, Gujarati and Portuguese), each worth 2 (it names the type: "tax
 * invoice", "bank statement", "loan application", "passport") or 1 (a label such documents carry: "closing
 * balance", "date of birth"). A type scores the weights of its cues found, each cue once, doubled for a cue in the
 * heading (the first 8 lines with text, where a document says what it is: an application form also asks for a
 * passport number, a bank statement may list an invoice payment). The best score wins, a tie going to the type whose
 * cue comes first, if its cues weigh at least 2 without the doubling (one that names it, or two labels); else the
 * document is "other".
 *
 * Text is compared without accents or case (OCR drops accents: "solicitacao"), a phrase's words may be split by
 * spaces, dots or colons, and a space after an Indic vowel sign is ignored (pdftotext prints "विक्रे ता"). About
 * 0.2 ms for a 3-page document.
 */

/** The document types a client may give and the reader detects (issue: invoice, application, statement, id, other). */
export const DOC_TYPES = ["invoice", "application", "statement", "id", "other"] as const;
export type DocType = (typeof DOC_TYPES)[number];

type Cues = Record<Exclude<DocType, "other">, { 2: string[]; 1: string[] }>;

// words, one language after another: en, pt, hi, mr, gu (Hindi and Marathi share many in Devanagari)
const CUES: Cues = {
	invoice: {
		2: ["invoice", "bill of supply", "nota fiscal", "fatura", "boleto", "danfe", "nf-e", "nfs-e", "बीजक", "चालान", "इनवॉइस", "इन्वॉइस", "देयक", "इनव्हॉइस", "ભરતિયું", "ઇન્વોઇસ", "ઇનવોઇસ"],
		1: ["bill no", "bill number", "gstin", "hsn", "place of supply", "amount due", "due date", "cgst", "sgst", "igst", "icms", "cfop", "chave de acesso", "vencimento", "emitente", "बिल संख्या", "देय तिथि", "बिल क्रमांक", "બિલ નંબર"]
	},
	statement: {
		2: ["bank statement", "account statement", "statement of account", "extrato", "बैंक विवरण", "खाता विवरण", "स्टेटमेंट", "खाते उतारा", "સ્ટેટમેન્ટ", "ખાતાનું પત્રક"],
		1: ["statement", "opening balance", "closing balance", "available balance", "transaction date", "value date", "withdrawal", "deposit", "saldo anterior", "saldo final", "saldo disponivel", "lancamentos", "प्रारंभिक शेष", "अंतिम शेष", "शेष राशि", "शिल्लक", "સિલક", "બેલેન્સ"]
	},
	application: {
		2: ["application form", "loan application", "credit application", "merchant cash advance", "applicant", "proposta de credito", "solicitacao de credito", "ficha cadastral", "proponente", "solicitante", "requerente", "आवेदन पत्र", "आवेदक", "ऋण आवेदन", "अर्जदार", "कर्ज अर्ज", "અરજદાર", "અરજી પત્રક", "લોન અરજી"],
		1: ["application", "amount requested", "requested amount", "loan amount", "purpose of loan", "loan purpose", "hereby declare", "valor solicitado", "declaro", "आवेदन", "घोषणा", "अर्ज", "અરજી", "ઘોષણા"]
	},
	id: {
		2: ["identity card", "identification card", "id card", "passport", "driving licence", "driving license", "aadhaar", "unique identification authority", "permanent account number card", "election commission of india", "carteira de identidade", "registro geral", "carteira nacional de habilitacao", "passaporte", "पहचान पत्र", "भारतीय विशिष्ट पहचान प्राधिकरण", "पासपोर्ट", "मतदाता", "ड्राइविंग लाइसेंस", "ओळखपत्र", "पारपत्र", "वाहन चालविण्याचा परवाना", "ઓળખપત્ર", "ઓળખ કાર્ડ", "પાસપોર્ટ", "ડ્રાઇવિંગ લાઇસન્સ"],
		1: ["date of birth", "dob", "nationality", "government of india", "govt of india", "income tax department", "republica federativa do brasil", "data de nascimento", "nacionalidade", "filiacao", "आधार", "जन्म तिथि", "भारत सरकार", "जन्म तारीख", "આધાર", "જન્મ તારીખ", "ભારત સરકાર"]
	}
};

/** a passport's or ID card's machine-readable zone: a line of 30, 36 or 44 of A-Z, 0-9 and "<" (OCR: 26-48), "<<" in it */
const MRZ = /(?<![a-z0-9<])(?=[a-z0-9<]*<<)[a-z0-9<]{26,48}(?![a-z0-9<])/g;

/** Lower case, no accents (Latin combining marks only: Indic vowel signs stay), no zero-width joiners. */
export function foldText(text: string): string {
	return text.normalize("NFD").replace(/[\u0300-\u036f\u200c\u200d]/g, "").toLowerCase();
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** a letter or digit of the folded text: Latin, Devanagari, Bengali to Gujarati (cheaper to compile than \p{L}) */
const WORD = /[a-z0-9\u00c0-\u024f\u0904-\u0af9]/;

/**
 * A cue's phrase as a pattern: words split by spaces or punctuation (Indic ones may also be joined), a space
 * allowed after a vowel sign; a Latin word ends at a non-letter (a plural -s allowed), an Indic one may take
 * inflections. Where it starts is checked apart (firstAt): a pattern that starts with a plain letter searches fast.
 */
function phrasePattern(phrase: string): RegExp {
	const folded = foldText(phrase);
	const body = folded
		.split(" ")
		.map((w) => [...w].map((ch) => escape(ch) + (/\p{M}/u.test(ch) ? " ?" : "")).join(""))
		.join(/^[a-z0-9]/.test(folded) ? String.raw`[\s.,:/-]+` : String.raw`[\s.,:/-]*`);
	return new RegExp(`${body}${/[a-z]$/.test(folded) ? `s?(?!${WORD.source})` : ""}`, "g");
}

/** Where `re` first matches at the start of a word in `text`, or -1. */
function firstAt(re: RegExp, text: string): number {
	re.lastIndex = 0;
	for (let m = re.exec(text); m; m = re.exec(text)) {
		if (m.index === 0 || !WORD.test(text[m.index - 1])) return m.index;
		re.lastIndex = m.index + 1;
	}
	return -1;
}

/**
 * A cheap test before the pattern: a Latin phrase's first word must be one of the text's words (a plural -s
 * allowed); an Indic phrase's start (up to its first space or vowel sign) must be in the text.
 */
type Probe = { word: string } | { part: string };

function probeOf(phrase: string): Probe {
	const folded = foldText(phrase);
	const latin = /^[a-z0-9]+/.exec(folded);
	return latin ? { word: latin[0] } : { part: /^[^ \p{M}]*\p{M}?/u.exec(folded)?.[0] ?? "" };
}

const RULES: { type: Exclude<DocType, "other">; weight: 1 | 2; cue: string; probe: Probe; re: RegExp }[] = [
	...(Object.entries(CUES) as [Exclude<DocType, "other">, Cues["invoice"]][]).flatMap(([type, byWeight]) =>
		([2, 1] as const).flatMap((weight) => [...new Set(byWeight[weight])].map((cue) => ({ type, weight, cue, probe: probeOf(cue), re: phrasePattern(cue) })))
	),
	{ type: "id", weight: 2, cue: "a machine-readable zone", probe: { part: "<<" }, re: MRZ }
];

const HEADING_LINES = 8;

export interface TypeDetection {
	type: DocType;
	/** each type's score */
	scores: Record<Exclude<DocType, "other">, number>;
	/** the cues of the winning type that were found (empty for "other") */
	cues: string[];
}

/** The document type the text shows, with the scores and the cues that decided it. */
export function detectType(text: string): TypeDetection {
	const folded = foldText(text);
	// the heading: up to where the line after the first 8 with letters or digits starts
	let headingEnd = folded.length;
	for (let pos = 0, n = 0; pos < folded.length; ) {
		const end = folded.indexOf("\n", pos);
		const line = folded.slice(pos, end < 0 ? folded.length : end);
		if (WORD.test(line) && ++n > HEADING_LINES) {
			headingEnd = pos;
			break;
		}
		pos = end < 0 ? folded.length : end + 1;
	}
	const words = new Set(folded.match(/[a-z0-9]+/g));
	const scores = { invoice: 0, application: 0, statement: 0, id: 0 };
	const weights = { ...scores };
	const first = { invoice: Infinity, application: Infinity, statement: Infinity, id: Infinity };
	const found: Record<string, string[]> = {};
	for (const rule of RULES) {
		const p = rule.probe;
		const maybe = "word" in p ? words.has(p.word) || words.has(`${p.word}s`) : folded.includes(p.part);
		const at = maybe ? firstAt(rule.re, folded) : -1;
		if (at < 0) continue;
		const t = rule.type;
		weights[t] += rule.weight;
		scores[t] += rule.weight * (at < headingEnd ? 2 : 1);
		first[t] = Math.min(first[t], at);
		(found[t] ??= []).push(rule.cue);
	}
	const best = (Object.keys(scores) as (keyof typeof scores)[]).reduce((a, b) => (scores[b] > scores[a] || (scores[b] === scores[a] && first[b] < first[a]) ? b : a));
	return weights[best] >= 2 ? { type: best, scores, cues: found[best] } : { type: "other", scores, cues: [] };
}

/** The document type the text shows: invoice, application, statement, id, or other. */
export function classify(text: string): DocType {
	return detectType(text).type;
}

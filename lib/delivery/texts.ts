/**
 * The words that go with a delivered document: the email subject and the short text of a message (SMS body,
 * WhatsApp/RCS caption), per letter language. The SMS text carries the time-limited link to the PDF.
 */
import type { Channel } from "./provider.ts";
import { formatter } from "../render/format.ts";

interface Words {
	subject: (ref: string) => string;
	body: (name: string, ref: string) => string;
	link: (url: string) => string;
}

const WORDS: Record<string, Words> = {
	en: {
		subject: (ref) => `Your loan welcome letter (${ref})`,
		body: (name, ref) => `Dear ${name}, welcome! Your loan ${ref} welcome letter with its EMI schedule is attached.`,
		link: (url) => `Read it here: ${url}`
	},
	hi: {
		subject: (ref) => `आपका ऋण स्वागत पत्र (${ref})`,
		body: (name, ref) => `प्रिय ${name}, स्वागत है! आपके ऋण ${ref} का स्वागत पत्र और EMI अनुसूची संलग्न है।`,
		link: (url) => `यहाँ पढ़ें: ${url}`
	},
	mr: {
		subject: (ref) => `आपले कर्ज स्वागत पत्र (${ref})`,
		body: (name, ref) => `प्रिय ${name}, स्वागत आहे! आपल्या कर्ज ${ref} चे स्वागत पत्र आणि EMI वेळापत्रक सोबत जोडले आहे.`,
		link: (url) => `येथे वाचा: ${url}`
	},
	gu: {
		subject: (ref) => `આપનો લોન સ્વાગત પત્ર (${ref})`,
		body: (name, ref) => `પ્રિય ${name}, સ્વાગત છે! આપની લોન ${ref} નો સ્વાગત પત્ર અને EMI સમયપત્રક સાથે જોડેલ છે.`,
		link: (url) => `અહીં વાંચો: ${url}`
	}
};

/** Subject and body for one channel; SMS gets the link in its text (it cannot carry the PDF). */
export function messageText(channel: Channel, language: string, name: string, ref: string, url: string): { subject: string; body: string } {
	const w = WORDS[language] ?? WORDS[language.split("-")[0]] ?? WORDS.en;
	const body = w.body(name || "customer", ref);
	return { subject: w.subject(ref), body: channel === "sms" ? `${body} ${w.link(url)}` : body };
}

/*
 * A loan statement's words: the SMS every borrower with a phone gets (the amount due, the due date and, when the
 * statement PDF was rendered, a time-limited link to it), and the subject and caption of the statement sent by email
 * or WhatsApp. Amounts and dates are written as the language writes them (lib/render/format.ts).
 */

interface StatementWordsOf {
	subject: (loan: string, date: string) => string;
	due: (name: string, loan: string, amount: string, date: string) => string;
	nothing: (name: string, loan: string) => string;
	link: (url: string) => string;
}

const STATEMENT_WORDS: Record<string, StatementWordsOf> = {
	en: {
		subject: (loan, date) => `Your loan statement (${loan}, ${date})`,
		due: (name, loan, amount, date) => `Dear ${name}, your loan ${loan} statement: ${amount} due by ${date}.`,
		nothing: (name, loan) => `Dear ${name}, your loan ${loan} statement: nothing is due.`,
		link: (url) => `Statement: ${url}`
	},
	hi: {
		subject: (loan, date) => `आपका ऋण विवरण (${loan}, ${date})`,
		due: (name, loan, amount, date) => `प्रिय ${name}, आपके ऋण ${loan} का विवरण: ${date} तक ${amount} देय है।`,
		nothing: (name, loan) => `प्रिय ${name}, आपके ऋण ${loan} का विवरण: कोई राशि देय नहीं है।`,
		link: (url) => `विवरण: ${url}`
	},
	mr: {
		subject: (loan, date) => `आपले कर्ज विवरणपत्र (${loan}, ${date})`,
		due: (name, loan, amount, date) => `प्रिय ${name}, आपल्या कर्ज ${loan} चे विवरणपत्र: ${date} पर्यंत ${amount} देय आहे.`,
		nothing: (name, loan) => `प्रिय ${name}, आपल्या कर्ज ${loan} चे विवरणपत्र: कोणतीही रक्कम देय नाही.`,
		link: (url) => `विवरणपत्र: ${url}`
	},
	gu: {
		subject: (loan, date) => `આપનું લોન સ્ટેટમેન્ટ (${loan}, ${date})`,
		due: (name, loan, amount, date) => `પ્રિય ${name}, આપની લોન ${loan} નું સ્ટેટમેન્ટ: ${date} સુધીમાં ${amount} ચૂકવવાપાત્ર છે.`,
		nothing: (name, loan) => `પ્રિય ${name}, આપની લોન ${loan} નું સ્ટેટમેન્ટ: કોઈ રકમ બાકી નથી.`,
		link: (url) => `સ્ટેટમેન્ટ: ${url}`
	}
};

export interface StatementWords {
	name: string;
	loanId: string;
	amountDue: string;
	dueDate: string;
	statementDate: string;
}

/** Subject and text of a statement message in `language` (English when the language has no words here). */
export function statementText(language: string, w: StatementWords, url?: string): { subject: string; body: string } {
	const lang = STATEMENT_WORDS[language] ? language : "en";
	const words = STATEMENT_WORDS[lang];
	const fmt = formatter(lang);
	const name = w.name || "customer";
	const body = Number(w.amountDue) > 0 ? words.due(name, w.loanId, fmt.money(w.amountDue), fmt.date(w.dueDate)) : words.nothing(name, w.loanId);
	return { subject: words.subject(w.loanId, fmt.date(w.statementDate)), body: url ? `${body} ${words.link(url)}` : body };
}

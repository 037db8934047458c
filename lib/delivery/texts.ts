/**
 * The words that go with a delivered document: the email subject and the short text of a message (SMS body,
 * WhatsApp/RCS caption), per letter language. The SMS text carries the time-limited link to the PDF.
 */
import type { Channel } from "./provider.ts";

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

/**
 * A document's type from its text (lib/fields/doctype.ts): each type in each supported language (English, Hindi,
 * Marathi, Gujarati, Portuguese), the heading deciding between types whose words both appear, OCR's lost accents and
 * pdftotext's split vowel signs, and "other" for what names no type. extractFields uses it when neither the client
 * nor an issuer template gave the type.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { classify, detectType, DOC_TYPES } from "../../../lib/fields/doctype.ts";
import { extractFields } from "../../../lib/fields/extract.ts";
import type { Template } from "../../../lib/fields/templates.ts";

const lines = (...l: string[]) => l.join("\n");

const CASES: Record<(typeof DOC_TYPES)[number], [string, string][]> = {
	invoice: [
		["en", lines("Kaveri Caterers", "14 Residency Road, Bengaluru", "GSTIN: 29AAKFR5678M1Z5", "TAX INVOICE", "Invoice No: KC-101", "Bill To: Rao Stores", "Bank: A/c 000123, IFSC HDFC0000001", "Total: 1,180.00")],
		["hi", lines("गंगा ट्रेडर्स", "कर बीजक", "बिल संख्या: GT-12", "दिनांक: 12/10/2026", "कुल राशि: ₹ 1,180.00")],
		["mr", lines("सह्याद्री ट्रेडर्स, पुणे", "देयक", "देयक क्रमांक: ST-5", "दिनांक: 01/11/2026", "एकूण रक्कम: 2,360.00")],
		["gu", lines("નર્મદા ટ્રેડર્સ, અમદાવાદ", "કર ભરતિયું", "બિલ નંબર: NT-7", "તારીખ: 05/11/2026", "કુલ રકમ: ₹ 5,900.00")],
		["pt", lines("Horizonte Comércio Ltda", "CNPJ: 11.222.333/0001-81", "NOTA FISCAL DE SERVIÇOS ELETRÔNICA - NFS-e", "Número: 123", "Valor total da nota: R$ 1.234,56")],
		["pt boleto", lines("Banco Exemplo", "Boleto de pagamento", "Beneficiário: Horizonte Comércio Ltda", "Vencimento: 10/12/2026", "Valor do documento: R$ 500,00")]
	],
	application: [
		// asks for ID numbers and bank statements, and names an invoice: the heading says what it is
		["en", lines("Merchant Cash Advance Application", "Business name: Rao Stores", "Applicant: Test Applicant One", "Passport No: ______  Aadhaar No: ______", "Date of birth: 01/01/1990", "Attach: last 3 months' bank statements and one supplier invoice", "Amount requested: 5,00,000", "I hereby declare that the above is true.")],
		["hi", lines("ऋण आवेदन पत्र", "आवेदक का नाम: परीक्षण आवेदक", "आधार संख्या: ______", "जन्म तिथि: 01/01/1990", "ऋण राशि: 2,00,000", "घोषणा: ऊपर दी गई जानकारी सही है।")],
		["mr", lines("कर्ज अर्ज", "अर्जदाराचे नाव: चाचणी अर्जदार", "जन्म तारीख: 01/01/1990", "कर्जाची रक्कम: 1,00,000")],
		["gu", lines("લોન અરજી પત્રક", "અરજદારનું નામ: પરીક્ષણ અરજદાર", "જન્મ તારીખ: 01/01/1990", "લોનની રકમ: 1,50,000")],
		["pt", lines("PROPOSTA DE CRÉDITO - ANTECIPAÇÃO DE RECEBÍVEIS", "Proponente: Loja Teste Ltda", "Data de nascimento do sócio: 01/01/1990", "Valor solicitado: R$ 50.000,00", "Declaro que as informações são verdadeiras.")],
		["pt, OCR without accents", lines("SOLICITACAO DE CREDITO", "Solicitante: Loja Teste Ltda", "Valor solicitado: R$ 20.000,00")]
	],
	statement: [
		// a payment of an invoice among the transactions
		["en", lines("Example Bank Ltd", "Statement of Account", "Account No: XXXX0000", "Date  Narration  Withdrawal  Deposit  Balance", "02/10  NEFT INVOICE 445 PAYMENT  1,180.00", "Opening balance 10,000.00", "Closing balance 12,345.67")],
		["hi", lines("उदाहरण बैंक", "खाता विवरण", "खाता संख्या: XXXX0000", "प्रारंभिक शेष: 10,000.00", "अंतिम शेष: 12,345.67")],
		["mr", lines("उदाहरण बँक", "खाते उतारा", "सुरुवातीची शिल्लक: 10,000.00", "अखेरची शिल्लक: 12,345.67")],
		["gu", lines("ઉદાહરણ બેંક", "બેંક સ્ટેટમેન્ટ", "ખાતા નંબર: XXXX0000", "શરૂઆતની સિલક: 10,000.00", "અંતિમ સિલક: 12,345.67")],
		["pt", lines("Banco Exemplo S.A.", "Extrato de conta corrente", "Saldo anterior R$ 1.000,00", "Saldo final R$ 2.345,67")]
	],
	id: [
		["en Aadhaar", lines("Government of India", "Test Person", "DOB: 01/01/1990", "0000 1111 2222", "Aadhaar - proof of identity")],
		["en passport", lines("REPUBLIC OF INDIA", "Type P  Country code IND", "Surname TESTPERSON", "Nationality INDIAN", "P<INDTESTPERSON<<ASHA<<<<<<<<<<<<<<<<<<<<<<<", "J0000000<0IND9001018F3001019<<<<<<<<<<<<<<02")],
		["en PAN", lines("INCOME TAX DEPARTMENT    GOVT. OF INDIA", "Permanent Account Number Card", "AAAPA0000A", "TEST PERSON", "Date of Birth 01/01/1990")],
		["hi", lines("भारत सरकार", "भारतीय विशिष्ट पहचान प्राधिकरण", "जन्म तिथि: 01/01/1990", "मेरा आधार, मेरी पहचान")],
		["mr", lines("महाराष्ट्र शासन", "ओळखपत्र", "नाव: चाचणी व्यक्ती", "जन्म तारीख: 01/01/1990")],
		["gu", lines("ભારત સરકાર", "ઓળખપત્ર", "નામ: પરીક્ષણ વ્યક્તિ", "જન્મ તારીખ: 01/01/1990")],
		["pt RG", lines("REPÚBLICA FEDERATIVA DO BRASIL", "SECRETARIA DA SEGURANÇA PÚBLICA", "CARTEIRA DE IDENTIDADE", "Registro Geral: 00.000.000-0", "Filiação: Pessoa Teste", "Data de nascimento: 01/01/1990")],
		["pt CNH", lines("CARTEIRA NACIONAL DE HABILITAÇÃO", "Nome: Pessoa Teste", "Data de nascimento: 01/01/1990")]
	],
	other: [
		["en letter", lines("Dear Sir,", "Please find attached the documents you asked for.", "Regards,", "Asha")],
		["pt letter", lines("Prezados,", "Segue em anexo o contrato de locação assinado.", "Atenciosamente")],
		// "आधार" is also "basis": one label alone, even in the heading, names no type
		["hi letter", lines("सेवा में,", "प्रबंधक महोदय", "आपके पत्र के आधार पर यह सूचना भेजी जा रही है।", "धन्यवाद")],
		["empty", ""]
	]
};

test("each type is detected from its words in English, Hindi, Marathi, Gujarati and Portuguese; else other", () => {
	assert.deepEqual([...DOC_TYPES], ["invoice", "application", "statement", "id", "other"]);
	for (const type of DOC_TYPES) {
		assert.ok(CASES[type].length, type);
		for (const [label, text] of CASES[type]) {
			const d = detectType(text);
			assert.equal(d.type, type, `${type} (${label}): ${JSON.stringify(d)}`);
			assert.equal(classify(text), type);
			if (type === "other") assert.deepEqual(d.cues, []);
			else assert.ok(d.cues.length > 0, "the cues that decided it are given");
		}
	}
});

test("the heading decides between types whose words both appear; a tie goes to the type named first", () => {
	const body = ["Passport No: ____", "Aadhaar No: ____", "Date of birth: ____"];
	assert.equal(classify(lines("Rao Stores", "Loan application form", "Applicant: A. Test", ...body)), "application");
	// the same words without the heading's name: the ID words outweigh
	assert.equal(classify(lines("Rao Stores", ...body, "Applicant: A. Test")), "id");
	const d = detectType("Extrato\nFatura");
	assert.equal(d.scores.statement, d.scores.invoice);
	assert.equal(d.type, "statement");
	assert.equal(classify("Fatura\nExtrato"), "invoice");
	// a label past the heading counts once; two labels name a type
	assert.equal(classify(lines("Example Bank", ...Array(10).fill("-"), "Opening balance 1.00", "Closing balance 2.00")), "statement");
	assert.equal(classify("Closing balance 2.00"), "other");
});

test("pdftotext's space after a vowel sign and a Latin word's plural still match; a word inside another does not", () => {
	assert.equal(classify("आवे दक का नाम: परीक्षण"), "application");
	assert.equal(classify("Bank statements for October"), "statement");
	assert.equal(classify("Reinvoiced passportless items"), "other");
});

test("extractFields: the client's type first, then an issuer template's invoice, then the detected type (other, not document)", () => {
	const statement = "Example Bank\nStatement of Account\nClosing balance 12,345.67";
	assert.equal(extractFields(statement, []).type, "statement");
	assert.deepEqual(extractFields(statement, []).checks, [], "no invoice fields are required of a statement");
	assert.equal(extractFields("Dear Sir, the papers are attached.", []).type, "other");
	assert.equal(extractFields(statement, [], "application").type, "application");
	const template: Template = { issuer: "Example Bank", keywords: ["Example Bank"], fields: { total: { regex: "Closing balance ([\\d,.]+)", type: "amount" } } };
	assert.equal(extractFields(statement, [template]).type, "invoice");
});

/**
 * The debt kind (collection bureau, Brazil): one overdue debt of one debtor, identified by (client, contract_id).
 * Default CSV header: contract_id,debtor_name,debtor_cpf,amount,due_date,email,phone.
 */
import type { KindSpec, RawRow, ValidateContext, ValidationResult } from "./kind.ts";
import { RowCheck, requiredError } from "./kind.ts";
import type { Check } from "../validate/result.ts";
import { checkText } from "../validate/text.ts";
import { normalizeCpf } from "../validate/cpf.ts";
import { parseAmount } from "../validate/decimal.ts";
import { parseDate } from "../validate/dates.ts";
import { normalizeEmail } from "../validate/email.ts";
import { normalizeBrPhone } from "../validate/phone.ts";

export type DebtRecord = {
	contract_id: string;
	debtor_name: string;
	/** 11 digits */
	debtor_cpf: string;
	/** canonical decimal, 2 decimals: "1234.50" */
	amount: string;
	/** "YYYY-MM-DD", not in the future */
	due_date: string;
	email: string | null;
	/** E.164, "+5511987654321" */
	phone: string | null;
};

const ID_RULES = { maxLength: 64 };
const NAME_RULES = { maxLength: 200 };
const checkContractId = (v: string): Check<string> => checkText(v, "contract_id", ID_RULES);
const checkName = (v: string): Check<string> => checkText(v, "debtor_name", NAME_RULES);

function validate(raw: RawRow, ctx: ValidateContext): ValidationResult<DebtRecord> {
	const r = new RowCheck(raw);
	const contract_id = r.required("contract_id", checkContractId);
	const debtor_name = r.required("debtor_name", checkName);
	const debtor_cpf = r.required("debtor_cpf", normalizeCpf);
	const amount = r.apply("amount", r.text("amount") === "" ? requiredError("amount") : parseAmount(r.text("amount"), ctx.numberStyle, "amount"));
	const due_date = r.apply("due_date", r.text("due_date") === "" ? requiredError("due_date") : parseDate(r.text("due_date"), ctx.dateFormat, "due_date"));
	if (due_date !== undefined && due_date > ctx.today) {
		r.fail("due_date", "future_date", `due_date ${due_date} is in the future (today is ${ctx.today}); only overdue debts can be registered`);
	}
	const email = r.optional("email", normalizeEmail);
	const phone = r.optional("phone", normalizeBrPhone);
	if (r.errors.length > 0) return { ok: false, errors: r.errors };
	return {
		ok: true,
		record: {
			contract_id: contract_id as string,
			debtor_name: debtor_name as string,
			debtor_cpf: debtor_cpf as string,
			amount: amount as string,
			due_date: due_date as string,
			email: email ?? null,
			phone: phone ?? null
		}
	};
}

export const debt: KindSpec<DebtRecord> = {
	kind: "debt",
	fields: [
		{ name: "contract_id", required: true, description: "the client's contract number (the business key)" },
		{ name: "debtor_name", required: true, description: "the debtor's full name" },
		{ name: "debtor_cpf", required: true, description: "the debtor's CPF, with or without punctuation" },
		{ name: "amount", required: true, description: "amount owed, greater than zero, at most 2 decimals" },
		{ name: "due_date", required: true, description: "date the payment was missed (not in the future)" },
		{ name: "email", required: false, description: "the debtor's e-mail" },
		{ name: "phone", required: false, description: "the debtor's Brazilian phone number" }
	],
	keyFields: ["contract_id"],
	timeZone: "America/Sao_Paulo",
	validate
};

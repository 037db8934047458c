/**
 * Telling a client its batch is finished: a webhook POST of the summary, signed with HMAC-SHA256 of the exact body
 * under the client's secret, and an email over SMTP. A failed delivery throws, so the queue retries it later with
 * growing delays and finally dead-letters it for an operator.
 *
 * Webhook headers: X-Paperwork-Event: batch.finished, X-Paperwork-Delivery: <batchId>,
 * X-Paperwork-Signature: sha256=<hex HMAC of the body>. Verify by recomputing the HMAC over the raw body.
 */
import { createHmac } from "node:crypto";
import nodemailer from "nodemailer";
import type { BatchView } from "./batches.ts";

export function signBody(secret: string, body: string): string {
	return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export interface BatchSummary {
	event: "batch.finished";
	batch: BatchView;
	links: { batch: string; rejections: string };
}

export function summary(view: BatchView, apiBase: string): BatchSummary {
	return {
		event: "batch.finished",
		batch: view,
		links: { batch: `${apiBase}/batches/${view.id}`, rejections: `${apiBase}/batches/${view.id}/rejections?format=csv` }
	};
}

export class DeliveryError extends Error {
	constructor(message: string) {
		super(message);
		this.name = "DeliveryError";
	}
}

/** POSTs the summary; resolves on a 2xx answer, throws DeliveryError otherwise (the queue retries). */
export async function postWebhook(url: string, secret: string, payload: BatchSummary, timeoutMs: number): Promise<number> {
	const body = JSON.stringify(payload);
	let res: Response;
	try {
		res = await fetch(url, {
			method: "POST",
			headers: {
				"Content-Type": "application/json",
				"User-Agent": "Paperwork-Webhook/1",
				"X-Paperwork-Event": payload.event,
				"X-Paperwork-Delivery": payload.batch.id,
				"X-Paperwork-Signature": signBody(secret, body)
			},
			body,
			signal: AbortSignal.timeout(timeoutMs),
			redirect: "error"
		});
	} catch (err) {
		throw new DeliveryError(`webhook ${new URL(url).host} unreachable: ${(err as Error).message}`);
	}
	await res.body?.cancel();
	if (res.status < 200 || res.status >= 300) throw new DeliveryError(`webhook ${new URL(url).host} answered ${res.status}`);
	return res.status;
}

/** A plain-text report a person reads. */
export function emailText(s: BatchSummary): { subject: string; text: string } {
	const b = s.batch;
	const c = b.counts;
	const subject = b.status === "COMPLETED" ? `Batch ${b.id} completed: ${c.valid} registered, ${c.rejected} rejected` : `Batch ${b.id} failed: ${b.error?.message ?? "unknown reason"}`;
	const lines = [
		`Batch ${b.id} (${b.kind}, ${b.source}${b.file ? `, file ${b.file.name}` : ""}) is ${b.status}.`,
		"",
		`Rows received:  ${c.received}`,
		`Registered:     ${c.valid} (new ${c.inserted}, changed ${c.updated}, unchanged ${c.unchanged})`,
		`Rejected:       ${c.rejected}`,
		...(c.skipped ? [`Skipped:        ${c.skipped}`] : []),
		...(b.error ? ["", `Reason: ${b.error.message}`] : []),
		...(b.unknownColumns?.length ? ["", `Columns ignored (not in your format): ${b.unknownColumns.join(", ")}`] : []),
		"",
		`Details: ${s.links.batch}`,
		...(c.rejected ? [`Rejected rows (CSV): ${s.links.rejections}`] : [])
	];
	return { subject, text: lines.join("\n") };
}

export async function sendEmail(smtpUrl: string, from: string, to: string, s: BatchSummary): Promise<void> {
	const transport = nodemailer.createTransport(smtpUrl);
	try {
		const { subject, text } = emailText(s);
		await transport.sendMail({ from, to, subject, text });
	} catch (err) {
		throw new DeliveryError(`email to the client could not be sent: ${(err as Error).message}`);
	} finally {
		transport.close();
	}
}

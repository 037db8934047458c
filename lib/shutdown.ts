/**
 * The deadline of a graceful stop. On SIGTERM (Kubernetes stopping a pod) or SIGINT, Moleculer stops the broker:
 * requests in flight get SHUTDOWN_TIMEOUT_MS (its request tracking), and each queue consumer stops taking messages
 * and waits for its handlers in flight. Nothing bounds that last wait, so a handler stuck on a dead server would hold
 * the process until the kubelet's SIGKILL. This deadline exits first, with a log line: SHUTDOWN_TIMEOUT_MS after the
 * signal, plus a margin for closing connections. No message is lost either way: a message is acknowledged only
 * after its handler resolved, so RabbitMQ gives every unacknowledged one to another consumer when the connection
 * drops (handlers are idempotent). Set terminationGracePeriodSeconds above SHUTDOWN_TIMEOUT_MS + the margin.
 */
import type { Logger } from "pino";

/** Time after SHUTDOWN_TIMEOUT_MS for the connections to close before the process exits anyway. */
export const SHUTDOWN_MARGIN_MS = 3000;

/**
 * Arms the deadline once the first of `signals` arrives; returns a function that removes the listeners.
 * `exit` is process.exit (tests pass their own).
 */
export function armShutdownDeadline(
	shutdownTimeoutMs: number,
	logger: Pick<Logger, "warn">,
	exit: (code: number) => void = (code) => process.exit(code),
	signals: NodeJS.Signals[] = ["SIGTERM", "SIGINT"]
): () => void {
	const onSignal = (signal: NodeJS.Signals): void => {
		disarm();
		const deadlineMs = shutdownTimeoutMs + SHUTDOWN_MARGIN_MS;
		const timer = setTimeout(() => {
			logger.warn({ signal, deadlineMs }, "still stopping at the shutdown deadline: exiting; unacknowledged messages return to their queues");
			exit(1);
		}, deadlineMs);
		timer.unref();
	};
	const disarm = (): void => {
		for (const s of signals) process.removeListener(s, onSignal);
	};
	for (const s of signals) process.once(s, onSignal);
	return disarm;
}

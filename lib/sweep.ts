/**
 * A periodic sweep for a service: runs `fn` every `intervalMs` (the next run starts that long after the previous one
 * ended, so runs never overlap), reports a failure to `onError` and carries on; the timer does not keep the process
 * alive. Services start one in `started` and stop it in `stopped` (batches' stalled-batch resume, billing's refund
 * timeouts).
 */
export interface Sweep {
	stop(): void;
}

export function startSweep(intervalMs: number, fn: () => Promise<unknown>, onError: (err: Error) => void): Sweep {
	let timer: NodeJS.Timeout | undefined;
	let stopped = false;
	const run = (): void => {
		fn()
			.catch((err: Error) => onError(err))
			.finally(() => {
				if (!stopped) timer = setTimeout(run, intervalMs).unref();
			});
	};
	timer = setTimeout(run, intervalMs).unref();
	return {
		stop() {
			stopped = true;
			if (timer) clearTimeout(timer);
		}
	};
}

/**
 * The small process that starts intake's tools for a large one (lib/intake/run.ts): a spawn copies the spawning
 * process's page tables, ~5 ms of CPU from this ~50 MB process against 15-140 ms of a node's main thread at
 * 0.3-0.9 GB. It takes `{id, cmd, args, opts}` over IPC, runs the tool with runHere (time limit, output cap) and
 * answers `{id, result}`, or `{id, error}` when the command cannot start. When its parent goes (a node killed with
 * SIGKILL included), it kills the tools it started and exits, so no tool outlives the node that wanted it.
 */
import type { ChildProcess } from "node:child_process";
import { runHere, type RunOptions, type RunResult } from "./run.ts";

export interface HelperRequest {
	id: number;
	cmd: string;
	args: string[];
	opts: RunOptions;
}
export type HelperAnswer = { id: number; result: RunResult } | { id: number; error: string };

const children = new Set<ChildProcess>();

process.on("message", (m: HelperRequest) => {
	runHere(m.cmd, m.args, m.opts, (c) => {
		children.add(c);
		c.once("close", () => children.delete(c));
	}).then(
		(result) => process.send?.({ id: m.id, result } satisfies HelperAnswer),
		(err: Error) => process.send?.({ id: m.id, error: err.message } satisfies HelperAnswer)
	);
});

process.on("disconnect", () => {
	for (const c of children) c.kill("SIGKILL");
	process.exit(0);
});

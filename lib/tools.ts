/**
 * The local programs a node's services run, for /health: Chromium for the renderer (WeasyPrint's Python when it is
 * the configured engine), and for the reader the text-layer reader (build/pdf-text), poppler's pdftoppm, Tesseract
 * with the OCR languages configured, and qpdf. A node without one of them still serves everything else, so a missing
 * program makes the node "degraded" (200), never unavailable; the report names the program, the service that needs
 * it, what is missing and the Debian package that brings it.
 *
 * A program is found as the service finds it: an absolute path as configured, else the first executable of that name
 * on PATH. Tesseract's languages come from `tesseract --list-langs`; that answer is kept for a minute, so a health
 * check costs a few file lookups.
 */
import { accessSync, constants } from "node:fs";
import path from "node:path";
import type { Config } from "../config/index.ts";
import { run } from "./intake/run.ts";
import { PDF_TEXT_BINARY } from "./intake/read/text-layer.ts";

export type ToolState = "up" | "missing";

export interface ToolCheck {
	/** the program: "chromium", "weasyprint", "pdf-text", "pdftoppm", "tesseract", "qpdf" */
	tool: string;
	/** the service on this node that runs it */
	neededBy: string;
	state: ToolState;
	/** where it was found */
	path?: string;
	/** what is missing and how to bring it (a Debian package, or the setup script) */
	detail?: string;
}

interface Need {
	tool: string;
	neededBy: string;
	/** an absolute path, or a name looked up on PATH */
	command: string;
	/** how to install it when missing */
	install: string;
	/** a further check once the program is found: a reason it is not usable, or undefined */
	usable?: (file: string) => Promise<string | undefined>;
}

/** The first executable file for `command`: itself when it is a path, else along PATH. */
export function findExecutable(command: string, searchPath = process.env.PATH ?? ""): string | undefined {
	const candidates = command.includes("/") ? [command] : searchPath.split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, command));
	for (const file of candidates) {
		try {
			accessSync(file, constants.X_OK);
			return file;
		} catch {
			// not here
		}
	}
	return undefined;
}

/** Tesseract's installed languages, by `tesseract --list-langs` (its first line is a heading). */
export function parseTesseractLanguages(output: string): string[] {
	return output
		.split(/\r?\n/)
		.map((l) => l.trim())
		.filter((l) => l && !/^list of available languages/i.test(l));
}

const LANGUAGE_TTL_MS = 60_000;
const languageCache = new Map<string, { at: number; langs: Promise<string[] | undefined> }>();

/** The languages a Tesseract knows (undefined when it cannot say), asked at most once a minute. */
function tesseractLanguages(file: string): Promise<string[] | undefined> {
	const hit = languageCache.get(file);
	if (hit && Date.now() - hit.at < LANGUAGE_TTL_MS) return hit.langs;
	const langs = run(file, ["--list-langs"], { timeoutMs: 10_000, maxOutput: 64 * 1024 }).then(
		(r) => (r.code === 0 ? parseTesseractLanguages(`${r.stdout.toString()}\n${r.stderr}`) : undefined),
		() => undefined
	);
	languageCache.set(file, { at: Date.now(), langs });
	return langs;
}

/** The programs the given services need, from the configuration. */
export function toolNeeds(services: readonly string[], config: Pick<Config, "render" | "intake">): Need[] {
	const needs: Need[] = [];
	if (services.includes("renderer")) {
		needs.push({ tool: "chromium", neededBy: "renderer", command: config.render.chromiumPath, install: "apt-get install chromium (or set CHROMIUM_PATH)" });
		if (config.render.engine === "weasyprint") needs.push({ tool: "weasyprint", neededBy: "renderer", command: "/usr/bin/python3", install: "apt-get install weasyprint" });
	}
	if (services.includes("reader")) {
		const wanted = config.intake.ocrLangs.split("+").filter(Boolean);
		needs.push(
			{ tool: "pdf-text", neededBy: "reader", command: PDF_TEXT_BINARY, install: "run scripts/setup.sh, which builds it (needs g++ and libpoppler-cpp-dev); until then text layers are read by pdftotext, a process a document" },
			{ tool: "pdftoppm", neededBy: "reader", command: "pdftoppm", install: "apt-get install poppler-utils" },
			{
				tool: "tesseract",
				neededBy: "reader",
				command: "tesseract",
				install: "apt-get install tesseract-ocr",
				usable: async (file) => {
					const langs = await tesseractLanguages(file);
					if (!langs) return undefined;
					const missing = wanted.filter((l) => !langs.includes(l));
					return missing.length ? `OCR languages not installed: ${missing.join(", ")} (apt-get install ${missing.map((l) => `tesseract-ocr-${l}`).join(" ")})` : undefined;
				}
			},
			{ tool: "qpdf", neededBy: "reader", command: "qpdf", install: "apt-get install qpdf" }
		);
	}
	return needs;
}

/** Each program the given services need: found (and usable) or missing, with what to do. */
export async function checkTools(services: readonly string[], config: Pick<Config, "render" | "intake">, searchPath?: string): Promise<ToolCheck[]> {
	return Promise.all(
		toolNeeds(services, config).map(async (n): Promise<ToolCheck> => {
			const file = findExecutable(n.command, searchPath);
			if (!file) return { tool: n.tool, neededBy: n.neededBy, state: "missing", detail: `${n.command} not found: ${n.install}` };
			const problem = n.usable ? await n.usable(file) : undefined;
			return problem ? { tool: n.tool, neededBy: n.neededBy, state: "missing", path: file, detail: problem } : { tool: n.tool, neededBy: n.neededBy, state: "up", path: file };
		})
	);
}

/** The tools dependency: absent when no service here runs a program, degraded when one is missing. */
export function toolsState(tools: readonly ToolCheck[]): "up" | "degraded" | undefined {
	if (tools.length === 0) return undefined;
	return tools.every((t) => t.state === "up") ? "up" : "degraded";
}

/** Small pieces both compilers share: running a tool, naming the app, checking the output. */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { basename, join, relative, isAbsolute } from "node:path";
import { AotpackError, errorMessage } from "../errors.ts";
import { readElf, assertElfMatchesPlatform } from "../elf/read-elf.ts";
import type { ElfInfo } from "../elf/types.ts";
import type { Platform } from "../oci/platform.ts";

export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr interleaved as they came, capped. */
  output: string;
}

const MAX_OUTPUT = 256 * 1024;

/** Run a tool to completion, bounded by `timeoutMs` (then SIGKILL). Never throws for a non-zero exit. */
export function runTool(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const collect = (d: string): void => {
      if (output.length < MAX_OUTPUT) output += d;
    };
    child.stdout.setEncoding("utf8").on("data", collect);
    child.stderr.setEncoding("utf8").on("data", collect);
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new AotpackError(`cannot run ${command}: ${errorMessage(err)}`, { cause: err }));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

/**
 * The one naming rule for an app (executable file name, image name, docker-archive name):
 * lowercase, runs of other characters become "-", and it starts with a letter or digit.
 */
export function cleanAppName(raw: string | undefined, fallback = "app"): string {
  const name = (raw ?? "").replace(/^@[^/]*\//, "").toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[^a-z0-9]+/, "");
  return name || (fallback === "app" ? "app" : cleanAppName(fallback));
}

/** What names a project: its folder, package.json name, and aotpack's `name` (a LoadedProject fits). */
export interface NamedProject {
  dir: string;
  packageName?: string;
  config?: { name?: string };
}

/** The app's name (executable, image, docker-archive): aotpack's `name`, else the package name, else the folder's. */
export function appNameFor(project: NamedProject, fallback = basename(project.dir)): string {
  return cleanAppName(project.config?.name ?? project.packageName, fallback);
}

/**
 * The executable's file name in a compile: the request's (a build always passes its plan's), else
 * appNameFor over the project's package.json.
 */
export async function executableName(projectDir: string, requested?: string): Promise<string> {
  if (requested !== undefined) return cleanAppName(requested);
  const project: NamedProject = { dir: projectDir };
  try {
    const pkg = JSON.parse(await readFile(join(projectDir, "package.json"), "utf8")) as { name?: unknown };
    if (typeof pkg.name === "string") project.packageName = pkg.name;
  } catch {
    // no or bad package.json: resolveEntry reports that when it matters
  }
  return appNameFor(project);
}

/** Path for messages: relative to the project when inside it. */
export function displayPath(projectDir: string, file: string): string {
  const rel = relative(projectDir, file);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : file;
}

/** Read the ELF facts of an output and fail the build when its machine does not match the platform. */
export async function checkedElf(path: string, platform: Platform): Promise<ElfInfo> {
  const info = await readElf(path);
  assertElfMatchesPlatform(info, platform, path);
  return info;
}

/** The last few meaningful lines of a tool's output, for an error message. */
export function tail(output: string, lines = 3): string {
  return output
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== "")
    .slice(-lines)
    .join(" | ");
}

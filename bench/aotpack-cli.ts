/**
 * `aotpack build` as a user runs it (a child process of the real CLI, --json), with its own
 * cache root, plus the small facts the harness reads back from its output.
 */
import { spawn } from "node:child_process";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, symlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(fileURLToPath(new URL("..", import.meta.url)));
// The published entry point (dist/, compiled by `npm run bench`'s build first): what `npx aotpack` runs,
// without tsx's TypeScript loading (~0.3 s a run) in every timing.
const CLI = join(REPO, "bin", "aotpack.js");

/** The subset of `aotpack build --json` the harness reads. */
export interface BuildJson {
  digest: string;
  elapsedMs: number;
  platforms: {
    platform: string;
    digest: string;
    compiledFromCache: boolean;
    compileMs: number;
    layers: { name: string; origin: "base" | "app"; digest: string; compressedBytes: number; uncompressedBytes: number }[];
    compressedBytes: number;
    uncompressedBytes: number;
  }[];
}

export interface CliRun {
  seconds: number;
  json: BuildJson;
}

/** Run `aotpack <args> --json` under `node` with AOTPACK_CACHE_DIR=cacheDir; rejects with its stderr on failure. */
export function aotpackJson(args: string[], options: { cacheDir: string; node?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<CliRun> {
  const node = options.node ?? process.execPath;
  const timeoutMs = options.timeoutMs ?? 600_000;
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(node, [CLI, ...args, "--json"], {
      cwd: REPO,
      env: { ...process.env, ...options.env, AOTPACK_CACHE_DIR: options.cacheDir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err = (err + d).slice(-8000)));
    const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, "SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      if (code !== 0) return reject(new Error(`aotpack ${args.join(" ")} exited ${code ?? signal}:\n${err.slice(-3000)}`));
      try {
        resolvePromise({ seconds, json: JSON.parse(out) as BuildJson });
      } catch {
        reject(new Error(`aotpack ${args.join(" ")} printed no JSON:\n${out.slice(0, 2000)}`));
      }
    });
  });
}

/**
 * A fresh cache root whose downloads (runtimes, Debian indexes and packages) are the seed's:
 * "cold" means nothing compiled or layered yet, not a cold network.
 */
export async function freshCache(parent: string, seed: string): Promise<string> {
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, "cache-"));
  for (const sub of ["runtimes", "debian", "debs"]) {
    await mkdir(join(seed, sub), { recursive: true });
    await symlink(join(seed, sub), join(dir, sub));
  }
  return dir;
}

/** Copy the project (sources and config only) to `dest`. */
export function copyProject(project: string, dest: string): void {
  cpSync(project, dest, { recursive: true, filter: (src) => !/\/(node_modules|dist|bench)(\/|$)/.test(src.slice(project.length)) });
}

export const EDIT_FILE = join("src", "app.ts");
const EDIT_LINE = /title: "Walk the dog[^"]*"/;

/** The one-line change: rewrite the first todo's title (a new text each time, so nothing is cached). */
export function applyOneLineChange(projectCopy: string, n: number): void {
  const file = join(projectCopy, EDIT_FILE);
  const text = readFileSync(file, "utf8");
  if (!EDIT_LINE.test(text)) throw new Error(`${EDIT_FILE}: the line to edit (title: "Walk the dog") is not there`);
  writeFileSync(file, text.replace(EDIT_LINE, `title: "Walk the dog (edit ${n})"`));
}

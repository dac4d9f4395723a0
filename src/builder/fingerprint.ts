/**
 * The compile cache's first-level key (compile-key.ts has the second): the project's own files,
 * the lockfile that pins its dependencies, the compiler and its settings. What the bundler read
 * beyond them (dist/, node_modules, files outside the project) is keyed by the second level.
 * aotpack.lock pins the base, not the compile, so it is never an input here.
 */
import { createHash } from "node:crypto";
import { stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { sha256File } from "../oci/fs-util.ts";
import type { CompileInputs } from "../compile/types.ts";
import { listProjectFiles } from "./files.ts";

/** Base pins (src/base/lockfile.ts): a change re-resolves the base, never recompiles. */
const NOT_COMPILE_INPUTS = new Set(["aotpack.lock"]);

const LOCKFILES = ["package-lock.json", "bun.lock", "bun.lockb", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml"];

/** The nearest lockfiles at or above `dir` (dependencies may be hoisted to a workspace root). */
export async function nearestLockfiles(dir: string): Promise<string[]> {
  let current = dir;
  for (;;) {
    const found: string[] = [];
    for (const name of LOCKFILES) {
      const p = join(current, name);
      if ((await stat(p).catch(() => undefined))?.isFile()) found.push(p);
    }
    if (found.length) return found;
    const parent = dirname(current);
    if (parent === current) return [];
    current = parent;
  }
}

/**
 * sha256 over the project's files (paths + contents), its package lockfile(s), `extra` settings
 * and what the compiler says decides its output (`inputs`: e.g. the .NET SDK version).
 */
export async function projectFingerprint(projectDir: string, extra: unknown, inputs: CompileInputs = { facts: {} }): Promise<string> {
  const ignored = new Set(inputs.ignoreDirs ?? []);
  const files = (await listProjectFiles(projectDir)).filter((rel) => !NOT_COMPILE_INPUTS.has(rel) && !ignored.has(rel.split("/")[0]!));
  const h = createHash("sha256");
  h.update(JSON.stringify({ extra, facts: inputs.facts }));
  for (const rel of files) h.update(`\0${rel}\0${await sha256File(join(projectDir, rel))}`);
  const locks = inputs.packageLockfiles === false ? [] : await nearestLockfiles(projectDir);
  for (const lock of locks) h.update(`\0lock\0${await sha256File(lock)}`);
  return h.digest("hex");
}


/**
 * Content fingerprints for the build cache. A compile is reused only when every input
 * that can change its output is the same: the project's own files, the lockfile that pins
 * its dependencies, the compiler and its settings.
 */
import { createHash } from "node:crypto";
import { stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { sha256File } from "../oci/fs-util.ts";
import { listProjectFiles } from "./files.ts";

const LOCKFILES = ["package-lock.json", "bun.lock", "bun.lockb", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml"];

/** The nearest lockfiles at or above `dir` (dependencies may be hoisted to a workspace root). */
async function nearestLockfiles(dir: string): Promise<string[]> {
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

/** sha256 over the project's files (paths + contents), its lockfile(s) and `extra` settings. */
export async function projectFingerprint(projectDir: string, extra: unknown): Promise<string> {
  const files = await listProjectFiles(projectDir);
  const h = createHash("sha256");
  h.update(JSON.stringify(extra));
  for (const rel of files) h.update(`\0${rel}\0${await sha256File(join(projectDir, rel))}`);
  for (const lock of await nearestLockfiles(projectDir)) h.update(`\0lock\0${await sha256File(lock)}`);
  return h.digest("hex");
}


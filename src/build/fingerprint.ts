/**
 * Content fingerprints for the build cache. A compile is reused only when every input
 * that can change its output is the same: the project's own files, the lockfile that pins
 * its dependencies, the compiler and its settings.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";

const SKIP_DIRS = new Set(["node_modules", ".git", "dist", ".aotpack-cache", "out"]);
const LOCKFILES = ["package-lock.json", "bun.lock", "bun.lockb", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml"];

async function hashFile(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

async function listFiles(root: string, dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) await listFiles(root, full, out);
    } else if (entry.isFile() && !entry.name.endsWith(".bun-build")) {
      // (.bun-build files are a running Bun compile's temp output, not project input)
      out.push(relative(root, full).split(sep).join("/"));
    }
  }
}

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
  const files: string[] = [];
  await listFiles(projectDir, projectDir, files);
  files.sort();
  const h = createHash("sha256");
  h.update(JSON.stringify(extra));
  for (const rel of files) h.update(`\0${rel}\0${await hashFile(join(projectDir, rel))}`);
  for (const lock of await nearestLockfiles(projectDir)) h.update(`\0lock\0${await hashFile(lock)}`);
  return h.digest("hex");
}

export { hashFile };

/**
 * Extra project files for the image (`files` globs). Node 20 has no fs.glob, and the
 * patterns we accept are simple (`*`, `**`, `?`), so a small matcher is enough.
 */
import { readdir } from "node:fs/promises";
import { basename, join, relative, sep } from "node:path";
import { looksSecret } from "./config.ts";

/** Never project input: dependencies, VCS data, build outputs, our own cache. */
const SKIP_DIRS = new Set(["node_modules", ".git", "dist", ".aotpack-cache"]);

export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        // `**/` matches zero or more directories; a trailing `**` matches everything below.
        const slash = glob[i + 2] === "/";
        re += slash ? "(?:.*/)?" : ".*";
        i += slash ? 2 : 1;
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

async function walk(root: string, dir: string, out: string[]): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) await walk(root, full, out);
    } else if (entry.isFile() && !entry.name.endsWith(".bun-build")) {
      // (.bun-build files are a running Bun compile's temp output, not project input)
      out.push(relative(root, full).split(sep).join("/"));
    }
  }
}

/** The project's files as sorted `/`-separated relative paths, skipping SKIP_DIRS. */
export async function listProjectFiles(projectDir: string): Promise<string[]> {
  const all: string[] = [];
  await walk(projectDir, projectDir, all);
  return all.sort();
}

export interface MatchedFiles {
  files: string[];
  /** Files a glob matched but that look like secrets and were not named exactly. */
  skippedSecrets: string[];
}

/** Match globs against the project's files (relative paths, sorted). Secrets need an exact name. */
export async function matchProjectFiles(projectDir: string, globs: string[]): Promise<MatchedFiles> {
  if (globs.length === 0) return { files: [], skippedSecrets: [] };
  const all = await listProjectFiles(projectDir);
  const exact = new Set(globs.filter((g) => !/[*?]/.test(g)));
  const patterns = globs.map(globToRegExp);
  const files: string[] = [];
  const skippedSecrets: string[] = [];
  for (const rel of all) {
    if (!patterns.some((re) => re.test(rel))) continue;
    if (looksSecret(basename(rel)) && !exact.has(rel)) skippedSecrets.push(rel);
    else files.push(rel);
  }
  return { files, skippedSecrets };
}

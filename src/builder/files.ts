/**
 * Extra project files for the image (`files` globs). Node 20 has no fs.glob, and the
 * patterns we accept are simple (`*`, `**`, `?`), so a small matcher is enough.
 */
import { readdir } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { looksSecret, looksSecretPath } from "./config.ts";

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

/**
 * May a glob that matched `rel` include it? Secret-looking names need the exact path. A dot
 * segment (`.well-known/`) is allowed when the glob spells that segment out literally, so
 * `public/.well-known/**` opts in while `**` never reaches `.aws/credentials`.
 */
function globAllows(glob: string, rel: string): boolean {
  if (glob === rel) return true;
  if (!looksSecretPath(rel)) return true;
  const segments = rel.split("/");
  if (looksSecret(segments[segments.length - 1]!)) return false;
  const literal = new Set(glob.split("/"));
  return segments.filter((s) => s.startsWith(".")).every((s) => literal.has(s));
}

/** Match globs against the project's files (relative paths, sorted). Secrets and dotfiles need an exact name. */
export async function matchProjectFiles(projectDir: string, globs: string[]): Promise<MatchedFiles> {
  if (globs.length === 0) return { files: [], skippedSecrets: [] };
  const all = await listProjectFiles(projectDir);
  const patterns = globs.map((g) => ({ glob: g, re: globToRegExp(g) }));
  const files: string[] = [];
  const skippedSecrets: string[] = [];
  for (const rel of all) {
    const matching = patterns.filter((p) => p.re.test(rel));
    if (matching.length === 0) continue;
    if (matching.some((p) => globAllows(p.glob, rel))) files.push(rel);
    else skippedSecrets.push(rel);
  }
  return { files, skippedSecrets };
}

/**
 * Extra project files for the image (`files` globs). Node 20 has no fs.glob, and the
 * patterns we accept are simple (`*`, `**`, `?`), so a small matcher is enough.
 */
import { readdir, stat } from "node:fs/promises";
import { UsageError } from "../errors.ts";
import { join, relative, sep } from "node:path";
import { looksSecret, looksSecretPath } from "./config.ts";
import { escapeNameBytes } from "../bytes.ts";

/** Never project input: dependencies, VCS data, build outputs, our own cache. */
const SKIP_DIRS = new Set(["node_modules", ".git", "dist", ".aotpack-cache"]);
/** Skipped folders that a glob naming them still never reaches. */
const NEVER_SHIPPED = new Set([".git", ".aotpack-cache"]);

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

const utf8 = new TextDecoder("utf-8", { fatal: true });

interface Listing {
  files: string[];
  /** Names that are not UTF-8 (escaped, relative): no path string can name them, so they are never read. */
  nonUtf8: string[];
}

async function walk(root: string, dir: string, out: Listing, relDir: string): Promise<void> {
  // Names as bytes: a name that is not UTF-8 would come back with U+FFFD in it, naming no file.
  for (const entry of await readdir(dir, { withFileTypes: true, encoding: "buffer" })) {
    let name: string;
    try {
      name = utf8.decode(entry.name);
    } catch {
      out.nonUtf8.push(`${relDir}${escapeNameBytes(entry.name)}${entry.isDirectory() ? "/" : ""}`);
      continue;
    }
    const full = join(dir, name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(name)) await walk(root, full, out, `${relDir}${name}/`);
    } else if (entry.isFile() && !name.endsWith(".bun-build")) {
      // (.bun-build files are a running Bun compile's temp output, not project input)
      out.files.push(relative(root, full).split(sep).join("/"));
    }
  }
}

async function listing(projectDir: string, subdirs: readonly string[] = []): Promise<Listing> {
  const out: Listing = { files: [], nonUtf8: [] };
  await walk(projectDir, projectDir, out, "");
  for (const sub of subdirs) {
    const st = await stat(join(projectDir, sub)).catch(() => undefined);
    if (st?.isDirectory()) await walk(projectDir, join(projectDir, sub), out, `${sub}/`);
  }
  out.files.sort();
  return out;
}

/** The project's files as sorted `/`-separated relative paths, skipping SKIP_DIRS and names that are not UTF-8. */
export async function listProjectFiles(projectDir: string): Promise<string[]> {
  return (await listing(projectDir)).files;
}

export interface MatchedFiles {
  files: string[];
  /** Globs that matched no file (a typo, or a folder that is not there). */
  unmatched: string[];
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

/**
 * Match globs against the project's files (relative paths, sorted). Secrets and dotfiles need an exact name.
 * A glob whose first segment names a skipped folder (`dist/**`, `node_modules/pkg/views/**`) looks in it:
 * the project asked for it by name. A name that is not UTF-8 and that a glob would match is refused.
 */
export async function matchProjectFiles(projectDir: string, globs: string[]): Promise<MatchedFiles> {
  if (globs.length === 0) return { files: [], unmatched: [], skippedSecrets: [] };
  const named = [...new Set(globs.map((g) => g.split("/")[0]!).filter((first) => SKIP_DIRS.has(first) && !NEVER_SHIPPED.has(first)))];
  const all = await listing(projectDir, named);
  const patterns = globs.map((g) => ({ glob: g, re: globToRegExp(g), used: false }));
  for (const bad of all.nonUtf8) {
    const p = patterns.find((p) => p.re.test(bad.replace(/\/$/, "")) || (bad.endsWith("/") && p.re.test(`${bad}x`)));
    if (p) throw new UsageError(`cannot ship ${bad} (matched by "${p.glob}" in files): its name is not UTF-8; rename it`);
  }
  const files: string[] = [];
  const skippedSecrets: string[] = [];
  for (const rel of all.files) {
    const matching = patterns.filter((p) => p.re.test(rel));
    if (matching.length === 0) continue;
    for (const p of matching) p.used = true;
    if (matching.some((p) => globAllows(p.glob, rel))) files.push(rel);
    else skippedSecrets.push(rel);
  }
  return { files, unmatched: patterns.filter((p) => !p.used).map((p) => p.glob), skippedSecrets };
}

/** What a user should hear about their `files` globs: secrets skipped, globs that match nothing, a whole node_modules shipped. */
export function filesWarnings(globs: readonly string[], matched: MatchedFiles, projectDir: string): string[] {
  const out: string[] = [];
  for (const glob of globs.filter((g) => /^node_modules\/(\*\*?)?$/.test(g))) {
    const n = matched.files.filter((f) => f.startsWith("node_modules/")).length;
    out.push(`files: "${glob}" ships ${n} files of the installed tree: the bundle already holds the code the app imports; name only the files a dependency reads at run time (e.g. "node_modules/PKG/views/**")`);
  }
  for (const glob of matched.unmatched) out.push(`files: "${glob}" matches no file in the project; globs are relative to ${projectDir} (check the path)`);
  for (const s of matched.skippedSecrets) out.push(`skipped ${s}: it looks like a secret; name it exactly in "files" to include it`);
  return out;
}

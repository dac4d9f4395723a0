/**
 * Which file a project's server starts from: `--entry`, else package.json's
 * `aotpack.entry`, `bin`, `main`, `module` (bun init), `exports`, the file `scripts.start` runs,
 * then the conventional src/index.ts, index.ts, src/server.ts, server.ts, index.js, server.js.
 * The first of these that exists wins (npm init writes "main": "index.js" whether or not it
 * exists); when none does, the error names the first one declared.
 */
import { readFile, realpath, stat } from "node:fs/promises";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { AotpackError, UsageError, errorMessage } from "../errors.ts";

const HOW_TO_SET = `set it in package.json as "aotpack": {"entry": "src/server.ts"}, or pass --entry <file>`;

export interface ResolvedEntry {
  /** Absolute path of the entry file. */
  path: string;
  /** Where it came from, for messages: "--entry", "aotpack.entry", "bin", "main", "exports". */
  source: string;
}

/** Absolute path of the entry file; UsageError when none is declared, AotpackError when it does not exist. */
export async function resolveEntry(projectDir: string, explicit?: string): Promise<string> {
  return (await resolveEntryWithSource(projectDir, explicit)).path;
}

export async function resolveEntryWithSource(projectDir: string, explicit?: string): Promise<ResolvedEntry> {
  const root = resolve(projectDir);
  const candidates = explicit !== undefined && explicit !== "" ? [{ rel: explicit, source: "--entry" }] : await fromPackageJson(root);
  const pathOf = (rel: string) => (isAbsolute(rel) ? rel : join(root, rel));
  for (const c of candidates) {
    const path = pathOf(c.rel);
    if ((await stat(path).catch(() => undefined))?.isFile()) {
      // Resolved through symlinks: a link inside the project to /etc/passwd is still outside it.
      const [realRoot, realPath] = await Promise.all([realpath(root), realpath(path)]);
      if (!realPath.startsWith(realRoot + sep)) {
        throw new UsageError(`entry ${c.rel} (from ${c.source}) is outside the project ${root}`, {
          hint: "the entry must be a file inside the project directory",
        });
      }
      return { path, source: c.source };
    }
    // An explicit entry is never second-guessed.
    if (c.source === "--entry" || c.source === "aotpack.entry") break;
  }
  const found = candidates[0]!;
  throw new AotpackError(`entry ${found.rel} (from ${found.source}) does not exist in ${root}`, {
    hint: found.source === "--entry" ? "the path is relative to the project directory" : `build it first, or ${HOW_TO_SET}`,
  });
}

const CONVENTIONAL = ["src/index.ts", "index.ts", "src/server.ts", "server.ts", "index.js", "server.js"];

async function conventional(root: string): Promise<{ rel: string; source: string }[]> {
  const out = [];
  for (const rel of CONVENTIONAL) if ((await stat(join(root, rel)).catch(() => undefined))?.isFile()) out.push({ rel, source: rel });
  return out;
}

/** The script file `scripts.start` runs: `node server.js`, `bun run src/index.ts`, `node --import tsx src/s.ts`. */
export function startScriptFile(start: string): string | undefined {
  const words = start.split(/\s+/).filter(Boolean);
  let i = 0;
  while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!)) i++; // FOO=bar env prefixes
  if (!/^(node|bun|tsx|ts-node|nodemon)$/.test(words[i] ?? "")) return undefined;
  i++;
  if (words[i] === "run") i++;
  const takesValue = new Set(["--import", "--require", "-r", "--loader", "--env-file", "--conditions", "-C"]);
  for (; i < words.length; i++) {
    const w = words[i]!;
    if (w.startsWith("-")) {
      if (takesValue.has(w)) i++;
      continue;
    }
    return /\.(m|c)?[jt]sx?$/.test(w) ? w.replace(/^\.\//, "") : undefined;
  }
  return undefined;
}

async function fromPackageJson(root: string): Promise<{ rel: string; source: string }[]> {
  const pkgPath = join(root, "package.json");
  let text: string;
  try {
    text = await readFile(pkgPath, "utf8");
  } catch {
    const found = await conventional(root);
    if (found.length) return found;
    throw new UsageError(`no entry: ${root} has no package.json; ${HOW_TO_SET}`);
  }
  let pkg: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not a JSON object");
    pkg = parsed as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`${pkgPath} is not valid JSON: ${errorMessage(err)}`);
  }

  const aotpack = pkg.aotpack;
  if (typeof aotpack === "object" && aotpack !== null && "entry" in aotpack) {
    const entry = (aotpack as Record<string, unknown>).entry;
    if (typeof entry !== "string" || entry === "") throw new UsageError(`${pkgPath}: "aotpack.entry" must be a file path string`);
    return [{ rel: entry, source: "aotpack.entry" }];
  }
  const out: { rel: string; source: string }[] = [];
  const bin = pkg.bin;
  if (typeof bin === "string" && bin !== "") out.push({ rel: bin, source: "bin" });
  if (typeof bin === "object" && bin !== null) {
    const first = Object.values(bin).find((v): v is string => typeof v === "string" && v !== "");
    if (first) out.push({ rel: first, source: "bin" });
  }
  if (typeof pkg.main === "string" && pkg.main !== "") out.push({ rel: pkg.main, source: "main" });
  if (typeof pkg.module === "string" && pkg.module !== "") out.push({ rel: pkg.module, source: "module" });
  const fromExports = exportsEntry(pkg.exports);
  if (fromExports) out.push({ rel: fromExports, source: "exports" });
  const scripts = pkg.scripts as Record<string, unknown> | undefined;
  const start = typeof scripts?.start === "string" ? startScriptFile(scripts.start) : undefined;
  if (start) out.push({ rel: start, source: "scripts.start" });
  out.push(...(await conventional(root)));
  if (out.length) return out;
  throw new UsageError(`no entry: ${relative(process.cwd(), pkgPath) || pkgPath} has no aotpack.entry, bin, main, module, exports, scripts.start or src/index.ts; ${HOW_TO_SET}`);
}

/** The file `exports["."]` (or a bare `exports`) points to, preferring the import/default conditions. */
function exportsEntry(exports: unknown): string | undefined {
  if (typeof exports === "string") return exports;
  if (typeof exports !== "object" || exports === null || Array.isArray(exports)) return undefined;
  const map = exports as Record<string, unknown>;
  const isSubpathMap = Object.keys(map).some((k) => k.startsWith("."));
  return pickCondition(isSubpathMap ? map["."] : map);
}

function pickCondition(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    for (const v of value) {
      const picked = pickCondition(v);
      if (picked) return picked;
    }
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const conditions = value as Record<string, unknown>;
  for (const key of ["import", "node", "default", "require"]) {
    const picked = pickCondition(conditions[key]);
    if (picked) return picked;
  }
  return undefined;
}

/**
 * The compile key is what the compiler read (issue 33). A bundler's record of its inputs exists
 * only after a compile, so the key has two levels, as ccache's direct mode has:
 *  1. the lookup key: the settings, the compiler's facts, the project's own files and the lockfile
 *     (fingerprint.ts). It finds an inputs record: the files the last compiles with that key read;
 *  2. the artifact key: the lookup key plus each recorded input's current sha256. A lookup hashes
 *     the recorded inputs again, so an edit under dist/, in node_modules or outside the project
 *     (a monorepo import) is a miss, wherever the file lives.
 * Inputs are named relative to the repository (or workspace) root, never by absolute path, so the
 * same sources in another checkout folder, or on another machine, give the same keys.
 *
 * Besides the files the bundler names, resolution reads manifests it does not list: every
 * package.json, tsconfig.json and jsconfig.json in the folders above an input (a dependency's
 * `main` or `exports`, `paths`). Those are inputs too. A file that did not exist at the compile and
 * would now shadow a resolved one (a new `index.ts` beside the `index.js` resolved) is not seen,
 * as in ccache; inside the project it is, since level 1 lists the project's files.
 */
import { createHash } from "node:crypto";
import { stat } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { cacheDir, type CacheWarn, keyedStore } from "../cache.ts";
import { sha256File } from "../oci/fs-util.ts";
import { limiter } from "../limit.ts";

/** One recorded input: its path relative to the inputs root (`/`-separated) and its sha256. */
export type InputHash = readonly [path: string, sha256: string];

/** What one lookup key found before: the inputs of up to MAX_CANDIDATES compiles, newest first. */
interface InputsRecord {
  v: 1;
  candidates: { inputs: InputHash[] }[];
}

/** Enough for switching between a few branches without recompiling; each candidate costs a hash of its inputs on lookup. */
const MAX_CANDIDATES = 4;

const RESOLUTION_MANIFESTS = ["package.json", "tsconfig.json", "jsconfig.json"];

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

/**
 * The folder inputs are named from: the nearest enclosing git repository (a `.git` folder or a
 * worktree's `.git` file), else the nearest folder at or above the project with a package lockfile
 * (a workspace root), else the project itself.
 */
export async function inputsRoot(projectDir: string, lockfiles: readonly string[]): Promise<string> {
  for (let dir = resolve(projectDir); ; dir = dirname(dir)) {
    if (await exists(join(dir, ".git"))) return dir;
    if (dirname(dir) === dir) break;
  }
  const lockDirs = lockfiles.map((l) => dirname(resolve(l)));
  return lockDirs.sort((a, b) => a.length - b.length)[0] ?? resolve(projectDir);
}

/** `/`-separated, relative to root (`../x` for a file beyond it: still the same on every machine with the same layout). */
export function rootRelative(root: string, abs: string): string {
  return relative(root, abs).split(sep).join("/");
}

/**
 * The files a compile read, plus the manifests resolution read in the folders above each one, as
 * root-relative names, sorted. `read` holds absolute paths.
 */
export async function compileInputFiles(read: readonly string[], root: string): Promise<string[]> {
  const out = new Set<string>();
  const seenDirs = new Map<string, Promise<string[]>>();
  const manifestsIn = (dir: string): Promise<string[]> => {
    let found = seenDirs.get(dir);
    if (!found) {
      found = (async () => {
        const here: string[] = [];
        for (const name of RESOLUTION_MANIFESTS) if ((await stat(join(dir, name)).catch(() => undefined))?.isFile()) here.push(join(dir, name));
        return here;
      })();
      seenDirs.set(dir, found);
    }
    return found;
  };
  for (const file of read) {
    if (!isAbsolute(file)) throw new Error(`compile input ${file} is not an absolute path`);
    out.add(rootRelative(root, file));
    // Up to the root for a file inside it; to the filesystem root for one outside (its own package).
    const stop = file.startsWith(root + sep) ? root : undefined;
    for (let dir = dirname(file); ; dir = dirname(dir)) {
      for (const m of await manifestsIn(dir)) out.add(rootRelative(root, m));
      if (dir === stop || dirname(dir) === dir) break;
    }
  }
  return [...out].sort();
}

/** Hashes of files, shared by a build's platforms (they read the same sources). Undefined: the file is gone. */
export type HashMemo = Map<string, Promise<string | undefined>>;

const hashing = limiter(8);

function hashOf(abs: string, memo: HashMemo): Promise<string | undefined> {
  let h = memo.get(abs);
  if (!h) {
    h = hashing.run(async () => ((await stat(abs).catch(() => undefined))?.isFile() ? sha256File(abs).catch(() => undefined) : undefined));
    memo.set(abs, h);
  }
  return h;
}

/** Each root-relative file with its current sha256, or undefined when one is gone. */
export async function hashInputs(root: string, files: readonly string[], memo: HashMemo): Promise<InputHash[] | undefined> {
  const hashes = await Promise.all(files.map((f) => hashOf(join(root, f), memo)));
  if (hashes.some((h) => h === undefined)) return undefined;
  return files.map((f, i) => [f, hashes[i]!] as const);
}

/** The artifact's key: the lookup key and every input's name and hash. */
export function artifactKey(lookupKey: string, inputs: readonly InputHash[]): string {
  const h = createHash("sha256").update(`aotpack compile inputs v1\0${lookupKey}`);
  for (const [path, sha] of inputs) h.update(`\0${path}\0${sha}`);
  return h.digest("hex");
}

/** Any input modified since `sinceMs`: its hash taken now may not be what the compile read. */
export async function changedSince(root: string, files: readonly string[], sinceMs: number): Promise<string | undefined> {
  for (const f of files) {
    const st = await stat(join(root, f)).catch(() => undefined);
    if (!st || Math.max(st.mtimeMs, st.ctimeMs) >= sinceMs) return f;
  }
  return undefined;
}

function isInputsRecord(v: unknown): v is InputsRecord {
  const r = v as InputsRecord;
  return (
    typeof r === "object" && r !== null && r.v === 1 && Array.isArray(r.candidates) &&
    r.candidates.every((c) => Array.isArray(c?.inputs) && c.inputs.every((i) => Array.isArray(i) && i.length === 2 && typeof i[0] === "string" && /^[0-9a-f]{64}$/.test(String(i[1])) && !isAbsolute(i[0])))
  );
}

/** The inputs records, one per lookup key (cache section "compile-inputs"). A broken record is dropped with a warning: a miss. */
export function inputsRecords(warn: CacheWarn) {
  const store = keyedStore(cacheDir("compile-inputs"), "compile inputs record", warn);
  return {
    async candidates(lookupKey: string): Promise<InputHash[][]> {
      const bytes = await store.get(lookupKey);
      if (!bytes) return [];
      let record: unknown;
      try {
        record = JSON.parse(Buffer.from(bytes).toString("utf8"));
      } catch {
        record = undefined;
      }
      if (!isInputsRecord(record)) {
        await store.drop!(lookupKey, "not a compile inputs record");
        return [];
      }
      return record.candidates.map((c) => c.inputs);
    },
    /** Record `inputs` as the newest candidate for `lookupKey`. */
    async add(lookupKey: string, inputs: InputHash[]): Promise<void> {
      const key = artifactKey(lookupKey, inputs);
      const older = (await this.candidates(lookupKey)).filter((c) => artifactKey(lookupKey, c) !== key);
      const record: InputsRecord = { v: 1, candidates: [inputs, ...older].slice(0, MAX_CANDIDATES).map((i) => ({ inputs: i })) };
      await store.put(lookupKey, Buffer.from(JSON.stringify(record)));
    },
  };
}

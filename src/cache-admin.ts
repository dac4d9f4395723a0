/**
 * `aotpack cache ls|prune|verify`: where the cache lives, what it holds, eviction by age and
 * by total size (least recently used first), and a full content check. Entry = one unit
 * that is used and dropped whole: an artifact dir, a blob, a layer/base record, a compressed
 * chunk, a .deb, an extracted deb tree, a runtime, a Debian index file, a .NET work dir
 * (CACHE_SECTIONS in cache.ts).
 */
import { lstatSync, readdirSync, type Dirent, type Stats } from "node:fs";
import { readdir, readFile, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CACHE_SECTIONS, cacheMaxBytes, cacheRoot, cacheWriteCount, currentSha256, keyedContent, namesBlob, readCacheRecord, type CacheSection } from "./cache.ts";
import { formatBytes } from "./bytes.ts";
import { removeDeadTemps } from "./oci/fs-util.ts";

export { parseSize } from "./cache.ts";

export interface CacheEntry {
  /** Section: a CACHE_SECTIONS name, or another top-level folder's. */
  section: string;
  path: string;
  bytes: number;
  /** Last write or use (mtime: builds touch entries they reuse; reads alone, e.g. verify, do not count), ms since epoch. */
  usedMs: number;
}

// Listing is synchronous on purpose: 20,000 chunk entries took 1.6 s as one awaited lstat after
// another (a thread-pool round trip each), 0.15 s synchronously (measured under load).
function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function sizeOf(path: string, st: Stats): number {
  if (!st.isDirectory()) return st.size;
  let total = 0;
  let entries: Dirent[] = [];
  try {
    entries = readdirSync(path, { withFileTypes: true, recursive: true });
  } catch {
    // vanished while listing: counts as empty
  }
  for (const e of entries) if (e.isFile()) total += lstatOrUndefined(join(e.parentPath, e.name))?.size ?? 0;
  return total;
}

async function entriesIn(section: CacheSection, root: string): Promise<CacheEntry[]> {
  const out: CacheEntry[] = [];
  const base = join(root, ...section.dir);
  const add = (path: string): void => {
    const st = lstatOrUndefined(path);
    if (st) out.push({ section: section.name, path, bytes: sizeOf(path, st), usedMs: st.mtimeMs });
  };
  for (const name of namesIn(base)) {
    // Dot names are writers' temp files (prune removes the dead ones), not entries.
    if (name.startsWith(".") || section.skip?.includes(name)) continue;
    if (section.depth(name) === 1) add(join(base, name));
    else for (const inner of namesIn(join(base, name))) if (!inner.startsWith(".")) add(join(base, name, inner));
  }
  return out;
}

/** The known sections, plus one per other top-level folder, so nothing in the cache escapes prune. */
async function sectionsOf(root: string): Promise<CacheSection[]> {
  const known = new Set(CACHE_SECTIONS.map((s) => s.dir[0]!));
  const others: CacheSection[] = [];
  for (const e of await readdir(root, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory() && !e.name.startsWith(".") && !known.has(e.name)) others.push({ name: e.name, dir: [e.name], depth: () => 1 });
  }
  return [...CACHE_SECTIONS, ...others];
}

/** Every entry in the cache, by section. */
export async function listCache(root = cacheRoot()): Promise<CacheEntry[]> {
  const out: CacheEntry[] = [];
  for (const section of await sectionsOf(root)) out.push(...(await entriesIn(section, root)));
  return out;
}

/** Entries and sizes per section (`cache ls`). */
export function bySection(entries: CacheEntry[]): Record<string, { entries: number; bytes: number }> {
  const out: Record<string, { entries: number; bytes: number }> = {};
  for (const e of entries) {
    const s = (out[e.section] ??= { entries: 0, bytes: 0 });
    s.entries++;
    s.bytes += e.bytes;
  }
  return out;
}

/** Folders where entries (and so writers' temp files) live: each section's dir, and its shards for depth 2. */
async function entryDirs(root: string): Promise<string[]> {
  const dirs: string[] = [];
  for (const section of await sectionsOf(root)) {
    const base = join(root, ...section.dir);
    dirs.push(base);
    for (const name of await readdir(base).catch(() => [] as string[])) if (!name.startsWith(".") && section.depth(name) === 2) dirs.push(join(base, name));
  }
  return dirs;
}

export interface PruneOptions {
  /** Drop entries not used for this long. */
  olderThanMs?: number;
  /** Then drop least recently used entries until the cache is at most this big. */
  maxBytes?: number;
  now?: number;
  /** Entries never dropped (in use); they still count towards maxBytes. */
  keep?: (entry: CacheEntry) => boolean;
}

/** Remove entries by age and size; returns what was removed. Temp files of dead writers always go. */
export async function pruneCache(options: PruneOptions, root = cacheRoot()): Promise<CacheEntry[]> {
  return (await prune(options, root)).removed;
}

async function prune(options: PruneOptions, root: string): Promise<{ removed: CacheEntry[]; remainingBytes: number }> {
  for (const dir of await entryDirs(root)) await removeDeadTemps(dir);
  const now = options.now ?? Date.now();
  const entries = (await listCache(root)).sort((a, b) => a.usedMs - b.usedMs);
  const removed: CacheEntry[] = [];
  let total = entries.reduce((n, e) => n + e.bytes, 0);
  for (const e of entries) {
    const old = options.olderThanMs !== undefined && now - e.usedMs > options.olderThanMs;
    const over = options.maxBytes !== undefined && total > options.maxBytes;
    if ((!old && !over) || options.keep?.(e)) continue;
    await rm(e.path, { recursive: true, force: true });
    total -= e.bytes;
    removed.push(e);
  }
  return { removed, remainingBytes: total };
}

export interface VerifyProblem {
  path: string;
  problem: string;
}

/**
 * Hash every content-addressed entry against its name or record; bad entries are removed
 * (as a build would on use) and reported.
 */
export async function verifyCache(root = cacheRoot()): Promise<{ checked: number; problems: VerifyProblem[] }> {
  const problems: VerifyProblem[] = [];
  let checked = 0;
  const drop = async (path: string, problem: string): Promise<void> => {
    problems.push({ path, problem });
    await rm(path, { recursive: true, force: true });
  };
  const byName = async (dir: string, suffix: string): Promise<void> => {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const m = new RegExp(`^([0-9a-f]{64})${suffix.replace(".", "\\.")}$`).exec(name);
      if (!m) continue;
      checked++;
      const actual = await currentSha256(join(dir, name));
      if (actual !== m[1]) await drop(join(dir, name), `content hashes to ${actual?.slice(0, 12) ?? "nothing"}…, not its name`);
    }
  };
  await byName(join(root, "blobs", "sha256"), "");
  await byName(join(root, "debs"), ".deb");
  await byName(join(root, "debian", "indexes"), ".xz");

  // Keyed entries carry the sha256 of their bytes in front of them: compressed chunks, compile inputs records, parsed Packages indexes.
  const parsed = join(root, "debian", "parsed");
  const parsedIndexes = (await readdir(parsed).catch(() => [] as string[])).map((kk) => join(parsed, kk));
  const keyedPaths = [
    ...(await entriesIn(CACHE_SECTIONS.find((s) => s.name === "chunks")!, root)).map((e) => e.path),
    ...(await entriesIn(CACHE_SECTIONS.find((s) => s.name === "compile-inputs")!, root)).map((e) => e.path),
    ...(await Promise.all(parsedIndexes.map(async (dir) => (await readdir(dir).catch(() => [] as string[])).map((n) => join(dir, n))))).flat(),
  ];
  for (const path of keyedPaths) {
    checked++;
    const file = await readFile(path).catch(() => undefined);
    if (!file || !keyedContent(file)) await drop(path, "its bytes do not hash to the sha256 stored with them");
  }

  // Records that name the sha256 of each file they point to. A broken record is reported by its file
  // (readCacheRecord's warning) and its entry removed, as a build would on use.
  const record = <T>(path: string, what: string, valid: (v: unknown) => v is T, entry = path): Promise<T | undefined> =>
    readCacheRecord(path, what, valid, (problem) => problems.push({ path, problem }), entry);
  for (const key of await readdir(join(root, "artifacts")).catch(() => [] as string[])) {
    const dir = join(root, "artifacts", key);
    if (!(await stat(join(dir, "artifact.json")).catch(() => undefined))) continue;
    checked++;
    const isArtifact = (v: unknown): v is { layers: { files: { relSource: string; sha256: string }[] }[] } =>
      Array.isArray((v as { layers?: unknown } | null)?.layers) &&
      (v as { layers: unknown[] }).layers.every((l) => Array.isArray((l as { files?: unknown } | null)?.files) && (l as { files: unknown[] }).files.every((f) => typeof (f as { relSource?: unknown } | null)?.relSource === "string"));
    const parsed = await record(join(dir, "artifact.json"), "artifact record", isArtifact, dir);
    if (!parsed) continue;
    for (const f of parsed.layers.flatMap((l) => l.files)) {
      const source = f.relSource.startsWith("/") ? f.relSource : join(dir, f.relSource);
      if ((await currentSha256(source)) !== f.sha256) {
        await drop(dir, `${source} does not match its recorded sha256`);
        break;
      }
    }
  }
  for (const sha of await readdir(join(root, "debs", "tree")).catch(() => [] as string[])) {
    const dir = join(root, "debs", "tree", sha);
    if (!(await stat(join(dir, "manifest.json")).catch(() => undefined))) continue;
    checked++;
    const isManifest = (v: unknown): v is { path: string; type: string; extracted?: boolean; sha256?: string }[] => Array.isArray(v) && v.every((e) => typeof (e as { path?: unknown } | null)?.path === "string");
    const list = await record(join(dir, "manifest.json"), "extracted tree manifest", isManifest, dir);
    if (!list) continue;
    for (const e of list) {
      if (e.type !== "file" || !e.extracted) continue;
      if (!e.sha256 || (await currentSha256(join(dir, "root", e.path))) !== e.sha256) {
        await drop(dir, `${e.path} changed since extraction`);
        break;
      }
    }
  }
  for (const entry of await entriesIn(CACHE_SECTIONS.find((s) => s.name === "runtimes")!, root)) {
    for (const name of await readdir(entry.path).catch(() => [] as string[])) {
      if (!name.endsWith(".sha256")) continue;
      checked++;
      const exe = join(entry.path, name.slice(0, -".sha256".length));
      const recorded = (await readFile(join(entry.path, name), "utf8").catch(() => "")).trim();
      if ((await currentSha256(exe)) !== recorded) await drop(entry.path, `${exe} does not match its recorded sha256`);
    }
  }
  // Layer and base records whose blob is gone are harmless (rebuilt on use) but useless.
  for (const section of ["layers", "bases"]) {
    for (const name of await readdir(join(root, section)).catch(() => [] as string[])) {
      if (!name.endsWith(".json")) continue;
      const path = join(root, section, name);
      checked++;
      const r = await record(path, `${section === "layers" ? "layer" : "base"} record`, namesBlob);
      if (r && !(await stat(join(root, "blobs", "sha256", r.descriptor.digest.slice("sha256:".length))).catch(() => undefined))) await drop(path, "its blob is missing");
    }
  }
  // A cached InRelease is checked with gpgv, against the build's keyring, when it is used; here only that it is a signed message.
  const debian = join(root, "debian");
  for (const mirror of await readdir(debian).catch(() => [] as string[])) {
    if (mirror === "indexes" || mirror === "parsed") continue;
    for (const suite of await readdir(join(debian, mirror)).catch(() => [] as string[])) {
      const path = join(debian, mirror, suite, "InRelease");
      const text = await readFile(path, "utf8").catch(() => undefined);
      if (text === undefined) continue;
      checked++;
      if (!text.startsWith("-----BEGIN PGP SIGNED MESSAGE-----") || !text.includes("-----BEGIN PGP SIGNATURE-----")) await drop(path, "not a signed InRelease (a clear-signed PGP message)");
    }
  }
  return { checked, problems };
}

const AGE_UNITS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** "30d", "12h", "90m", "2w" → milliseconds; undefined when it does not parse. */
export function parseAge(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i.exec(text.trim());
  return m ? Number(m[1]) * AGE_UNITS[m[2]!.toLowerCase()]! : undefined;
}

/** Entries used this recently are never evicted after a build: another build may be using them. */
const IN_USE_GRACE_MS = 10 * 60e3;

/**
 * After a build: when it wrote to the cache (cacheWriteCount moved past `writesAtStart`), cut the
 * cache to cacheMaxBytes(), least recently used first, keeping every entry used since the build
 * started (each hit bumps its mtime; a new entry is new) or in the last minutes, and `keep` (paths
 * the result still reads lazily, e.g. a registry base's blobs). A build that only read the cache
 * does not even list it. Best effort: a failure is a warning, never a failed build.
 */
export async function evictAfterBuild(options: { startedMs: number; writesAtStart: number; keep?: Iterable<string>; report?: (message: string) => void; root?: string; env?: NodeJS.ProcessEnv }): Promise<CacheEntry[]> {
  const maxBytes = cacheMaxBytes(options.env);
  if (maxBytes === undefined || cacheWriteCount() === options.writesAtStart) return [];
  // A kept path keeps the entry that holds it (a runtime file keeps its runtimes/<pkg>@<version>).
  const keep = new Set<string>();
  for (const p of options.keep ?? []) for (let d = p; !keep.has(d) && d !== dirname(d); d = dirname(d)) keep.add(d);
  // 1 s of slack: file-system timestamps can trail Date.now() by a clock tick.
  const since = Math.min(options.startedMs, Date.now() - IN_USE_GRACE_MS) - 1000;
  try {
    const { removed, remainingBytes } = await prune({ maxBytes, keep: (e) => e.usedMs >= since || keep.has(e.path) }, options.root ?? cacheRoot());
    if (removed.length || remainingBytes > maxBytes) {
      const freed = removed.reduce((n, e) => n + e.bytes, 0);
      const left = remainingBytes > maxBytes ? `; the ${formatBytes(remainingBytes)} left is in use (this build, or one in the last 10 minutes)` : "";
      const cap = (options.env ?? process.env).AOTPACK_CACHE_MAX_SIZE?.trim()
        ? `AOTPACK_CACHE_MAX_SIZE ${formatBytes(maxBytes)}`
        : `${formatBytes(maxBytes)}, the default cap; set AOTPACK_CACHE_MAX_SIZE (e.g. 10GiB, or off) to change it`;
      const what = `${removed.length} least recently used ${removed.length === 1 ? "entry" : "entries"}`;
      options.report?.(`cache: evicted ${what} (${formatBytes(freed)}) to stay under ${cap}${left}`);
    }
    return removed;
  } catch (err) {
    options.report?.(`cache: could not evict old entries: ${(err as Error).message}`);
    return [];
  }
}

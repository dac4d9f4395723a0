/**
 * `aotpack cache ls|prune|verify`: where the cache lives, what it holds, eviction by age and
 * by total size (least recently used first), and a full content check. Entry = one unit
 * that is used and dropped whole: an artifact dir, a blob, a layer/base record, a .deb, an
 * extracted deb tree, a runtime, a Debian index file.
 */
import { lstat, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { cacheRoot, currentSha256 } from "./cache.ts";
import { removeDeadTemps } from "./oci/fs-util.ts";

export interface CacheEntry {
  /** Section: artifacts, blobs, layers, bases, debs, deb-trees, runtimes, debian. */
  section: string;
  path: string;
  bytes: number;
  /** Last write or use (mtime: builds touch entries they reuse; reads alone, e.g. verify, do not count), ms since epoch. */
  usedMs: number;
}

async function sizeOf(path: string): Promise<number> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const e of await readdir(path, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (e.isFile()) total += (await lstat(join(e.parentPath, e.name)).catch(() => undefined))?.size ?? 0;
  }
  return total;
}

async function entriesIn(section: string, dir: string, filter: (name: string) => boolean = () => true): Promise<CacheEntry[]> {
  const out: CacheEntry[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    // Dot names are writers' temp files (prune removes the dead ones), not entries.
    if (name.startsWith(".") || !filter(name)) continue;
    const path = join(dir, name);
    const st = await lstat(path).catch(() => undefined);
    if (!st) continue;
    out.push({ section, path, bytes: await sizeOf(path), usedMs: st.mtimeMs });
  }
  return out;
}

/** Every entry in the cache, by section. */
export async function listCache(root = cacheRoot()): Promise<CacheEntry[]> {
  const runtimes: CacheEntry[] = [];
  for (const scope of await readdir(join(root, "runtimes")).catch(() => [] as string[])) {
    // npm scopes (@oven/…) are one level deeper.
    if (scope.startsWith("@")) runtimes.push(...(await entriesIn("runtimes", join(root, "runtimes", scope))));
    else runtimes.push(...(await entriesIn("runtimes", join(root, "runtimes"), (n) => n === scope)));
  }
  const debian: CacheEntry[] = [];
  for (const sub of await readdir(join(root, "debian")).catch(() => [] as string[])) {
    debian.push(...(await entriesIn("debian", join(root, "debian", sub))));
  }
  return [
    ...(await entriesIn("artifacts", join(root, "artifacts"))),
    ...(await entriesIn("blobs", join(root, "blobs", "sha256"))),
    ...(await entriesIn("layers", join(root, "layers"))),
    ...(await entriesIn("bases", join(root, "bases"))),
    ...(await entriesIn("debs", join(root, "debs"), (n) => n !== "tree")),
    ...(await entriesIn("deb-trees", join(root, "debs", "tree"))),
    ...runtimes,
    ...debian,
  ];
}

export interface PruneOptions {
  /** Drop entries not used for this long. */
  olderThanMs?: number;
  /** Then drop least recently used entries until the cache is at most this big. */
  maxBytes?: number;
  now?: number;
}

/** Remove entries by age and size; returns what was removed. Temp files of dead writers always go. */
export async function pruneCache(options: PruneOptions, root = cacheRoot()): Promise<CacheEntry[]> {
  for (const dir of ["blobs/sha256", "layers", "bases", "debs", "debs/tree", "artifacts", "debian/indexes"]) await removeDeadTemps(join(root, dir));
  const now = options.now ?? Date.now();
  const entries = (await listCache(root)).sort((a, b) => a.usedMs - b.usedMs);
  const removed: CacheEntry[] = [];
  let total = entries.reduce((n, e) => n + e.bytes, 0);
  for (const e of entries) {
    const old = options.olderThanMs !== undefined && now - e.usedMs > options.olderThanMs;
    const over = options.maxBytes !== undefined && total > options.maxBytes;
    if (!old && !over) continue;
    await rm(e.path, { recursive: true, force: true });
    total -= e.bytes;
    removed.push(e);
  }
  return removed;
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

  // Records that name the sha256 of each file they point to.
  for (const key of await readdir(join(root, "artifacts")).catch(() => [] as string[])) {
    const dir = join(root, "artifacts", key);
    const meta = await readFile(join(dir, "artifact.json"), "utf8").catch(() => undefined);
    if (meta === undefined) continue;
    checked++;
    try {
      const parsed = JSON.parse(meta) as { layers: { files: { relSource: string; sha256: string }[] }[] };
      for (const f of parsed.layers.flatMap((l) => l.files)) {
        const source = f.relSource.startsWith("/") ? f.relSource : join(dir, f.relSource);
        if ((await currentSha256(source)) !== f.sha256) throw new Error(`${source} does not match its recorded sha256`);
      }
    } catch (err) {
      await drop(dir, (err as Error).message);
    }
  }
  for (const sha of await readdir(join(root, "debs", "tree")).catch(() => [] as string[])) {
    const dir = join(root, "debs", "tree", sha);
    const manifest = await readFile(join(dir, "manifest.json"), "utf8").catch(() => undefined);
    if (manifest === undefined) continue;
    checked++;
    try {
      const list = JSON.parse(manifest) as { path: string; type: string; extracted?: boolean; sha256?: string }[];
      for (const e of list) {
        if (e.type !== "file" || !e.extracted) continue;
        if (!e.sha256 || (await currentSha256(join(dir, "root", e.path))) !== e.sha256) throw new Error(`${e.path} changed since extraction`);
      }
    } catch (err) {
      await drop(dir, (err as Error).message);
    }
  }
  for (const entry of (await listCache(root)).filter((e) => e.section === "runtimes")) {
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
      const digest = await readFile(path, "utf8").then((t) => (JSON.parse(t) as { descriptor?: { digest?: string } }).descriptor?.digest, () => undefined);
      const hex = /^sha256:([0-9a-f]{64})$/.exec(digest ?? "")?.[1];
      if (!hex || !(await stat(join(root, "blobs", "sha256", hex)).catch(() => undefined))) await drop(path, "its blob is missing or the record is unreadable");
    }
  }
  return { checked, problems };
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
const AGE_UNITS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** "2GB", "500MB", "1.5g", "800MiB" → bytes; undefined when it does not parse. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  return m && unit !== undefined ? Math.round(Number(m[1]) * unit) : undefined;
}

/** "30d", "12h", "90m", "2w" → milliseconds; undefined when it does not parse. */
export function parseAge(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i.exec(text.trim());
  return m ? Number(m[1]) * AGE_UNITS[m[2]!.toLowerCase()]! : undefined;
}

/**
 * aotpack's on-disk cache: where it lives, and the rules every entry follows, whatever it holds
 * (artifacts, layer and base records, blobs, compressed chunks, .debs and their extracted trees,
 * Debian indexes, npm runtimes, .NET work dirs). An entry is one unit that is used and dropped
 * whole; CACHE_SECTIONS says where each kind lives.
 *
 * - Keys: an entry is named by a sha256 (hex), of its bytes (blobs/sha256/<hex>, debs/<hex>.deb,
 *   debian/indexes/<hex>.xz) or of everything its bytes are a function of (artifacts/<key>,
 *   layers/<key>.json, bases/<key>.json, chunks/<kk>/<key>, debs/tree/<.deb sha256>). The few
 *   named by what they are (runtimes/<pkg>@<version>) record the sha256 of their bytes beside them.
 * - Verified on read: the bytes are hashed WHEN USED (never trusted from size and mtime) against
 *   the name or the recorded sha256. A mismatch deletes the entry, with a warning, and is a miss:
 *   the caller rebuilds it. (Hashing costs about 0.2 s per 100 MB; see docs/benchmarks.md.)
 * - Atomic writes: a unique temp name beside the target (a dot name, never an entry), then one
 *   rename. Concurrent writers of one key write the same bytes; for a file the last rename wins,
 *   for a directory the first one placed wins (placeDirEntry).
 * - Eviction: least recently used first. Last use is the entry's mtime, bumped on every hit
 *   (touchUsed; reads for `cache verify` do not count). `aotpack cache prune` evicts by age and
 *   size; after a build that wrote to the cache, the cache is cut to AOTPACK_CACHE_MAX_SIZE
 *   (default 3 GiB), never evicting an entry used since the build started (cache-admin.ts).
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, rm, stat, utimes } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { AotpackError, UsageError } from "./errors.ts";
import { DigestCounter } from "./oci/digest.ts";
import { errnoCode, fsError, pipelineToNewFile, sha256File, tempPathBeside, writeFileAtomic } from "./oci/fs-util.ts";

/**
 * Root of aotpack's on-disk caches (runtimes, blobs, Debian packages, build cache).
 * `AOTPACK_CACHE_DIR` wins, then `$XDG_CACHE_HOME/aotpack`, then `~/.cache/aotpack`.
 * Every module keeps its own subfolder: cacheDir("runtimes"), cacheDir("blobs"), …
 */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AOTPACK_CACHE_DIR) return env.AOTPACK_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "aotpack");
  return join(homedir(), ".cache", "aotpack");
}

export function cacheDir(sub: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), sub);
}

/**
 * Where each kind of entry lives under the root: `dir`, then `depth` levels of names (2 where
 * entries are sharded or scoped). Top-level folders not listed here count as sections of
 * depth 1 named after the folder, so nothing in the cache escapes `prune`.
 */
export interface CacheSection {
  name: string;
  dir: string[];
  /** Levels below `dir` that name one entry (by the first level's name). */
  depth: (first: string) => 1 | 2;
  /** First-level names that are not entries of this section (another section's folder). */
  skip?: string[];
}

const one = (): 1 => 1;
export const CACHE_SECTIONS: readonly CacheSection[] = [
  { name: "artifacts", dir: ["artifacts"], depth: one },
  { name: "compile-inputs", dir: ["compile-inputs"], depth: () => 2 },
  { name: "blobs", dir: ["blobs", "sha256"], depth: one },
  { name: "layers", dir: ["layers"], depth: one },
  { name: "bases", dir: ["bases"], depth: one },
  { name: "chunks", dir: ["chunks"], depth: () => 2 },
  { name: "debs", dir: ["debs"], depth: one, skip: ["tree"] },
  { name: "deb-trees", dir: ["debs", "tree"], depth: one },
  // npm scopes (@oven/…) are one level deeper.
  { name: "runtimes", dir: ["runtimes"], depth: (first) => (first.startsWith("@") ? 2 : 1) },
  { name: "debian", dir: ["debian"], depth: () => 2 },
  { name: "dotnet-work", dir: ["dotnet-work"], depth: one },
];

/** Bumped by every write of an entry, so a build can tell whether it added anything (and only then evict). */
let writes = 0;
export function noteCacheWrite(): void {
  writes++;
}
export function cacheWriteCount(): number {
  return writes;
}

/** Where bad entries are reported ("dropped … rebuilding"); builds pass reporter.warn. */
export type CacheWarn = (message: string) => void;

/** sha256 hex of a file, or undefined when it cannot be read. */
export function currentSha256(path: string): Promise<string | undefined> {
  return sha256File(path).catch(() => undefined);
}

/**
 * Does `path` hold exactly the bytes `sha256Hex` names? A file that does not is removed
 * (with a warning when it existed), so the caller rebuilds it.
 */
export async function verifyCachedFile(path: string, sha256Hex: string, what: string, warn?: CacheWarn): Promise<boolean> {
  const actual = await currentSha256(path);
  if (actual === sha256Hex) return true;
  if (actual !== undefined) {
    warn?.(`cache: ${what} is corrupt (sha256 ${actual.slice(0, 12)}…, expected ${sha256Hex.slice(0, 12)}…); dropped it, rebuilding`);
    await rm(path, { force: true });
  }
  return false;
}

/**
 * A JSON record this cache wrote (a layer or base record, an artifact's or a deb tree's manifest), or
 * undefined: absent, or broken (unreadable, not JSON, not the shape `valid` accepts). A broken record
 * is a miss, never a failed build: `drop` (the record, or the entry holding it) is removed with a
 * warning naming the file, and the caller makes the entry again.
 */
export async function readCacheRecord<T>(path: string, what: string, valid: (value: unknown) => value is T, warn: CacheWarn | undefined, drop = path): Promise<T | undefined> {
  let why: string;
  try {
    const value: unknown = JSON.parse(await readFile(path, "utf8"));
    if (valid(value)) return value;
    why = "not the record it should be";
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return undefined;
    why = err instanceof SyntaxError ? `not JSON: ${err.message}` : (err as Error).message;
  }
  warn?.(`cache: ${what} ${path} is unreadable (${why}); dropped it, rebuilding`);
  await rm(drop, { recursive: true, force: true }).catch(() => {});
  return undefined;
}

/** A layer or base record's shape: it names a blob by its sha256 digest and size. */
export function namesBlob(value: unknown): value is { descriptor: { digest: `sha256:${string}`; size: number } } {
  const d = (value as { descriptor?: { digest?: unknown; size?: unknown } } | null)?.descriptor;
  return typeof d?.digest === "string" && /^sha256:[0-9a-f]{64}$/.test(d.digest) && typeof d.size === "number" && d.size >= 0;
}

/** Path of a content-addressed blob: cacheDir(sub)/sha256/<hex>. */
export function casPath(sub: string, sha256Hex: string): string {
  return join(cacheDir(sub), "sha256", sha256Hex);
}

/** A verified cached blob's path, or undefined (a corrupt one is dropped). */
export async function casGet(sub: string, sha256Hex: string, warn?: CacheWarn): Promise<string | undefined> {
  const path = casPath(sub, sha256Hex);
  if (!(await stat(path).catch(() => undefined))?.isFile()) return undefined;
  if (!(await verifyCachedFile(path, sha256Hex, `${sub} blob ${sha256Hex.slice(0, 12)}…`, warn))) return undefined;
  await touchUsed(path);
  return path;
}

/** Store bytes content-addressed (temp + rename); returns their sha256 hex and path. */
export async function casPut(sub: string, data: Buffer | Readable): Promise<{ sha256: string; path: string; size: number }> {
  const dir = join(cacheDir(sub), "sha256");
  await mkdir(dir, { recursive: true }).catch((err: unknown) => {
    throw cacheFsError(err, "creating", dir);
  });
  const tmp = tempPathBeside(join(dir, "blob"));
  const counter = new DigestCounter();
  try {
    await pipelineToNewFile(tmp, () => [Buffer.isBuffer(data) ? Readable.from([data]) : data, counter]);
    const { digest, size } = counter.result();
    const sha = digest.slice("sha256:".length);
    const path = join(dir, sha);
    await rename(tmp, path);
    noteCacheWrite();
    return { sha256: sha, path, size };
  } catch (err) {
    await rm(tmp, { force: true });
    throw cacheFsError(err, "writing", dir);
  }
}

/** fsError, plus the hint that a full cache is about disk space (and where the cache is), not the network. */
export function cacheFsError(err: unknown, verb: "writing" | "reading" | "creating" | "renaming", path: string): AotpackError {
  const e = fsError(err, verb, path);
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== "ENOSPC" && code !== "EDQUOT") return e;
  return new AotpackError(e.message, { cause: err, hint: DISK_FULL_HINT() });
}

export const DISK_FULL_HINT = (): string =>
  `the aotpack cache at ${cacheRoot()} is on a full disk: free space, run 'aotpack cache prune --max-size 2GB', or set AOTPACK_CACHE_DIR to another disk`;

/** Mark entries as just used, for `cache prune`'s least-recently-used order. Best effort. */
export async function touchUsed(...paths: string[]): Promise<void> {
  const now = new Date();
  await Promise.all(paths.map((p) => utimes(p, now, now).catch(() => {})));
}

/**
 * Place a directory entry built at `tmp` (beside it, from tempPathBeside) as `dir`. False when
 * another writer placed `dir` first (same key: same content); `tmp` is then left to the caller,
 * who uses theirs or, if theirs fails verification, removes it and places again.
 */
export async function placeDirEntry(tmp: string, dir: string): Promise<boolean> {
  try {
    await rename(tmp, dir);
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOTEMPTY" || code === "EEXIST") return false;
    throw cacheFsError(err, "renaming", dir);
  }
  noteCacheWrite();
  return true;
}

/** Bytes stored under a key (a sha256 hex of their inputs), with the sha256 of the bytes in front. */
export interface KeyedStore {
  /** The bytes stored under `key`, or undefined: absent, or failing their content hash (then dropped, with a warning). */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Store `bytes` under `key` (atomically). */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** Remove an entry that failed the caller's own check of its bytes, saying `why` (as a corrupt entry is reported). */
  drop?(key: string, why: string): Promise<void>;
}

const HASH_BYTES = 32;
const KEY_RE = /^[a-f0-9]{64}$/;

/** The sha256 a keyed entry's file records, and the bytes after it; undefined when they disagree. */
export function keyedContent(file: Buffer): Buffer | undefined {
  const bytes = file.subarray(HASH_BYTES);
  if (file.length < HASH_BYTES || !createHash("sha256").update(bytes).digest().equals(file.subarray(0, HASH_BYTES))) return undefined;
  return bytes;
}

/** `<dir>/<key[0..2]>/<key>` holding sha256(bytes) ‖ bytes (sharded: a store may hold 100,000 entries). */
export function keyedStore(dir: string, what: string, warn?: CacheWarn, options: { verifyOnRead?: boolean } = {}): KeyedStore {
  const verifyOnRead = options.verifyOnRead ?? true;
  const pathOf = (key: string): string => {
    if (!KEY_RE.test(key)) throw new Error(`${what} cache key must be 64 hex digits, got ${JSON.stringify(key)}`);
    return join(dir, key.slice(0, 2), key);
  };
  const drop = async (key: string, why: string): Promise<void> => {
    warn?.(`cache: ${what} ${key.slice(0, 12)}… is corrupt (${why}); dropped it, rebuilding`);
    await rm(pathOf(key), { force: true });
  };
  return {
    async get(key) {
      const path = pathOf(key);
      let file: Buffer;
      try {
        file = await readFile(path);
      } catch (err) {
        if (errnoCode(err) === "ENOENT") return undefined;
        throw err;
      }
      const bytes = verifyOnRead ? keyedContent(file) : file.length >= HASH_BYTES ? file.subarray(HASH_BYTES) : undefined;
      if (!bytes) {
        await drop(key, "its bytes do not hash to the sha256 stored with them");
        return undefined;
      }
      await touchUsed(path);
      return bytes;
    },
    drop,
    async put(key, bytes) {
      await writeFileAtomic(pathOf(key), Buffer.concat([createHash("sha256").update(bytes).digest(), bytes]));
      noteCacheWrite();
    },
  };
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };

/** "2GB", "500MB", "1.5g", "800MiB" → bytes; undefined when it does not parse. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  return m && unit !== undefined ? Math.round(Number(m[1]) * unit) : undefined;
}

/**
 * 3 GiB: a laptop's share. One Bun project on two platforms keeps ~0.5 GiB warm (the foreign runtime,
 * two executables, their layers and chunks), a .NET one ~1 GiB with MSBuild's work dirs; what grew to
 * 8.2 GiB in an hour of edits (issue 27) was superseded artifacts and layers.
 */
export const DEFAULT_CACHE_MAX_BYTES = 3 * 1024 ** 3;

/** The cap a build cuts the cache to: AOTPACK_CACHE_MAX_SIZE (a size; 0 or off: none), default 3 GiB. */
export function cacheMaxBytes(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.AOTPACK_CACHE_MAX_SIZE?.trim();
  if (v === undefined || v === "") return DEFAULT_CACHE_MAX_BYTES;
  if (/^(off|none)$/i.test(v)) return undefined;
  const n = parseSize(v);
  if (n === undefined) throw new UsageError(`invalid AOTPACK_CACHE_MAX_SIZE "${v}": expected a size like 10GB or 800MiB, or off`);
  return n === 0 ? undefined : n;
}

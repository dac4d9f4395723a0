/**
 * aotpack's on-disk cache: where it lives, and the one rule every entry follows. Entries
 * are content-addressed (a blob under `<sub>/sha256/<hex>`, or a record that names the
 * sha256 of every file it points to) and are re-hashed WHEN USED, never trusted from size
 * and mtime: a bad entry is dropped with a warning and rebuilt, never shipped.
 * (Hashing costs about 0.2 s per 100 MB; see docs/benchmarks.md.)
 */
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat, utimes } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { AotpackError } from "./errors.ts";
import { DigestCounter } from "./oci/digest.ts";
import { fsError, sha256File, tempPathBeside } from "./oci/fs-util.ts";

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

/** Path of a content-addressed blob: cacheDir(sub)/sha256/<hex>. */
export function casPath(sub: string, sha256Hex: string): string {
  return join(cacheDir(sub), "sha256", sha256Hex);
}

/** A verified cached blob's path, or undefined (a corrupt one is dropped). */
export async function casGet(sub: string, sha256Hex: string, warn?: CacheWarn): Promise<string | undefined> {
  const path = casPath(sub, sha256Hex);
  if (!(await stat(path).catch(() => undefined))?.isFile()) return undefined;
  return (await verifyCachedFile(path, sha256Hex, `${sub} blob ${sha256Hex.slice(0, 12)}…`, warn)) ? path : undefined;
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
    await pipeline(Buffer.isBuffer(data) ? Readable.from([data]) : data, counter, createWriteStream(tmp, { flags: "wx" }));
    const { digest, size } = counter.result();
    const sha = digest.slice("sha256:".length);
    const path = join(dir, sha);
    await rename(tmp, path);
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

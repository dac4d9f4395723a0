import { homedir } from "node:os";
import { join } from "node:path";

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

/**
 * Path resolution inside an unpacked image root, as if the process were chrooted there:
 * every symlink met on the way is read and resolved against the root (an absolute target
 * restarts at the root, `..` stops at the root), so no walk ever leaves the root.
 * This is what makes writes through image-supplied symlinks safe (after securejoin).
 */
import { lstat, readlink } from "node:fs/promises";
import type { Stats } from "node:fs";
import { join, posix } from "node:path";
import { AotpackError } from "../errors.ts";

/** Linux's own limit for symlinks followed in one lookup (MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

function components(p: string): string[] {
  return p.split("/").filter((c) => c !== "" && c !== ".");
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw err;
  }
}

/**
 * The host path for `imagePath` inside `root`. Symlinks in parent components are always
 * followed (within the root); the last component is followed only when `followFinal`.
 * Missing components are fine: the result is where they would be created.
 */
export async function resolveInRoot(root: string, imagePath: string, options: { followFinal: boolean }): Promise<string> {
  const queue = components(imagePath);
  const resolved: string[] = [];
  let symlinks = 0;
  while (queue.length > 0) {
    const part = queue.shift() as string;
    if (part === "..") {
      resolved.pop(); // `..` at the root stays at the root, as the kernel does for "/.."
      continue;
    }
    const isLast = queue.length === 0;
    const hostPath = join(root, ...resolved, part);
    if (!isLast || options.followFinal) {
      const st = await lstatOrUndefined(hostPath);
      if (st?.isSymbolicLink()) {
        if (++symlinks > MAX_SYMLINKS) {
          throw new AotpackError(`too many levels of symbolic links resolving ${imagePath} inside the image`);
        }
        const target = await readlink(hostPath);
        if (target.startsWith("/")) resolved.length = 0;
        queue.unshift(...components(target));
        continue;
      }
    }
    resolved.push(part);
  }
  return join(root, ...resolved);
}

/**
 * A tar entry name or hardlink target as a clean image path ("/a/b"), or undefined when
 * it climbs above the root by itself ("../x", "a/../../x"): such names are refused, not clamped.
 */
export function cleanImagePath(name: string): string | undefined {
  const rel = posix.normalize(name.replace(/^\/+/, "")).replace(/\/+$/, "");
  if (rel === ".." || rel.startsWith("../")) return undefined;
  return rel === "." || rel === "" ? "/" : `/${rel}`;
}

/** Like `resolveInRoot(..., {followFinal: true})`, then lstat: undefined when nothing is there. */
export async function statInRoot(root: string, imagePath: string): Promise<{ hostPath: string; stats: Stats } | undefined> {
  const hostPath = await resolveInRoot(root, imagePath, { followFinal: true });
  const stats = await lstatOrUndefined(hostPath);
  return stats ? { hostPath, stats } : undefined;
}

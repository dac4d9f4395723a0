/** Atomic writes and one-line messages for file-system failures. */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { AotpackError } from "../errors.ts";

const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOENT: "no such file or directory",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  ELOOP: "too many levels of symbolic links",
  EMFILE: "too many open files",
  ENAMETOOLONG: "file name too long",
  EIO: "input/output error",
};

export function errnoCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Turn a Node fs error into one line naming the path, e.g.
 * "no space left on device writing /out/blobs/sha256/…". AotpackErrors pass through.
 */
export function fsError(err: unknown, verb: "writing" | "reading" | "creating" | "renaming", path: string): AotpackError {
  if (err instanceof AotpackError) return err;
  const code = errnoCode(err);
  const text = code ? ERRNO_TEXT[code] : undefined;
  if (text) return new AotpackError(`${text} ${verb} ${path}`, { cause: err });
  const msg = err instanceof Error ? err.message : String(err);
  return new AotpackError(`${verb} ${path} failed: ${msg}`, { cause: err });
}

/** A unique temp name beside `target`, so the final rename stays on one file system. */
export function tempPathBeside(target: string): string {
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
}

/** Write small content atomically: temp file beside the target, then rename. */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(target), { recursive: true }).catch((err: unknown) => {
    throw fsError(err, "creating", dirname(target));
  });
  const tmp = tempPathBeside(target);
  try {
    await writeFile(tmp, data);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw fsError(err, "writing", target);
  }
}

/** sha256 of a file as hex, streamed (never the whole file in memory). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

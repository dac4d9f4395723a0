/** Atomic writes and one-line messages for file-system failures. */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, type ReadStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { lstat, mkdir, open, readdir, rename, rm, writeFile } from "node:fs/promises";
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

type PipeStream = NodeJS.ReadableStream | NodeJS.ReadWriteStream;

/**
 * Pipe the streams `makeStreams` returns into a new file at `tmp`, created (exclusively) before any
 * byte flows. A caller that removes `tmp` on failure then always removes it: `createWriteStream(tmp)`
 * opens on a thread-pool thread, and when the source fails first, the pipeline rejects, the caller's
 * rm finds nothing, and the open creates the file after it (68 leftovers in 2,000 failed writes, seen
 * here). The streams are made only after the open, so none can fail while nothing listens.
 */
export async function pipelineToNewFile(tmp: string, makeStreams: () => readonly PipeStream[] | Promise<readonly PipeStream[]>, mode = 0o644): Promise<void> {
  const handle = await open(tmp, "wx", mode);
  try {
    await pipeline([...(await makeStreams()), handle.createWriteStream()]);
  } finally {
    await handle.close().catch(() => {}); // already closed by the stream, or closed now
  }
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

/**
 * Reads of 1 MiB, not Node's default 64 KiB: a 104 MiB executable is read (and hashed, tarred,
 * chunked) several times per build, and 64 KiB reads cost about 5x the main thread's time.
 */
export const FILE_READ_SIZE = 1 << 20;

/** A file (or the inclusive byte range `start`..`end` of it) as a stream, read FILE_READ_SIZE at a time. */
export function fileReadStream(path: string, range?: { start: number; end: number }): ReadStream {
  return createReadStream(path, { highWaterMark: FILE_READ_SIZE, ...range });
}

/** sha256 of a file as hex, streamed (never the whole file in memory). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(fileReadStream(path), hash);
  return hash.digest("hex");
}

/** Is `pid` a running process (EPERM: it runs, as another user)? */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === "EPERM";
  }
}

const TEMP_NAME = /\.tmp-(\d+)-[0-9a-f]+$/;

/**
 * Remove what killed writers left in `dir`: tempPathBeside names (`.x.tmp-PID-hex`) whose
 * PID is no longer running. (A live PID's temp file may be a concurrent writer's, so it stays.)
 * `only` narrows it to names starting with a prefix. Best effort; returns the bytes freed.
 */
export async function removeDeadTemps(dir: string, only?: string): Promise<number> {
  let freed = 0;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (only !== undefined && !name.startsWith(only)) continue;
    const m = TEMP_NAME.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    const path = join(dir, name);
    const st = await lstat(path).catch(() => undefined);
    if (!st) continue;
    await rm(path, { recursive: true, force: true }).catch(() => {});
    freed += st.size;
  }
  return freed;
}

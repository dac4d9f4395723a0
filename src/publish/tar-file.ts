/** Write a tar file atomically: stream to a temp file beside the target, then rename. */
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { Readable } from "node:stream";
import { AotpackError } from "../errors.ts";
import { errnoCode, fsError, pipelineToNewFile, tempPathBeside } from "../oci/fs-util.ts";
import { tarChunks, type TarEntry } from "../oci/tar.ts";

export async function writeTarAtomic(target: string, entries: TarEntry[]): Promise<void> {
  try {
    await mkdir(dirname(target), { recursive: true });
  } catch (err) {
    throw fsError(err, "creating", dirname(target));
  }
  const tmp = tempPathBeside(target);
  try {
    await pipelineToNewFile(tmp, () => [Readable.from(tarChunks(entries))]);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw fsError(err, "writing", target);
  }
}

/** "missing" or "file"; a directory (or anything else) is refused with one line. */
export async function archiveTargetState(target: string, what: string): Promise<"missing" | "file"> {
  try {
    const st = await stat(target);
    if (st.isFile()) return "file";
    throw new AotpackError(`output path ${target} exists and is ${st.isDirectory() ? "a directory" : "not a regular file"}, not ${what}`);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return "missing";
    throw fsError(err, "reading", target);
  }
}

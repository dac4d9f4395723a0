/** Write a tar file atomically: stream to a temp file beside the target, then rename. */
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { Readable } from "node:stream";
import { AotpackError } from "../errors.ts";
import { errnoCode, fsError, pipelineToNewFile, tempPathBeside } from "../oci/fs-util.ts";
import { indexTarFile, tarChunks, type TarEntry } from "../oci/tar.ts";

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

export type ImageArchiveKind = "docker" | "oci";

/** An image archive has at most a few entries per layer; a tar with more is something else. */
const MAX_ARCHIVE_HEADERS = 10_000;

/**
 * "docker" for a tar whose entries include manifest.json, "oci" for one with oci-layout and index.json,
 * undefined for any other file. Reads the tar headers only, at most MAX_ARCHIVE_HEADERS of them.
 */
export async function imageArchiveKind(file: string): Promise<ImageArchiveKind | undefined> {
  let names: Map<string, unknown>;
  try {
    names = await indexTarFile(file, { maxEntries: MAX_ARCHIVE_HEADERS, maxMetaBytes: 64 << 10 });
  } catch (err) {
    if (err instanceof AotpackError) return undefined;
    throw fsError(err, "reading", file);
  }
  if (names.has("oci-layout") && names.has("index.json")) return "oci";
  return names.has("manifest.json") ? "docker" : undefined;
}

/**
 * What an archive output finds at `target`: nothing, an image archive of a kind in `replaces` (it may be
 * replaced), or, without `force`, a one-line refusal. A directory is refused whatever `force` says.
 */
export async function archiveTarget(
  target: string,
  replaces: readonly ImageArchiveKind[],
  force: boolean | undefined,
  what: string,
): Promise<{ state: "missing" } | { state: "file"; kind: ImageArchiveKind | undefined } | { state: "refused"; problem: string }> {
  if ((await archiveTargetState(target, what)) === "missing") return { state: "missing" };
  const kind = await imageArchiveKind(target);
  if (force || (kind !== undefined && replaces.includes(kind))) return { state: "file", kind };
  const is = kind === "docker" ? "a docker archive, not an OCI archive" : "not an image archive (no manifest.json, nor oci-layout and index.json)";
  return { state: "refused", problem: `${target} exists and is ${is}; pass --force to overwrite it` };
}

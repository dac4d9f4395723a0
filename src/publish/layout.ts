/**
 * OCI image layout directory sink. Creates a layout, or appends to an existing one
 * without ever leaving it broken: content-addressed blobs first (each via temp +
 * rename, existing ones skipped), index.json last via temp + rename. A failed
 * publish removes what it added.
 */
import { constants as fsConstants } from "node:fs";
import { copyFile, lstat, mkdir, readdir, readFile, rename, rm, rmdir, stat, unlink, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { AotpackError } from "../errors.ts";
import { DigestVerifier, digestHex } from "../oci/digest.ts";
import { errnoCode, fsError, pipelineToNewFile, processAlive, removeDeadTemps, sha256File, tempPathBeside, writeFileAtomic } from "../oci/fs-util.ts";
import type { Image, ImageIndex } from "../oci/interfaces.ts";
import { LIMITS, parseIndexManifest } from "../oci/core.ts";
import { canonicalJson } from "../oci/json.ts";
import { isIndexMediaType, isManifestMediaType, MediaType } from "../oci/media-types.ts";
import { Annotation, type Descriptor, type ImageManifest, type IndexManifest } from "../oci/types.ts";
import { checkLayoutTag, planPublish, progressCounter, type PlannedBlob } from "./blobs.ts";
import type { ProgressEvent, PublishOptions, PublishResult, Publisher } from "./types.ts";

export const OCI_LAYOUT_CONTENT = `{"imageLayoutVersion":"1.0.0"}`;
const LOCK_NAME = ".aotpack-index.lock";
const HALF_LAYOUT = new Set(["blobs", "index.json", LOCK_NAME]);

/** The parts of a layout we read or write by name; none may be a symbolic link (the layout's own path may be). */
const LAYOUT_PARTS = ["oci-layout", "index.json", "blobs", join("blobs", "sha256"), LOCK_NAME];
/** Read a layout file without following a link placed there since it was checked. */
const NO_FOLLOW = { encoding: "utf8", flag: fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW } as const;

/** Refuse a symbolic link at `path`, a part of an output layout: a blob written through it would land outside. */
async function refuseSymlink(path: string): Promise<void> {
  const st = await lstat(path).catch((err: unknown) => {
    if (errnoCode(err) === "ENOENT") return undefined;
    throw fsError(err, "reading", path);
  });
  if (st?.isSymbolicLink()) throw new AotpackError(`output path ${path} is a symbolic link; refusing to follow it out of the layout`);
}

async function refuseLayoutSymlinks(root: string): Promise<void> {
  for (const part of LAYOUT_PARTS) await refuseSymlink(join(root, part));
}

/** What is at the output path before we write. */
type LayoutTarget = { state: "missing" } | { state: "empty-dir" } | { state: "layout"; index: IndexManifest | undefined };

/** Refuses anything that is not absent, an empty directory, or an OCI layout, with one line. */
export async function inspectLayoutTarget(dir: string): Promise<LayoutTarget> {
  let st;
  try {
    st = await stat(dir);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return { state: "missing" };
    throw fsError(err, "reading", dir);
  }
  if (!st.isDirectory()) throw new AotpackError(`output path ${dir} exists and is not an OCI layout (it is a file)`);
  const names = await readdir(dir).catch((err: unknown) => {
    throw fsError(err, "reading", dir);
  });
  if (names.length === 0) return { state: "empty-dir" };
  await refuseLayoutSymlinks(dir);
  // What our own writers leave before the oci-layout commit point (a killed or a concurrent
  // first write): blobs, the lock, index.json, temp files. It is resumed, not refused.
  if (!names.includes("oci-layout") && names.every((n) => HALF_LAYOUT.has(n) || /\.tmp-\d+-[0-9a-f]+$/.test(n))) return { state: "empty-dir" };
  if (!names.includes("oci-layout")) {
    throw new AotpackError(`output path ${dir} exists and is not an OCI layout (a non-empty directory without an oci-layout file)`, {
      hint: "choose a new or empty directory, or an existing OCI layout",
    });
  }
  let version: unknown;
  try {
    version = (JSON.parse(await readFile(join(dir, "oci-layout"), NO_FOLLOW)) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    throw new AotpackError(`output path ${dir} has an unreadable oci-layout file; refusing to write into it`);
  }
  if (typeof version !== "string" || !version.startsWith("1.")) {
    throw new AotpackError(`output path ${dir} has imageLayoutVersion ${JSON.stringify(version)}; only 1.x is supported`);
  }
  let raw: string;
  try {
    raw = await readFile(join(dir, "index.json"), NO_FOLLOW);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return { state: "layout", index: undefined };
    throw fsError(err, "reading", join(dir, "index.json"));
  }
  try {
    return { state: "layout", index: parseIndexManifest(raw, "index.json") };
  } catch {
    throw new AotpackError(`output path ${dir} has a corrupt index.json; refusing to overwrite it`);
  }
}

/** The layout's index as it is now; "fresh" while the layout has no oci-layout file yet (we are creating it). */
async function currentLayoutIndex(root: string): Promise<{ state: "fresh" } | { state: "layout"; index: IndexManifest | undefined }> {
  const hasLayoutFile = await stat(join(root, "oci-layout")).then(
    () => true,
    () => false,
  );
  if (!hasLayoutFile) return { state: "fresh" };
  const target = await inspectLayoutTarget(root);
  return target.state === "layout" ? target : { state: "fresh" };
}


/**
 * Store one blob as <blobsDir>/<hex>, verified while streaming; a present file is kept only
 * when it hashes to its digest. Returns whether it was written.
 */
export async function storeBlob(
  blobsDir: string,
  blob: PlannedBlob,
  onProgress: ((e: ProgressEvent) => void) | undefined,
): Promise<boolean> {
  const target = join(blobsDir, digestHex(blob.digest));
  await refuseSymlink(target);
  const existing = await stat(target).catch(() => undefined);
  // Present blobs are re-hashed before reuse: a bad one (right size, wrong bytes) is written again.
  if (existing?.isFile() && existing.size === blob.size && `sha256:${await sha256File(target).catch(() => "")}` === blob.digest) {
    if (blob.kind === "manifest") onProgress?.({ kind: "manifest", digest: blob.digest });
    else onProgress?.({ kind: "blob", digest: blob.digest, done: blob.size, total: blob.size, skipped: true });
    return false;
  }
  const tmp = tempPathBeside(target);
  try {
    if (await copyVerified(blob, tmp)) {
      await rename(tmp, target);
      onProgress?.({ kind: "blob", digest: blob.digest, done: blob.size, total: blob.size });
      return true;
    }
    await pipelineToNewFile(tmp, async () => [
      await blob.open(),
      new DigestVerifier(blob.digest, blob.size, `${blob.kind} ${blob.digest}`),
      progressCounter(blob.digest, blob.size, blob.kind === "manifest" ? undefined : onProgress),
    ]);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw fsError(err, "writing", target);
  }
  if (blob.kind === "manifest") onProgress?.({ kind: "manifest", digest: blob.digest });
  return true;
}

/**
 * A file-backed blob copied by the kernel (a reflink where the file system has them, else
 * copy_file_range): no bytes pass through this process but the hash of the copy, which must
 * match. False when there is no file or it cannot be copied: the caller streams instead.
 * Not a hard link: a blob damaged in place in the output would then be damaged in the cache too.
 */
async function copyVerified(blob: PlannedBlob, tmp: string): Promise<boolean> {
  const source = await blob.file?.().catch(() => undefined);
  if (source === undefined) return false;
  try {
    await copyFile(source, tmp, fsConstants.COPYFILE_FICLONE | fsConstants.COPYFILE_EXCL);
  } catch {
    await rm(tmp, { force: true });
    return false;
  }
  const st = await stat(tmp);
  const digest = `sha256:${await sha256File(tmp)}`;
  if (st.size !== blob.size || digest !== blob.digest) {
    await rm(tmp, { force: true });
    throw new AotpackError(`${blob.kind} ${blob.digest}: its file ${source} holds ${st.size} bytes with digest ${digest}, not what the manifest names`);
  }
  return true;
}

/** index.json entries after adding `desc`: a tag moves to the new descriptor; an untagged duplicate is not repeated. */
export function mergeIndexEntries(existing: Descriptor[], desc: Descriptor, tag: string | undefined): Descriptor[] {
  const kept = existing.filter((d) => {
    const name = d.annotations?.[Annotation.RefName];
    if (tag !== undefined) return name !== tag;
    return !(name === undefined && d.digest === desc.digest);
  });
  return [...kept, desc];
}

export function layoutIndexJson(existing: IndexManifest | undefined, manifests: Descriptor[]): Buffer {
  const index: IndexManifest = {
    ...(existing ?? {}),
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests,
  };
  return canonicalJson(index);
}

export function layoutPublisher(dir: string): Publisher {
  const root = resolve(dir);
  return {
    kind: "oci",
    async publish(item: Image | ImageIndex, options: PublishOptions = {}): Promise<PublishResult> {
      checkLayoutTag(options.tag);
      const plan = await planPublish(item);
      // Killed writers' leftovers: staging dirs beside the layout, temp files in it.
      await removeDeadTemps(dirname(root), `.${basename(root)}.tmp-`);
      for (let attempt = 0; ; attempt++) {
        const target = await inspectLayoutTarget(root);
        if (target.state !== "missing") {
          await removeDeadTemps(root);
          await removeDeadTemps(join(root, "blobs", "sha256"));
          await publishInto(root, target, plan, options);
          break;
        }
        // A new layout is written whole under a temp name and renamed into place, so a killed
        // first write leaves no half layout and concurrent creators race on one rename.
        const staging = tempPathBeside(root);
        try {
          await mkdir(dirname(root), { recursive: true });
          await publishInto(staging, target, plan, options);
          await rename(staging, root);
          break;
        } catch (err) {
          await rm(staging, { recursive: true, force: true }).catch(() => {});
          const code = errnoCode(err);
          // Another writer created the layout first: add to theirs.
          if ((code === "ENOTEMPTY" || code === "EEXIST") && attempt < 2) continue;
          throw err instanceof AotpackError ? err : fsError(err, "writing", root);
        }
      }
      return {
        reference: options.tag !== undefined ? `oci:${root}:${options.tag}` : `oci:${root}@${plan.root.digest}`,
        digest: plan.root.digest,
        mediaType: plan.root.mediaType,
        size: plan.root.size,
      };
    },
  };
}

/** Write `plan` into the layout at `root` (existing, empty, or a staging dir for a new one). */
async function publishInto(root: string, target: LayoutTarget, plan: Awaited<ReturnType<typeof planPublish>>, options: PublishOptions): Promise<void> {
  const blobsDir = join(root, "blobs", "sha256");
  const created: string[] = []; // directories we made, deepest last
  const written: string[] = []; // blob files we added
  let committed = false;
  try {
    if (target.state === "missing") await mkdirTracked(root, created);
    await mkdirTracked(join(root, "blobs"), created);
    await mkdirTracked(blobsDir, created);
    // Checked again right before the blobs go in: mkdir -p goes through a link.
    await refuseLayoutSymlinks(root);
    for (const blob of plan.blobs) {
      if (await storeBlob(blobsDir, blob, options.onProgress)) written.push(join(blobsDir, digestHex(blob.digest)));
    }
    const desc: Descriptor = {
      ...plan.root,
      ...(options.tag !== undefined ? { annotations: { [Annotation.RefName]: options.tag } } : {}),
    };
    await withLayoutLock(root, async () => {
      // A concurrent failed publish may have removed a blob we skipped as present: restore it.
      for (const blob of plan.blobs) {
        const present = await stat(join(blobsDir, digestHex(blob.digest))).catch(() => undefined);
        if (!present && (await storeBlob(blobsDir, blob, undefined))) written.push(join(blobsDir, digestHex(blob.digest)));
      }
      // Re-read under the lock: another publish may have updated index.json meanwhile.
      const now = await currentLayoutIndex(root);
      const existingIndex = now.state === "layout" ? now.index : undefined;
      const manifests = mergeIndexEntries(existingIndex?.manifests ?? [], desc, options.tag);
      // index.json is the commit point: before its rename the layout is unchanged.
      await writeFileAtomic(join(root, "index.json"), layoutIndexJson(existingIndex, manifests));
      // Only our own index.json may be taken back on failure, never one a concurrent writer committed.
      committed = now.state !== "layout";
      if (now.state !== "layout") await writeFileAtomic(join(root, "oci-layout"), OCI_LAYOUT_CONTENT);
    });
  } catch (err) {
    await undo(root, committed ? target.state : "layout", written, created);
    throw err instanceof AotpackError ? err : fsError(err, "writing", root);
  }
}


const LOCK_WAIT_MS = 30_000;
const inProcessLocks = new Map<string, Promise<void>>();


/**
 * Serialise index.json updates of one layout: in this process with a promise chain,
 * across processes with an O_EXCL lock file holding our pid (taken over when its
 * owner is gone).
 */
export async function withLayoutLock<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const previous = inProcessLocks.get(root) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const chained = previous.then(() => mine);
  inProcessLocks.set(root, chained);
  await previous;
  const lockPath = join(root, LOCK_NAME);
  try {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        await writeFile(lockPath, String(process.pid), { flag: "wx" });
        break;
      } catch (err) {
        if (errnoCode(err) !== "EEXIST") throw fsError(err, "writing", lockPath);
        await refuseSymlink(lockPath);
        const owner = Number((await readFile(lockPath, "utf8").catch(() => "")).trim());
        if (Number.isInteger(owner) && owner > 0 && !processAlive(owner)) {
          await rm(lockPath, { force: true });
          continue;
        }
        if (Date.now() > deadline) {
          throw new AotpackError(`layout ${root} is locked by process ${owner || "?"} (${lockPath})`, {
            hint: "wait for the other aotpack run, or remove the lock file if no such process exists",
          });
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    try {
      return await fn();
    } finally {
      await rm(lockPath, { force: true });
    }
  } finally {
    release();
    if (inProcessLocks.get(root) === chained) inProcessLocks.delete(root);
  }
}

async function mkdirTracked(path: string, created: string[]): Promise<void> {
  try {
    const first = await mkdir(path, { recursive: true });
    if (first !== undefined) {
      // mkdir -p reports the first directory it made; remember all of them down to `path`.
      let p = path;
      const chain: string[] = [];
      while (p.length >= first.length) {
        chain.unshift(p);
        if (p === first) break;
        p = dirname(p);
      }
      created.push(...chain);
    }
  } catch (err) {
    throw fsError(err, "creating", path);
  }
}

/** Digests reachable from the layout's index.json (manifests, configs, layers), read from the blobs. */
export async function reachableBlobs(root: string): Promise<Set<string>> {
  const reachable = new Set<string>();
  const raw = await readFile(join(root, "index.json"), "utf8").catch(() => undefined);
  if (raw === undefined) return reachable;
  const visit = async (desc: Descriptor, depth: number): Promise<void> => {
    if (reachable.has(desc.digest) || depth > LIMITS.indexDepth) return;
    reachable.add(desc.digest);
    if (!isIndexMediaType(desc.mediaType) && !isManifestMediaType(desc.mediaType)) return;
    const body = await readFile(join(root, "blobs", "sha256", digestHex(desc.digest)), "utf8").catch(() => undefined);
    if (body === undefined) return;
    const m = JSON.parse(body) as Partial<IndexManifest & ImageManifest>;
    for (const child of m.manifests ?? []) await visit(child, depth + 1);
    if (m.config) reachable.add(m.config.digest);
    for (const layer of m.layers ?? []) reachable.add(layer.digest);
  };
  for (const d of parseIndexManifest(raw, join(root, "index.json")).manifests) await visit(d, 0);
  return reachable;
}

/** Best effort: remove blobs we added and directories we created; a fresh layout disappears entirely. */
async function undo(root: string, state: LayoutTarget["state"], written: string[], created: string[]): Promise<void> {
  if (written.length > 0) {
    // Under the lock, and sparing blobs a concurrent publish has committed meanwhile.
    await withLayoutLock(root, async () => {
      const keep = await reachableBlobs(root).catch(() => undefined);
      if (!keep) return; // unreadable index: leave the blobs rather than risk breaking it
      for (const f of written) if (!keep.has(`sha256:${basename(f)}`)) await unlink(f).catch(() => {});
    }).catch(() => {});
  }
  if (state !== "layout") {
    await rm(join(root, "index.json"), { force: true }).catch(() => {});
    await rm(join(root, "oci-layout"), { force: true }).catch(() => {});
  }
  for (const d of [...created].reverse()) await rmdir(d).catch(() => {});
}

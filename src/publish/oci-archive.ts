/**
 * OCI archive sink: the layout as one tar (skopeo's oci-archive:). Publishing into an
 * existing archive keeps its other tags and blobs; the new archive replaces the old
 * one by rename, so a failure leaves the old file untouched.
 */
import { open } from "node:fs/promises";
import { resolve } from "node:path";
import type { Readable, Transform } from "node:stream";
import { AotpackError } from "../errors.ts";
import { verifiedFileStream } from "../oci/blob-stream.ts";
import { parseIndexManifest } from "../oci/core.ts";
import { DigestVerifier, digestHex, isDigest, type Digest } from "../oci/digest.ts";
import type { Image, ImageIndex } from "../oci/interfaces.ts";
import { sourceDateEpoch } from "../oci/layer.ts";
import { indexTarFile, type TarEntry, type TarIndexEntry } from "../oci/tar.ts";
import { Annotation, type Descriptor, type IndexManifest } from "../oci/types.ts";
import { checkLayoutTag, planPublish, progressCounter } from "./blobs.ts";
import { layoutIndexJson, mergeIndexEntries, OCI_LAYOUT_CONTENT } from "./layout.ts";
import { archiveTarget, writeTarAtomic } from "./tar-file.ts";
import type { PublishOptions, PublishResult, Publisher } from "./types.ts";

interface ExistingArchive {
  index: IndexManifest;
  blobs: Map<Digest, TarIndexEntry>;
}

async function readExisting(file: string): Promise<ExistingArchive> {
  const notArchive = (why: string): AotpackError =>
    new AotpackError(`output path ${file} exists and is not an OCI archive (${why}); refusing to overwrite it`, { hint: "pass --force to replace it" });
  let entries: Map<string, TarIndexEntry>;
  try {
    entries = await indexTarFile(file);
  } catch {
    throw notArchive("not a tar file");
  }
  const indexEntry = entries.get("index.json");
  if (!entries.has("oci-layout") || !indexEntry) throw notArchive("no oci-layout or index.json");
  const fh = await open(file, "r");
  let index: IndexManifest;
  try {
    const buf = Buffer.alloc(indexEntry.size);
    await fh.read(buf, 0, indexEntry.size, indexEntry.offset);
    index = parseIndexManifest(buf, "index.json");
  } catch {
    throw notArchive("corrupt index.json");
  } finally {
    await fh.close();
  }
  const blobs = new Map<Digest, TarIndexEntry>();
  for (const [name, e] of entries) {
    const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
    const digest = m ? `sha256:${m[1]}` : "";
    if (m && e.type === "file" && isDigest(digest)) blobs.set(digest, e);
  }
  return { index, blobs };
}


function verified(stream: Readable, digest: Digest, size: number, what: string, extra?: Transform): Readable {
  const verifier = new DigestVerifier(digest, size, what);
  stream.on("error", (err) => verifier.destroy(err));
  const out = stream.pipe(verifier);
  if (!extra) return out;
  out.on("error", (err) => extra.destroy(err));
  return out.pipe(extra);
}

/** `force`: replace a file at the path that is not an OCI archive (else refused), instead of adding to it. */
export function ociArchivePublisher(file: string, sink: { force?: boolean } = {}): Publisher {
  const target = resolve(file);
  return {
    kind: "oci-archive",
    async publish(item: Image | ImageIndex, options: PublishOptions = {}): Promise<PublishResult> {
      checkLayoutTag(options.tag);
      const found = await archiveTarget(target, ["oci"], sink.force, "an OCI archive");
      if (found.state === "refused") throw new AotpackError(`output path ${found.problem}`);
      // An OCI archive is added to (its tags and blobs kept); anything else --force lets us replace is not read.
      const existing =
        found.state === "file" && found.kind === "oci"
          ? await readExisting(target).catch((err: unknown) => {
              if (sink.force) return undefined;
              throw err;
            })
          : undefined;
      const plan = await planPublish(item);
      const desc: Descriptor = {
        ...plan.root,
        ...(options.tag !== undefined ? { annotations: { [Annotation.RefName]: options.tag } } : {}),
      };
      const indexJson = layoutIndexJson(existing?.index, mergeIndexEntries(existing?.index.manifests ?? [], desc, options.tag));
      const mtime = sourceDateEpoch();
      const dir = (name: string): TarEntry => ({ header: { name, type: "directory", size: 0, mode: 0o755, uid: 0, gid: 0, mtime } });
      const fileEntry = (name: string, size: number, body: TarEntry["body"]): TarEntry => ({
        header: { name, type: "file", size, mode: 0o644, uid: 0, gid: 0, mtime },
        body,
      });
      // Blobs sorted by digest so the archive bytes depend only on its content.
      const blobEntries = new Map<Digest, TarEntry>();
      for (const [digest, e] of existing?.blobs ?? []) {
        blobEntries.set(
          digest,
          fileEntry(`blobs/sha256/${digestHex(digest)}`, e.size, () =>
            verifiedFileStream(target, { digest, size: e.size }, { start: e.offset, length: e.size }),
          ),
        );
      }
      for (const blob of plan.blobs) {
        if (blobEntries.has(blob.digest)) {
          if (blob.kind === "manifest") options.onProgress?.({ kind: "manifest", digest: blob.digest });
          else options.onProgress?.({ kind: "blob", digest: blob.digest, done: blob.size, total: blob.size, skipped: true });
          continue;
        }
        blobEntries.set(
          blob.digest,
          fileEntry(`blobs/sha256/${digestHex(blob.digest)}`, blob.size, async () => {
            const onProgress = options.onProgress;
            const stream = verified(
              await blob.open(),
              blob.digest,
              blob.size,
              `${blob.kind} ${blob.digest}`,
              blob.kind === "manifest" ? undefined : progressCounter(blob.digest, blob.size, onProgress),
            );
            if (blob.kind === "manifest") stream.on("end", () => onProgress?.({ kind: "manifest", digest: blob.digest }));
            return stream;
          }),
        );
      }
      const sortedBlobs = [...blobEntries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e);
      await writeTarAtomic(target, [
        fileEntry("oci-layout", Buffer.byteLength(OCI_LAYOUT_CONTENT), Buffer.from(OCI_LAYOUT_CONTENT)),
        fileEntry("index.json", indexJson.length, indexJson),
        dir("blobs"),
        dir("blobs/sha256"),
        ...sortedBlobs,
      ]);
      return {
        reference: options.tag !== undefined ? `oci-archive:${target}:${options.tag}` : `oci-archive:${target}@${plan.root.digest}`,
        digest: plan.root.digest,
        mediaType: plan.root.mediaType,
        size: plan.root.size,
      };
    },
  };
}

/** Everything a sink must store for an image or index: blobs in dependency order (children first). */
import { Readable, Transform, type TransformCallback } from "node:stream";
import { LIMITS } from "../oci/core.ts";
import type { Digest } from "../oci/digest.ts";
import { isImageIndex, type Image, type ImageIndex } from "../oci/interfaces.ts";
import { isIndexMediaType, isManifestMediaType } from "../oci/media-types.ts";
import { UsageError } from "../errors.ts";
import type { ProgressEvent } from "./types.ts";

export interface PlannedBlob {
  digest: Digest;
  size: number;
  mediaType: string;
  kind: "layer" | "config" | "manifest";
  /** A fresh stream of the bytes; callers verify against digest and size. */
  open(): Promise<Readable>;
  /** A local file said to hold the bytes (Layer.blobFile): a local sink copies it, then verifies the copy. */
  file?(): Promise<string | undefined>;
}

export interface PublishPlan {
  root: { mediaType: string; digest: Digest; size: number };
  /** Deduplicated; layers and configs before the manifests that name them, the root last. */
  blobs: PlannedBlob[];
}

const MAX_DEPTH = LIMITS.indexDepth;

export async function planPublish(item: Image | ImageIndex): Promise<PublishPlan> {
  const blobs = new Map<Digest, PlannedBlob>();
  const add = (b: PlannedBlob): void => {
    if (!blobs.has(b.digest)) blobs.set(b.digest, b);
  };
  const addManifest = (raw: Buffer, digest: Digest, mediaType: string): void =>
    add({ digest, size: raw.length, mediaType, kind: "manifest", open: async () => Readable.from([raw]) });

  const visitImage = async (image: Image): Promise<void> => {
    const manifest = await image.manifest();
    const layers = await image.layers();
    for (const [i, d] of manifest.layers.entries()) {
      const layer = layers[i];
      if (!layer) throw new UsageError(`image ${await image.digest()} has fewer layers than its manifest lists`);
      add({
        digest: d.digest,
        size: d.size,
        mediaType: d.mediaType,
        kind: "layer",
        open: () => layer.compressed(),
        ...(layer.blobFile ? { file: () => layer.blobFile!() } : {}),
      });
    }
    const rawConfig = await image.rawConfigFile();
    add({
      digest: manifest.config.digest,
      size: manifest.config.size,
      mediaType: manifest.config.mediaType,
      kind: "config",
      open: async () => Readable.from([rawConfig]),
    });
    addManifest(await image.rawManifest(), await image.digest(), await image.mediaType());
  };
  const visitIndex = async (index: ImageIndex, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH) throw new UsageError(`indexes nested deeper than ${MAX_DEPTH}`);
    for (const d of (await index.indexManifest()).manifests) {
      if (blobs.has(d.digest)) continue;
      if (isIndexMediaType(d.mediaType)) await visitIndex(await index.imageIndex(d.digest), depth + 1);
      else if (isManifestMediaType(d.mediaType)) await visitImage(await index.image(d.digest));
      else throw new UsageError(`cannot publish index entry ${d.digest}: unsupported media type ${d.mediaType}`);
    }
    addManifest(await index.rawManifest(), await index.digest(), await index.mediaType());
  };

  if (isImageIndex(item)) await visitIndex(item, 0);
  else await visitImage(item);
  const root = { mediaType: await item.mediaType(), digest: await item.digest(), size: await item.size() };
  return { root, blobs: [...blobs.values()] };
}

/** Tags as OCI layouts carry them in org.opencontainers.image.ref.name. */
export function checkLayoutTag(tag: string | undefined): void {
  if (tag === undefined) return;
  if (!/^[A-Za-z0-9_][A-Za-z0-9._:@/+-]{0,254}$/.test(tag)) {
    throw new UsageError(`invalid tag "${tag}": use letters, digits and . _ - : / @ + (e.g. v1.2 or latest)`);
  }
}

/** Passes a blob's bytes through, reporting bytes done out of `total` (every sink uses this). */
export function progressCounter(digest: Digest, total: number, onProgress: ((e: ProgressEvent) => void) | undefined): Transform {
  let done = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      done += chunk.length;
      onProgress?.({ kind: "blob", digest, done, total });
      cb(null, chunk);
    },
  });
}

/**
 * The read-only, lazy model every source produces and every sink consumes
 * (after go-containerregistry's v1.Layer / v1.Image / v1.ImageIndex).
 * Nothing here mutates: `mutate.ts` wraps an image into a new one.
 */
import type { Readable } from "node:stream";
import type { Digest } from "./digest.ts";
import type { Descriptor, ImageConfigFile, ImageManifest, IndexManifest } from "./types.ts";

export interface Layer {
  /** Digest of the blob as stored (compressed). */
  digest(): Promise<Digest>;
  /** Digest of the uncompressed tar: the image config's rootfs.diff_ids entry. */
  diffId(): Promise<Digest>;
  /** Size in bytes of the blob as stored (compressed). */
  size(): Promise<number>;
  mediaType(): Promise<string>;
  /** A fresh stream of the stored (compressed) bytes each call. */
  compressed(): Promise<Readable>;
  /** A fresh stream of the uncompressed tar each call. */
  uncompressed(): Promise<Readable>;
  /** Optional: the uncompressed size, when known without reading. */
  uncompressedSize?(): Promise<number | undefined>;
  /**
   * Optional: a local file said to hold the stored bytes. A sink may copy it in the kernel
   * (reflink or copy_file_range) instead of streaming it, and must then verify the copy.
   */
  blobFile?(): Promise<string | undefined>;
}

export interface Image {
  mediaType(): Promise<string>;
  /** The exact manifest bytes: the digest is computed over these. */
  rawManifest(): Promise<Buffer>;
  manifest(): Promise<ImageManifest>;
  digest(): Promise<Digest>;
  size(): Promise<number>;
  rawConfigFile(): Promise<Buffer>;
  configFile(): Promise<ImageConfigFile>;
  /** In manifest order. */
  layers(): Promise<Layer[]>;
  layerByDigest(digest: Digest): Promise<Layer>;
}

export interface ImageIndex {
  mediaType(): Promise<string>;
  rawManifest(): Promise<Buffer>;
  indexManifest(): Promise<IndexManifest>;
  digest(): Promise<Digest>;
  size(): Promise<number>;
  image(digest: Digest): Promise<Image>;
  imageIndex(digest: Digest): Promise<ImageIndex>;
}

export type ImageOrIndex = { kind: "image"; image: Image } | { kind: "index"; index: ImageIndex };

/** The descriptor a parent (index, layout index.json) uses to point at an image or index. */
export async function descriptorOf(item: Image | ImageIndex, extra: Partial<Descriptor> = {}): Promise<Descriptor> {
  return {
    mediaType: await item.mediaType(),
    digest: await item.digest(),
    size: await item.size(),
    ...extra,
  };
}

export function isImageIndex(x: Image | ImageIndex): x is ImageIndex {
  return typeof (x as ImageIndex).indexManifest === "function";
}

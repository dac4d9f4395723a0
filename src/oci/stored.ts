/**
 * Images and indexes backed by a blob store (an OCI layout dir, an oci-archive, a
 * cache): manifests are kept as their exact stored bytes, every blob read is verified.
 */
import type { Readable } from "node:stream";
import { AotpackError } from "../errors.ts";
import { chain, readSmall } from "./blob-stream.ts";
import { decompressStream } from "./compress.ts";
import { sha256, type Digest } from "./digest.ts";
import type { Image, ImageIndex, Layer } from "./interfaces.ts";
import { isIndexMediaType, layerCompression } from "./media-types.ts";
import { findLayer } from "./mutate.ts";
import type { Descriptor, ImageConfigFile, ImageManifest, IndexManifest } from "./types.ts";

/** Manifests and configs larger than this are refused rather than read into memory. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

export interface BlobStore {
  /** Where the blobs live, for messages ("oci:/tmp/out"). */
  readonly name: string;
  /** A fresh stream of the blob, verified against the descriptor's digest and size while it flows. */
  open(desc: Descriptor): Promise<Readable>;
}

function parseJson<T>(raw: Buffer, what: string): T {
  try {
    return JSON.parse(raw.toString("utf8")) as T;
  } catch {
    throw new AotpackError(`${what} is not valid JSON`);
  }
}

/** Read a manifest/index blob and check it against its descriptor. */
export async function loadManifestBlob(desc: Descriptor, store: BlobStore): Promise<Buffer> {
  const raw = await readSmall(await store.open(desc), MAX_MANIFEST_BYTES, `manifest ${desc.digest} in ${store.name}`);
  if (sha256(raw) !== desc.digest) throw new AotpackError(`manifest ${desc.digest} in ${store.name}: digest mismatch`);
  return raw;
}

export function storedLayer(desc: Descriptor, diffId: Digest | undefined, index: number, store: BlobStore): Layer {
  const compressed = (): Promise<Readable> => store.open(desc);
  return {
    digest: async () => desc.digest,
    diffId: async () => {
      if (!diffId) throw new AotpackError(`layer ${index} (${desc.digest}) in ${store.name} has no rootfs.diff_ids entry in its config`);
      return diffId;
    },
    size: async () => desc.size,
    mediaType: async () => desc.mediaType,
    compressed,
    uncompressed: async () => chain(await compressed(), decompressStream(layerCompression(desc.mediaType))),
  };
}

export function storedImage(desc: Descriptor, raw: Buffer, store: BlobStore): Image {
  const manifest = parseJson<ImageManifest>(raw, `manifest ${desc.digest} in ${store.name}`);
  if (!manifest || !manifest.config || !Array.isArray(manifest.layers)) {
    throw new AotpackError(`manifest ${desc.digest} in ${store.name} is not an image manifest (no config or layers)`);
  }
  let rawConfig: Promise<Buffer> | undefined;
  const config = (): Promise<Buffer> =>
    (rawConfig ??= store.open(manifest.config).then((s) => readSmall(s, MAX_CONFIG_BYTES, `config ${manifest.config.digest} in ${store.name}`)));
  const layers = async (): Promise<Layer[]> => {
    const cfg = parseJson<ImageConfigFile>(await config(), `config ${manifest.config.digest} in ${store.name}`);
    const diffIds = cfg.rootfs?.diff_ids ?? [];
    return manifest.layers.map((d, i) => storedLayer(d, diffIds[i], i, store));
  };
  return {
    mediaType: async () => manifest.mediaType ?? desc.mediaType,
    rawManifest: async () => raw,
    manifest: async () => parseJson<ImageManifest>(raw, "manifest"),
    digest: async () => desc.digest,
    size: async () => raw.length,
    rawConfigFile: config,
    configFile: async () => parseJson<ImageConfigFile>(await config(), `config ${manifest.config.digest} in ${store.name}`),
    layers,
    layerByDigest: async (digest) => findLayer(await layers(), digest),
  };
}

export function storedIndex(desc: Descriptor, raw: Buffer, store: BlobStore): ImageIndex {
  const manifest = parseJson<IndexManifest>(raw, `index ${desc.digest} in ${store.name}`);
  if (!manifest || !Array.isArray(manifest.manifests)) {
    throw new AotpackError(`index ${desc.digest} in ${store.name} has no manifests list`);
  }
  const child = (digest: Digest): Descriptor => {
    const found = manifest.manifests.find((m) => m.digest === digest);
    if (!found) throw new AotpackError(`no manifest ${digest} in index ${desc.digest} (${store.name})`);
    return found;
  };
  return {
    mediaType: async () => manifest.mediaType ?? desc.mediaType,
    rawManifest: async () => raw,
    indexManifest: async () => parseJson<IndexManifest>(raw, "index"),
    digest: async () => desc.digest,
    size: async () => raw.length,
    image: async (digest) => {
      const d = child(digest);
      if (isIndexMediaType(d.mediaType)) throw new AotpackError(`${digest} is an index, not an image`);
      return storedImage(d, await loadManifestBlob(d, store), store);
    },
    imageIndex: async (digest) => {
      const d = child(digest);
      if (!isIndexMediaType(d.mediaType)) throw new AotpackError(`${digest} is not an index`);
      return storedIndex(d, await loadManifestBlob(d, store), store);
    },
  };
}

/** An image or index from its descriptor, by the descriptor's media type (or the manifest's own). */
export async function storedItem(desc: Descriptor, store: BlobStore): Promise<Image | ImageIndex> {
  const raw = await loadManifestBlob(desc, store);
  const mediaType = desc.mediaType ?? parseJson<{ mediaType?: string }>(raw, "manifest").mediaType;
  if (isIndexMediaType(mediaType)) return storedIndex(desc, raw, store);
  const parsed = parseJson<{ manifests?: unknown }>(raw, `manifest ${desc.digest}`);
  return Array.isArray(parsed.manifests) ? storedIndex(desc, raw, store) : storedImage(desc, raw, store);
}

/**
 * The one image core (after go-containerregistry's `partial`): a source supplies only the
 * exact manifest bytes and a blob opener (a `BlobStore`); `imageFromCore` / `indexFromCore`
 * fill in the full read-only, lazy `Image` / `ImageIndex`. Every source (layout dir,
 * oci-archive, docker-archive, registry) and every mutation builds on these, so they share
 * one set of limits, one diff_id rule, one digest check and one error for a missing blob.
 */
import type { Readable } from "node:stream";
import { AotpackError } from "../errors.ts";
import { chain, readSmall } from "./blob-stream.ts";
import { decompressStream } from "./compress.ts";
import { isDigest, sha256, type Digest } from "./digest.ts";
import { isImageIndex, type Image, type ImageIndex, type Layer } from "./interfaces.ts";
import { isIndexMediaType, isManifestMediaType, layerCompression, MediaType } from "./media-types.ts";
import type { Descriptor, ImageConfigFile, ImageManifest, IndexManifest } from "./types.ts";

/** The one set of limits every source applies before reading into memory. */
export const LIMITS = {
  /** Manifests and indexes (the distribution spec's 4 MiB). */
  manifestBytes: 4 * 1024 * 1024,
  /** Image configs: a long history or many labels stay well under this. */
  configBytes: 16 * 1024 * 1024,
  /** Indexes inside indexes, for every walk (selecting, publishing, validating). */
  indexDepth: 8,
} as const;

/** A blob, manifest or layer that a source should hold but does not: the same error from every source. */
export class BlobNotFoundError extends AotpackError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options);
    this.name = "BlobNotFoundError";
  }
}

export interface BlobStore {
  /** Where the blobs live, for messages ("oci:/tmp/out"). */
  readonly name: string;
  /**
   * A fresh stream of the blob, checked against the descriptor's digest and size while it flows
   * (verifiedFileStream, DigestVerifier). A blob that is not there is a BlobNotFoundError.
   */
  open(desc: Descriptor): Promise<Readable>;
  /** The bytes of the manifest `desc` names, when they come from elsewhere than open() (a registry's manifest endpoint). */
  manifest?(desc: Descriptor): Promise<{ raw: Buffer; mediaType?: string }>;
  /** The Layer for manifest.layers[index] (a registry's keeps its origin for mounts); default: a layer over open(). */
  layer?(desc: Descriptor, diffId: Digest | undefined, index: number): Layer | Promise<Layer>;
}

export interface ImageCore {
  /** The exact manifest bytes: the digest is over these. */
  rawManifest(): Promise<Buffer>;
  /** What the parent's descriptor says; its digest and size are checked against the bytes. */
  descriptor?: Partial<Descriptor>;
  /** The config bytes, when the source holds them already (mutate); default: read from the store. */
  rawConfig?(): Promise<Buffer>;
  store: BlobStore;
}

export interface IndexCore {
  rawManifest(): Promise<Buffer>;
  descriptor?: Partial<Descriptor>;
  /** A child, when the source holds it already (mutate's newIndex); default: loaded from the store. */
  child?(desc: Descriptor): Promise<Image | ImageIndex>;
  store: BlobStore;
}

export function parseJson<T>(raw: Buffer | string, what: string): T {
  try {
    return JSON.parse(typeof raw === "string" ? raw : raw.toString("utf8")) as T;
  } catch {
    throw new AotpackError(`${what} is not valid JSON`);
  }
}

/** The one parser of an index (an index blob or a layout's index.json): JSON with a manifests list. */
export function parseIndexManifest(raw: Buffer | string, what: string): IndexManifest {
  const manifest = parseJson<IndexManifest>(raw, what);
  if (!manifest || typeof manifest !== "object" || !Array.isArray(manifest.manifests)) throw new AotpackError(`${what} has no manifests list`);
  return manifest;
}

function memo<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

/** Manifest bytes checked against the limit and against what the parent's descriptor says. */
function checkedManifest(raw: Buffer, desc: Partial<Descriptor> | undefined, name: string): Buffer {
  const what = `manifest ${desc?.digest ?? sha256(raw)} in ${name}`;
  if (raw.length > LIMITS.manifestBytes) throw new AotpackError(`${what} is larger than ${LIMITS.manifestBytes} bytes`);
  if (desc?.digest !== undefined && sha256(raw) !== desc.digest) throw new AotpackError(`${what}: digest mismatch`);
  if (desc?.size !== undefined && raw.length !== desc.size) throw new AotpackError(`${what}: size mismatch (${raw.length} bytes, descriptor says ${desc.size})`);
  return raw;
}

/** The checked manifest bytes (read once), their digest and size: what images and indexes share. */
function manifestBytes(core: { rawManifest(): Promise<Buffer>; descriptor?: Partial<Descriptor>; store: BlobStore }) {
  const raw = memo(async () => checkedManifest(await core.rawManifest(), core.descriptor, core.store.name));
  return {
    raw,
    digest: async (): Promise<Digest> => core.descriptor?.digest ?? sha256(await raw()),
    size: async (): Promise<number> => (await raw()).length,
  };
}

/** Config media types of runnable images (others are artifacts). */
export const IMAGE_CONFIG_TYPES: ReadonlySet<string> = new Set<string>([MediaType.OciConfig, MediaType.DockerConfig]);

/**
 * The one diff_id rule: an image config lists one sha256 diff_id per layer, in order. (An
 * artifact's config is not an image config: its layers have no diff_id to ask for.)
 */
export function diffIdsOf(manifest: ImageManifest, config: ImageConfigFile, what: string): (Digest | undefined)[] {
  if (!IMAGE_CONFIG_TYPES.has(manifest.config.mediaType)) return manifest.layers.map(() => undefined);
  const diffIds: unknown = config?.rootfs?.diff_ids;
  const list = Array.isArray(diffIds) ? (diffIds as unknown[]) : [];
  if (list.length !== manifest.layers.length) throw new AotpackError(`${what}: ${manifest.layers.length} layers but ${list.length} diff_ids in its config`);
  return list.map((d, i) => {
    if (typeof d !== "string" || !isDigest(d)) throw new AotpackError(`${what}: diff_id ${JSON.stringify(d)} of layer ${i} is not a sha256 digest`);
    return d;
  });
}

/** A layer over a blob store: the stored bytes as they are, decompressed by its media type. */
export function storedLayer(desc: Descriptor, diffId: Digest | undefined, index: number, store: BlobStore): Layer {
  const compressed = (): Promise<Readable> => store.open(desc);
  return {
    digest: async () => desc.digest,
    diffId: async () => {
      if (!diffId) throw new AotpackError(`layer ${index} (${desc.digest}) in ${store.name} has no diff_id: its config is not an image config`);
      return diffId;
    },
    size: async () => desc.size,
    mediaType: async () => desc.mediaType,
    compressed,
    uncompressed: async () => chain(await compressed(), decompressStream(layerCompression(desc.mediaType))),
  };
}

export async function findLayer(layers: Layer[], digest: Digest, where: string): Promise<Layer> {
  for (const layer of layers) if ((await layer.digest()) === digest) return layer;
  throw new BlobNotFoundError(`no layer with digest ${digest} in ${where}`);
}

export function imageFromCore(core: ImageCore): Image {
  const { store } = core;
  const { raw, digest, size } = manifestBytes(core);
  const where = async (): Promise<string> => `image ${await digest()} in ${store.name}`;
  const manifest = async (): Promise<ImageManifest> => {
    const m = parseJson<ImageManifest>(await raw(), `manifest ${await digest()} in ${store.name}`);
    if (!m || !m.config || typeof m.config.digest !== "string" || !Array.isArray(m.layers)) {
      throw new AotpackError(`manifest ${await digest()} in ${store.name} is not an image manifest (no config or layers)`);
    }
    return m;
  };
  const rawConfig = memo(async () => {
    const { config } = await manifest();
    const what = `config ${config.digest} in ${store.name}`;
    if (config.size > LIMITS.configBytes) throw new AotpackError(`${what} is larger than ${LIMITS.configBytes} bytes`);
    const bytes = core.rawConfig ? await core.rawConfig() : await readSmall(await store.open(config), LIMITS.configBytes, what);
    if (bytes.length > LIMITS.configBytes) throw new AotpackError(`${what} is larger than ${LIMITS.configBytes} bytes`);
    if (bytes.length !== config.size || sha256(bytes) !== config.digest) throw new AotpackError(`${what}: digest mismatch`);
    return bytes;
  });
  const configFile = async (): Promise<ImageConfigFile> => {
    const m = await manifest();
    return parseJson<ImageConfigFile>(await rawConfig(), `config ${m.config.digest} in ${store.name}`);
  };
  const layers = memo(async (): Promise<Layer[]> => {
    const [m, cfg] = await Promise.all([manifest(), configFile()]);
    const diffIds = diffIdsOf(m, cfg, await where());
    return Promise.all(m.layers.map(async (d, i) => (await store.layer?.(d, diffIds[i], i)) ?? storedLayer(d, diffIds[i], i, store)));
  });
  return {
    mediaType: async () => (await manifest()).mediaType ?? core.descriptor?.mediaType ?? MediaType.OciManifest,
    rawManifest: raw,
    manifest,
    digest,
    size,
    rawConfigFile: rawConfig,
    configFile,
    layers,
    layerByDigest: async (d) => findLayer(await layers(), d, await where()),
  };
}

export function indexFromCore(core: IndexCore): ImageIndex {
  const { store } = core;
  const { raw, digest, size } = manifestBytes(core);
  const indexManifest = async (): Promise<IndexManifest> => parseIndexManifest(await raw(), `index ${await digest()} in ${store.name}`);
  const child = async (d: Digest): Promise<{ desc: Descriptor; item: () => Promise<Image | ImageIndex> }> => {
    const desc = (await indexManifest()).manifests.find((m) => m.digest === d);
    if (!desc) throw new BlobNotFoundError(`no manifest with digest ${d} in index ${await digest()} (${store.name})`);
    return { desc, item: () => (core.child ? core.child(desc) : itemFromCore(desc, store)) };
  };
  /** The child, refused when it is not the kind asked for (by its descriptor first, so no fetch is wasted). */
  const typedChild = async (d: Digest, wantIndex: boolean): Promise<Image | ImageIndex> => {
    const c = await child(d);
    const declared = wantIndex ? isManifestMediaType(c.desc.mediaType) : isIndexMediaType(c.desc.mediaType);
    const item = declared ? undefined : await c.item();
    if (!item || isImageIndex(item) !== wantIndex) throw new AotpackError(`${d} in ${store.name} is ${wantIndex ? "an image, not an index" : "an index, not an image"}`);
    return item;
  };
  return {
    mediaType: async () => (await indexManifest()).mediaType ?? core.descriptor?.mediaType ?? MediaType.OciIndex,
    rawManifest: raw,
    indexManifest,
    digest,
    size,
    image: async (d) => (await typedChild(d, false)) as Image,
    imageIndex: async (d) => (await typedChild(d, true)) as ImageIndex,
  };
}

/** An image or an index from its manifest bytes: by the declared media type, else by the manifest's shape. */
export function itemFromManifest(raw: Buffer, desc: Partial<Descriptor>, store: BlobStore): Image | ImageIndex {
  const parsed = parseJson<{ mediaType?: string; manifests?: unknown; config?: unknown }>(raw, `manifest ${desc.digest ?? sha256(raw)} in ${store.name}`);
  const declared = desc.mediaType ?? parsed?.mediaType;
  const core = { rawManifest: async () => raw, descriptor: desc, store };
  if (isIndexMediaType(declared)) return indexFromCore(core);
  if (isManifestMediaType(declared)) return imageFromCore(core);
  if (Array.isArray(parsed?.manifests)) return indexFromCore(core);
  if (parsed?.config !== undefined) return imageFromCore(core);
  throw new AotpackError(`${desc.digest ?? sha256(raw)} in ${store.name} has media type ${declared}, which is neither an image manifest nor an index`);
}

/** Read the manifest `desc` names from the store (size-bounded), as an image or an index. */
export async function itemFromCore(desc: Descriptor, store: BlobStore): Promise<Image | ImageIndex> {
  if (desc.size > LIMITS.manifestBytes) throw new AotpackError(`manifest ${desc.digest} in ${store.name} is larger than ${LIMITS.manifestBytes} bytes`);
  const got = store.manifest
    ? await store.manifest(desc)
    : { raw: await readSmall(await store.open(desc), LIMITS.manifestBytes, `manifest ${desc.digest} in ${store.name}`) };
  return itemFromManifest(got.raw, { ...desc, ...(got.mediaType ? { mediaType: got.mediaType } : {}) }, store);
}

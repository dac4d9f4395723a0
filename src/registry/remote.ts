/**
 * Pull side: `Image` / `ImageIndex` over a registry, lazy, with blobs going through
 * a local content-addressed cache (`cacheDir("blobs")/sha256/<hex>`) that is
 * re-verified on every read.
 */
import { rmSync } from "node:fs";
import { stat, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { cacheDir, noteCacheWrite, touchUsed } from "../cache.ts";
import { AotpackError } from "../errors.ts";
import { verifiedFileStream, chain } from "../oci/blob-stream.ts";
import { decompressStream } from "../oci/compress.ts";
import { digestHex, type Digest } from "../oci/digest.ts";
import { BlobNotFoundError, itemFromManifest, type BlobStore } from "../oci/core.ts";
import { isImageIndex, type Image, type ImageIndex, type Layer } from "../oci/interfaces.ts";
import { isIndexMediaType, isManifestMediaType, layerCompression } from "../oci/media-types.ts";
import type { Platform } from "../oci/platform.ts";
import { imageEntries, selectImage } from "../oci/select.ts";
import type { Descriptor } from "../oci/types.ts";
import { noteBlobHome, RegistryClient, type RegistryClientOptions } from "./client.ts";
import { RegistryError } from "./errors.ts";
import { parseReference, type Reference } from "./reference.ts";

export interface RemoteOptions extends RegistryClientOptions {
  /** Reuse a client (and its tokens and connections); one is made per registry otherwise. */
  client?: RegistryClient;
  /** Blob cache root; default cacheDir("blobs"). */
  blobDir?: string;
}

/** The content-addressed blob cache. Entries are written atomically and verified on every read. */
export class BlobCache {
  constructor(readonly dir: string = cacheDir("blobs")) {}

  path(digest: Digest): string {
    return join(this.dir, "sha256", digestHex(digest));
  }

  readonly #inflight = new Map<Digest, Promise<string>>();

  /** Path of the cached blob, downloading it first when absent (or of the wrong size). */
  async ensure(digest: Digest, size: number | undefined, fetchTo: (path: string) => Promise<void>): Promise<string> {
    const path = this.path(digest);
    const st = await stat(path).catch(() => undefined);
    if (st?.isFile() && (size === undefined || st.size === size)) {
      await touchUsed(path); // for LRU eviction; the bytes are verified as they are read (open)
      return path;
    }
    let p = this.#inflight.get(digest);
    if (!p) {
      p = (async () => {
        if (st) await rm(path, { force: true });
        await fetchTo(path);
        noteCacheWrite();
        return path;
      })().finally(() => this.#inflight.delete(digest));
      this.#inflight.set(digest, p);
    }
    return p;
  }

  /** Stream a cached blob, verified; a corrupt entry is removed so the next read fetches it again. */
  open(digest: Digest, size: number | undefined): Readable {
    const path = this.path(digest);
    const stream = verifiedFileStream(path, size === undefined ? { digest } : { digest, size });
    // Synchronous, so the entry is gone before the consumer sees the error and reads again.
    stream.on("error", () => rmSync(path, { force: true }));
    return stream;
  }
}

interface Origin {
  client: RegistryClient;
  repository: string;
  cache: BlobCache;
}

/** The registry as a blob store: blobs through the verified cache, manifests from the manifest endpoint. */
class RegistryBlobs implements BlobStore {
  readonly name: string;
  constructor(
    readonly ref: Reference,
    readonly origin: Origin,
  ) {
    this.name = `${ref.registry}/${ref.repository}`;
  }

  /** The blob in the local cache, downloaded first when absent. */
  async ensure(desc: { digest: Digest; size?: number }): Promise<void> {
    const { cache, client, repository } = this.origin;
    try {
      await cache.ensure(desc.digest, desc.size, (path) => client.fetchBlobToFile(repository, desc.digest, desc.size, path));
    } catch (err) {
      if (err instanceof RegistryError && err.status === 404) throw new BlobNotFoundError(`blob ${desc.digest} is missing from ${this.name}`, { cause: err });
      throw err;
    }
  }

  async open(desc: Descriptor): Promise<Readable> {
    await this.ensure(desc);
    return this.origin.cache.open(desc.digest, desc.size);
  }

  async manifest(desc: Descriptor): Promise<{ raw: Buffer; mediaType: string }> {
    const fetched = await this.origin.client.getManifest(this.origin.repository, desc.digest);
    return { raw: fetched.raw, mediaType: fetched.mediaType };
  }

  layer(desc: Descriptor, diffId: Digest | undefined): Layer {
    // A later push of this layer to another repository of this registry can mount it.
    noteBlobHome(this.ref.registry, desc.digest, this.ref.repository);
    return new RemoteLayer({ registry: this.ref.registry, repository: this.ref.repository }, desc, diffId!, this);
  }
}

/** A layer in a registry repository; `origin` lets a push to the same registry mount it. */
export class RemoteLayer implements Layer {
  constructor(
    readonly origin: { registry: string; repository: string },
    readonly descriptor: Descriptor,
    readonly diffIdValue: Digest,
    readonly store: RegistryBlobs,
  ) {}
  digest = async (): Promise<Digest> => this.descriptor.digest;
  diffId = async (): Promise<Digest> => this.diffIdValue;
  size = async (): Promise<number> => this.descriptor.size;
  mediaType = async (): Promise<string> => this.descriptor.mediaType;
  compressed = async (): Promise<Readable> => this.store.open(this.descriptor);
  uncompressed = async (): Promise<Readable> => chain(await this.compressed(), decompressStream(layerCompression(this.descriptor.mediaType)));
  /** Download into the cache without reading. */
  prefetch = (): Promise<void> => this.store.ensure(this.descriptor);
}

async function fetchItem(origin: Origin, ref: Reference, reference: string): Promise<Image | ImageIndex> {
  const fetched = await origin.client.getManifest(ref.repository, reference);
  if (!isIndexMediaType(fetched.mediaType) && !isManifestMediaType(fetched.mediaType)) {
    throw new AotpackError(`${ref} has media type ${fetched.mediaType}, which is neither an image manifest nor an index`);
  }
  return itemFromManifest(fetched.raw, { digest: fetched.digest, mediaType: fetched.mediaType }, new RegistryBlobs(ref, origin));
}

function originFor(ref: Reference, options: RemoteOptions): Origin {
  const client = options.client ?? new RegistryClient(ref.registry, options);
  if (client.registry !== ref.registry) throw new AotpackError(`client for ${client.registry} cannot read ${ref}`);
  return { client, repository: ref.repository, cache: new BlobCache(options.blobDir) };
}

function toRef(ref: string | Reference): Reference {
  return typeof ref === "string" ? parseReference(ref) : ref;
}

/** Whatever the reference names: an index or a single image. */
export async function remoteIndexOrImage(ref: string | Reference, options: RemoteOptions = {}): Promise<Image | ImageIndex> {
  const r = toRef(ref);
  return fetchItem(originFor(r, options), r, r.digest ?? r.tag ?? "latest");
}

export async function remoteIndex(ref: string | Reference, options: RemoteOptions = {}): Promise<ImageIndex> {
  const r = toRef(ref);
  const item = await remoteIndexOrImage(r, options);
  if (!isImageIndex(item)) throw new AotpackError(`${r} is a single image, not an index`);
  return item;
}

/** Platforms an index offers (attestation entries, `unknown/unknown`, left out). */
export async function indexPlatforms(index: ImageIndex): Promise<Array<{ platform: Platform; descriptor: Descriptor }>> {
  return (await imageEntries(index)).flatMap((e) => (e.platform ? [{ platform: e.platform, descriptor: e.descriptor }] : []));
}

/** One image: the reference's own, or the one for `platform` (default: this host's) from an index. */
export async function remoteImage(ref: string | Reference, options: RemoteOptions & { platform?: Platform } = {}): Promise<Image> {
  const r = toRef(ref);
  const item = await remoteIndexOrImage(r, options);
  return (await selectImage(item, { ...(options.platform ? { platform: options.platform } : {}), name: `${r}` })).image;
}

export interface PulledImage {
  platform: Platform;
  image: Image;
}

export interface PullResult {
  reference: Reference;
  /** Digest of what the reference names (index or image). */
  digest: Digest;
  /** The index, when the reference names one. */
  index?: ImageIndex;
  images: PulledImage[];
}

/**
 * Fetch the images for `platforms` (all the index offers when omitted) with their
 * blobs into the local cache. A requested platform that is missing fails the whole
 * pull, naming the ones available.
 */
export async function pull(ref: string | Reference, options: RemoteOptions & { platforms?: Platform[]; concurrency?: number } = {}): Promise<PullResult> {
  const r = toRef(ref);
  const item = await remoteIndexOrImage(r, options);
  const images: PulledImage[] = [];
  const index = isImageIndex(item) ? item : undefined;
  const entries = await imageEntries(item);
  for (const platform of options.platforms ?? entries.flatMap((e) => (e.platform ? [e.platform] : []))) {
    const chosen = await selectImage(item, { platform, name: `${r}` });
    images.push({ platform: chosen.platform ?? platform, image: chosen.image });
  }
  const layers = (await Promise.all(images.map((i) => i.image.layers()))).flat() as RemoteLayer[];
  await runPool(layers, options.concurrency ?? 3, (l) => l.prefetch());
  return { reference: r, digest: await item.digest(), ...(index ? { index } : {}), images };
}

/** Run `work` over `items` with at most `limit` in flight; the first failure wins. */
export async function runPool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (failed === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed !== undefined) throw failed;
}

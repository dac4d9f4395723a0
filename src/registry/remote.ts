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
import { readSmall, verifiedFileStream, chain } from "../oci/blob-stream.ts";
import { decompressStream } from "../oci/compress.ts";
import { digestHex, type Digest } from "../oci/digest.ts";
import type { Image, ImageIndex, Layer } from "../oci/interfaces.ts";
import { isIndexMediaType, isManifestMediaType, layerCompression } from "../oci/media-types.ts";
import { formatPlatform, hostPlatform, platformEntries, platformEquals, type Platform } from "../oci/platform.ts";
import type { Descriptor, ImageConfigFile, ImageManifest, IndexManifest } from "../oci/types.ts";
import { noteBlobHome, RegistryClient, type FetchedManifest, type RegistryClientOptions } from "./client.ts";
import { parseReference, type Reference } from "./reference.ts";

export interface RemoteOptions extends RegistryClientOptions {
  /** Reuse a client (and its tokens and connections); one is made per registry otherwise. */
  client?: RegistryClient;
  /** Blob cache root; default cacheDir("blobs"). */
  blobDir?: string;
}

const CONFIG_LIMIT = 8 * 1024 * 1024;

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

async function cachedBlob(origin: Origin, desc: { digest: Digest; size?: number }): Promise<Readable> {
  await origin.cache.ensure(desc.digest, desc.size, (path) => origin.client.fetchBlobToFile(origin.repository, desc.digest, desc.size, path));
  return origin.cache.open(desc.digest, desc.size);
}

/** A layer in a registry repository; `origin` lets a push to the same registry mount it. */
export class RemoteLayer implements Layer {
  constructor(
    readonly origin: { registry: string; repository: string },
    readonly descriptor: Descriptor,
    readonly diffIdValue: Digest,
    readonly source: Origin,
  ) {}
  digest = async (): Promise<Digest> => this.descriptor.digest;
  diffId = async (): Promise<Digest> => this.diffIdValue;
  size = async (): Promise<number> => this.descriptor.size;
  mediaType = async (): Promise<string> => this.descriptor.mediaType;
  compressed = async (): Promise<Readable> => cachedBlob(this.source, this.descriptor);
  uncompressed = async (): Promise<Readable> => chain(await this.compressed(), decompressStream(layerCompression(this.descriptor.mediaType)));
  /** Download into the cache without reading. */
  prefetch = async (): Promise<void> => {
    await this.source.cache.ensure(this.descriptor.digest, this.descriptor.size, (path) => this.source.client.fetchBlobToFile(this.source.repository, this.descriptor.digest, this.descriptor.size, path));
  };
}

function parseJson<T>(raw: Buffer, what: string): T {
  try {
    return JSON.parse(raw.toString("utf8")) as T;
  } catch {
    throw new AotpackError(`${what} is not valid JSON`);
  }
}

class RemoteImage implements Image {
  #config: Promise<Buffer> | undefined;
  constructor(
    readonly ref: Reference,
    readonly fetched: FetchedManifest,
    readonly source: Origin,
  ) {}
  mediaType = async (): Promise<string> => this.fetched.mediaType;
  rawManifest = async (): Promise<Buffer> => this.fetched.raw;
  manifest = async (): Promise<ImageManifest> => parseJson<ImageManifest>(this.fetched.raw, `manifest ${this.fetched.digest}`);
  digest = async (): Promise<Digest> => this.fetched.digest;
  size = async (): Promise<number> => this.fetched.raw.length;
  rawConfigFile = (): Promise<Buffer> => {
    this.#config ??= (async () => {
      const m = await this.manifest();
      return readSmall(await cachedBlob(this.source, m.config), CONFIG_LIMIT, `config ${m.config.digest}`);
    })();
    return this.#config;
  };
  configFile = async (): Promise<ImageConfigFile> => parseJson<ImageConfigFile>(await this.rawConfigFile(), `config of ${this.fetched.digest}`);
  layers = async (): Promise<Layer[]> => {
    const [m, cfg] = await Promise.all([this.manifest(), this.configFile()]);
    const diffIds = cfg.rootfs?.diff_ids ?? [];
    if (diffIds.length !== m.layers.length) {
      throw new AotpackError(`image ${this.ref.registry}/${this.ref.repository}@${this.fetched.digest}: ${m.layers.length} layers but ${diffIds.length} diff_ids in its config`);
    }
    // A later push of these layers to another repository of this registry can mount them.
    for (const d of m.layers) noteBlobHome(this.ref.registry, d.digest, this.ref.repository);
    return m.layers.map((d, i) => new RemoteLayer({ registry: this.ref.registry, repository: this.ref.repository }, d, diffIds[i]!, this.source));
  };
  layerByDigest = async (digest: Digest): Promise<Layer> => {
    const found = (await this.layers()).find((l) => l instanceof RemoteLayer && l.descriptor.digest === digest);
    if (!found) throw new AotpackError(`image ${this.fetched.digest} has no layer ${digest}`);
    return found;
  };
}

class RemoteIndex implements ImageIndex {
  constructor(
    readonly ref: Reference,
    readonly fetched: FetchedManifest,
    readonly source: Origin,
  ) {}
  mediaType = async (): Promise<string> => this.fetched.mediaType;
  rawManifest = async (): Promise<Buffer> => this.fetched.raw;
  indexManifest = async (): Promise<IndexManifest> => parseJson<IndexManifest>(this.fetched.raw, `index ${this.fetched.digest}`);
  digest = async (): Promise<Digest> => this.fetched.digest;
  size = async (): Promise<number> => this.fetched.raw.length;
  image = async (digest: Digest): Promise<Image> => {
    const item = await this.#child(digest);
    if (!(item instanceof RemoteImage)) throw new AotpackError(`${digest} in ${this.ref} is an index, not an image`);
    return item;
  };
  imageIndex = async (digest: Digest): Promise<ImageIndex> => {
    const item = await this.#child(digest);
    if (!(item instanceof RemoteIndex)) throw new AotpackError(`${digest} in ${this.ref} is an image, not an index`);
    return item;
  };
  async #child(digest: Digest): Promise<RemoteImage | RemoteIndex> {
    const desc = (await this.indexManifest()).manifests.find((d) => d.digest === digest);
    if (!desc) throw new AotpackError(`index ${this.ref} has no manifest ${digest}`);
    return fetchItem(this.source, { ...this.ref, tag: undefined, digest, toString: () => `${this.ref.registry}/${this.ref.repository}@${digest}` }, digest);
  }
}

async function fetchItem(source: Origin, ref: Reference, reference: string): Promise<RemoteImage | RemoteIndex> {
  const fetched = await source.client.getManifest(ref.repository, reference);
  if (isIndexMediaType(fetched.mediaType)) return new RemoteIndex(ref, fetched, source);
  if (isManifestMediaType(fetched.mediaType)) return new RemoteImage(ref, fetched, source);
  throw new AotpackError(`${ref} has media type ${fetched.mediaType}, which is neither an image manifest nor an index`);
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
  if (!(item instanceof RemoteIndex)) throw new AotpackError(`${r} is a single image, not an index`);
  return item;
}

/** Platforms an index offers (attestation entries, `unknown/unknown`, left out). */
export function indexPlatforms(index: IndexManifest): Array<{ platform: Platform; descriptor: Descriptor }> {
  return platformEntries(index.manifests)
    .filter((d) => d.platform && isManifestMediaType(d.mediaType))
    .map((d) => ({ platform: d.platform!, descriptor: d }));
}

function missingPlatform(ref: Reference, wanted: Platform, available: Platform[]): AotpackError {
  const list = available.length ? available.map(formatPlatform).join(", ") : "none";
  return new AotpackError(`${ref} has no image for ${formatPlatform(wanted)}; available: ${list}`);
}

/** One image: the reference's own, or the one for `platform` (default: this host's) from an index. */
export async function remoteImage(ref: string | Reference, options: RemoteOptions & { platform?: Platform } = {}): Promise<Image> {
  const r = toRef(ref);
  const item = await remoteIndexOrImage(r, options);
  const wanted = options.platform ?? hostPlatform();
  if (item instanceof RemoteImage) {
    if (options.platform) {
      const cfg = await item.configFile();
      const has: Platform = { os: cfg.os, architecture: cfg.architecture, ...(cfg.variant ? { variant: cfg.variant } : {}) };
      if (!platformEquals(has, options.platform)) throw missingPlatform(r, options.platform, [has]);
    }
    return item;
  }
  const index = item as RemoteIndex;
  const entries = indexPlatforms(await index.indexManifest());
  const match = entries.find((e) => platformEquals(e.platform, wanted));
  if (!match) throw missingPlatform(r, wanted, entries.map((e) => e.platform));
  return index.image(match.descriptor.digest);
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
  let index: ImageIndex | undefined;
  if (item instanceof RemoteIndex) {
    index = item;
    const entries = indexPlatforms(await item.indexManifest());
    const wanted = options.platforms ?? entries.map((e) => e.platform);
    for (const p of wanted) {
      const match = entries.find((e) => platformEquals(e.platform, p));
      if (!match) throw missingPlatform(r, p, entries.map((e) => e.platform));
      images.push({ platform: match.platform, image: await item.image(match.descriptor.digest) });
    }
  } else {
    const image = item as RemoteImage;
    const cfg = await image.configFile();
    const has: Platform = { os: cfg.os, architecture: cfg.architecture, ...(cfg.variant ? { variant: cfg.variant } : {}) };
    for (const p of options.platforms ?? []) if (!platformEquals(has, p)) throw missingPlatform(r, p, [has]);
    images.push({ platform: has, image });
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

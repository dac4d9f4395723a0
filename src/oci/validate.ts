/**
 * validate(image | index): read everything once and check that digests, sizes,
 * media types, diff_ids and platforms agree across index, manifest, config and
 * layers, and that no layer holds the same path twice. All problems are collected
 * and reported in one AotpackError.
 */
import { IMAGE_CONFIG_TYPES, LIMITS } from "./core.ts";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as tarStream from "tar-stream";
import { AotpackError, errorMessage } from "../errors.ts";
import { decompressStream } from "./compress.ts";
import { DigestCounter, isDigest, sha256, type Digest } from "./digest.ts";
import { isImageIndex, type Image, type ImageIndex, type Layer } from "./interfaces.ts";
import { isIndexMediaType, isManifestMediaType, layerCompression } from "./media-types.ts";
import { formatPlatform, platformEquals, type Platform } from "./platform.ts";
import { normalizeTarName } from "./tar.ts";
import type { Descriptor, ImageConfigFile, ImageManifest, IndexManifest } from "./types.ts";

const MAX_DEPTH = LIMITS.indexDepth;

interface LayerScan {
  digest: Digest;
  size: number;
  diffId: Digest;
  duplicates: string[];
}

interface Ctx {
  problems: string[];
  scans: Map<string, Promise<LayerScan>>;
  scanLayers: boolean;
}

export interface ValidateOptions {
  /**
   * Read every layer blob to check its digest, diff_id and paths (default true). The builder
   * turns this off for its own output: each layer it uses was hashed in the pass that wrote it
   * or re-hashed when taken from the cache, so a second full read would only cost time.
   */
  scanLayers?: boolean;
}

export async function validate(item: Image | ImageIndex, options: ValidateOptions = {}): Promise<void> {
  const ctx: Ctx = { problems: [], scans: new Map(), scanLayers: options.scanLayers ?? true };
  const isIndex = isImageIndex(item);
  let label = isIndex ? "index" : "image";
  try {
    label += ` ${await item.digest()}`;
  } catch {
    // reported below
  }
  if (isIndex) await checkIndex(item, undefined, "index", ctx, 0);
  else await checkImage(item, undefined, "image", ctx);
  if (ctx.problems.length > 0) {
    const n = ctx.problems.length;
    throw new AotpackError(`invalid ${label}: ${n} problem${n === 1 ? "" : "s"}: ${ctx.problems.join("; ")}`);
  }
}

async function attempt<T>(ctx: Ctx, where: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    ctx.problems.push(`${where}: ${errorMessage(err)}`);
    return undefined;
  }
}

/** The manifest bytes agree with the item's own digest/size and with the parent's descriptor. */
async function checkManifestBytes(
  item: Image | ImageIndex,
  desc: Descriptor | undefined,
  where: string,
  ctx: Ctx,
): Promise<Buffer | undefined> {
  const raw = await attempt(ctx, where, () => item.rawManifest());
  if (!raw) return undefined;
  const actual = sha256(raw);
  const digest = await attempt(ctx, where, () => item.digest());
  const size = await attempt(ctx, where, () => item.size());
  const mediaType = await attempt(ctx, where, () => item.mediaType());
  if (digest !== undefined && digest !== actual) ctx.problems.push(`${where}: digest() is ${digest} but the manifest bytes hash to ${actual}`);
  if (size !== undefined && size !== raw.length) ctx.problems.push(`${where}: size() is ${size} but the manifest is ${raw.length} bytes`);
  if (desc) {
    if (desc.digest !== actual) ctx.problems.push(`${where}: descriptor digest ${desc.digest} but the manifest hashes to ${actual}`);
    if (desc.size !== raw.length) ctx.problems.push(`${where}: descriptor size ${desc.size} but the manifest is ${raw.length} bytes`);
    if (mediaType !== undefined && desc.mediaType !== mediaType) {
      ctx.problems.push(`${where}: descriptor media type ${desc.mediaType} but the manifest is ${mediaType}`);
    }
  }
  return raw;
}

function parse<T>(raw: Buffer, where: string, ctx: Ctx): T | undefined {
  try {
    return JSON.parse(raw.toString("utf8")) as T;
  } catch {
    ctx.problems.push(`${where}: not valid JSON`);
    return undefined;
  }
}

async function checkIndex(index: ImageIndex, desc: Descriptor | undefined, where: string, ctx: Ctx, depth: number): Promise<void> {
  if (depth > MAX_DEPTH) {
    ctx.problems.push(`${where}: indexes nested deeper than ${MAX_DEPTH}`);
    return;
  }
  const raw = await checkManifestBytes(index, desc, where, ctx);
  if (!raw) return;
  const manifest = parse<IndexManifest>(raw, where, ctx);
  if (!manifest) return;
  if (manifest.schemaVersion !== 2) ctx.problems.push(`${where}: schemaVersion is ${String(manifest.schemaVersion)}, expected 2`);
  if (manifest.mediaType !== undefined && !isIndexMediaType(manifest.mediaType)) {
    ctx.problems.push(`${where}: mediaType ${manifest.mediaType} is not an index media type`);
  }
  if (!Array.isArray(manifest.manifests)) {
    ctx.problems.push(`${where}: no manifests list`);
    return;
  }
  for (const [i, m] of manifest.manifests.entries()) {
    const at = `${where} > manifests[${i}]${m.platform ? ` (${formatPlatform(m.platform)})` : ""}`;
    if (!m || typeof m.digest !== "string" || !isDigest(m.digest)) {
      ctx.problems.push(`${at}: invalid digest ${JSON.stringify(m?.digest)}`);
      continue;
    }
    if (!Number.isSafeInteger(m.size) || m.size < 0) ctx.problems.push(`${at}: invalid size ${String(m.size)}`);
    if (isIndexMediaType(m.mediaType)) {
      const child = await attempt(ctx, at, () => index.imageIndex(m.digest));
      if (child) await checkIndex(child, m, at, ctx, depth + 1);
    } else if (isManifestMediaType(m.mediaType)) {
      const child = await attempt(ctx, at, () => index.image(m.digest));
      if (!child) continue;
      const config = await checkImage(child, m, at, ctx);
      if (config && m.platform && m.platform.os !== "unknown") checkPlatform(m.platform, config, at, ctx);
    }
    // Other media types (artifacts) are not ours to judge.
  }
}

function checkPlatform(p: Platform, cfg: ImageConfigFile, where: string, ctx: Ctx): void {
  const fromConfig: Platform = { os: cfg.os, architecture: cfg.architecture, ...(cfg.variant ? { variant: cfg.variant } : {}) };
  if (!platformEquals(p, fromConfig)) {
    ctx.problems.push(`${where}: index says platform ${formatPlatform(p)} but the image config says ${formatPlatform(fromConfig)}`);
  }
}

/** Returns the parsed config when it is an image config (for the platform check). */
async function checkImage(image: Image, desc: Descriptor | undefined, where: string, ctx: Ctx): Promise<ImageConfigFile | undefined> {
  const raw = await checkManifestBytes(image, desc, where, ctx);
  if (!raw) return undefined;
  const manifest = parse<ImageManifest>(raw, where, ctx);
  if (!manifest) return undefined;
  if (manifest.schemaVersion !== 2) ctx.problems.push(`${where}: schemaVersion is ${String(manifest.schemaVersion)}, expected 2`);
  if (manifest.mediaType !== undefined && !isManifestMediaType(manifest.mediaType)) {
    ctx.problems.push(`${where}: mediaType ${manifest.mediaType} is not an image manifest media type`);
  }
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    ctx.problems.push(`${where}: manifest has no config or no layers list`);
    return undefined;
  }
  const rawConfig = await attempt(ctx, `${where} > config`, () => image.rawConfigFile());
  if (!rawConfig) return undefined;
  const configDigest = sha256(rawConfig);
  if (configDigest !== manifest.config.digest) {
    ctx.problems.push(`${where} > config: manifest says ${manifest.config.digest} but the config hashes to ${configDigest}`);
  }
  if (rawConfig.length !== manifest.config.size) {
    ctx.problems.push(`${where} > config: manifest says ${manifest.config.size} bytes but the config is ${rawConfig.length}`);
  }
  const isImageConfig = IMAGE_CONFIG_TYPES.has(manifest.config.mediaType);
  const config = isImageConfig ? parse<ImageConfigFile>(rawConfig, `${where} > config`, ctx) : undefined;
  const diffIds: Digest[] | undefined = config?.rootfs?.diff_ids;
  if (config) {
    if (!config.os || !config.architecture) ctx.problems.push(`${where} > config: os and architecture are required`);
    if (config.rootfs?.type !== "layers" || !Array.isArray(diffIds)) {
      ctx.problems.push(`${where} > config: rootfs must be { type: "layers", diff_ids: [...] }`);
    } else if (diffIds.length !== manifest.layers.length) {
      ctx.problems.push(`${where}: ${manifest.layers.length} layers but ${diffIds.length} rootfs.diff_ids`);
    }
  }
  const layers = await attempt(ctx, where, () => image.layers());
  if (!layers) return config;
  if (layers.length !== manifest.layers.length) {
    ctx.problems.push(`${where}: layers() gives ${layers.length} layers but the manifest lists ${manifest.layers.length}`);
  }
  for (const [i, d] of manifest.layers.entries()) {
    const at = `${where} > layer ${i} (${d.digest})`;
    const layer = layers[i];
    if (!layer) continue;
    await attempt(ctx, at, async () => {
      const [digest, size, mediaType] = await Promise.all([layer.digest(), layer.size(), layer.mediaType()]);
      if (digest !== d.digest) ctx.problems.push(`${at}: layer object has digest ${digest}`);
      if (size !== d.size) ctx.problems.push(`${at}: manifest says ${d.size} bytes, layer object says ${size}`);
      if (mediaType !== d.mediaType) ctx.problems.push(`${at}: manifest says ${d.mediaType}, layer object says ${mediaType}`);
    });
    const isTarLayer = config !== undefined && (d.mediaType.includes(".layer.") || d.mediaType.includes("rootfs"));
    if (!ctx.scanLayers) continue;
    const scan = await attempt(ctx, at, () => scanOnce(layer, d, isTarLayer, ctx));
    if (!scan) continue;
    if (scan.digest !== d.digest) ctx.problems.push(`${at}: the blob hashes to ${scan.digest}`);
    if (scan.size !== d.size) ctx.problems.push(`${at}: manifest says ${d.size} bytes, the blob is ${scan.size}`);
    if (!isTarLayer) continue;
    const expectedDiff = diffIds?.[i];
    if (expectedDiff !== undefined && scan.diffId !== expectedDiff) {
      ctx.problems.push(`${at}: config diff_id ${expectedDiff} but the uncompressed tar hashes to ${scan.diffId}`);
    }
    const claimed = await attempt(ctx, at, () => layer.diffId());
    if (claimed !== undefined && claimed !== scan.diffId) ctx.problems.push(`${at}: diffId() is ${claimed} but the tar hashes to ${scan.diffId}`);
    if (scan.duplicates.length > 0) {
      const shown = scan.duplicates.slice(0, 5).map((p) => `/${p}`).join(", ");
      ctx.problems.push(`${at}: duplicate paths ${shown}${scan.duplicates.length > 5 ? ` and ${scan.duplicates.length - 5} more` : ""}`);
    }
  }
  return config;
}

function scanOnce(layer: Layer, d: Descriptor, isTar: boolean, ctx: Ctx): Promise<LayerScan> {
  const key = `${d.digest}|${isTar}`;
  let p = ctx.scans.get(key);
  if (!p) {
    // A corrupt blob usually fails decompression before its digest is known; say which it is.
    p = scanLayer(layer, d, isTar).catch(async (err: unknown) => {
      if (!isTar) throw err;
      await scanLayer(layer, d, false);
      throw err;
    });
    ctx.scans.set(key, p);
  }
  return p;
}

/** One pass over the blob: compressed digest/size, uncompressed digest, and the tar's paths. */
export async function scanLayer(layer: Layer, d: Descriptor, isTar = true): Promise<LayerScan> {
  const source: Readable = await layer.compressed();
  const compressed = new DigestCounter();
  if (!isTar) {
    await pipeline(source, compressed, async (s: AsyncIterable<Buffer>) => {
      for await (const _ of s); // only the digest matters
    });
    const r = compressed.result();
    return { ...r, diffId: r.digest, duplicates: [] };
  }
  const uncompressed = new DigestCounter();
  const extract = tarStream.extract();
  const seen = new Set<string>();
  const duplicates: string[] = [];
  const consume = (async () => {
    for await (const entry of extract) {
      const name = normalizeTarName(entry.header.name);
      if (name !== "") {
        if (seen.has(name)) duplicates.push(name);
        else seen.add(name);
      }
      entry.resume();
    }
  })();
  const flow = pipeline(source, compressed, decompressStream(layerCompression(d.mediaType)), uncompressed);
  uncompressed.pipe(extract as unknown as NodeJS.WritableStream);
  // Whichever side fails first decides; the other is torn down below, so silence its late rejection.
  flow.catch(() => {});
  consume.catch(() => {});
  try {
    await Promise.all([flow, consume]);
  } catch (err) {
    source.destroy();
    extract.destroy();
    if (err instanceof AotpackError) throw err;
    throw new AotpackError(`cannot read layer: ${errorMessage(err)}`);
  }
  const c = compressed.result();
  return { digest: c.digest, size: c.size, diffId: uncompressed.result().digest, duplicates };
}

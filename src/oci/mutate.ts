/**
 * Wrap an image into a new one (after go-containerregistry's mutate): nothing is
 * edited in place and nothing is computed until asked. Every wrapped image has OCI
 * media types: a Docker schema2 base is converted (manifest, config, layers), since
 * registries refuse manifests that mix the two.
 */
import { UsageError } from "../errors.ts";
import { BlobNotFoundError, imageFromCore, indexFromCore, type BlobStore } from "./core.ts";
import { sha256 } from "./digest.ts";
import { descriptorOf, isImageIndex, type Image, type ImageIndex, type Layer } from "./interfaces.ts";
import { canonicalJson } from "./json.ts";
import { epochToIso, sourceDateEpoch } from "./layer.ts";
import { MediaType } from "./media-types.ts";
import { formatPlatform, parsePlatform, type Platform } from "./platform.ts";
import type { Annotations, Descriptor, HistoryEntry, ImageConfigFile, ImageManifest, IndexManifest } from "./types.ts";

function memo<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

interface ImageParts {
  manifest: ImageManifest;
  rawConfig: Buffer;
  layers: Layer[];
}

/** Where mutated images say they live, in messages. */
const BUILT: Pick<BlobStore, "name" | "open"> = {
  name: "a built image",
  open: async (desc) => {
    throw new BlobNotFoundError(`blob ${desc.digest} is not part of this built image`);
  },
};

/** An image whose manifest we serialise ourselves (canonical JSON), computed once on first use. */
export function imageFromParts(compute: () => Promise<ImageParts>): Image {
  const parts = memo(compute);
  return imageFromCore({
    rawManifest: async () => canonicalJson((await parts()).manifest),
    rawConfig: async () => (await parts()).rawConfig,
    // The layers as given (a registry layer stays one, so a push can mount it).
    store: { ...BUILT, layer: async (_desc, _diffId, i) => (await parts()).layers[i]! },
  });
}

/** OCI media type for a Docker schema2 one; OCI types pass through. */
export function toOciMediaType(mt: string): string {
  switch (mt) {
    case MediaType.DockerManifest:
      return MediaType.OciManifest;
    case MediaType.DockerManifestList:
      return MediaType.OciIndex;
    case MediaType.DockerConfig:
      return MediaType.OciConfig;
    case MediaType.DockerLayerGzip:
      return MediaType.OciLayerGzip;
    case MediaType.DockerForeignLayerGzip:
      return "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    default:
      return mt;
  }
}

function withLayerMediaType(layer: Layer, mediaType: string): Layer {
  const wrapped: Layer = {
    mediaType: async () => mediaType,
    digest: () => layer.digest(),
    diffId: () => layer.diffId(),
    size: () => layer.size(),
    compressed: () => layer.compressed(),
    uncompressed: () => layer.uncompressed(),
  };
  const uncompressedSize = layer.uncompressedSize?.bind(layer);
  if (uncompressedSize) wrapped.uncompressedSize = uncompressedSize;
  return wrapped;
}

/** Config parsed with unknown fields kept, so wrapping never drops what a base image carries. */
async function configOf(image: Image): Promise<ImageConfigFile> {
  return JSON.parse((await image.rawConfigFile()).toString("utf8")) as ImageConfigFile;
}

async function rebuild(
  base: Image,
  change: {
    config?: (cfg: ImageConfigFile) => ImageConfigFile | Promise<ImageConfigFile>;
    annotations?: Annotations;
    add?: { layer: Layer; history?: HistoryEntry }[];
  },
): Promise<ImageParts> {
  const [baseManifest, baseLayers] = await Promise.all([base.manifest(), base.layers()]);
  let config = await configOf(base);
  const layerDescs: Descriptor[] = baseManifest.layers.map((d) => ({ ...d, mediaType: toOciMediaType(d.mediaType) }));
  const layers = await Promise.all(
    baseLayers.map(async (l, i) => {
      const want = layerDescs[i]?.mediaType ?? toOciMediaType(await l.mediaType());
      return (await l.mediaType()) === want ? l : withLayerMediaType(l, want);
    }),
  );
  if (change.add?.length) {
    const diffIds = [...(config.rootfs?.diff_ids ?? [])];
    const history = [...(config.history ?? [])];
    for (const { layer, history: h } of change.add) {
      const mediaType = toOciMediaType(await layer.mediaType());
      layerDescs.push({ mediaType, digest: await layer.digest(), size: await layer.size() });
      layers.push(mediaType === (await layer.mediaType()) ? layer : withLayerMediaType(layer, mediaType));
      diffIds.push(await layer.diffId());
      history.push(h ?? { ...(config.created ? { created: config.created } : {}), created_by: "aotpack" });
    }
    config = { ...config, rootfs: { type: "layers", diff_ids: diffIds }, history };
  }
  if (change.config) config = await change.config(structuredClone(config));
  const rawConfig = canonicalJson(config);
  const annotations = { ...(baseManifest.annotations ?? {}), ...(change.annotations ?? {}) };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: sha256(rawConfig), size: rawConfig.length },
    layers: layerDescs,
    ...(Object.keys(annotations).length ? { annotations } : {}),
  };
  return { manifest, rawConfig, layers };
}

/** A checked platform: aliases normalised, unknown os/arch rejected with a UsageError. */
function checkedPlatform(platform: Platform): Platform {
  if (!platform || typeof platform.os !== "string" || typeof platform.architecture !== "string") {
    throw new UsageError(`invalid platform ${JSON.stringify(platform)}: expected { os, architecture }`);
  }
  const parsed = parsePlatform(formatPlatform(platform));
  return {
    ...parsed,
    ...(platform["os.version"] ? { "os.version": platform["os.version"] } : {}),
    ...(platform["os.features"] ? { "os.features": platform["os.features"] } : {}),
  };
}

/** An image with no layers for `platform`; `created` is SOURCE_DATE_EPOCH (default 1970-01-01). */
export function emptyImage(platform: Platform, options: { sourceDateEpoch?: number } = {}): Image {
  const p = checkedPlatform(platform);
  const epoch = options.sourceDateEpoch ?? sourceDateEpoch();
  return imageFromParts(async () => {
    const config: ImageConfigFile = {
      architecture: p.architecture,
      os: p.os,
      ...(p.variant ? { variant: p.variant } : {}),
      ...(p["os.version"] ? { "os.version": p["os.version"] } : {}),
      ...(p["os.features"] ? { "os.features": p["os.features"] } : {}),
      created: epochToIso(epoch),
      config: {},
      rootfs: { type: "layers", diff_ids: [] },
    };
    const rawConfig = canonicalJson(config);
    return {
      manifest: {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: sha256(rawConfig), size: rawConfig.length },
        layers: [],
      },
      rawConfig,
      layers: [],
    };
  });
}

/** `base` plus layers on top; each gets a rootfs diff_id and a history entry. */
export function appendLayers(base: Image, additions: { layer: Layer; history?: HistoryEntry }[]): Image {
  return imageFromParts(() => rebuild(base, { add: additions }));
}

/** `base` with its config replaced by `update(copy of config)`. */
export function withConfig(base: Image, update: (cfg: ImageConfigFile) => ImageConfigFile): Image {
  return imageFromParts(() => rebuild(base, { config: update }));
}

/** `base` with annotations merged into its manifest (new keys win). */
export function withManifestAnnotations(base: Image, annotations: Annotations): Image {
  return imageFromParts(() => rebuild(base, { annotations }));
}

/** The platform an image declares in its config, as an index descriptor carries it. */
export async function platformOfImage(image: Image): Promise<Platform> {
  const cfg = await image.configFile();
  return {
    os: cfg.os,
    architecture: cfg.architecture,
    ...(cfg.variant ? { variant: cfg.variant } : {}),
    ...(cfg["os.version"] ? { "os.version": cfg["os.version"] } : {}),
    ...(cfg["os.features"] ? { "os.features": cfg["os.features"] } : {}),
  };
}

/**
 * An OCI index over images (or nested indexes). Each image's descriptor carries its
 * platform, taken from its config unless given.
 */
export function newIndex(
  entries: { image: Image | ImageIndex; platform?: Platform; annotations?: Annotations }[],
  annotations?: Annotations,
): ImageIndex {
  const children = memo(async () => {
    const out: { desc: Descriptor; item: Image | ImageIndex }[] = [];
    for (const e of entries) {
      const platform = e.platform ?? (isImageIndex(e.image) ? undefined : await platformOfImage(e.image));
      const desc = await descriptorOf(e.image, {
        ...(platform ? { platform } : {}),
        ...(e.annotations && Object.keys(e.annotations).length ? { annotations: e.annotations } : {}),
      });
      out.push({ desc, item: e.image });
    }
    return out;
  });
  const raw = memo(async () => {
    const manifest: IndexManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: (await children()).map((c) => c.desc),
      ...(annotations && Object.keys(annotations).length ? { annotations } : {}),
    };
    return canonicalJson(manifest);
  });
  return indexFromCore({
    rawManifest: raw,
    child: async (desc) => {
      const found = (await children()).find((c) => c.desc.digest === desc.digest);
      if (!found) throw new BlobNotFoundError(`no manifest with digest ${desc.digest} in this index`);
      return found.item;
    },
    store: BUILT,
  });
}

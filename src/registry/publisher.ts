/**
 * Push side: blobs (skipped when present, mounted when known elsewhere in the same
 * registry, else uploaded on a bounded pool), then per-platform manifests by digest,
 * then the index by digest, and only then the tag — so a failure part-way never
 * moves the tag.
 */
import { Readable } from "node:stream";
import { AotpackError } from "../errors.ts";
import type { Digest } from "../oci/digest.ts";
import { isImageIndex, type Image, type ImageIndex, type Layer } from "../oci/interfaces.ts";
import { RegistryClient, type RegistryClientOptions } from "./client.ts";
import { parseReference, makeReference, type Reference } from "./reference.ts";
import { RemoteLayer, runPool } from "./remote.ts";
// Same shapes as src/publish (Publisher, PublishResult, ProgressEvent).
import type { Publisher, PublishResult, ProgressEvent, PublishOptions } from "./publish-types.ts";

export interface RegistryPublisherOptions extends RegistryClientOptions {
  client?: RegistryClient;
  /** Parallel blob uploads; default 3. */
  concurrency?: number;
  /** Repositories of the same registry to try mounting blobs from. */
  mountFrom?: string[];
}

interface PlannedBlob {
  digest: Digest;
  size: number;
  open: () => Promise<Readable>;
  mountFrom: string[];
}

interface PlannedManifest {
  digest: Digest;
  raw: Buffer;
  mediaType: string;
}

/** Walk an image or index: blobs (deduplicated) and manifests children-first. */
async function plan(item: Image | ImageIndex, registry: string, blobs: Map<Digest, PlannedBlob>, manifests: PlannedManifest[]): Promise<void> {
  if (isImageIndex(item)) {
    const index = await item.indexManifest();
    for (const d of index.manifests) {
      const child = d.mediaType && /index|manifest\.list/.test(d.mediaType) ? await item.imageIndex(d.digest) : await item.image(d.digest);
      await plan(child, registry, blobs, manifests);
    }
  } else {
    const manifest = await item.manifest();
    const rawConfig = await item.rawConfigFile();
    if (!blobs.has(manifest.config.digest)) {
      blobs.set(manifest.config.digest, { digest: manifest.config.digest, size: rawConfig.length, open: async () => Readable.from([rawConfig]), mountFrom: [] });
    }
    const layers = await item.layers();
    for (const layer of layers) await planLayer(layer, registry, blobs);
  }
  const digest = await item.digest();
  if (!manifests.some((m) => m.digest === digest)) manifests.push({ digest, raw: await item.rawManifest(), mediaType: await item.mediaType() });
}

async function planLayer(layer: Layer, registry: string, blobs: Map<Digest, PlannedBlob>): Promise<void> {
  const digest = await layer.digest();
  if (blobs.has(digest)) return;
  const mountFrom = layer instanceof RemoteLayer && layer.origin.registry === registry ? [layer.origin.repository] : [];
  blobs.set(digest, { digest, size: await layer.size(), open: () => layer.compressed(), mountFrom });
}

export function registryPublisher(ref: string | Reference, options: RegistryPublisherOptions = {}): Publisher {
  const target = typeof ref === "string" ? parseReference(ref) : ref;
  return {
    kind: "registry",
    publish: (item, publishOptions) => push(item, target, { ...options, ...publishOptions }),
  };
}

/** Push `item` to `ref` (tag from `options.tag`, else the reference's). Returns the pushed digest. */
export async function push(item: Image | ImageIndex, ref: string | Reference, options: RegistryPublisherOptions & PublishOptions = {}): Promise<PublishResult> {
  const target = typeof ref === "string" ? parseReference(ref) : ref;
  const tag = options.tag ?? target.tag;
  const ownClient = options.client === undefined;
  const client = options.client ?? new RegistryClient(target.registry, options);
  if (client.registry !== target.registry) throw new AotpackError(`client for ${client.registry} cannot push to ${target}`);
  const repo = target.repository;
  const onProgress = options.onProgress;
  try {
    const blobs = new Map<Digest, PlannedBlob>();
    const manifests: PlannedManifest[] = [];
    await plan(item, target.registry, blobs, manifests);
    const top = manifests[manifests.length - 1]!;
    if (target.digest && target.digest !== top.digest) {
      throw new AotpackError(`cannot push to ${target}: the image's digest is ${top.digest}`);
    }

    await runPool([...blobs.values()], options.concurrency ?? 3, async (blob) => {
      let last = -1;
      const progress = (done: number): void => {
        if (done === last) return;
        last = done;
        onProgress?.({ kind: "blob", digest: blob.digest, done, total: blob.size });
      };
      const outcome = await client.uploadBlob(repo, blob, { mountFrom: [...blob.mountFrom, ...(options.mountFrom ?? [])], onProgress: progress });
      if (outcome !== "uploaded") onProgress?.({ kind: "blob", digest: blob.digest, done: blob.size, total: blob.size, skipped: true });
    });

    // Children first (a registry may refuse an index whose manifests it lacks), all by digest.
    for (const m of manifests) {
      await client.putManifest(repo, m.digest, m.raw, m.mediaType);
      onProgress?.({ kind: "manifest", digest: m.digest });
    }
    // The tag moves last, and only onto a manifest that is complete.
    if (tag !== undefined) await client.putManifest(repo, tag, top.raw, top.mediaType);
    return {
      reference: makeReference(target.registry, repo, tag, top.digest).toString(),
      digest: top.digest,
      mediaType: top.mediaType,
      size: top.raw.length,
    };
  } finally {
    if (ownClient) client.close();
  }
}

export type { Publisher, PublishResult, ProgressEvent };

/**
 * Push side: blobs (skipped when present, mounted when known elsewhere in the same
 * registry, else uploaded on a bounded pool), then per-platform manifests by digest,
 * then the index by digest, and only then the tag — so a failure part-way never
 * moves the tag. Manifests with a `subject` (our attestations) that the registry did not
 * process are listed under the referrers tag fallback before the tag moves.
 */
import { AotpackError } from "../errors.ts";
import type { Image, ImageIndex } from "../oci/interfaces.ts";
import { planPublish } from "../publish/blobs.ts";
import type { ProgressEvent, PublishOptions, PublishResult, Publisher } from "../publish/types.ts";
import { readSmall } from "../oci/blob-stream.ts";
import { LIMITS } from "../oci/core.ts";
import { RegistryClient, type RegistryClientOptions } from "./client.ts";
import { makeReference, parseReference, type Reference } from "./reference.ts";
import { addToReferrersTag, referrerOf } from "./referrers.ts";
import type { Digest } from "../oci/digest.ts";
import type { Descriptor } from "../oci/types.ts";
import { runPool } from "./remote.ts";

export interface RegistryPublisherOptions extends RegistryClientOptions {
  client?: RegistryClient;
  /** Parallel blob uploads; default 3. */
  concurrency?: number;
  /** Repositories of the same registry to try mounting blobs from. */
  mountFrom?: string[];
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
  const onProgress: (e: ProgressEvent) => void = options.onProgress ?? (() => undefined);
  try {
    const plan = await planPublish(item);
    if (target.digest && target.digest !== plan.root.digest) {
      throw new AotpackError(`cannot push to ${target}: the image's digest is ${plan.root.digest}`);
    }
    const blobs = plan.blobs.filter((b) => b.kind !== "manifest");
    const manifests = plan.blobs.filter((b) => b.kind === "manifest");

    await runPool(blobs, options.concurrency ?? 3, async (blob) => {
      let last = -1;
      const progress = (done: number): void => {
        if (done === last) return;
        last = done;
        onProgress({ kind: "blob", digest: blob.digest, done, total: blob.size });
      };
      const outcome = await client.uploadBlob(repo, blob, { mountFrom: options.mountFrom ?? [], onProgress: progress });
      if (outcome !== "uploaded") onProgress({ kind: "blob", digest: blob.digest, done: blob.size, total: blob.size, skipped: true });
    });

    // Children before parents (a registry may refuse an index whose manifests it lacks), all by digest.
    let rootRaw: Buffer | undefined;
    // Referrers (manifests with a `subject`) the registry did not process: listed under their subject's referrers tag.
    const unlisted = new Map<Digest, Descriptor[]>();
    for (const m of manifests) {
      const raw = await readSmall(await m.open(), LIMITS.manifestBytes, `manifest ${m.digest}`);
      const referrer = referrerOf(raw, m.digest, m.mediaType);
      const ack = await client.putManifestAck(repo, m.digest, raw, m.mediaType);
      if (referrer && ack.ociSubject === undefined) unlisted.set(referrer.subject, [...(unlisted.get(referrer.subject) ?? []), referrer.descriptor]);
      onProgress({ kind: "manifest", digest: m.digest });
      if (m.digest === plan.root.digest) rootRaw = raw;
    }
    for (const [subject, referrers] of unlisted) await addToReferrersTag(client, repo, subject, referrers);
    // The tag moves last, and only onto a manifest that is complete.
    if (tag !== undefined) await client.putManifest(repo, tag, rootRaw!, plan.root.mediaType);
    return {
      reference: makeReference(target.registry, repo, tag, plan.root.digest).toString(),
      digest: plan.root.digest,
      mediaType: plan.root.mediaType,
      size: plan.root.size,
    };
  } finally {
    if (ownClient) client.close();
  }
}

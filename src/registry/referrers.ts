/**
 * OCI 1.1 referrers on any registry (distribution-spec 1.1, "Pushing Manifests with Subject" and
 * "Referrers Tag Schema"). A registry with the referrers API lists a manifest's referrers itself
 * and says so with `OCI-Subject` on the push. One without it (Debian's docker-registry 2.8, and
 * many others) gets the fallback the spec makes the pusher's job: an image index tagged
 * `<alg>-<hex>` of the subject, listing its referrers, kept by read-modify-write.
 */
import { AotpackError, errorMessage } from "../errors.ts";
import { isDigest, type Digest } from "../oci/digest.ts";
import { isImageIndex, type Image } from "../oci/interfaces.ts";
import { canonicalJson } from "../oci/json.ts";
import { isIndexMediaType, isManifestMediaType, MediaType } from "../oci/media-types.ts";
import type { Descriptor, ImageManifest, IndexManifest } from "../oci/types.ts";
import { RegistryClient } from "./client.ts";
import { isContentError, RegistryError } from "./errors.ts";
import { makeReference, parseReference, type Reference } from "./reference.ts";
import { remoteIndexOrImage, type RemoteOptions } from "./remote.ts";

/** The referrers tag of a digest: algorithm (≤32 chars) + "-" + encoded (≤64), other characters → "-". */
export function referrersTag(digest: string): string {
  const colon = digest.indexOf(":");
  const tag = `${digest.slice(0, colon).slice(0, 32)}-${digest.slice(colon + 1).slice(0, 64)}`;
  return tag.replace(/[^A-Za-z0-9_.-]/g, "-");
}

/** A manifest with a `subject`: the subject's digest and the descriptor its referrers list carries. */
export function referrerOf(raw: Buffer, digest: Digest, mediaType: string): { subject: Digest; descriptor: Descriptor } | undefined {
  let m: Partial<ImageManifest> & { manifests?: unknown };
  try {
    m = JSON.parse(raw.toString("utf8")) as typeof m;
  } catch {
    return undefined;
  }
  if (!m.subject?.digest) return undefined;
  // artifactType: the manifest's own, else (image manifests) its config's media type.
  const artifactType = m.artifactType ?? (m.manifests === undefined ? m.config?.mediaType : undefined);
  const descriptor: Descriptor = {
    mediaType,
    digest,
    size: raw.length,
    ...(artifactType ? { artifactType } : {}),
    ...(m.annotations && Object.keys(m.annotations).length ? { annotations: m.annotations } : {}),
  };
  return { subject: m.subject.digest, descriptor };
}

/** The index under `tag`; undefined when there is no such tag; "other" when the tag names something else. */
async function readTagIndex(client: RegistryClient, repo: string, tag: string): Promise<IndexManifest | undefined | "other"> {
  let fetched;
  try {
    fetched = await client.getManifest(repo, tag);
  } catch (err) {
    if (err instanceof RegistryError && err.status === 404) return undefined;
    throw err;
  }
  let index: Partial<IndexManifest> | undefined;
  try {
    index = JSON.parse(fetched.raw.toString("utf8")) as Partial<IndexManifest>;
  } catch {
    return "other";
  }
  return isIndexMediaType(fetched.mediaType) && Array.isArray(index?.manifests) ? (index as IndexManifest) : "other";
}

/**
 * Add `referrers` to the referrers tag of `subject`: pull it (404 = an empty index), skip the
 * ones listed already, push it back only when something was added. Returns how many were added.
 * Two pushers racing on one subject can lose an entry: distribution 2.8 has no conditional PUT.
 */
export async function addToReferrersTag(client: RegistryClient, repo: string, subject: Digest, referrers: Descriptor[]): Promise<number> {
  const tag = referrersTag(subject);
  const found = await readTagIndex(client, repo, tag);
  if (found === "other") {
    // The spec: report a failure and leave the tag alone.
    throw new AotpackError(`${client.registry}/${repo}:${tag} is not an image index, so it cannot list the referrers of ${subject}`, {
      hint: "that tag name belongs to the OCI referrers tag schema: remove or rename the tag, or push to a registry with the referrers API",
    });
  }
  const index: IndexManifest = found ?? { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
  const listed = new Set(index.manifests.map((d) => d.digest));
  const added = referrers.filter((d) => !listed.has(d.digest) && listed.add(d.digest));
  if (added.length === 0) return 0;
  const updated: IndexManifest = { ...index, schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [...index.manifests, ...added] };
  await client.putManifest(repo, tag, canonicalJson(updated), MediaType.OciIndex);
  return added.length;
}

/** The referrers of `subject`: the referrers API when the registry has it, else the referrers tag (none when absent). */
export async function listReferrers(client: RegistryClient, repo: string, subject: Digest): Promise<Descriptor[]> {
  const api = await client.getReferrers(repo, subject);
  if (api !== undefined) {
    const index = JSON.parse(api.toString("utf8")) as Partial<IndexManifest>;
    return Array.isArray(index.manifests) ? index.manifests : [];
  }
  // The spec: a tag that is not a valid index means no referrers.
  const found = await readTagIndex(client, repo, referrersTag(subject));
  return found === undefined || found === "other" ? [] : found.manifests;
}

/** Referrers a reader fetches per subject; an image has a handful (SBOM, provenance, signatures). */
export const MAX_REFERRERS_READ = 64;

/**
 * For readers: the referrer manifests of a digest in `ref`'s repository (the API, else the
 * referrers tag), as images. Indexes among them are skipped: attestations are image manifests.
 */
export function remoteReferrers(ref: string | Reference, options: RemoteOptions = {}): (subject: Digest) => Promise<Image[]> {
  const r = typeof ref === "string" ? parseReference(ref) : ref;
  // One client for the lookups and the images they return (their layers are read later through it).
  let client: RegistryClient | undefined = options.client;
  return async (subject) => {
    client ??= new RegistryClient(r.registry, options);
    const out: Image[] = [];
    // Each referrer costs a manifest GET: a registry (or tag) listing thousands is not followed past the bound.
    for (const d of (await listReferrers(client, r.repository, subject)).slice(0, MAX_REFERRERS_READ)) {
      if (!isManifestMediaType(d.mediaType) || !isDigest(d.digest)) continue;
      // Anyone who can push can add to the tag: an entry that does not resolve or verify is skipped, not fatal.
      let item;
      try {
        item = await remoteIndexOrImage(makeReference(r.registry, r.repository, undefined, d.digest), { ...options, client });
      } catch (err) {
        if (!isContentError(err)) throw err;
        options.onWarning?.(`skipping referrer ${d.digest} of ${subject}: ${errorMessage(err)}`);
        continue;
      }
      if (!isImageIndex(item)) out.push(item);
    }
    return out;
  };
}

/**
 * Attestations read by hand, with no aotpack reader: from an OCI layout's files, or from a
 * registry over plain HTTP. What independent tools get to see of our SBOMs.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";

export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string };
  annotations?: Record<string, string>;
}

export interface Statement {
  _type: string;
  subject: { name: string; digest: { sha256: string } }[];
  predicateType: string;
  predicate: Record<string, unknown>;
}

/** Blob bytes by digest: a layout dir, or a fetcher (a registry). */
export type BlobReader = (digest: string) => Promise<Buffer>;

export const layoutBlobs = (layout: string): BlobReader => (digest) => readFile(join(layout, "blobs", "sha256", digest.slice("sha256:".length)));

export const blobJson = async <T>(read: BlobReader, digest: string): Promise<T> => JSON.parse((await read(digest)).toString("utf8")) as T;

/** The index a layout's index.json names first, by hand. */
export async function readLayoutIndex(layout: string): Promise<{ digest: string; manifests: Desc[] }> {
  const top = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: Desc[] };
  const digest = top.manifests[0]!.digest;
  return { digest, manifests: (await blobJson<{ manifests: Desc[] }>(layoutBlobs(layout), digest)).manifests };
}

/** The in-toto statement of `predicateType` in the attestation manifest `attestationDigest`. */
export async function readStatement(read: BlobReader, attestationDigest: string, predicateType: string): Promise<Statement> {
  const manifest = await blobJson<{ layers: Desc[] }>(read, attestationDigest);
  const layer = manifest.layers.find((l) => l.annotations?.["in-toto.io/predicate-type"] === predicateType);
  if (!layer) throw new Error(`attestation ${attestationDigest} has no ${predicateType} layer (has: ${manifest.layers.map((l) => l.annotations?.["in-toto.io/predicate-type"]).join(", ")})`);
  return blobJson<Statement>(read, layer.digest);
}

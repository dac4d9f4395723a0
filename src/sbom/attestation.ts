/**
 * Attestations as `docker buildx build --sbom --provenance` attaches them, so Docker tools read
 * them: per platform image, one manifest of in-toto statements in the index, with platform
 * unknown/unknown and the vnd.docker.reference.* annotations. It also names the image as its
 * OCI 1.1 `subject`, so registries with the referrers API list it there too.
 */
import { Readable } from "node:stream";
import { sha256, type Digest } from "../oci/digest.ts";
import type { Image, Layer } from "../oci/interfaces.ts";
import { canonicalJson } from "../oci/json.ts";
import { imageFromParts } from "../oci/mutate.ts";
import { MediaType } from "../oci/media-types.ts";
import type { Annotations, Descriptor, ImageConfigFile, ImageManifest } from "../oci/types.ts";

export const IN_TOTO_MEDIA_TYPE = "application/vnd.in-toto+json";
export const PREDICATE_TYPE_ANNOTATION = "in-toto.io/predicate-type";
import { ATTESTATION_MANIFEST, REFERENCE_DIGEST_ANNOTATION, REFERENCE_TYPE_ANNOTATION } from "../oci/platform.ts";
export { ATTESTATION_MANIFEST, REFERENCE_DIGEST_ANNOTATION, REFERENCE_TYPE_ANNOTATION };
/** The statement type buildx writes. */
export const STATEMENT_TYPE = "https://in-toto.io/Statement/v0.1";

export interface Statement {
  _type: string;
  subject: { name: string; digest: Record<string, string> }[];
  predicateType: string;
  predicate: unknown;
}

export function statement(subjectName: string, subjectDigest: Digest, predicateType: string, predicate: unknown): Statement {
  return { _type: STATEMENT_TYPE, subject: [{ name: subjectName, digest: { sha256: subjectDigest.slice("sha256:".length) } }], predicateType, predicate };
}

function bytesLayer(bytes: Buffer, mediaType: string): Layer {
  const digest = sha256(bytes);
  return {
    digest: async () => digest,
    diffId: async () => digest,
    size: async () => bytes.length,
    mediaType: async () => mediaType,
    compressed: async () => Readable.from([bytes]),
    uncompressed: async () => Readable.from([bytes]),
    uncompressedSize: async () => bytes.length,
  };
}

/** The attestation manifest for `subject`: one layer per statement, canonical JSON, so same inputs give the same digest. */
export function attestationImage(subject: Descriptor, statements: Statement[]): Image {
  return imageFromParts(async () => {
    const layers = statements.map((s) => bytesLayer(canonicalJson(s), IN_TOTO_MEDIA_TYPE));
    const descs: Descriptor[] = [];
    for (const [i, l] of layers.entries()) {
      descs.push({
        mediaType: IN_TOTO_MEDIA_TYPE,
        digest: await l.digest(),
        size: await l.size(),
        annotations: { [PREDICATE_TYPE_ANNOTATION]: statements[i]!.predicateType },
      });
    }
    const config: ImageConfigFile = {
      architecture: "unknown",
      os: "unknown",
      config: {},
      rootfs: { type: "layers", diff_ids: descs.map((d) => d.digest) },
    };
    const rawConfig = canonicalJson(config);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: sha256(rawConfig), size: rawConfig.length },
      layers: descs,
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    };
    return { manifest, rawConfig, layers };
  });
}

/** The index entry's annotations that tie an attestation manifest to its image. */
export function attestationAnnotations(imageDigest: Digest): Annotations {
  return { [REFERENCE_DIGEST_ANNOTATION]: imageDigest, [REFERENCE_TYPE_ANNOTATION]: ATTESTATION_MANIFEST };
}

export { isAttestationDescriptor, UNKNOWN_PLATFORM } from "../oci/platform.ts";

/** Reading attestations back from any image source: what `inspect` lists and `aotpack sbom` prints. */
import { AotpackError, UsageError, errorMessage } from "../errors.ts";
import { isContentError } from "../registry/errors.ts";
import { isImageIndex, type Image, type ImageIndex } from "../oci/interfaces.ts";
import { formatPlatform, hostPlatform, isAttestationDescriptor, platformEntries, REFERENCE_DIGEST_ANNOTATION, type Platform } from "../oci/platform.ts";
import { selectImage } from "../oci/select.ts";
import { isManifestMediaType } from "../oci/media-types.ts";
import { IN_TOTO_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION, type Statement } from "./attestation.ts";
import { CYCLONEDX_PREDICATE } from "./predicate-types.ts";
import { SPDX_PREDICATE } from "./spdx.ts";
import { writeFileAtomic } from "../oci/fs-util.ts";
import type { Digest } from "../oci/digest.ts";
import type { SbomFormat } from "./index.ts";

/** In-toto statements are small; a bigger layer is not one of ours, and is not read into memory. */
const MAX_STATEMENT_BYTES = 64 * 1024 * 1024;

export interface AttestationInfo {
  digest: string;
  /** The image it describes (vnd.docker.reference.digest). */
  subject: string;
  statements: { predicateType: string; digest: string; bytes: number }[];
}

export async function listAttestations(index: ImageIndex): Promise<AttestationInfo[]> {
  const out: AttestationInfo[] = [];
  for (const d of (await index.indexManifest()).manifests) {
    if (!isAttestationDescriptor(d) || !isManifestMediaType(d.mediaType)) continue;
    const manifest = await (await index.image(d.digest)).manifest();
    out.push({
      digest: d.digest,
      subject: d.annotations?.[REFERENCE_DIGEST_ANNOTATION] ?? manifest.subject?.digest ?? "",
      statements: manifest.layers.map((l) => ({ predicateType: l.annotations?.[PREDICATE_TYPE_ANNOTATION] ?? "", digest: l.digest, bytes: l.size })),
    });
  }
  return out;
}

async function readStatement(image: Image, digest: string): Promise<Statement> {
  const layer = await image.layerByDigest(digest as `sha256:${string}`);
  if ((await layer.size()) > MAX_STATEMENT_BYTES) throw new AotpackError(`attestation layer ${digest} is over ${MAX_STATEMENT_BYTES} bytes`);
  const chunks: Buffer[] = [];
  for await (const c of await layer.compressed()) chunks.push(c as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as Statement;
  } catch {
    throw new AotpackError(`attestation layer ${digest} is not JSON`);
  }
}

/**
 * The referrer manifests of an image (OCI 1.1: the registry's referrers API, else the referrers
 * tag): how an image reached by digest, without the index that lists its attestations, finds them.
 */
export type ReferrersLookup = (subject: Digest) => Promise<Image[]>;

/** The attestation manifests among an image's referrers: in-toto layers only, naming it as subject. */
export async function referrerAttestations(subject: Digest, referrers: ReferrersLookup): Promise<{ info: AttestationInfo; image: Image }[]> {
  const out: { info: AttestationInfo; image: Image }[] = [];
  for (const image of await referrers(subject)) {
    const manifest = await image.manifest();
    if (manifest.subject?.digest !== subject || manifest.layers.length === 0 || !manifest.layers.every((l) => l.mediaType === IN_TOTO_MEDIA_TYPE)) continue;
    const statements = manifest.layers.map((l) => ({ predicateType: l.annotations?.[PREDICATE_TYPE_ANNOTATION] ?? "", digest: l.digest, bytes: l.size }));
    out.push({ info: { digest: await image.digest(), subject, statements }, image });
  }
  return out;
}

/** The SBOM attached to the image for `platform` (default: the index's only platform, else the host's). */
export async function readSbom(
  item: Image | ImageIndex,
  options: { platform?: Platform; format?: SbomFormat; referrers?: ReferrersLookup; onWarning?: (message: string) => void } = {},
): Promise<{ platform: string; format: SbomFormat; document: unknown }> {
  if (!isImageIndex(item) && !options.referrers) {
    throw new AotpackError("this is a single image with no index, so it carries no attestations", {
      hint: "docker-archive outputs keep their SBOM beside the archive (<file>.sbom.json)",
    });
  }
  const chosen = await selectImage(item, {
    ...(options.platform ? { platform: options.platform } : {}),
    missing: (wanted, entries) =>
      new UsageError(`no ${formatPlatform(wanted ?? hostPlatform())} image in the index (it has: ${entries.flatMap((d) => (d.platform ? [formatPlatform(d.platform)] : [])).join(", ") || "none"})`),
  });
  const wanted = chosen.platform ?? options.platform ?? hostPlatform();
  const imageDigest = await chosen.image.digest();
  const candidates: { info: AttestationInfo; image: () => Promise<Image> }[] = isImageIndex(item)
    ? (await listAttestations(item)).filter((a) => a.subject === imageDigest).map((info) => ({ info, image: () => item.image(info.digest as Digest) }))
    : [];
  const types = options.format ? [options.format === "spdx" ? SPDX_PREDICATE : CYCLONEDX_PREDICATE] : [SPDX_PREDICATE, CYCLONEDX_PREDICATE];
  const hasSbom = (a: AttestationInfo) => a.statements.some((s) => types.includes(s.predicateType));
  // Not in the index (or no index at all): ask the registry for the image's referrers.
  if (!candidates.some((c) => hasSbom(c.info)) && options.referrers) {
    for (const r of await referrerAttestations(imageDigest, options.referrers)) candidates.push({ info: r.info, image: async () => r.image });
  }
  const withSbom = candidates.filter((c) => hasSbom(c.info));
  if (withSbom.length === 0) {
    const has = candidates.flatMap((c) => c.info.statements.map((s) => s.predicateType)).join(", ");
    throw new AotpackError(`the ${formatPlatform(wanted)} image has no ${options.format ?? ""} SBOM attached${has ? ` (its attestations: ${has})` : ""}`.replace("  ", " "), {
      hint: "build with --sbom spdx or --sbom cyclonedx",
    });
  }
  // A referrer is anyone's to add: one that cannot be read gives way to the next; the last failure is the answer.
  let failure: unknown;
  for (const attestation of withSbom) {
    const layer = attestation.info.statements.find((s) => types.includes(s.predicateType))!;
    try {
      const statement = await readStatement(await attestation.image(), layer.digest);
      return { platform: formatPlatform(wanted), format: layer.predicateType === SPDX_PREDICATE ? "spdx" : "cyclonedx", document: statement.predicate };
    } catch (err) {
      if (!isContentError(err)) throw err;
      failure = err;
      if (withSbom.length > 1) options.onWarning?.(`skipping attestation ${attestation.info.digest}: ${errorMessage(err)}`);
    }
  }
  throw failure;
}

export { IN_TOTO_MEDIA_TYPE };

/**
 * docker-archive holds one image and no index, so its attestation cannot travel inside: the
 * image's SBOM is written beside it as FILE.sbom.json (atomically). No attached SBOM, no file.
 */
export async function writeSbomBeside(item: Image | ImageIndex, imageDigest: string, file: string): Promise<string | undefined> {
  if (!isImageIndex(item)) return undefined;
  const entry = platformEntries((await item.indexManifest()).manifests).find((d) => d.digest === imageDigest && d.platform);
  if (!entry) return undefined;
  const hasSbom = (await listAttestations(item)).some((a) => a.subject === imageDigest && a.statements.some((s) => s.predicateType === SPDX_PREDICATE || s.predicateType === CYCLONEDX_PREDICATE));
  if (!hasSbom) return undefined;
  const sbom = await readSbom(item, { platform: entry.platform! });
  const target = `${file}.sbom.json`;
  await writeFileAtomic(target, `${JSON.stringify(sbom.document, null, 2)}\n`);
  return target;
}

/** `aotpack inspect`: what is in an image or index, read through the shared model. */
import type { Image, ImageIndex } from "../oci/interfaces.ts";
import { isImageIndex } from "../oci/interfaces.ts";
import { formatPlatform } from "../oci/platform.ts";
import { imageEntries } from "../oci/select.ts";
import { listAttestations, referrerAttestations, type AttestationInfo, type ReferrersLookup } from "../sbom/read.ts";
import type { Annotations, RuntimeConfig } from "../oci/types.ts";
import type { Digest } from "../oci/digest.ts";
import { formatBytes } from "./progress.ts";
import { table } from "./report.ts";
import { escapeControls } from "../ansi.ts";

export interface InspectedImage {
  digest: string;
  mediaType: string;
  platform: string;
  layers: { digest: string; mediaType: string; compressedBytes: number }[];
  compressedBytes: number;
  config: RuntimeConfig;
  created?: string;
  annotations?: Annotations;
}

export interface InspectResult {
  digest: string;
  mediaType: string;
  annotations?: Annotations;
  images: InspectedImage[];
  /** SBOM and provenance manifests, each naming the image it describes. */
  attestations?: AttestationInfo[];
}

async function inspectImage(image: Image): Promise<InspectedImage> {
  const manifest = await image.manifest();
  const cfg = await image.configFile();
  const out: InspectedImage = {
    digest: await image.digest(),
    mediaType: await image.mediaType(),
    platform: formatPlatform({ os: cfg.os, architecture: cfg.architecture, ...(cfg.variant ? { variant: cfg.variant } : {}) }),
    layers: manifest.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, compressedBytes: l.size })),
    compressedBytes: manifest.layers.reduce((a, l) => a + l.size, 0),
    config: cfg.config,
  };
  if (cfg.created) out.created = cfg.created;
  if (manifest.annotations) out.annotations = manifest.annotations;
  return out;
}

/**
 * With `referrers` (registry sources), a single image's attestations are found as its referrers
 * (an index lists its own, so it costs no extra requests).
 */
export async function inspectItem(item: Image | ImageIndex, referrers?: ReferrersLookup): Promise<InspectResult> {
  if (!isImageIndex(item)) {
    const img = await inspectImage(item);
    const attestations = referrers ? (await referrerAttestations(img.digest as Digest, referrers)).map((a) => a.info) : [];
    return { digest: img.digest, mediaType: img.mediaType, images: [img], ...(attestations.length ? { attestations } : {}) };
  }
  const manifest = await item.indexManifest();
  const images: InspectedImage[] = [];
  // Attestations and other non-image entries carry no platform we can run; list images only.
  for (const entry of await imageEntries(item)) images.push(await inspectImage(await entry.open()));
  const out: InspectResult = { digest: await item.digest(), mediaType: await item.mediaType(), images, attestations: await listAttestations(item) };
  if (manifest.annotations) out.annotations = manifest.annotations;
  return out;
}

/** Human-readable; every line is escaped (a value from the image can hold ESC, CR, bidi overrides), so one field is one line. */
export function formatInspect(name: string, r: InspectResult): string {
  const lines = [`${name}`, `digest: ${r.digest}`, `mediaType: ${r.mediaType}`];
  for (const [k, v] of Object.entries(r.annotations ?? {})) lines.push(`annotation ${k}: ${v}`);
  for (const img of r.images) {
    lines.push("", `platform ${img.platform}  ${img.digest}`);
    for (const [k, v] of Object.entries(img.annotations ?? {})) lines.push(`  annotation ${k}: ${v}`);
    const c = img.config;
    if (c.Entrypoint) lines.push(`  entrypoint: ${JSON.stringify(c.Entrypoint)}`);
    if (c.Cmd?.length) lines.push(`  cmd: ${JSON.stringify(c.Cmd)}`);
    if (c.User) lines.push(`  user: ${c.User}`);
    if (c.WorkingDir) lines.push(`  workdir: ${c.WorkingDir}`);
    if (c.ExposedPorts) lines.push(`  ports: ${Object.keys(c.ExposedPorts).join(", ")}`);
    for (const e of c.Env ?? []) lines.push(`  env: ${e}`);
    for (const [k, v] of Object.entries(c.Labels ?? {})) lines.push(`  label ${k}: ${v}`);
    lines.push("  layers (size = compressed blob bytes):");
    lines.push(
      ...table(
        ["  digest", "mediaType", "compressed"],
        img.layers.map((l) => [`  ${l.digest.slice(0, 19)}`, l.mediaType, formatBytes(l.compressedBytes)]),
        [false, false, true],
      ).split("\n"),
    );
    lines.push(`  total compressed: ${formatBytes(img.compressedBytes)}`);
    for (const a of (r.attestations ?? []).filter((a) => a.subject === img.digest)) {
      lines.push(`  attestation ${a.digest}:`);
      for (const s of a.statements) lines.push(`    ${s.predicateType}  ${formatBytes(s.bytes)}`);
    }
  }
  return lines.map(escapeControls).join("\n");
}

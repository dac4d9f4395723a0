/** The builder's one entry into supply-chain data: inventory → SBOM + provenance → attestation manifest per platform. */
import type { ResolvedBase } from "../base/index.ts";
import type { Artifact } from "../compile/types.ts";
import { descriptorOf, type Image } from "../oci/interfaces.ts";
import { UNKNOWN_PLATFORM, type Platform } from "../oci/platform.ts";
import type { Annotations } from "../oci/types.ts";
import { aotpackVersion } from "../version.ts";
import { attestationAnnotations, attestationImage, statement, type Statement } from "./attestation.ts";
import { CYCLONEDX_PREDICATE } from "./predicate-types.ts";
import { subjectName, type Inventory } from "./inventory.ts";
import { npmComponents, type NpmComponent } from "./npm-packages.ts";
import { SLSA_PROVENANCE_V1, provenancePredicate, redactUrl } from "./provenance.ts";
import { SPDX_PREDICATE, spdxDocument } from "./spdx.ts";

import type { SbomFormat } from "./formats.ts";
export { SBOM_FORMATS, parseSbomFormat, type SbomFormat } from "./formats.ts";

export async function sbomDocument(inv: Inventory, format: SbomFormat): Promise<Record<string, unknown>> {
  // Loaded on demand: the CycloneDX library is large, and SPDX is the default.
  return format === "spdx" ? spdxDocument(inv) : (await import("./cyclonedx.ts")).cyclonedxDocument(inv);
}

export function sbomPredicateType(format: SbomFormat): string {
  return format === "spdx" ? SPDX_PREDICATE : CYCLONEDX_PREDICATE;
}

export async function inventoryFor(input: {
  appName: string;
  platform: Platform;
  image: Image;
  created: string;
  projectDir: string;
  base: ResolvedBase;
  artifact: Artifact;
  git: { revision?: string; source?: string };
  /** The build's warnings (npm integrities that could not be verified, non-registry sources). */
  warn?: (message: string) => void;
  /** One check of the npm packages per build, not per platform: keyed by the bundled inputs. */
  npmChecks?: Map<string, Promise<NpmComponent[]>>;
}): Promise<Inventory> {
  const inputs = input.artifact.inputs ?? {};
  const bundled = inputs.bundled ?? [];
  const key = JSON.stringify([input.projectDir, bundled]);
  let npm = input.npmChecks?.get(key);
  if (!npm) {
    npm = npmComponents(input.projectDir, bundled, input.warn ? { warn: input.warn } : {});
    input.npmChecks?.set(key, npm);
  }
  const source: Inventory["source"] = {};
  if (input.git.revision) source.revision = input.git.revision;
  if (input.git.source) source.url = redactUrl(input.git.source);
  return {
    name: input.appName,
    platform: input.platform,
    imageDigest: await input.image.digest(),
    created: input.created,
    tool: { name: "aotpack", version: aotpackVersion() },
    base: {
      name: input.base.name,
      ...(input.base.summary.distro ? { distro: input.base.summary.distro } : {}),
      packages: input.base.summary.packages,
    },
    npm: await npm,
    ...(inputs.runtime ? { runtime: inputs.runtime } : {}),
    nuget: inputs.nuget ?? [],
    files: inputs.outsideProject ?? [],
    ...(Object.keys(source).length ? { source } : {}),
  };
}

export interface Attestation {
  image: Image;
  /** For the index entry: platform unknown/unknown and Docker's reference annotations. */
  platform: Platform;
  annotations: Annotations;
}

export async function attestationFor(
  image: Image,
  inv: Inventory,
  options: { sbom: SbomFormat | "none"; provenance: boolean; parameters: Record<string, unknown>; baseImage?: { name: string; digest: string } },
): Promise<Attestation | undefined> {
  const statements: Statement[] = [];
  const name = subjectName(inv);
  if (options.sbom !== "none") statements.push(statement(name, inv.imageDigest, sbomPredicateType(options.sbom), await sbomDocument(inv, options.sbom)));
  if (options.provenance) {
    const predicate = provenancePredicate({ inventory: inv, parameters: options.parameters, ...(options.baseImage ? { baseImage: options.baseImage } : {}) });
    statements.push(statement(name, inv.imageDigest, SLSA_PROVENANCE_V1, predicate));
  }
  if (statements.length === 0) return undefined;
  return { image: attestationImage(await descriptorOf(image), statements), platform: UNKNOWN_PLATFORM, annotations: attestationAnnotations(inv.imageDigest) };
}

/** The index entry of an attestation manifest, beside its image's entry. */
export function attestationEntry(image: Image, imageDigest: Inventory["imageDigest"]): { image: Image; platform: Platform; annotations: Annotations } {
  return { image, platform: UNKNOWN_PLATFORM, annotations: attestationAnnotations(imageDigest) };
}

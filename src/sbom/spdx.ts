/**
 * SPDX 2.3 JSON, written here: no well-kept JS library writes SPDX 2.3 (see docs/decisions.md).
 * Deterministic: the namespace is a hash of the content, `created` is SOURCE_DATE_EPOCH.
 */
import { createHash } from "node:crypto";
import parseSpdx from "spdx-expression-parse";
import { baseOs, components, subjectName, type Component, type Inventory } from "./inventory.ts";

export const SPDX_PREDICATE = "https://spdx.dev/Document";

function spdxId(ref: string): string {
  // SPDXRef-[idstring]: letters, digits, '.' and '-' only.
  return `SPDXRef-${ref.replace(/[^A-Za-z0-9.-]/g, "-")}`;
}

/** A declared licence as SPDX has it: a valid expression, else NOASSERTION (never a guess). */
export function spdxLicense(license: string | undefined): string {
  if (!license) return "NOASSERTION";
  try {
    parseSpdx(license);
    return license;
  } catch {
    return "NOASSERTION";
  }
}

function spdxPackage(c: Component, ids: Map<string, string>): Record<string, unknown> {
  return {
    SPDXID: ids.get(c.ref),
    name: c.name,
    versionInfo: c.version,
    downloadLocation: "NOASSERTION",
    filesAnalyzed: false,
    licenseConcluded: "NOASSERTION",
    licenseDeclared: c.kind === "npm" ? spdxLicense(c.license) : "NOASSERTION",
    copyrightText: "NOASSERTION",
    primaryPackagePurpose: c.kind === "runtime" ? "APPLICATION" : "LIBRARY",
    ...(c.hashes.length ? { checksums: c.hashes.map((h) => ({ algorithm: h.alg.replace("-", ""), checksumValue: h.hex })) } : {}),
    externalRefs: [{ referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: c.purl }],
  };
}

/** A grouping package (the OS, or one package ecosystem): no purl of its own. */
function groupPackage(id: string, name: string, purpose: string, extra: Record<string, string>): Record<string, unknown> {
  return {
    SPDXID: id,
    name,
    ...extra,
    downloadLocation: "NOASSERTION",
    filesAnalyzed: false,
    licenseConcluded: "NOASSERTION",
    licenseDeclared: "NOASSERTION",
    copyrightText: "NOASSERTION",
    primaryPackagePurpose: purpose,
  };
}

/**
 * The image CONTAINS its OS, which CONTAINS the Debian packages, and one package per ecosystem
 * (npm, nuget), which CONTAINS that ecosystem's packages: the tree scanners build (Trivy's own
 * SPDX has it, and its SBOM reader finds the OS and the language packages only through it). The
 * SPDXID prefixes OperatingSystem- / Application- and the ecosystem as the group's name are the
 * names Trivy reads; they are ordinary SPDX ids and names to every other reader.
 */
function groups(inv: Inventory, list: Component[], ids: Map<string, string>, imageId: string): { packages: Record<string, unknown>[]; relationships: Record<string, unknown>[] } {
  const packages: Record<string, unknown>[] = [];
  const relationships: Record<string, unknown>[] = [];
  const contains = (parent: string, child: string) => relationships.push({ spdxElementId: parent, relationshipType: "CONTAINS", relatedSpdxElement: child });
  const os = baseOs(inv);
  if (os) {
    const osId = spdxId(os.ref);
    packages.push(groupPackage(osId, os.name, "OPERATING-SYSTEM", os.version ? { versionInfo: os.version } : {}));
    contains(imageId, osId);
    for (const c of list.filter((c) => c.kind === "deb")) contains(osId, ids.get(c.ref)!);
  }
  const ecosystems = new Map<string, Component[]>();
  for (const c of list) {
    if (c.kind === "deb") continue;
    const type = /^pkg:([a-z]+)\//.exec(c.purl)?.[1] ?? c.kind;
    ecosystems.set(type, [...(ecosystems.get(type) ?? []), c]);
  }
  for (const [type, members] of ecosystems) {
    const id = spdxId(`Application-${type}`);
    packages.push(groupPackage(id, type, "APPLICATION", { sourceInfo: `the ${type} packages in the image` }));
    contains(imageId, id);
    for (const c of members) contains(id, ids.get(c.ref)!);
  }
  return { packages, relationships };
}

export function spdxDocument(inv: Inventory): Record<string, unknown> {
  const list = components(inv);
  const ids = new Map<string, string>();
  for (const c of list) {
    let id = spdxId(c.ref);
    while ([...ids.values()].includes(id)) id += "-x";
    ids.set(c.ref, id);
  }
  const imageId = "SPDXRef-image";
  const image = {
    SPDXID: imageId,
    name: inv.name,
    versionInfo: inv.imageDigest,
    downloadLocation: inv.source?.url ?? "NOASSERTION",
    filesAnalyzed: false,
    licenseConcluded: "NOASSERTION",
    licenseDeclared: "NOASSERTION",
    copyrightText: "NOASSERTION",
    primaryPackagePurpose: "CONTAINER",
    checksums: [{ algorithm: "SHA256", checksumValue: inv.imageDigest.slice("sha256:".length) }],
    externalRefs: [{ referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: subjectName(inv) }],
    ...(inv.source?.revision ? { sourceInfo: `built from git commit ${inv.source.revision}${inv.source.url ? ` of ${inv.source.url}` : ""}` } : {}),
  };
  const tree = groups(inv, list, ids, imageId);
  const packages = [image, ...tree.packages, ...list.map((c) => spdxPackage(c, ids))];
  // Source files from outside the project (a monorepo's shared code): the image is GENERATED_FROM them.
  const files = inv.files.map((f, i) => ({
    SPDXID: `SPDXRef-File-${i + 1}`,
    fileName: `./${f.path}`,
    checksums: [{ algorithm: "SHA1", checksumValue: f.sha1 }, { algorithm: "SHA256", checksumValue: f.sha256 }],
    licenseConcluded: "NOASSERTION",
    copyrightText: "NOASSERTION",
    comment: "a source file from outside the project, bundled into the executable",
  }));
  const relationships = [
    { spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: imageId },
    ...tree.relationships,
    ...files.map((f) => ({ spdxElementId: imageId, relationshipType: "GENERATED_FROM", relatedSpdxElement: f.SPDXID })),
  ];
  const body = {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: `${inv.name} ${inv.imageDigest}`,
    creationInfo: { created: inv.created.replace(/\.\d+Z$/, "Z"), creators: [`Tool: ${inv.tool.name}-${inv.tool.version}`] },
    documentDescribes: [imageId],
    packages,
    ...(files.length ? { files } : {}),
    relationships,
  };
  const hash = createHash("sha256").update(JSON.stringify(body)).digest("hex");
  return { ...body, documentNamespace: `https://aotpack.invalid/spdx/${encodeURIComponent(inv.name)}/${hash}` };
}

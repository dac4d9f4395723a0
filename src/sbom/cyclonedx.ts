/** CycloneDX 1.6 JSON through @cyclonedx/cyclonedx-library; serial number and timestamp are derived, so it is reproducible. */
import { createHash } from "node:crypto";
import { Enums, Models, Serialize, Spec } from "@cyclonedx/cyclonedx-library";
import { baseOs, components, subjectName, type Inventory } from "./inventory.ts";
import { spdxLicense } from "./spdx.ts";

export { CYCLONEDX_PREDICATE } from "./predicate-types.ts";

export function cyclonedxDocument(inv: Inventory): Record<string, unknown> {
  const bom = new Models.Bom();
  const subject = new Models.Component(Enums.ComponentType.Container, inv.name, {
    version: inv.imageDigest,
    bomRef: "image",
  });
  subject.hashes.set(Enums.HashAlgorithm["SHA-256"], inv.imageDigest.slice("sha256:".length));
  subject.properties.add(new Models.Property("aotpack:subject", subjectName(inv)));
  subject.purl = { toString: () => subjectName(inv) } as unknown as Models.Component["purl"];
  if (inv.source?.revision) subject.properties.add(new Models.Property("aotpack:source.revision", inv.source.revision));
  if (inv.source?.url) subject.externalReferences.add(new Models.ExternalReference(inv.source.url, Enums.ExternalReferenceType.VCS));
  bom.metadata.component = subject;
  bom.metadata.timestamp = new Date(inv.created);
  bom.metadata.tools.components.add(new Models.Component(Enums.ComponentType.Application, inv.tool.name, { version: inv.tool.version }));
  // The dependency graph scanners walk: image → OS → its Debian packages; image → every other package.
  const base = baseOs(inv);
  const os = base ? new Models.Component(Enums.ComponentType.OperatingSystem, base.name, { ...(base.version ? { version: base.version } : {}), bomRef: base.ref }) : undefined;
  if (os) {
    bom.components.add(os);
    subject.dependencies.add(os.bomRef);
  }
  for (const c of components(inv)) {
    const type = c.kind === "runtime" ? Enums.ComponentType.Application : Enums.ComponentType.Library;
    const comp = new Models.Component(type, c.name, { version: c.version, bomRef: c.ref });
    (c.kind === "deb" && os ? os : subject).dependencies.add(comp.bomRef);
    // purl as a string: the library takes any object whose toString() is the purl.
    comp.purl = { toString: () => c.purl } as unknown as Models.Component["purl"];
    for (const h of c.hashes) comp.hashes.set(Enums.HashAlgorithm[h.alg], h.hex);
    if (c.license) comp.licenses.add(spdxLicense(c.license) === c.license ? new Models.LicenseExpression(c.license) : new Models.NamedLicense(c.license));
    bom.components.add(comp);
  }
  for (const [i, f] of inv.files.entries()) {
    const comp = new Models.Component(Enums.ComponentType.File, f.path, { bomRef: `file-${i + 1}` });
    comp.hashes.set(Enums.HashAlgorithm["SHA-1"], f.sha1);
    comp.hashes.set(Enums.HashAlgorithm["SHA-256"], f.sha256);
    comp.properties.add(new Models.Property("aotpack:input", "a source file from outside the project"));
    subject.dependencies.add(comp.bomRef);
    bom.components.add(comp);
  }
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6));
  const draft = serializer.serialize(bom, { sortLists: true });
  const hash = createHash("sha256").update(draft).digest("hex");
  // A UUID-shaped serial from the content: same inputs, same document.
  bom.serialNumber = `urn:uuid:${hash.slice(0, 8)}-${hash.slice(8, 12)}-5${hash.slice(13, 16)}-a${hash.slice(17, 20)}-${hash.slice(20, 32)}`;
  return JSON.parse(serializer.serialize(bom, { sortLists: true })) as Record<string, unknown>;
}

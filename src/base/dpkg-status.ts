/**
 * What scanners (Trivy, Grype, Docker Scout) read to see the OS packages of a deb: base:
 * one control stanza per package in /var/lib/dpkg/status.d/<name> (distroless's layout: no
 * single /var/lib/dpkg/status, so nothing in the image pretends dpkg could manage it).
 * /etc/debian_version, without which Trivy does not recognise the OS, comes from base-files (slices.ts).
 */
import { AotpackError } from "../errors.ts";
import type { LayerEntry } from "../oci/layer.ts";
import type { PackageRecord } from "./packages-index.ts";

export const STATUS_DIR = "/var/lib/dpkg/status.d";

/** Control fields we keep from the Packages index, in the order dpkg writes them in its status file. */
export const STATUS_FIELDS = [
  "priority",
  "section",
  "installed-size",
  "maintainer",
  "architecture",
  "multi-arch",
  "source",
  "version",
  "pre-depends",
  "depends",
  "description",
  "homepage",
] as const;
export type ControlField = (typeof STATUS_FIELDS)[number];

const FIELD_NAMES: Record<ControlField, string> = {
  priority: "Priority",
  section: "Section",
  "installed-size": "Installed-Size",
  maintainer: "Maintainer",
  architecture: "Architecture",
  "multi-arch": "Multi-Arch",
  source: "Source",
  version: "Version",
  "pre-depends": "Pre-Depends",
  depends: "Depends",
  description: "Description",
  homepage: "Homepage",
};

// Debian policy 5.6.1; anything else (a path, a newline) would escape status.d or forge a stanza.
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;

function field(name: string, value: string): string {
  // A newline or other control character in a value would start a forged field or stanza.
  if (/[\x00-\x1f\x7f]/.test(value)) throw new AotpackError(`Debian index field ${name} of a package holds control characters: refusing it`);
  return `${name}: ${value}\n`;
}

export function dpkgStatusText(p: PackageRecord): string {
  if (!PACKAGE_NAME.test(p.name)) throw new AotpackError(`invalid Debian package name ${JSON.stringify(p.name)} in the index`);
  const values: Partial<Record<ControlField, string>> = { ...(p.control ?? {}), architecture: p.architecture, version: p.version };
  let text = field("Package", p.name) + "Status: install ok installed\n";
  for (const key of STATUS_FIELDS) {
    const v = values[key];
    if (v !== undefined && v !== "") text += field(FIELD_NAMES[key], v);
  }
  return text;
}

export function dpkgStatusEntries(packages: PackageRecord[]): LayerEntry[] {
  return [...packages]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((p) => ({ path: `${STATUS_DIR}/${p.name}`, type: "file" as const, content: dpkgStatusText(p), mode: 0o644 }));
}

/**
 * The purl distro qualifier for base-files' /etc/debian_version: `debian-12` for `12.12`
 * (the major version, as the issue's purls and Debian's own security tracker name it);
 * testing's `forky/sid` gives `debian-forky`.
 */
export function debianDistro(debianVersion: string): string {
  const text = debianVersion.trim();
  if (!/^[A-Za-z0-9.~+/-]+$/.test(text)) throw new AotpackError(`invalid /etc/debian_version ${JSON.stringify(text.slice(0, 40))} in base-files`);
  return `debian-${/^(\d+)/.exec(text)?.[1] ?? text.split("/")[0]}`;
}

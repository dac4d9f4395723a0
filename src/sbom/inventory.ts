/** Everything an image holds that an SBOM names: one record per platform image, made by the builder. */
import type { BasePackage } from "../base/index.ts";
import type { ArtifactInputs } from "../compile/types.ts";
import type { Digest } from "../oci/digest.ts";
import { formatPlatform, type Platform } from "../oci/platform.ts";
import type { NpmComponent } from "./npm-packages.ts";

export interface Inventory {
  /** The app's name (package.json / project file). */
  name: string;
  platform: Platform;
  /** The platform image the SBOM describes. */
  imageDigest: Digest;
  /** SOURCE_DATE_EPOCH as ISO 8601: SBOMs are reproducible. */
  created: string;
  tool: { name: string; version: string };
  base: { name: string; distro?: string; packages: BasePackage[] };
  npm: NpmComponent[];
  runtime?: NonNullable<ArtifactInputs["runtime"]>;
  nuget: NonNullable<ArtifactInputs["nuget"]>;
  /** Source files from outside the project that went into the executable (named from the repository root). */
  files: NonNullable<ArtifactInputs["outsideProject"]>;
  source?: { revision?: string; url?: string };
}

/** A component in the neutral shape both SBOM formats render. */
export interface Component {
  /** Stable id inside one document (SPDXRef-… / bom-ref). */
  ref: string;
  name: string;
  version: string;
  purl: string;
  kind: "deb" | "npm" | "runtime" | "nuget";
  license?: string;
  hashes: { alg: "SHA-256" | "SHA-512"; hex: string }[];
}

function purlEncode(s: string): string {
  return encodeURIComponent(s).replace(/%2F/g, "/");
}

/** `sha512-<base64>` → hex. */
function integrityHash(integrity: string | undefined): Component["hashes"] {
  const m = /^sha(256|512)-([A-Za-z0-9+/=]+)$/.exec(integrity ?? "");
  if (!m) return [];
  return [{ alg: m[1] === "256" ? "SHA-256" : "SHA-512", hex: Buffer.from(m[2]!, "base64").toString("hex") }];
}

function npmPurl(name: string, version: string): string {
  const at = name.startsWith("@") ? name.indexOf("/") : -1;
  const ns = at > 0 ? `${purlEncode(name.slice(0, at))}/` : "";
  return `pkg:npm/${ns}${purlEncode(at > 0 ? name.slice(at + 1) : name)}@${purlEncode(version)}`;
}

export function components(inv: Inventory): Component[] {
  const out: Component[] = [];
  const arch = (a: string) => purlEncode(a);
  for (const p of inv.base.packages) {
    const q = [`arch=${arch(p.architecture)}`, ...(inv.base.distro ? [`distro=${purlEncode(inv.base.distro)}`] : [])];
    out.push({
      ref: `deb-${p.name}`,
      name: p.name,
      version: p.version,
      purl: `pkg:deb/debian/${purlEncode(p.name)}@${purlEncode(p.version)}?${q.join("&")}`,
      kind: "deb",
      hashes: p.sha256 ? [{ alg: "SHA-256", hex: p.sha256 }] : [],
    });
  }
  if (inv.runtime) {
    const r = inv.runtime;
    out.push({
      ref: `runtime-${r.pkg}`,
      name: r.pkg,
      version: r.version,
      purl: npmPurl(r.pkg, r.version),
      kind: "runtime",
      hashes: [...integrityHash(r.integrity), { alg: "SHA-256", hex: r.sha256 }],
    });
  }
  for (const p of inv.npm) {
    out.push({
      ref: `npm-${p.name}@${p.version}`,
      name: p.name,
      version: p.version,
      purl: npmPurl(p.name, p.version),
      kind: "npm",
      ...(p.license ? { license: p.license } : {}),
      hashes: integrityHash(p.integrity),
    });
  }
  for (const p of inv.nuget) {
    out.push({
      ref: `nuget-${p.name}@${p.version}`,
      name: p.name,
      version: p.version,
      purl: `pkg:nuget/${purlEncode(p.name)}@${purlEncode(p.version)}`,
      kind: "nuget",
      hashes: integrityHash(p.sha512 ? `sha512-${p.sha512}` : undefined),
    });
  }
  return out;
}

export function subjectName(inv: Inventory): string {
  return `pkg:oci/${purlEncode(inv.name)}@${purlEncode(inv.imageDigest)}?platform=${purlEncode(formatPlatform(inv.platform))}`;
}

/** The base's OS as SBOMs name it, from the purl distro qualifier: `debian-12` → debian, version 12. */
export function baseOs(inv: Inventory): { ref: string; name: string; version?: string } | undefined {
  if (inv.base.packages.length === 0) return undefined;
  const distro = inv.base.distro;
  const dash = distro?.indexOf("-") ?? -1;
  if (!distro || dash <= 0) return { ref: "OperatingSystem-debian", name: "debian" };
  return { ref: `OperatingSystem-${distro}`, name: distro.slice(0, dash), version: distro.slice(dash + 1) };
}


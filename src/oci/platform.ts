import { UsageError } from "../errors.ts";

/** An OCI platform, as in an index descriptor and an image config. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
}

const ARCH_ALIASES: Record<string, { architecture: string; variant?: string }> = {
  amd64: { architecture: "amd64" },
  x86_64: { architecture: "amd64" },
  "x86-64": { architecture: "amd64" },
  x64: { architecture: "amd64" },
  arm64: { architecture: "arm64" },
  aarch64: { architecture: "arm64" },
  armhf: { architecture: "arm", variant: "v7" },
  armel: { architecture: "arm", variant: "v6" },
  arm: { architecture: "arm" },
  i386: { architecture: "386" },
  "386": { architecture: "386" },
  riscv64: { architecture: "riscv64" },
  ppc64le: { architecture: "ppc64le" },
  s390x: { architecture: "s390x" },
};

const KNOWN_OS = new Set(["linux", "windows", "darwin", "freebsd"]);

/**
 * Parse `os/arch[/variant]`, normalising aliases (x86_64 → amd64, aarch64 → arm64).
 * `arm64/v8` is the default arm64 variant and is normalised away, as containerd does,
 * so `linux/arm64` and `linux/arm64/v8` compare equal.
 */
export function parsePlatform(input: string): Platform {
  const s = input.trim();
  const parts = s.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) {
    throw new UsageError(`invalid platform "${input}": expected os/arch[/variant], e.g. linux/amd64`);
  }
  const [osRaw, archRaw, variantRaw] = parts as [string, string, string | undefined];
  const os = osRaw.toLowerCase();
  if (!KNOWN_OS.has(os)) throw new UsageError(`invalid platform "${input}": unknown os "${osRaw}"`);
  const alias = ARCH_ALIASES[archRaw.toLowerCase()];
  if (!alias) throw new UsageError(`invalid platform "${input}": unknown architecture "${archRaw}"`);
  let variant = variantRaw?.toLowerCase() ?? alias.variant;
  if (alias.architecture === "arm64" && variant === "v8") variant = undefined;
  if (variant !== undefined && !/^v\d+$/.test(variant)) {
    throw new UsageError(`invalid platform "${input}": unknown variant "${variantRaw}"`);
  }
  return variant === undefined ? { os, architecture: alias.architecture } : { os, architecture: alias.architecture, variant };
}

/** Parse a comma list such as `linux/amd64,linux/arm64`; duplicates are removed, order kept. */
export function parsePlatformList(input: string): Platform[] {
  const out: Platform[] = [];
  for (const item of input.split(",")) {
    if (item.trim() === "") continue;
    const p = parsePlatform(item);
    if (!out.some((q) => platformEquals(p, q))) out.push(p);
  }
  if (out.length === 0) throw new UsageError(`invalid platform list "${input}": no platforms`);
  return out;
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

function normalVariant(p: Platform): string | undefined {
  return p.architecture === "arm64" && p.variant === "v8" ? undefined : p.variant;
}

export function platformEquals(a: Platform, b: Platform): boolean {
  return a.os === b.os && a.architecture === b.architecture && normalVariant(a) === normalVariant(b);
}

/** The platform of the machine we run on. */
export function hostPlatform(): Platform {
  return parsePlatform(`linux/${process.arch}`);
}

/** Debian's name for an OCI architecture (amd64, arm64, armhf …). */
export function debianArch(p: Platform): string {
  if (p.architecture === "arm") return p.variant === "v7" ? "armhf" : "armel";
  if (p.architecture === "386") return "i386";
  return p.architecture;
}

/** The ELF e_machine name (as `uname -m` prints it) for a platform. */
export function unameMachine(p: Platform): string {
  switch (p.architecture) {
    case "amd64":
      return "x86_64";
    case "arm64":
      return "aarch64";
    default:
      return p.architecture;
  }
}

// ---- which index entries are images to run -------------------------------------------------

export const REFERENCE_TYPE_ANNOTATION = "vnd.docker.reference.type";
export const REFERENCE_DIGEST_ANNOTATION = "vnd.docker.reference.digest";
export const ATTESTATION_MANIFEST = "attestation-manifest";
/** The platform buildx gives attestation manifests in an index. */
export const UNKNOWN_PLATFORM: Platform = { os: "unknown", architecture: "unknown" };

/** An attestation manifest (Docker's annotation, or the unknown/unknown platform): never an image to run. */
export function isAttestationDescriptor(d: { annotations?: Record<string, string>; platform?: Platform }): boolean {
  return d.annotations?.[REFERENCE_TYPE_ANNOTATION] === ATTESTATION_MANIFEST || (d.platform?.os === "unknown" && d.platform.architecture === "unknown");
}

/**
 * The one place index entries are chosen by platform: attestation manifests are skipped, as
 * containerd and Docker skip them, so no caller can pick or count one as a platform image.
 */
export function platformEntries<D extends { annotations?: Record<string, string>; platform?: Platform }>(manifests: D[]): D[] {
  return manifests.filter((d) => !isAttestationDescriptor(d));
}

/** The platform an image config declares (os, architecture, variant). */
export function platformOfConfig(cfg: { os: string; architecture: string; variant?: string }): Platform {
  return cfg.variant ? { os: cfg.os, architecture: cfg.architecture, variant: cfg.variant } : { os: cfg.os, architecture: cfg.architecture };
}

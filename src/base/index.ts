/**
 * Bases an image is built on: `scratch`, a registry image, or `deb:SUITE`, a minimal
 * glibc root built from verified Debian packages down to what the binary needs.
 */
import { createHash } from "node:crypto";
import { compressorIdentity } from "../oci/compress.ts";
import { mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { cacheDir, cacheRoot, namesBlob, noteCacheWrite, readCacheRecord, touchUsed, verifyCachedFile, type CacheWarn } from "../cache.ts";
import { UsageError } from "../errors.ts";
import type { ElfInfo } from "../elf/types.ts";
import type { RuntimeLibrary } from "../compile/types.ts";
import { assertElfMatchesPlatform } from "../elf/read-elf.ts";
import type { Digest } from "../oci/digest.ts";
import type { Image, Layer } from "../oci/interfaces.ts";
import { createLayer, layerFromBlobFile } from "../oci/layer.ts";
import { fileChunkCache } from "../oci/chunk-cache.ts";
import { writeFileAtomic } from "../oci/fs-util.ts";
import type { Descriptor } from "../oci/types.ts";
import type { Compression } from "../oci/media-types.ts";
import { appendLayers, emptyImage, withConfig } from "../oci/mutate.ts";
import { debianArch, formatPlatform, type Platform } from "../oci/platform.ts";
import { parseReference } from "../registry/reference.ts";
import { pull, type RemoteOptions } from "../registry/remote.ts";
import type { DebianArchive } from "./archive.ts";
import { buildDebianBase } from "./debian-base.ts";
import { readLockfile } from "./lockfile.ts";
import { chooseMirror } from "./mirror.ts";
import { DEFAULT_USER } from "./skeleton.ts";

export { DEFAULT_USER, NONROOT_UID } from "./skeleton.ts";
export { DEFAULT_DEBIAN_MIRROR, chooseMirror } from "./mirror.ts";

export type BaseSpec = { kind: "scratch" } | { kind: "registry"; reference: string } | { kind: "deb"; suite: string; packages?: string[] };

/** The default base: works with no container registry at all. */
export const DEFAULT_BASE = "deb:bookworm";

const SUITE_RE = /^[a-z][a-z0-9.-]*$/;
const PACKAGE_RE = /^[a-z0-9][a-z0-9+.-]+$/;

/**
 * `scratch`, `deb:SUITE[,pkg…]` (extra whole packages, e.g. `deb:bookworm,libstdc++6`),
 * anything else a registry reference. `debian:bookworm` is the registry image, never deb:.
 */
export function parseBaseSpec(s: string): BaseSpec {
  const input = s.trim();
  if (input === "") throw new UsageError(`invalid base "": expected scratch, deb:SUITE or an image reference`);
  if (input === "scratch") return { kind: "scratch" };
  if (input.startsWith("deb:")) {
    const [suite = "", ...packages] = input.slice("deb:".length).split(",");
    if (!SUITE_RE.test(suite)) {
      throw new UsageError(`invalid base "${input}": "${suite}" is not a Debian suite name`, { hint: "e.g. deb:bookworm or deb:trixie" });
    }
    const bad = packages.find((p) => !PACKAGE_RE.test(p));
    if (bad !== undefined) throw new UsageError(`invalid base "${input}": "${bad}" is not a Debian package name`);
    return packages.length ? { kind: "deb", suite, packages } : { kind: "deb", suite };
  }
  parseReference(input); // throws a UsageError naming what is wrong
  return { kind: "registry", reference: input };
}

export interface BaseRequirements {
  /** Facts of the main executable: its interpreter and NEEDED libraries select the packages. */
  elf?: ElfInfo;
  /** /etc/ssl/certs/ca-certificates.crt (default true). */
  caCertificates?: boolean;
  /** /usr/share/zoneinfo (default false). */
  tzdata?: boolean;
  /** Whole Debian packages to add (deb: bases only). */
  extraPackages?: string[];
  /** What the executable loads at run time beyond NEEDED (Artifact.runtimeLibraries; deb: bases only). */
  runtimeLibraries?: RuntimeLibrary[];
}

export interface BaseSummary {
  kind: BaseSpec["kind"];
  name: string;
  /** Entries that are not directories (files and symlinks); unknown for registry bases. */
  files?: number;
  /** Bytes of the uncompressed layer tars, when known. */
  uncompressedBytes?: number;
  /** Bytes of the layer blobs as stored. */
  compressedBytes: number;
  layers: number;
  /** deb: bases: the packages files were taken from. */
  packages: BasePackage[];
  /** deb: bases: the purl distro qualifier, e.g. debian-12. */
  distro?: string;
}

/** A Debian package a deb: base took files from: what the SBOM and status.d name. */
export interface BasePackage {
  name: string;
  version: string;
  architecture: string;
  source?: string;
  /** sha256 of the .deb, as pinned in aotpack.lock. */
  sha256?: string;
}

export interface ResolvedBase {
  image: Image;
  /** For org.opencontainers.image.base.name: `scratch`, `deb:bookworm`, or the reference. */
  name: string;
  /** For org.opencontainers.image.base.digest (registry bases only). */
  digest?: Digest;
  /** Default user for the final image: the base's own, else non-root 65532:65532. */
  user: string;
  summary: BaseSummary;
}

export interface ResolveBaseOptions {
  /** Path of aotpack.lock (deb: bases). Without it nothing is pinned. */
  lockfile?: string;
  /** Re-resolve from the mirror and rewrite the lock's pins for this architecture. */
  updateLock?: boolean;
  /** CI: refuse a lock that lacks packages the base needs instead of extending it (npm ci's rule). */
  frozenLock?: boolean;
  /** Debian mirror; else the host's apt sources; else http://deb.debian.org/debian. */
  mirror?: string;
  /** Root of aotpack's caches (default cacheRoot()): debs/ and debian/ go under it. */
  cacheDir?: string;
  /** Where the base layer blob is written (default cacheDir("blobs")). */
  blobDir?: string;
  compression?: Compression;
  sourceDateEpoch?: number;
  /** OpenPGP keyring for InRelease (default the Debian archive keyring). */
  keyring?: string;
  /** Registry client options (credentials, insecure registries) for registry bases. */
  registry?: RemoteOptions;
  /** deb: one Debian archive per mirror and suite for the whole build (see buildDebianBase). */
  debianArchives?: Map<string, DebianArchive>;
  onProgress?: (msg: string) => void;
}

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export async function resolveBase(spec: BaseSpec, platform: Platform, req: BaseRequirements, options: ResolveBaseOptions = {}): Promise<ResolvedBase> {
  const epoch = options.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: options.sourceDateEpoch };
  if (spec.kind === "scratch") {
    return {
      image: emptyImage(platform, epoch),
      name: "scratch",
      user: DEFAULT_USER,
      summary: { kind: "scratch", name: "scratch", files: 0, uncompressedBytes: 0, compressedBytes: 0, layers: 0, packages: [] },
    };
  }
  if (spec.kind === "registry") return resolveRegistryBase(spec.reference, platform, options);
  return resolveDebianBase(spec, platform, req, options);
}

async function resolveRegistryBase(reference: string, platform: Platform, options: ResolveBaseOptions): Promise<ResolvedBase> {
  options.onProgress?.(`pulling base ${reference} for ${formatPlatform(platform)}`);
  // pull fails naming the available platforms when this one is missing.
  const pulled = await pull(reference, { ...(options.registry ?? {}), platforms: [platform] });
  const image = pulled.images[0]!.image;
  const cfg = await image.configFile();
  const layers = await image.layers();
  let compressed = 0;
  let uncompressed: number | undefined = 0;
  for (const l of layers) {
    compressed += await l.size();
    const u = await l.uncompressedSize?.();
    uncompressed = u === undefined || uncompressed === undefined ? undefined : uncompressed + u;
  }
  // base.name is the reference without digest; base.digest what it resolved to, so name@digest pins it.
  const r = pulled.reference;
  const name = r.tag ? `${r.registry}/${r.repository}:${r.tag}` : `${r.registry}/${r.repository}`;
  return {
    image,
    name,
    digest: pulled.digest,
    user: cfg.config.User ? cfg.config.User : DEFAULT_USER,
    summary: {
      kind: "registry",
      name,
      ...(uncompressed === undefined ? {} : { uncompressedBytes: uncompressed }),
      compressedBytes: compressed,
      layers: layers.length,
      packages: [],
    },
  };
}

async function resolveDebianBase(
  spec: { kind: "deb"; suite: string; packages?: string[] },
  platform: Platform,
  req: BaseRequirements,
  options: ResolveBaseOptions,
): Promise<ResolvedBase> {
  const arch = debianArch(platform);
  // An x86-64 executable on an arm64 base would fail later with a puzzling "no package ships the interpreter".
  if (req.elf) assertElfMatchesPlatform(req.elf, platform, "the executable");
  const caCertificates = req.caCertificates ?? true;
  const extraPackages = [...new Set([...(spec.packages ?? []), ...(req.extraPackages ?? [])])];
  const runtimeLibraries = req.runtimeLibraries ?? [];
  const tzdata = (req.tzdata ?? false) || runtimeLibraries.some((l) => "zoneinfo" in l);
  const compression = options.compression ?? "gzip";
  const name = `deb:${spec.suite}`;
  // With a lock that pins this architecture, the lock is the trust root (it was written from a
  // verified InRelease and pins every .deb by sha256): a rebuild with the same pins and inputs
  // reuses the base layer it made before, offline, instead of re-fetching InRelease.
  const cacheKey = await lockedBaseKey(spec.suite, arch, options, { caCertificates, tzdata, extraPackages, runtimeLibraries, elf: req.elf, compression });
  const cached = cacheKey ? await readCachedBase(cacheKey, options.blobDir ?? cacheDir("blobs"), options.onProgress) : undefined;
  let layer: Layer;
  let packages: BasePackage[];
  let releaseDate: string;
  let distro: string | undefined;
  let files: number;
  if (cached) {
    options.onProgress?.(`base ${name} for ${arch}: reusing the layer built from the pinned packages in ${options.lockfile}`);
    layer = layerFromBlobFile(cached.blob, cached.descriptor, cached.diffId, cached.uncompressedBytes);
    ({ packages, releaseDate, files, distro } = cached);
  } else {
    const deb = await buildDebianBase({
      suite: spec.suite,
      arch,
      mirror: chooseMirror(options.mirror),
      cacheRoot: options.cacheDir ?? cacheRoot(),
      caCertificates,
      tzdata,
      extraPackages,
      runtimeLibraries,
      ...(req.elf ? { elf: req.elf } : {}),
      ...(options.lockfile ? { lockfile: options.lockfile } : {}),
      ...(options.updateLock ? { updateLock: true } : {}),
      ...(options.frozenLock ? { frozenLock: true } : {}),
      ...(options.keyring ? { keyring: options.keyring } : {}),
      ...(options.debianArchives ? { archives: options.debianArchives } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    layer = await createLayer(deb.entries, {
      compression,
      ...baseFileTime(deb.releaseDate, options),
      ...(options.blobDir ? { blobDir: options.blobDir } : {}),
      // A corrupt chunk is dropped and made again; say so, as for every other cache entry.
      chunkCache: fileChunkCache(cacheDir("chunks"), options.onProgress),
    });
    packages = deb.packages.map((p) => ({
      name: p.name,
      version: p.version,
      architecture: p.architecture,
      ...(p.control?.source ? { source: p.control.source } : {}),
      sha256: p.sha256,
    }));
    releaseDate = deb.releaseDate;
    distro = deb.distro;
    files = deb.entries.filter((e) => e.type !== "directory").length;
    // The key is computed again: the build above may have just written this architecture's pins.
    const key = await lockedBaseKey(spec.suite, arch, options, { caCertificates, tzdata, extraPackages, runtimeLibraries, elf: req.elf, compression });
    if (key) await writeCachedBase(key, layer, options.blobDir ?? cacheDir("blobs"), { packages, releaseDate, files, distro });
  }
  const pkgList = packages.map((p) => `${p.name}=${p.version}`).join(" ");
  let image = appendLayers(emptyImage(platform, epoch(options)), [
    { layer, history: { created_by: `aotpack ${name} base: ${pkgList}`, comment: `Debian ${spec.suite} (InRelease ${releaseDate})` } },
  ]);
  image = withConfig(image, (cfg) => ({
    ...cfg,
    config: {
      ...cfg.config,
      Env: [DEFAULT_PATH, ...(caCertificates ? ["SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"] : [])],
      User: DEFAULT_USER,
    },
  }));
  return {
    image,
    name,
    user: DEFAULT_USER,
    summary: {
      kind: "deb",
      name,
      files,
      uncompressedBytes: (await layer.uncompressedSize?.()) ?? 0,
      compressedBytes: await layer.size(),
      layers: 1,
      packages,
      ...(distro ? { distro } : {}),
    },
  };
}

/**
 * The base layer's file times: the InRelease date its packages were pinned from (the lock's), as a
 * pulled base image keeps its own times. Not the app's SOURCE_DATE_EPOCH: then every project, and
 * every commit, on the same lock shares one base layer (made once, stored once in a registry).
 * The image config's times stay the app's. An unparsable date falls back to the epoch.
 */
function baseFileTime(releaseDate: string, options: ResolveBaseOptions): { sourceDateEpoch?: number } {
  const ms = Date.parse(releaseDate);
  return Number.isFinite(ms) && ms >= 0 ? { sourceDateEpoch: Math.floor(ms / 1000) } : epoch(options);
}

function epoch(options: ResolveBaseOptions): { sourceDateEpoch?: number } {
  return options.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: options.sourceDateEpoch };
}

interface CachedBase {
  descriptor: Descriptor;
  diffId: Digest;
  uncompressedBytes?: number;
  blob: string;
  packages: BasePackage[];
  releaseDate: string;
  files: number;
  distro?: string;
}

/** Undefined unless a lock pins this architecture (without one, every build re-resolves from the mirror). */
export async function lockedBaseKey(
  suite: string,
  arch: string,
  options: ResolveBaseOptions,
  inputs: { caCertificates: boolean; tzdata: boolean; extraPackages: string[]; runtimeLibraries: RuntimeLibrary[]; elf: ElfInfo | undefined; compression: Compression },
): Promise<string | undefined> {
  if (!options.lockfile || options.updateLock) return undefined;
  const lock = (await readLockfile(options.lockfile).catch(() => undefined))?.debian;
  if (!lock || lock.suite !== suite) return undefined;
  const pins = lock.architectures[arch];
  if (!pins?.length) return undefined;
  return createHash("sha256")
    .update(
      JSON.stringify({
        v: 3, // 2: status.d and /etc/debian_version in the layer; 3: file times from the lock's release, not the epoch
        suite,
        arch,
        release: lock.release,
        pins: pins.map((p) => [p.name, p.version, p.sha256]),
        ...inputs,
        elf: inputs.elf ? { interpreter: inputs.elf.interpreter ?? null, needed: inputs.elf.needed, machine: inputs.elf.machine } : null,
        // Encoders (chunked, single-stream; each library version and level) give different bytes for one tar.
        compressor: compressorIdentity(inputs.compression),
      }),
    )
    .digest("hex");
}

async function readCachedBase(key: string, blobDir: string, warn: CacheWarn | undefined): Promise<CachedBase | undefined> {
  const isRecord = (v: unknown): v is CachedBase => {
    const c = v as CachedBase;
    return namesBlob(v) && typeof c.diffId === "string" && Array.isArray(c.packages) && typeof c.releaseDate === "string" && typeof c.files === "number";
  };
  // Not JSON, or not a base record: dropped with a warning naming it, and the base made again.
  const c = await readCacheRecord(join(cacheDir("bases"), `${key}.json`), "base record", isRecord, warn);
  if (!c) return undefined;
  // Re-hashed now (src/cache.ts's rule): a bad blob is dropped and the base rebuilt, never a dead end.
  const hex = c.descriptor.digest.slice("sha256:".length);
  const blob = join(blobDir, "sha256", hex);
  if (!(await verifyCachedFile(blob, hex, `base layer ${c.descriptor.digest.slice(0, 19)}…`, warn))) return undefined;
  await touchUsed(join(cacheDir("bases"), `${key}.json`), blob);
  return { ...c, blob };
}

async function writeCachedBase(key: string, layer: Layer, blobDir: string, facts: Pick<CachedBase, "packages" | "releaseDate" | "files" | "distro">): Promise<void> {
  const digest = await layer.digest();
  const entry: CachedBase = {
    descriptor: { mediaType: await layer.mediaType(), digest, size: await layer.size() },
    diffId: await layer.diffId(),
    blob: join(blobDir, "sha256", digest.slice("sha256:".length)),
    ...facts,
  };
  const u = await layer.uncompressedSize?.();
  if (u !== undefined) entry.uncompressedBytes = u;
  if ((await stat(entry.blob).catch(() => undefined))?.size !== entry.descriptor.size) return;
  await mkdir(cacheDir("bases"), { recursive: true });
  await writeFileAtomic(join(cacheDir("bases"), `${key}.json`), JSON.stringify(entry));
  noteCacheWrite();
}

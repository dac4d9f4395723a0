/**
 * The builder (ko's split): compile per platform → resolve the base → app layers → config →
 * one image per platform → one index. Publishing is separate (`publish.ts`).
 */
import { execFile } from "node:child_process";
import { basename, join, resolve } from "node:path";
import { promisify } from "node:util";
import { AotpackError, UsageError, errorMessage } from "../errors.ts";
import type { Artifact, ArtifactLayout, CompileRequest, Compiler, RuntimeKind } from "../compile/types.ts";
import { compilerFor } from "../compile/index.ts";
import { dotnetAotCompiler, isDotnetAotProject } from "../compile/dotnet-aot.ts";
import { DEFAULT_BASE, DEFAULT_USER, parseBaseSpec, resolveBase, type ResolvedBase } from "../base/index.ts";
import { epochToIso, type LayerEntry } from "../oci/layer.ts";

import { appendLayers, newIndex, withConfig, withManifestAnnotations } from "../oci/mutate.ts";
import { validate } from "../oci/validate.ts";
import { sha256File } from "../oci/fs-util.ts";
import type { Image, ImageIndex, Layer } from "../oci/interfaces.ts";
import type { Compression } from "../oci/media-types.ts";
import { formatPlatform, parsePlatformList, type Platform } from "../oci/platform.ts";
import { Annotation, type Annotations, type ImageConfigFile } from "../oci/types.ts";
import type { Digest } from "../oci/digest.ts";
import { appNameFor, loadProject, type LoadedProject } from "./config.ts";
import { matchProjectFiles } from "./files.ts";
import { projectFingerprint } from "./fingerprint.ts";
import { compileCached, layerCached, StaleArtifactError, type CompiledArtifact } from "./build-cache.ts";
import { redactVcsUrl } from "../redact.ts";
import { cacheDir, cacheMaxBytes, cacheWriteCount } from "../cache.ts";
import { evictAfterBuild } from "../cache-admin.ts";

import { checkBaseCanRun, checkNoNativeAddons, unshippedAssetDirs } from "./preflight.ts";
import { defaultSourceDateEpoch, describeEpoch, type EpochSource } from "./epoch.ts";
import { attestationEntry, attestationFor, inventoryFor, type SbomFormat } from "../sbom/index.ts";
import * as debugVariant from "./debug-image.ts";

const run = promisify(execFile);

export type BuildStep = "compile" | "base" | "layer" | "image";

/** Events for progress output; the CLI renders them as a live task list or plain lines. */
export interface BuildReporter {
  step(platform: string, step: BuildStep, state: "start" | "done" | "cached" | "failed", detail?: string): void;
  info(message: string): void;
  warn(message: string): void;
}

export const silentReporter: BuildReporter = { step() {}, info() {}, warn() {} };

export interface BuildOptions {
  projectDir: string;
  /** Required unless the project config names platforms. */
  platforms?: Platform[];
  entry?: string;
  base?: string;
  runtime?: RuntimeKind;
  layout?: ArtifactLayout;
  compression?: Compression;
  port?: number;
  env?: Record<string, string>;
  user?: string;
  files?: string[];
  sourceDateEpoch?: number;
  minify?: boolean;
  baseline?: boolean;
  /** aotpack.lock for Debian-built bases; default <project>/aotpack.lock. */
  lockfile?: string;
  debianMirror?: string;
  /** Re-resolve deb: bases from the mirror and rewrite aotpack.lock's pins. */
  updateLock?: boolean;
  /** Registries reached over plain HTTP or unverified TLS (the pull of a registry base). */
  insecureRegistries?: string[];

  /** Refuse a lock that lacks packages the base needs (CI) instead of adding them. */
  frozenLock?: boolean;
  /** Reuse compiled artifacts and layers keyed by content (default true). */
  cache?: boolean;
  reporter?: BuildReporter;
  /** The `aotdebug` variant: the same image plus the debug symbols beside the executable and gdb from Debian. */
  debugImage?: boolean;
  /** Injected for tests; defaults to compilerFor(runtime). */
  compiler?: Compiler;
  /** SBOM attached per platform (default spdx). */
  sbom?: SbomFormat | "none";
  /** SLSA provenance attached per platform (default true). */
  provenance?: boolean;
}

export interface LayerReport {
  name: string;
  /** Where the layer came from: "base" or "app". */
  origin: "base" | "app";
  digest: Digest;
  compressedBytes: number;
  uncompressedBytes: number;
}

export interface PlatformBuild {
  platform: Platform;
  image: Image;
  digest: Digest;
  artifact: Artifact;
  base: { name: string; digest?: Digest };
  layers: LayerReport[];
  compiledFromCache: boolean;
  /** The attestation manifest (SBOM, provenance) of this image, when attached. */
  attestation?: { image: Image; digest: Digest; bytes: number };
}

export interface BuildResult {
  appName: string;
  index: ImageIndex;
  digest: Digest;
  platforms: PlatformBuild[];
  /** Wall time of the whole build, milliseconds. */
  elapsedMs: number;
}

export const DEFAULT_PORT = 8080;
export { DEFAULT_BASE, DEFAULT_USER };

interface ResolvedOptions {
  project: LoadedProject;
  appName: string;
  platforms: Platform[];
  entry: string | undefined;
  base: string;
  runtime: RuntimeKind;
  layout: ArtifactLayout;
  compression: Compression;
  port: number;
  env: Record<string, string>;
  user: string | undefined;
  files: string[];
  epoch: number;
  epochSource: EpochSource | "option";
  cache: boolean;
}

async function epochFor(dir: string): Promise<{ epoch: number; epochSource: EpochSource }> {
  const { epoch, source } = await defaultSourceDateEpoch(dir);
  return { epoch, epochSource: source };
}

/** Flags override the project file; the file overrides the defaults. */
export async function resolveBuildOptions(options: BuildOptions): Promise<ResolvedOptions> {
  const projectDir = resolve(options.projectDir);
  const project = await loadProject(projectDir);
  const cfg = project.config;
  const platforms = options.platforms ?? (cfg.platforms ? parsePlatformList(cfg.platforms.join(",")) : undefined);
  if (!platforms || platforms.length === 0) {
    throw new UsageError("no target platforms: pass --platform linux/amd64,linux/arm64 or set aotpack.platforms");
  }
  return {
    project,
    appName: appNameFor(project, basename(projectDir)),
    platforms,
    entry: options.entry ?? cfg.entry,
    base: options.base ?? cfg.base ?? DEFAULT_BASE,
    runtime: options.runtime ?? cfg.runtime ?? ((await isDotnetAotProject(projectDir)) ? "dotnet-aot" : "bun"),
    layout: options.layout ?? cfg.layout ?? "single-file",
    compression: options.compression ?? cfg.compression ?? "gzip",
    port: options.port ?? cfg.port ?? DEFAULT_PORT,
    env: { ...(cfg.env ?? {}), ...(options.env ?? {}) },
    user: options.user ?? cfg.user,
    files: options.files ?? cfg.files ?? [],
    ...(options.sourceDateEpoch !== undefined ? { epoch: options.sourceDateEpoch, epochSource: "option" as const } : await epochFor(projectDir)),
    cache: options.cache ?? true,
  };
}

async function gitFacts(dir: string): Promise<{ revision?: string; source?: string }> {
  const out: { revision?: string; source?: string } = {};
  try {
    out.revision = (await run("git", ["-C", dir, "rev-parse", "HEAD"], { timeout: 5000 })).stdout.trim();
    const url = (await run("git", ["-C", dir, "remote", "get-url", "origin"], { timeout: 5000 })).stdout.trim();
    // Never put credentials from a remote URL into an image (userinfo, ?access_token=…).
    if (url) out.source = redactVcsUrl(url);
  } catch {
    // Not a git checkout, or no remote: the annotations are optional.
  }
  return out;
}

async function uncompressedBytes(layer: Layer): Promise<number> {
  const known = await layer.uncompressedSize?.();
  if (known !== undefined && known >= 0) return known;
  let n = 0;
  for await (const chunk of await layer.uncompressed()) n += (chunk as Buffer).length;
  return n;
}

// ---- the build ---------------------------------------------------------------------------

function imageConfigFor(
  cfg: ImageConfigFile,
  o: ResolvedOptions,
  artifact: Artifact,
  base: ResolvedBase,
  labels: Record<string, string>,
): ImageConfigFile {
  const baseEnv = (cfg.config.Env ?? []).filter((e) => !e.startsWith("PORT="));
  const env = [...baseEnv];
  if (!env.some((e) => e.startsWith("PATH="))) env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  env.push(`PORT=${o.port}`);
  for (const [k, v] of Object.entries(o.env)) {
    const i = env.findIndex((e) => e.startsWith(`${k}=`));
    if (i >= 0) env.splice(i, 1);
    env.push(`${k}=${v}`);
  }
  return {
    ...cfg,
    created: epochToIso(o.epoch),
    config: {
      ...cfg.config,
      User: o.user ?? base.user ?? DEFAULT_USER,
      Env: env,
      Entrypoint: artifact.entrypoint,
      Cmd: [],
      WorkingDir: "/app",
      ExposedPorts: { [`${o.port}/tcp`]: {} },
      Labels: { ...(cfg.config.Labels ?? {}), ...labels },
      StopSignal: "SIGTERM",
    },
  };
}

export async function build(options: BuildOptions): Promise<BuildResult> {
  const started = Date.now();
  const cacheWrites = cacheWriteCount();
  cacheMaxBytes(); // a bad AOTPACK_CACHE_MAX_SIZE is a usage error before any work, not after
  const reporter = options.reporter ?? silentReporter;
  const o = await resolveBuildOptions(options);
  const compiler = options.compiler ?? (o.runtime === "dotnet-aot" ? dotnetAotCompiler() : await compilerFor(o.runtime));
  // Every platform's toolchain before any compile: a missing arm64 linker must not cost an amd64 compile first.
  await compiler.preflight?.(o.platforms);
  const compileInputs = await compiler.compileInputs?.(o.project.dir);
  const baseSpec = parseBaseSpec(o.base);
  reporter.info(describeEpoch(o.epoch, o.epochSource));
  if (o.runtime !== "dotnet-aot") await checkNoNativeAddons(o.project.dir);
  const git = await gitFacts(o.project.dir);
  const extra = await matchProjectFiles(o.project.dir, o.files);
  for (const dir of await unshippedAssetDirs(o.project.dir, extra.files)) {
    reporter.warn(`${dir}/ is not shipped: if the app serves or reads it, add "files": ["${dir}/**"] to aotpack's config (or --file '${dir}/**')`);
  }
  for (const s of extra.skippedSecrets) {
    reporter.warn(`skipped ${s}: it looks like a secret; name it exactly in "files" to include it`);
  }

  let baseQueue: Promise<unknown> = Promise.resolve();
  const serialBase = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = baseQueue.then(fn, fn);
    baseQueue = next.catch(() => undefined);
    return next;
  };

  // allSettled, not all: when one platform fails, the others' compiles still finish and clean up
  // their temp dirs before we report, so nothing keeps writing after the command has exited.
  const settled = await Promise.allSettled(
    o.platforms.map(async (platform): Promise<PlatformBuild> => {
      const p = formatPlatform(platform);
      reporter.step(p, "compile", "start");
      const request: Omit<CompileRequest, "outDir"> = {
        projectDir: o.project.dir,
        platform,
        layout: o.layout,
        appName: o.appName,
        minify: options.minify ?? true,
        onProgress: (m) => reporter.info(`${p}: ${m}`),
      };
      if (o.entry !== undefined) request.entry = o.entry;
      if (options.baseline !== undefined) request.baseline = options.baseline;
      let compiled: CompiledArtifact;
      try {
        const fp = await projectFingerprint(o.project.dir, {
          v: 2, // 2: artifacts record their inputs for the SBOM
          runtime: compiler.runtime,
          platform: p,
          layout: o.layout,
          entry: o.entry ?? null,
          appName: o.appName,
          minify: request.minify,
          baseline: request.baseline ?? false,
          versions: process.versions.node,
        }, compileInputs);
        compiled = await compileCached(compiler, request, fp, o.cache, (m) => reporter.warn(m));
      } catch (err) {
        reporter.step(p, "compile", "failed");
        throw err;
      }
      const { artifact } = compiled;
      checkBaseCanRun(baseSpec.kind, artifact.elf, p);
      // A cached artifact took no time now; its old compile time would read as this build's.
      if (compiled.fromCache) reporter.step(p, "compile", "cached");
      else reporter.step(p, "compile", "done", `${(artifact.compileMs / 1000).toFixed(1)} s`);

      reporter.step(p, "base", "start", o.base);
      const baseOptions: Parameters<typeof resolveBase>[3] = {
        lockfile: options.lockfile ?? join(o.project.dir, "aotpack.lock"),
        sourceDateEpoch: o.epoch,
        // Every layer of the image has the build's compression, the base's included.
        compression: o.compression,
        onProgress: (m) => reporter.info(`${p}: ${m}`),
      };
      if (options.debianMirror) baseOptions.mirror = options.debianMirror;
      if (options.updateLock) baseOptions.updateLock = true;
      if (options.insecureRegistries?.length) baseOptions.registry = { insecureRegistries: options.insecureRegistries };

      if (options.frozenLock) baseOptions.frozenLock = true;
      // Bases resolve one at a time: platforms share the suite's index files and cache.
      const base = await serialBase(() => resolveBase(baseSpec, platform, { elf: artifact.elf, caCertificates: true, runtimeLibraries: artifact.runtimeLibraries ?? [], ...debugVariant.base(options.debugImage) }, baseOptions));
      reporter.step(p, "base", "done", base.name);

      reporter.step(p, "layer", "start");
      const additions: { layer: Layer; history: { created: string; created_by: string; comment?: string } }[] = [];
      const created = epochToIso(o.epoch);
      const artifactLayers = async (c: CompiledArtifact): Promise<Layer[]> => {
        const out: Layer[] = [];
        for (const al of c.artifact.layers) {
          const entries: LayerEntry[] = al.files.map((f) => ({ path: f.path, type: "file", source: f.source, mode: f.mode }));
          const hashes = await Promise.all(al.files.map((f) => c.fileHashes.get(f.source) ?? sha256File(f.source)));
          out.push((await layerCached(entries, hashes, al.name, o.compression, o.epoch, o.cache, (m) => reporter.warn(m))).layer);
        }
        return out;
      };
      let appLayers: Layer[];
      try {
        appLayers = await artifactLayers(compiled);
      } catch (err) {
        // A cached artifact file changed under us: never layer it; compile again (once).
        if (!(err instanceof StaleArtifactError)) throw err;
        reporter.warn(err.message);
        compiled = await compileCached(compiler, request, compiled.key, false, (m) => reporter.warn(m));
        appLayers = await artifactLayers(compiled);
      }
      compiled.artifact.layers.forEach((al, i) => {
        additions.push({ layer: appLayers[i]!, history: { created, created_by: `aotpack: ${o.runtime} ${al.name}`, comment: al.name } });
      });
      const symbolsLayer = options.debugImage ? debugVariant.symbolsLayer(compiled.artifact) : undefined;
      if (symbolsLayer) {
        const hashes = await Promise.all(symbolsLayer.map((e) => sha256File(e.source!)));
        const { layer } = await layerCached(symbolsLayer, hashes, "symbols", o.compression, o.epoch, o.cache, (m) => reporter.warn(m));
        additions.push({ layer, history: { created, created_by: "aotpack: debug symbols", comment: "symbols" } });
      }
      if (extra.files.length) {
        const entries: LayerEntry[] = extra.files.map((rel) => ({
          path: `/app/${rel}`,
          type: "file",
          source: join(o.project.dir, rel),
          mode: 0o644,
        }));
        const hashes = await Promise.all(entries.map((e) => sha256File(e.source!)));
        const { layer } = await layerCached(entries, hashes, "files", o.compression, o.epoch, o.cache, (m) => reporter.warn(m));
        additions.push({ layer, history: { created, created_by: "aotpack: files", comment: "files" } });
      }
      reporter.step(p, "layer", "done");

      reporter.step(p, "image", "start");
      const labels: Record<string, string> = { [Annotation.Created]: created };
      if (git.source) labels[Annotation.Source] = git.source;
      if (git.revision) labels[Annotation.Revision] = git.revision;
      labels[Annotation.BaseName] = base.name;
      if (base.digest) labels[Annotation.BaseDigest] = base.digest;
      const annotations: Annotations = { ...labels };
      const baseLayerCount = (await base.image.layers()).length;
      let image = appendLayers(base.image, additions);
      image = withConfig(image, (cfg) => imageConfigFor(cfg, o, artifact, base, labels));
      image = withManifestAnnotations(image, annotations);
      const layers = await image.layers();
      const reports: LayerReport[] = [];
      for (let i = 0; i < layers.length; i++) {
        const l = layers[i]!;
        const name = i < baseLayerCount ? `base ${i + 1}` : (additions[i - baseLayerCount]?.history.comment ?? "app");
        reports.push({
          name,
          origin: i < baseLayerCount ? "base" : "app",
          digest: await l.digest(),
          compressedBytes: await l.size(),
          uncompressedBytes: await uncompressedBytes(l),
        });
      }
      const attestation = await attest(image, { appName: o.appName, platform, image, created, projectDir: o.project.dir, base, artifact, git }, o, options);
      reporter.step(p, "image", "done");
      return {
        ...(attestation ? { attestation } : {}),
        platform,
        image,
        digest: await image.digest(),
        artifact,
        base: base.digest ? { name: base.name, digest: base.digest } : { name: base.name },
        layers: reports,
        compiledFromCache: compiled.fromCache,
      };
    }),
  );
  const failures = settled.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason as unknown);
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    // Every platform's cause on the one line: fixing one and re-running to find the next wastes a build.
    const messages = [...new Set(failures.map(errorMessage))];
    const first = failures[0];
    const hint = first instanceof AotpackError ? first.hint : undefined;
    throw new AotpackError(messages.join("; "), { exitCode: first instanceof AotpackError ? first.exitCode : 1, ...(hint ? { hint } : {}), cause: first });
  }
  const platforms = settled.map((r) => (r as PromiseFulfilledResult<PlatformBuild>).value);

  const indexAnnotations: Annotations = { [Annotation.Created]: epochToIso(o.epoch) };
  if (git.source) indexAnnotations[Annotation.Source] = git.source;
  if (git.revision) indexAnnotations[Annotation.Revision] = git.revision;
  const index = newIndex(
    platforms.flatMap((b) => [{ image: b.image, platform: b.platform }, ...(b.attestation ? [attestationEntry(b.attestation.image, b.digest)] : [])]),
    indexAnnotations,
  );
  // Structure, digests, sizes and platforms; the layers themselves were hashed as they were written or reused.
  await validate(index, { scanLayers: false });
  // What publishing still reads lazily (a registry base's blobs; layers made again from the artifact) stays.
  const inUse = platforms.flatMap((b) => [...b.layers.map((l) => join(cacheDir("blobs"), "sha256", l.digest.slice("sha256:".length))), ...b.artifact.layers.flatMap((l) => l.files.map((f) => f.source))]);
  await evictAfterBuild({ startedMs: started, writesAtStart: cacheWrites, keep: inUse, report: (m) => reporter.info(m) });
  return { appName: o.appName, index, digest: await index.digest(), platforms, elapsedMs: Date.now() - started };
}

// ---- attestations (src/sbom/) ------------------------------------------------------------

async function attest(
  image: Image,
  facts: Parameters<typeof inventoryFor>[0],
  o: ResolvedOptions,
  options: BuildOptions,
): Promise<PlatformBuild["attestation"]> {
  const sbom = options.sbom ?? "spdx";
  const provenance = options.provenance ?? true;
  if (sbom === "none" && !provenance) return undefined;
  const inventory = await inventoryFor(facts);
  // Effective parameters only; env values and file contents can be secrets, so only their names.
  const parameters = {
    platform: formatPlatform(facts.platform),
    base: o.base,
    runtime: o.runtime,
    layout: o.layout,
    compression: o.compression,
    port: o.port,
    entry: o.entry ?? null,
    user: o.user ?? null,
    env: Object.keys(o.env).sort(),
    files: o.files,
    minify: options.minify ?? true,
    baseline: options.baseline ?? false,
    sbom,
  };
  const baseImage = facts.base.digest ? { name: facts.base.name, digest: facts.base.digest } : undefined;
  const a = await attestationFor(image, inventory, { sbom, provenance, parameters, ...(baseImage ? { baseImage } : {}) });
  if (!a) return undefined;
  let bytes = (await a.image.size()) + (await a.image.rawConfigFile()).length;
  for (const l of await a.image.layers()) bytes += await l.size();
  return { image: a.image, digest: await a.image.digest(), bytes };
}

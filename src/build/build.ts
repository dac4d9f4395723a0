/**
 * The builder (ko's split): compile per platform → resolve the base → app layers → config →
 * one image per platform → one index. Publishing is separate (`publish.ts`).
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, rename, rm, stat, writeFile, mkdtemp } from "node:fs/promises";
import { basename, isAbsolute, join, resolve } from "node:path";
import { promisify } from "node:util";
import { AotpackError, UsageError, errorMessage } from "../errors.ts";
import { cacheDir } from "../cache.ts";
import type { Artifact, ArtifactLayout, CompileRequest, Compiler, RuntimeKind } from "../compile/types.ts";
import { compilerFor } from "../compile/index.ts";
import { dotnetAotCompiler, isDotnetAotProject } from "../compile/dotnet-aot.ts";
import { DEFAULT_BASE, DEFAULT_USER, parseBaseSpec, resolveBase, type ResolvedBase } from "../base/index.ts";
import { createLayer, layerFromBlobFile, sourceDateEpoch as envSourceDateEpoch, epochToIso, type LayerEntry } from "../oci/layer.ts";
import { appendLayers, newIndex, withConfig, withManifestAnnotations } from "../oci/mutate.ts";
import { validate } from "../oci/validate.ts";
import { sha256File, writeFileAtomic } from "../oci/fs-util.ts";
import type { Image, ImageIndex, Layer } from "../oci/interfaces.ts";
import type { Compression } from "../oci/media-types.ts";
import { formatPlatform, parsePlatformList, type Platform } from "../oci/platform.ts";
import { Annotation, type Annotations, type Descriptor, type ImageConfigFile } from "../oci/types.ts";
import type { Digest } from "../oci/digest.ts";
import { appNameFor, loadProject, type LoadedProject } from "./config.ts";
import { matchProjectFiles } from "./files.ts";
import { projectFingerprint } from "./fingerprint.ts";
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
  /** Reuse compiled artifacts and layers keyed by content (default true). */
  cache?: boolean;
  reporter?: BuildReporter;
  /** The `aotdebug` variant: the same image plus the debug symbols beside the executable and gdb from Debian. */
  debugImage?: boolean;
  /** Injected for tests; defaults to compilerFor(runtime). */
  compiler?: Compiler;
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
  cache: boolean;
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
    epoch: options.sourceDateEpoch ?? envSourceDateEpoch(),
    cache: options.cache ?? true,
  };
}

async function gitFacts(dir: string): Promise<{ revision?: string; source?: string }> {
  const out: { revision?: string; source?: string } = {};
  try {
    out.revision = (await run("git", ["-C", dir, "rev-parse", "HEAD"], { timeout: 5000 })).stdout.trim();
    const url = (await run("git", ["-C", dir, "remote", "get-url", "origin"], { timeout: 5000 })).stdout.trim();
    // Never put credentials from a remote URL into an image.
    if (url) out.source = url.replace(/\/\/[^/@]+@/, "//");
  } catch {
    // Not a git checkout, or no remote: the annotations are optional.
  }
  return out;
}

// ---- compile, with a content-keyed cache --------------------------------------------------

interface CachedArtifact extends Omit<Artifact, "layers"> {
  layers: { name: string; files: { path: string; relSource: string; mode: number; sha256: string; size: number; mtimeMs: number }[] }[];
}

async function compileCached(
  compiler: Compiler,
  request: Omit<CompileRequest, "outDir">,
  fingerprint: string,
  useCache: boolean,
): Promise<{ artifact: Artifact; key: string; fromCache: boolean; fileHashes: Map<string, string> }> {
  const key = fingerprint;
  const root = cacheDir("artifacts");
  const dir = join(root, key);
  const metaPath = join(dir, "artifact.json");
  if (useCache) {
    const meta = await readFile(metaPath, "utf8").catch(() => undefined);
    if (meta) {
      const cached = JSON.parse(meta) as CachedArtifact;
      const fileHashes = new Map<string, string>();
      let intact = true;
      const layers = [];
      for (const l of cached.layers) {
        const files = [];
        for (const f of l.files) {
          const source = isAbsolute(f.relSource) ? f.relSource : join(dir, f.relSource);
          fileHashes.set(source, f.sha256);
          // Size and mtime say the file is as we wrote it; a full re-hash of two 100 MB binaries
          // would cost more than the warm build itself. Every blob is digest-checked when read.
          const st = await stat(source).catch(() => undefined);
          if (!st || st.size !== f.size || st.mtimeMs !== f.mtimeMs) intact = false;
          files.push({ path: f.path, source, mode: f.mode });
        }
        layers.push({ name: l.name, files });
      }
      // Symbols are stored relative to the entry, like the layer files.
      const symbols = cached.symbols?.map((rel) => join(dir, rel));
      if (intact) return { artifact: { ...cached, layers, ...(symbols ? { symbols } : {}) }, key, fromCache: true, fileHashes };
    }
  }
  await mkdir(root, { recursive: true });
  const tmp = await mkdtemp(join(root, `${key}.tmp-`));
  try {
    const artifact = await compiler.compile({ ...request, outDir: tmp });
    const cachedLayers: CachedArtifact["layers"] = [];
    for (const layer of artifact.layers) {
      const files = [];
      for (const f of layer.files) {
        // Files under the compile dir are stored relative to it; others (a cached runtime that
        // layered mode ships as is) keep their absolute path and are stat-checked like the rest.
        const inside = resolve(f.source).startsWith(resolve(tmp) + "/");
        const sha = await sha256File(f.source);
        const st = await stat(f.source);
        const relSource = inside ? resolve(f.source).slice(resolve(tmp).length + 1) : resolve(f.source);
        files.push({ path: f.path, relSource, mode: f.mode, sha256: sha, size: st.size, mtimeMs: st.mtimeMs });
      }
      cachedLayers.push({ name: layer.name, files });
    }
    const meta: CachedArtifact = { ...artifact, layers: cachedLayers };
    if (artifact.symbols) meta.symbols = artifact.symbols.map((f) => resolve(f).slice(resolve(tmp).length + 1));
    await writeFile(join(tmp, "artifact.json"), JSON.stringify(meta, null, 2));
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    // Re-point the artifact at the final cache location.
    const result = await compileCached(compiler, request, fingerprint, true);
    return { ...result, fromCache: false };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

// ---- app layers, with a content-keyed cache ---------------------------------------------

interface CachedLayerMeta {
  descriptor: Descriptor;
  diffId: Digest;
  uncompressedBytes: number;
  blob: string;
}

async function layerCached(
  entries: LayerEntry[],
  contentKey: string,
  compression: Compression,
  epoch: number,
  useCache: boolean,
): Promise<{ layer: Layer; fromCache: boolean }> {
  const { createHash } = await import("node:crypto");
  const key = createHash("sha256")
    .update(JSON.stringify({ contentKey, compression, epoch, entries: entries.map((e) => ({ ...e, source: undefined })) }))
    .digest("hex");
  const metaPath = join(cacheDir("layers"), `${key}.json`);
  if (useCache) {
    const meta = await readFile(metaPath, "utf8").catch(() => undefined);
    if (meta) {
      const m = JSON.parse(meta) as CachedLayerMeta;
      // The blob is digest-verified as it streams to any output (layerFromBlobFile); here its size is enough.
      const ok = (await stat(m.blob).catch(() => undefined))?.size === m.descriptor.size;
      if (ok) return { layer: layerFromBlobFile(m.blob, m.descriptor, m.diffId, m.uncompressedBytes >= 0 ? m.uncompressedBytes : undefined), fromCache: true };
    }
  }
  const layer = await createLayer(entries, { compression, sourceDateEpoch: epoch, blobDir: cacheDir("blobs") });
  const blob = join(cacheDir("blobs"), "sha256", (await layer.digest()).slice(7));
  const meta: CachedLayerMeta = {
    descriptor: { mediaType: await layer.mediaType(), digest: await layer.digest(), size: await layer.size() },
    diffId: await layer.diffId(),
    uncompressedBytes: (await layer.uncompressedSize?.()) ?? -1,
    blob,
  };
  // createLayer hashed the blob as it wrote it; record it only if it is where we expect.
  // (A unique temp name per write: in layered mode both platforms record the same app layer at once.)
  if ((await stat(blob).catch(() => undefined))?.size === meta.descriptor.size) await writeFileAtomic(metaPath, JSON.stringify(meta));
  return { layer, fromCache: false };
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
  const reporter = options.reporter ?? silentReporter;
  const o = await resolveBuildOptions(options);
  const compiler = options.compiler ?? (o.runtime === "dotnet-aot" ? dotnetAotCompiler() : await compilerFor(o.runtime));
  // Every platform's toolchain before any compile: a missing arm64 linker must not cost an amd64 compile first.
  await compiler.preflight?.(o.platforms);
  const compileInputs = await compiler.compileInputs?.(o.project.dir);
  const baseSpec = parseBaseSpec(o.base);
  const git = await gitFacts(o.project.dir);
  const extra = await matchProjectFiles(o.project.dir, o.files);
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
      let compiled;
      try {
        const fp = await projectFingerprint(o.project.dir, {
          v: 1,
          runtime: compiler.runtime,
          platform: p,
          layout: o.layout,
          entry: o.entry ?? null,
          appName: o.appName,
          minify: request.minify,
          baseline: request.baseline ?? false,
          versions: process.versions.node,
        }, compileInputs);
        compiled = await compileCached(compiler, request, fp, o.cache);
      } catch (err) {
        reporter.step(p, "compile", "failed");
        throw err;
      }
      const { artifact } = compiled;
      reporter.step(p, "compile", compiled.fromCache ? "cached" : "done", `${(artifact.compileMs / 1000).toFixed(1)}s`);

      reporter.step(p, "base", "start", o.base);
      const baseOptions: Parameters<typeof resolveBase>[3] = {
        lockfile: options.lockfile ?? join(o.project.dir, "aotpack.lock"),
        sourceDateEpoch: o.epoch,
        onProgress: (m) => reporter.info(`${p}: ${m}`),
      };
      if (options.debianMirror) baseOptions.mirror = options.debianMirror;
      if (options.updateLock) baseOptions.updateLock = true;
      // Bases resolve one at a time: platforms share the suite's index files and cache.
      const base = await serialBase(() => resolveBase(baseSpec, platform, { elf: artifact.elf, caCertificates: true, runtimeLibraries: artifact.runtimeLibraries ?? [], ...debugVariant.base(options.debugImage) }, baseOptions));
      reporter.step(p, "base", "done", base.name);

      reporter.step(p, "layer", "start");
      const additions: { layer: Layer; history: { created: string; created_by: string; comment?: string } }[] = [];
      const created = epochToIso(o.epoch);
      for (const al of artifact.layers) {
        const entries: LayerEntry[] = al.files.map((f) => ({ path: f.path, type: "file", source: f.source, mode: f.mode }));
        const hashes = await Promise.all(al.files.map((f) => compiled.fileHashes.get(f.source) ?? sha256File(f.source)));
        const { layer } = await layerCached(entries, `${al.name}:${hashes.join(",")}`, o.compression, o.epoch, o.cache);
        additions.push({ layer, history: { created, created_by: `aotpack: ${o.runtime} ${al.name}`, comment: al.name } });
      }
      const symbolsLayer = options.debugImage ? debugVariant.symbolsLayer(artifact) : undefined;
      if (symbolsLayer) {
        const hashes = await Promise.all(symbolsLayer.map((e) => sha256File(e.source!)));
        const { layer } = await layerCached(symbolsLayer, `symbols:${hashes.join(",")}`, o.compression, o.epoch, o.cache);
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
        const { layer } = await layerCached(entries, `files:${hashes.join(",")}`, o.compression, o.epoch, o.cache);
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
      reporter.step(p, "image", "done");
      return {
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
    platforms.map((b) => ({ image: b.image, platform: b.platform })),
    indexAnnotations,
  );
  // Structure, digests, sizes and platforms; the layers themselves were hashed as they were written or reused.
  await validate(index, { scanLayers: false });
  return { appName: o.appName, index, digest: await index.digest(), platforms, elapsedMs: Date.now() - started };
}

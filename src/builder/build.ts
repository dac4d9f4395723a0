/**
 * The builder (ko's split): a frozen BuildPlan → per platform, a pipeline of small steps
 * (compile → base → layers → config) → one image per platform → one index. Publishing is
 * separate (outputs.ts). Concurrency comes from one limiter (src/limit.ts).
 */
import { execFile } from "node:child_process";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { AotpackError, errorMessage } from "../errors.ts";
import type { Artifact, CompileInputs, CompileRequest, Compiler, RuntimeLibrary, RuntimeLibraryId } from "../compile/types.ts";
import { compilerEntry } from "../compile/registry.ts";
import { parseBaseSpec, resolveBase, type BaseSpec, type ResolvedBase } from "../base/index.ts";
import type { DebianArchive } from "../base/archive.ts";
import type { ElfInfo } from "../elf/types.ts";
import { epochToIso, type LayerEntry } from "../oci/layer.ts";

import { appendLayers, newIndex, withConfig, withManifestAnnotations } from "../oci/mutate.ts";
import { validate } from "../oci/validate.ts";
import { sha256File } from "../oci/fs-util.ts";
import type { Image, ImageIndex, Layer } from "../oci/interfaces.ts";
import { formatPlatform, type Platform } from "../oci/platform.ts";
import { Annotation, type Annotations, type ImageConfigFile } from "../oci/types.ts";
import type { Digest } from "../oci/digest.ts";
import { filesWarnings, matchProjectFiles, type MatchedFiles } from "./files.ts";
import { dependencyAssetWarnings } from "./dependency-assets.ts";
import { nearestLockfiles, projectFingerprint } from "./fingerprint.ts";
import { inputsRoot, rootRelative, type HashMemo } from "./compile-key.ts";
import { compileCached, layerCached, StaleArtifactError, type CompiledArtifact, type CompileKey } from "./build-cache.ts";
import { checkRuntimePin } from "./runtime-pins.ts";
import { dropCachedRuntime } from "../compile/npm-runtime.ts";
import { redactVcsUrl } from "../redact.ts";
import { limiter, type Limiter } from "../limit.ts";
import { cacheDir, cacheMaxBytes, cacheWriteCount } from "../cache.ts";
import { evictAfterBuild } from "../cache-admin.ts";

import { checkBaseCanRun, checkNoNativeAddons, unshippedAssetDirs } from "./preflight.ts";
import { describeEpoch } from "./epoch.ts";
import { attestationEntry, attestationFor, inventoryFor } from "../sbom/index.ts";
import type { NpmComponent } from "../sbom/npm-packages.ts";
import * as debugVariant from "./debug-image.ts";
import { DEFAULT_USER, isBuildPlan, resolveBuildPlan, type BuildOptions, type BuildPlan, type BuildReporter } from "./plan.ts";
import { isRootName } from "../oci/user.ts";

const run = promisify(execFile);

export { DEFAULT_BASE, DEFAULT_PORT, DEFAULT_USER, resolveBuildPlan, type BuildOptions, type BuildPlan, type BuildReporter, type BuildStep } from "./plan.ts";
/** The plan, under its old name (the public API had it first). */
export const resolveBuildOptions = resolveBuildPlan;

export const silentReporter: BuildReporter = { step() {}, info() {}, warn() {} };

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

/** What a build needs besides its plan: where progress goes, and (tests) a compiler to use. */
export interface BuildDeps {
  reporter?: BuildReporter;
  compiler?: Compiler;
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

/** The declared run-time libraries a base takes, and those the project omits. */
export function omitRuntimeLibraries(declared: readonly RuntimeLibrary[], omit: readonly RuntimeLibraryId[]): { kept: RuntimeLibrary[]; left: RuntimeLibrary[] } {
  return { kept: declared.filter((l) => !omit.includes(l.id)), left: declared.filter((l) => omit.includes(l.id)) };
}

// ---- the build ---------------------------------------------------------------------------

/** What every platform's pipeline shares: the plan and what was found out once before any compile. */
interface BuildContext {
  plan: BuildPlan;
  compiler: Compiler;
  reporter: BuildReporter;
  compileInputs: CompileInputs | undefined;
  /** Where compile inputs are named from (the repository or workspace root), and their hashes, shared by the platforms. */
  inputs: { root: string; hashes: HashMemo };
  baseSpec: BaseSpec;
  git: { revision?: string; source?: string };
  extra: MatchedFiles;
  created: string;
  /** Compiles at once (the core count). */
  compiles: Limiter;
  /** Bases resolve one at a time: platforms share the suite's index files and cache. */
  bases: Limiter;
  /** deb: bases: one Debian archive per mirror and suite, so the platforms load InRelease once. */
  debianArchives: Map<string, DebianArchive>;
  /** The SBOM's npm packages, checked once per build (and warned about once), not per platform. */
  npmChecks: Map<string, Promise<NpmComponent[]>>;
}

type LayerAddition = { layer: Layer; history: { created: string; created_by: string; comment?: string } };

/** Build from a resolved plan (the CLI's way), or from options (resolved here, once). */
export function build(plan: BuildPlan, deps?: BuildDeps): Promise<BuildResult>;
export function build(options: BuildOptions): Promise<BuildResult>;
export async function build(input: BuildOptions | BuildPlan, deps: BuildDeps = {}): Promise<BuildResult> {
  const started = Date.now();
  const cacheWrites = cacheWriteCount();
  cacheMaxBytes(); // a bad AOTPACK_CACHE_MAX_SIZE is a usage error before any work, not after
  const options = isBuildPlan(input) ? undefined : input;
  const plan = isBuildPlan(input) ? input : await resolveBuildPlan(input);
  const ctx = await prepare(plan, deps.compiler ?? options?.compiler, deps.reporter ?? options?.reporter ?? silentReporter);

  // allSettled, not all: when one platform fails, the others' compiles still finish and clean up
  // their temp dirs before we report, so nothing keeps writing after the command has exited.
  const settled = await Promise.allSettled(plan.platforms.map((platform) => buildPlatform(ctx, platform)));
  const platforms = allOrOneError(settled);
  // Once per build: every platform bundles the same packages.
  const bundled = platforms[0]?.artifact.inputs?.bundled;
  if (bundled) for (const w of await dependencyAssetWarnings(plan.project.dir, bundled, ctx.extra.files)) ctx.reporter.warn(w);

  const indexAnnotations: Annotations = { [Annotation.Created]: ctx.created };
  if (ctx.git.source) indexAnnotations[Annotation.Source] = ctx.git.source;
  if (ctx.git.revision) indexAnnotations[Annotation.Revision] = ctx.git.revision;
  const index = newIndex(
    platforms.flatMap((b) => [{ image: b.image, platform: b.platform }, ...(b.attestation ? [attestationEntry(b.attestation.image, b.digest)] : [])]),
    indexAnnotations,
  );
  // Structure, digests, sizes and platforms; the layers themselves were hashed as they were written or reused.
  await validate(index, { scanLayers: false });
  // What publishing still reads lazily (a registry base's blobs; layers made again from the artifact) stays.
  const inUse = platforms.flatMap((b) => [...b.layers.map((l) => join(cacheDir("blobs"), "sha256", l.digest.slice("sha256:".length))), ...b.artifact.layers.flatMap((l) => l.files.map((f) => f.source))]);
  // A warning, not a note: a live progress view drops its notes when it finishes, and this must be seen.
  await evictAfterBuild({ startedMs: started, writesAtStart: cacheWrites, keep: inUse, report: (m) => ctx.reporter.warn(m) });
  return { appName: plan.appName, index, digest: await index.digest(), platforms, elapsedMs: Date.now() - started };
}

/** Everything decided once per build, before any platform compiles. */
async function prepare(plan: BuildPlan, injected: Compiler | undefined, reporter: BuildReporter): Promise<BuildContext> {
  const entry = compilerEntry(plan.runtime);
  const compiler = injected ?? (await entry.create());
  // Every platform's toolchain before any compile: a missing arm64 linker must not cost an amd64 compile first.
  await compiler.preflight?.([...plan.platforms], plan.project.dir);
  const compileInputs = await compiler.compileInputs?.(plan.project.dir);
  const baseSpec = parseBaseSpec(plan.base);
  reporter.info(describeEpoch(plan.epoch, plan.epochSource));
  if (entry.bundlesNpmDependencies) await checkNoNativeAddons(plan.project.dir);
  const git = await gitFacts(plan.project.dir);
  const extra = await matchProjectFiles(plan.project.dir, [...plan.files]);
  for (const dir of await unshippedAssetDirs(plan.project.dir, extra.files)) {
    reporter.warn(`${dir}/ is not shipped: if the app serves or reads it, add "files": ["${dir}/**"] to aotpack's config (or --file '${dir}/**')`);
  }
  for (const w of filesWarnings([...plan.files], extra, plan.project.dir)) reporter.warn(w);
  return {
    plan,
    compiler,
    reporter,
    compileInputs,
    // A compiler whose inputs are no npm lockfiles (.NET): one appearing above the project must not move the root, and so the key.
    inputs: { root: await inputsRoot(plan.project.dir, compileInputs?.packageLockfiles === false ? [] : await nearestLockfiles(plan.project.dir)), hashes: new Map() },
    baseSpec,
    git,
    extra,
    created: epochToIso(plan.epoch),
    compiles: limiter(availableParallelism()),
    bases: limiter(1),
    debianArchives: new Map(),
    npmChecks: new Map(),
  };
}

/** One platform: compile → base → layers → config. */
async function buildPlatform(ctx: BuildContext, platform: Platform): Promise<PlatformBuild> {
  const early = await earlyBaseStep(ctx, platform);
  const first = await runtimePinStep(ctx, platform, await ctx.compiles.run(() => compileStep(ctx, platform)));
  const artifact = first.compiled.artifact;
  // The early base is the base when the executable needs what was predicted (Bun and Node always):
  // resolving it again would re-read the lock and re-hash the cached base layer.
  const base = early && sameBaseNeeds(early.elf, artifact)
    ? reportBase(ctx, platform, early.base)
    : await ctx.bases.run(() => baseStep(ctx, platform, artifact));
  const { compiled, additions } = await layersStep(ctx, platform, first);
  return configStep(ctx, platform, compiled, base, additions);
}

interface CompileStepResult {
  compiled: CompiledArtifact;
  request: Omit<CompileRequest, "outDir">;
  key: CompileKey;
}

async function compileStep(ctx: BuildContext, platform: Platform): Promise<CompileStepResult> {
  const { plan, reporter } = ctx;
  const p = formatPlatform(platform);
  reporter.step(p, "compile", "start");
  const request: Omit<CompileRequest, "outDir"> = {
    projectDir: plan.project.dir,
    platform,
    layout: plan.layout,
    appName: plan.appName,
    minify: plan.minify,
    onProgress: (m) => reporter.info(`${p}: ${m}`),
  };
  if (plan.entry !== undefined) request.entry = plan.entry;
  if (plan.baseline) request.baseline = true;
  let compiled: CompiledArtifact;
  let key: CompileKey;
  try {
    const lookup = await projectFingerprint(plan.project.dir, {
      v: 3, // 3: the second level keys what the bundler read (compile-key.ts)
      // Where the project sits in its repository: two services with the same files read different things.
      project: rootRelative(ctx.inputs.root, plan.project.dir),
      runtime: ctx.compiler.runtime,
      platform: p,
      layout: plan.layout,
      entry: plan.entry ?? null,
      appName: plan.appName,
      minify: plan.minify,
      baseline: plan.baseline,
      versions: process.versions.node,
    }, ctx.compileInputs);
    key = { lookup, ...ctx.inputs };
    compiled = await compileCached(ctx.compiler, request, key, plan.cache, (m) => reporter.warn(m));
  } catch (err) {
    reporter.step(p, "compile", "failed");
    throw err;
  }
  checkBaseCanRun(ctx.baseSpec.kind, compiled.artifact.elf, p);
  // A cached artifact took no time now; its old compile time would read as this build's.
  if (compiled.fromCache) reporter.step(p, "compile", "cached");
  else reporter.step(p, "compile", "done", `${(compiled.artifact.compileMs / 1000).toFixed(1)} s`);
  return { compiled, request, key };
}

/**
 * The runtime taken from npm is the one aotpack.lock pins (runtime-pins.ts): one swapped in the cache
 * with its records is dropped with a warning and fetched again by a fresh compile; if that one is not
 * the pinned runtime either, the lock names another runtime and the build fails (--update-lock re-pins).
 */
async function runtimePinStep(ctx: BuildContext, platform: Platform, step: CompileStepResult): Promise<CompileStepResult> {
  const p = formatPlatform(platform);
  const options = { lockfile: ctx.plan.lockfile, frozenLock: ctx.plan.frozenLock, report: (m: string) => ctx.reporter.info(`${p}: ${m}`) };
  const why = await checkRuntimePin(step.compiled.artifact, options);
  const runtime = step.compiled.artifact.inputs?.runtime;
  if (why === undefined || !runtime) return step;
  ctx.reporter.warn(`${p}: ${why}; dropped the cached runtime, fetching it again`);
  await dropCachedRuntime(runtime.pkg, runtime.version);
  const compiled = await ctx.compiles.run(() => compileCached(ctx.compiler, step.request, step.key, false, (m) => ctx.reporter.warn(m)));
  const still = await checkRuntimePin(compiled.artifact, { ...options, repin: ctx.plan.updateLock });
  if (still !== undefined) {
    throw new AotpackError(`${p}: ${still}, also as fetched again from npm: the lock names another runtime`, {
      hint: "check the npm registry you use (npm config get registry); if the new runtime is expected, run with --update-lock",
    });
  }
  return { compiled, request: step.request, key: step.key };
}

/**
 * Where the compiler knows the executable's ELF before compiling, the deb: base is resolved first:
 * a lock that lacks what this runtime needs is extended (and says so), or refused under --frozen-lock,
 * before minutes of compiling instead of after. When the compiled executable needs what was predicted,
 * this is the image's base; otherwise the base step after the compile resolves it again.
 */
async function earlyBaseStep(ctx: BuildContext, platform: Platform): Promise<{ elf: ElfInfo; base: ResolvedBase } | undefined> {
  if (ctx.baseSpec.kind !== "deb" || !ctx.compiler.executableElf) return undefined;
  const p = formatPlatform(platform);
  const request = { projectDir: ctx.plan.project.dir, baseline: ctx.plan.baseline, onProgress: (m: string) => ctx.reporter.info(`${p}: ${m}`) };
  const elf = await ctx.compiler.executableElf(platform, request);
  return { elf, base: await ctx.bases.run(() => baseStep(ctx, platform, { elf }, { quiet: true })) };
}

/** What the base is made from (the ELF facts the base key uses, and no declared run-time libraries) is what was predicted. */
function sameBaseNeeds(predicted: ElfInfo, artifact: Pick<Artifact, "elf" | "runtimeLibraries" | "libraryNeeds">): boolean {
  const elf = baseElf(artifact);
  return (
    (artifact.runtimeLibraries ?? []).length === 0 &&
    elf.machine === predicted.machine &&
    elf.interpreter === predicted.interpreter &&
    elf.needed.join("\0") === predicted.needed.join("\0")
  );
}

/** The base step's progress, for a base resolved before the compile. */
function reportBase(ctx: BuildContext, platform: Platform, base: ResolvedBase): ResolvedBase {
  const p = formatPlatform(platform);
  ctx.reporter.step(p, "base", "start", ctx.plan.base);
  ctx.reporter.step(p, "base", "done", base.name);
  return base;
}

/** The executable's ELF facts plus what the libraries shipped beside it need: the deb: base takes both by one rule. */
export function baseElf(artifact: Pick<Artifact, "elf" | "libraryNeeds">): ElfInfo {
  const more = (artifact.libraryNeeds ?? []).filter((n) => !artifact.elf.needed.includes(n));
  return more.length ? { ...artifact.elf, needed: [...artifact.elf.needed, ...more], static: false } : artifact.elf;
}

async function baseStep(ctx: BuildContext, platform: Platform, artifact: Pick<Artifact, "elf" | "runtimeLibraries" | "libraryNeeds">, opts: { quiet?: boolean } = {}): Promise<ResolvedBase> {
  const { plan } = ctx;
  // The early resolution reports only what it changes (the lock), not a second base step.
  const reporter: BuildReporter = opts.quiet ? { step() {}, info: (m) => ctx.reporter.info(m), warn: (m) => ctx.reporter.warn(m) } : ctx.reporter;
  const p = formatPlatform(platform);
  reporter.step(p, "base", "start", plan.base);
  const baseOptions: Parameters<typeof resolveBase>[3] = {
    lockfile: plan.lockfile,
    sourceDateEpoch: plan.epoch,
    // Every layer of the image has the build's compression, the base's included.
    compression: plan.compression,
    debianArchives: ctx.debianArchives,
    onProgress: (m) => reporter.info(`${p}: ${m}`),
  };
  if (plan.debianMirror) baseOptions.mirror = plan.debianMirror;
  if (plan.updateLock) baseOptions.updateLock = true;
  if (plan.insecureRegistries.length) baseOptions.registry = { insecureRegistries: [...plan.insecureRegistries] };

  if (plan.frozenLock) baseOptions.frozenLock = true;
  const { kept: runtimeLibraries, left } = omitRuntimeLibraries(artifact.runtimeLibraries ?? [], plan.omit);
  for (const l of left) reporter.info(`${p}: the base leaves out ${l.purpose} ("omit" in the aotpack config); a call that needs it fails at run time`);
  const caCertificates = !plan.omit.includes("ca-certificates");
  const needs = { elf: baseElf(artifact), caCertificates, runtimeLibraries, ...debugVariant.base(plan.debugImage) };
  const base = await resolveBase(ctx.baseSpec, platform, needs, baseOptions);
  reporter.step(p, "base", "done", base.name);
  return base;
}

/** The app's layers (the artifact's, the debug symbols, the extra files), each reused from the cache when it can be. */
async function layersStep(ctx: BuildContext, platform: Platform, step: CompileStepResult): Promise<{ compiled: CompiledArtifact; additions: LayerAddition[] }> {
  const { plan, reporter, created } = ctx;
  const p = formatPlatform(platform);
  const warn = (m: string): void => reporter.warn(m);
  reporter.step(p, "layer", "start");
  const additions: LayerAddition[] = [];
  const layerOf = async (entries: LayerEntry[], hashes: string[], name: string): Promise<Layer> =>
    (await layerCached(entries, hashes, name, plan.compression, plan.epoch, plan.cache, warn)).layer;
  const artifactLayers = async (c: CompiledArtifact): Promise<Layer[]> => {
    const out: Layer[] = [];
    for (const al of c.artifact.layers) {
      const entries: LayerEntry[] = al.files.map((f) => ({ path: f.path, type: "file", source: f.source, mode: f.mode }));
      const hashes = await Promise.all(al.files.map((f) => c.fileHashes.get(f.source) ?? sha256File(f.source)));
      out.push(await layerOf(entries, hashes, al.name));
    }
    return out;
  };
  let compiled = step.compiled;
  let appLayers: Layer[];
  try {
    appLayers = await artifactLayers(compiled);
  } catch (err) {
    // A cached artifact file changed under us: never layer it; compile again (once).
    if (!(err instanceof StaleArtifactError)) throw err;
    reporter.warn(err.message);
    compiled = (await runtimePinStep(ctx, platform, { compiled: await compileCached(ctx.compiler, step.request, step.key, false, warn), request: step.request, key: step.key })).compiled;
    appLayers = await artifactLayers(compiled);
  }
  compiled.artifact.layers.forEach((al, i) => {
    additions.push({ layer: appLayers[i]!, history: { created, created_by: `aotpack: ${plan.runtime} ${al.name}`, comment: al.name } });
  });
  const symbolsLayer = plan.debugImage ? debugVariant.symbolsLayer(compiled.artifact) : undefined;
  if (symbolsLayer) {
    const hashes = await Promise.all(symbolsLayer.map((e) => sha256File(e.source!)));
    additions.push({ layer: await layerOf(symbolsLayer, hashes, "symbols"), history: { created, created_by: "aotpack: debug symbols", comment: "symbols" } });
  }
  if (ctx.extra.files.length) {
    const entries: LayerEntry[] = ctx.extra.files.map((rel) => ({
      path: `/app/${rel}`,
      type: "file",
      source: join(plan.project.dir, rel),
      mode: 0o644,
    }));
    const hashes = await Promise.all(entries.map((e) => sha256File(e.source!)));
    additions.push({ layer: await layerOf(entries, hashes, "files"), history: { created, created_by: "aotpack: files", comment: "files" } });
  }
  reporter.step(p, "layer", "done");
  return { compiled, additions };
}

/** Base + layers + the image config and annotations, the size report, and the attestation. */
async function configStep(ctx: BuildContext, platform: Platform, compiled: CompiledArtifact, base: ResolvedBase, additions: LayerAddition[]): Promise<PlatformBuild> {
  const { plan, reporter, created, git } = ctx;
  // The artifact the base was chosen for (its ELF facts); a stale-cache recompile has the same.
  const artifact = compiled.artifact;
  const p = formatPlatform(platform);
  reporter.step(p, "image", "start");
  const labels: Record<string, string> = { [Annotation.Created]: created };
  if (git.source) labels[Annotation.Source] = git.source;
  if (git.revision) labels[Annotation.Revision] = git.revision;
  labels[Annotation.BaseName] = base.name;
  if (base.digest) labels[Annotation.BaseDigest] = base.digest;
  const annotations: Annotations = { ...labels };
  const baseLayerCount = (await base.image.layers()).length;
  let image = appendLayers(base.image, additions);
  image = withConfig(image, (cfg) => imageConfigFor(cfg, plan, artifact, base, labels));
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
  const facts = { appName: plan.appName, platform, image, created, projectDir: plan.project.dir, base, artifact, git, warn: (m: string) => reporter.warn(m), npmChecks: ctx.npmChecks };
  const attestation = await attest(image, facts, plan);
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
}

/** uid 0 or root, the spellings a base's User may take; a base's bare uid or group 0 is its own design and kept. */
function baseRunsAsRoot(user: string): boolean {
  return isRootName(user.split(":")[0]!);
}

function imageConfigFor(cfg: ImageConfigFile, plan: BuildPlan, artifact: Artifact, base: ResolvedBase, labels: Record<string, string>): ImageConfigFile {
  // PORT, and what the runtime reads instead (ASP.NET: ASPNETCORE_HTTP_PORTS), all the port.
  const portVars = ["PORT", ...(artifact.portEnv ?? [])];
  const baseEnv = (cfg.config.Env ?? []).filter((e) => !portVars.some((k) => e.startsWith(`${k}=`)));
  const env = [...baseEnv];
  if (!env.some((e) => e.startsWith("PATH="))) env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  for (const k of portVars) env.push(`${k}=${plan.port}`);
  for (const [k, v] of Object.entries(plan.env)) {
    const i = env.findIndex((e) => e.startsWith(`${k}=`));
    if (i >= 0) env.splice(i, 1);
    env.push(`${k}=${v}`);
  }
  return {
    ...cfg,
    created: epochToIso(plan.epoch),
    config: {
      ...cfg.config,
      // Root only when asked (the plan checked plan.user): a base's own root user is not inherited.
      User: plan.user ?? (base.user !== undefined && !baseRunsAsRoot(base.user) ? base.user : DEFAULT_USER),
      Env: env,
      Entrypoint: artifact.entrypoint,
      Cmd: [],
      WorkingDir: "/app",
      ExposedPorts: { [`${plan.port}/tcp`]: {} },
      Labels: { ...(cfg.config.Labels ?? {}), ...labels },
      StopSignal: "SIGTERM",
    },
  };
}

/** Every platform's result, or one error: with several failures, every platform's cause on the one line. */
function allOrOneError(settled: PromiseSettledResult<PlatformBuild>[]): PlatformBuild[] {
  const failures = settled.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason as unknown);
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    // Fixing one and re-running to find the next wastes a build.
    const messages = [...new Set(failures.map(errorMessage))];
    const first = failures[0];
    const hint = first instanceof AotpackError ? first.hint : undefined;
    throw new AotpackError(messages.join("; "), { exitCode: first instanceof AotpackError ? first.exitCode : 1, ...(hint ? { hint } : {}), cause: first });
  }
  return settled.map((r) => (r as PromiseFulfilledResult<PlatformBuild>).value);
}

// ---- attestations (src/sbom/) ------------------------------------------------------------

async function attest(image: Image, facts: Parameters<typeof inventoryFor>[0], o: BuildPlan): Promise<PlatformBuild["attestation"]> {
  const { sbom, provenance } = o;
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
    minify: o.minify,
    baseline: o.baseline,
    sbom,
  };
  const baseImage = facts.base.digest ? { name: facts.base.name, digest: facts.base.digest } : undefined;
  const a = await attestationFor(image, inventory, { sbom, provenance, parameters, ...(baseImage ? { baseImage } : {}) });
  if (!a) return undefined;
  let bytes = (await a.image.size()) + (await a.image.rawConfigFile()).length;
  for (const l of await a.image.layers()) bytes += await l.size();
  return { image: a.image, digest: await a.image.digest(), bytes };
}

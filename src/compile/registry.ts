/**
 * The compiler registry: one entry per runtime. The runtime's name, its detection, the config's
 * and the CLI's choices, the help text and `aotpack dockerfile` support are all read from here,
 * so adding a runtime is one `registerCompiler` call (or one entry in BUILTIN_COMPILERS).
 */
import { UsageError } from "../errors.ts";
import type { Platform } from "../oci/platform.ts";
import type { ArtifactLayout, Compiler, RuntimeKind } from "./types.ts";

/** What `aotpack dockerfile` knows before a runtime renders: the build plan's shared part. */
export interface DockerfileRequest {
  projectDir: string;
  appName: string;
  /** The entry as configured (relative to the project), unresolved. */
  entry: string | undefined;
  platforms: Platform[];
  layout: ArtifactLayout;
  port: number;
  user: string;
  env: Record<string, string>;
  /** Extra project files, already matched (relative), as build ships them. */
  files: string[];
  minify: boolean;
  builderImage?: string;
  runtimeImage?: string;
}

export interface RenderedDockerfile {
  dockerfile: string;
  dockerignore: string;
}

export interface CompilerEntry {
  /** The runtime's name: `--runtime`, `aotpack.runtime`, an artifact's `runtime`. */
  readonly kind: string;
  /** One line for `build --help`, e.g. "Bun single-file executable". */
  readonly summary: string;
  /** When the runtime is picked without being named, e.g. "a folder with a PublishAot .csproj"; needs `detect`. */
  readonly detects?: string;
  /** True for a project this runtime should build when none is named; entries are asked in order. */
  detect?(projectDir: string): Promise<boolean>;
  /** The compiler; may load its module on demand (help and usage errors should not pay for compilers). */
  create(): Compiler | Promise<Compiler>;
  /**
   * The output bundles the project's npm dependencies, so a native addon (.node) cannot ship:
   * the build refuses one before compiling.
   */
  readonly bundlesNpmDependencies?: boolean;
  /** Renders the Dockerfile for buildx users; absent: `aotpack dockerfile` refuses this runtime. */
  dockerfile?(request: DockerfileRequest): Promise<RenderedDockerfile>;
}

// The renderers (src/dockerfile/, below this layer) load on demand: only `aotpack dockerfile` needs them.
async function javascriptDockerfile(runtime: "bun" | "node", r: DockerfileRequest): Promise<RenderedDockerfile> {
  const { relative } = await import("node:path");
  const { resolveEntry } = await import("./entry.ts");
  const { installedBun } = await import("./bun-runtime.ts");
  const { renderDockerfile } = await import("../dockerfile/render.ts");
  const plan: Parameters<typeof renderDockerfile>[0] = {
    appName: r.appName,
    entry: relative(r.projectDir, await resolveEntry(r.projectDir, r.entry)),
    platforms: r.platforms,
    runtime,
    layout: r.layout,
    port: r.port,
    user: r.user,
    env: r.env,
    bunVersion: installedBun().version,
    minify: r.minify,
  };
  if (runtime === "node") plan.nodeVersion = (await import("./node-sea.ts")).NODE_SEA_VERSION;
  if (r.files.length) plan.files = r.files;
  if (r.builderImage) plan.builderImage = r.builderImage;
  if (r.runtimeImage) plan.runtimeImage = r.runtimeImage;
  return renderDockerfile(plan);
}

async function dotnetDockerfile(r: DockerfileRequest): Promise<RenderedDockerfile> {
  const { renderDotnetDockerfile } = await import("../dockerfile/render-dotnet.ts");
  const { dotnetDockerfilePlan } = await import("./dotnet-dockerfile.ts");
  const shared = { appName: r.appName, platforms: r.platforms, port: r.port, user: r.user, env: r.env, sdkImage: r.builderImage, runtimeImage: r.runtimeImage };
  return renderDotnetDockerfile(await dotnetDockerfilePlan(r.projectDir, shared));
}

/** The runtimes aotpack ships; the first is the default when no entry detects the project. */
export const BUILTIN_COMPILERS = [
  {
    kind: "bun",
    summary: "Bun single-file executable",
    create: async () => (await import("./bun.ts")).bunCompiler(),
    bundlesNpmDependencies: true,
    dockerfile: (r: DockerfileRequest) => javascriptDockerfile("bun", r),
  },
  {
    kind: "node",
    summary: "Node single executable application (SEA)",
    create: async () => (await import("./node-sea.ts")).nodeSeaCompiler(),
    bundlesNpmDependencies: true,
    dockerfile: (r: DockerfileRequest) => javascriptDockerfile("node", r),
  },
  {
    kind: "dotnet-aot",
    summary: ".NET NativeAOT",
    detects: "a folder with a PublishAot .csproj, or a .csproj and no package.json",
    detect: async (dir: string) => (await import("./dotnet-aot.ts")).isDotnetProject(dir),
    create: async () => (await import("./dotnet-aot.ts")).dotnetAotCompiler(),
    dockerfile: dotnetDockerfile,
  },
] as const satisfies readonly CompilerEntry[];

export type BuiltinRuntimeKind = (typeof BUILTIN_COMPILERS)[number]["kind"];

const entries = new Map<string, CompilerEntry>(BUILTIN_COMPILERS.map((e) => [e.kind, e]));

const KIND = /^[a-z][a-z0-9-]*$/;

/**
 * Add a runtime (plugins, tests). Its kind must be new; it is asked to detect projects after the
 * entries before it. Returns a function that removes it again.
 */
export function registerCompiler(entry: CompilerEntry): () => void {
  if (!KIND.test(entry.kind)) throw new UsageError(`invalid runtime name "${entry.kind}": lowercase letters, digits and "-"`);
  if (entries.has(entry.kind)) throw new UsageError(`runtime "${entry.kind}" is already registered`);
  entries.set(entry.kind, entry);
  return () => {
    if (entries.get(entry.kind) === entry) entries.delete(entry.kind);
  };
}

/** Every registered runtime, the default first. */
export function compilerEntries(): CompilerEntry[] {
  return [...entries.values()];
}

export function runtimeKinds(): RuntimeKind[] {
  return compilerEntries().map((e) => e.kind);
}

export const DEFAULT_RUNTIME: BuiltinRuntimeKind = BUILTIN_COMPILERS[0].kind;

export function isRuntimeKind(value: unknown): value is RuntimeKind {
  return typeof value === "string" && entries.has(value);
}

/** "bun (default), node, dotnet-aot", for messages. */
export function describeRuntimes(): string {
  return runtimeKinds().map((k) => (k === DEFAULT_RUNTIME ? `${k} (default)` : k)).join(", ");
}

export function compilerEntry(kind: string): CompilerEntry {
  const entry = entries.get(kind);
  if (!entry) throw new UsageError(`unsupported runtime "${kind}"; supported: ${describeRuntimes()}`);
  return entry;
}

/** The runtime's compiler. An unknown kind throws at once (a UsageError naming the runtimes). */
export function compilerFor(kind: RuntimeKind): Promise<Compiler> {
  return Promise.resolve(compilerEntry(kind).create());
}

/** The runtime for a project that names none: the first entry that detects it, else the default. */
export async function detectRuntime(projectDir: string): Promise<RuntimeKind> {
  for (const e of compilerEntries()) if (e.detect && (await e.detect(projectDir))) return e.kind;
  return DEFAULT_RUNTIME;
}

/** The runtimes `aotpack dockerfile` renders. */
export function dockerfileRuntimes(): RuntimeKind[] {
  return compilerEntries().filter((e) => e.dockerfile).map((e) => e.kind);
}

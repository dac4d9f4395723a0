/**
 * The build plan: the project config and the flags resolved once, into one frozen value that the
 * CLI, `build()` and `aotpack dockerfile` share. Flags override the project file; the file
 * overrides the defaults. Nothing after this derives a default again.
 */
import { basename, join, resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { DEFAULT_BASE, DEFAULT_USER } from "../base/index.ts";
import type { ArtifactLayout, Compiler, RuntimeKind, RuntimeLibraryId } from "../compile/types.ts";
import { appNameFor } from "../compile/common.ts";
import { detectRuntime } from "../compile/registry.ts";
import type { Compression } from "../oci/media-types.ts";
import { parsePlatformList, type Platform } from "../oci/platform.ts";
import { MAX_ID, parseImageUser, rootReason } from "../oci/user.ts";
import type { SbomFormat } from "../sbom/formats.ts";
import { loadProject, type HttpCheckConfig, type LoadedProject } from "./config.ts";
import { defaultSourceDateEpoch, type EpochSource } from "./epoch.ts";

export { DEFAULT_BASE, DEFAULT_USER };
export const DEFAULT_PORT = 8080;

export type BuildStep = "compile" | "base" | "layer" | "image";

/** Events for progress output; the CLI renders them as a live task list or plain lines. */
export interface BuildReporter {
  step(platform: string, step: BuildStep, state: "start" | "done" | "cached" | "failed", detail?: string): void;
  info(message: string): void;
  warn(message: string): void;
}

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
  /** Let `user` be root (uid 0, gid 0, `root`, a bare uid); refused otherwise. */
  allowRoot?: boolean;
  files?: string[];
  /** Declared run-time libraries the base leaves out; wins over the config's "omit". */
  omit?: RuntimeLibraryId[];
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
  /** Injected for tests; defaults to the registry's compiler for the runtime. */
  compiler?: Compiler;
  /** SBOM attached per platform (default spdx). */
  sbom?: SbomFormat | "none";
  /** SLSA provenance attached per platform (default true). */
  provenance?: boolean;
}

/** The flags and the project config, resolved. Frozen: a step cannot change what the next one sees. */
export interface BuildPlan {
  readonly project: LoadedProject;
  readonly appName: string;
  readonly platforms: readonly Platform[];
  readonly entry: string | undefined;
  readonly base: string;
  readonly runtime: RuntimeKind;
  readonly layout: ArtifactLayout;
  readonly compression: Compression;
  readonly port: number;
  readonly env: Readonly<Record<string, string>>;
  /** As asked; undefined: the base's user, else DEFAULT_USER. */
  readonly user: string | undefined;
  readonly allowRoot: boolean;
  /** `user` is root (or may run with group root), allowed by allowRoot: the build summary says so. */
  readonly runsAsRoot: boolean;
  readonly files: readonly string[];
  /** Declared run-time libraries the base leaves out (config "omit"). */
  readonly omit: readonly RuntimeLibraryId[];
  readonly epoch: number;
  readonly epochSource: EpochSource | "option";
  readonly cache: boolean;
  readonly minify: boolean;
  readonly baseline: boolean;
  readonly lockfile: string;
  readonly debianMirror: string | undefined;
  readonly updateLock: boolean;
  readonly frozenLock: boolean;
  readonly insecureRegistries: readonly string[];
  readonly debugImage: boolean;
  readonly sbom: SbomFormat | "none";
  readonly provenance: boolean;
  /** aotpack.verify's checks, for `build --verify`, and where they came from. */
  readonly verify: { readonly checks: readonly HttpCheckConfig[]; readonly source: string };
}

const plans = new WeakSet<object>();

/** True for a plan made by resolveBuildPlan (not any object of that shape). */
export function isBuildPlan(value: unknown): value is BuildPlan {
  return typeof value === "object" && value !== null && plans.has(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export interface PlanDefaults {
  /** Platforms when neither the flags nor the config name any (`aotpack dockerfile`: both). */
  platforms?: Platform[];
}

export async function resolveBuildPlan(options: Omit<BuildOptions, "reporter" | "compiler">, defaults: PlanDefaults = {}): Promise<BuildPlan> {
  const projectDir = resolve(options.projectDir);
  const project = await loadProject(projectDir);
  const cfg = project.config;
  const platforms = options.platforms ?? (cfg.platforms ? parsePlatformList(cfg.platforms.join(",")) : defaults.platforms);
  if (!platforms || platforms.length === 0) {
    throw new UsageError("no target platforms: pass --platform linux/amd64,linux/arm64 or set aotpack.platforms");
  }
  const configName = `${basename(project.configSource ?? "package.json")} aotpack`;
  const allowRoot = options.allowRoot ?? cfg.allowRoot ?? false;
  const user = options.user ?? cfg.user;
  const runsAsRoot = user !== undefined && checkUser(user, options.user !== undefined ? "--user" : `${configName}.user`, allowRoot);
  const env = { ...(cfg.env ?? {}), ...(options.env ?? {}) };
  for (const [key, value] of Object.entries(env)) checkEnv(key, value, options.env && Object.hasOwn(options.env, key) ? "-e" : `${configName}.env`);
  const epoch = options.sourceDateEpoch !== undefined ? { epoch: options.sourceDateEpoch, source: "option" as const } : await defaultSourceDateEpoch(projectDir);
  const plan: BuildPlan = {
    project,
    appName: appNameFor(project),
    platforms: [...platforms],
    entry: options.entry ?? cfg.entry,
    base: options.base ?? cfg.base ?? DEFAULT_BASE,
    runtime: options.runtime ?? cfg.runtime ?? (await detectRuntime(projectDir)),
    layout: options.layout ?? cfg.layout ?? "single-file",
    compression: options.compression ?? cfg.compression ?? "gzip",
    port: options.port ?? cfg.port ?? DEFAULT_PORT,
    env,
    user,
    allowRoot,
    runsAsRoot,
    files: [...(options.files ?? cfg.files ?? [])],
    omit: [...(options.omit ?? cfg.omit ?? [])],
    epoch: epoch.epoch,
    epochSource: epoch.source,
    cache: options.cache ?? true,
    minify: options.minify ?? true,
    baseline: options.baseline ?? false,
    lockfile: options.lockfile ?? join(projectDir, "aotpack.lock"),
    debianMirror: options.debianMirror || undefined,
    updateLock: options.updateLock ?? false,
    frozenLock: options.frozenLock ?? false,
    insecureRegistries: [...(options.insecureRegistries ?? [])],
    debugImage: options.debugImage ?? false,
    sbom: options.sbom ?? "spdx",
    provenance: options.provenance ?? true,
    verify: { checks: cfg.verify ?? [], source: `${project.configSource ?? "package.json"} aotpack.verify` },
  };
  plans.add(plan);
  // The project is frozen too: the plan shares it, and the CLI reads its config from here.
  return deepFreeze(plan);
}

/** A user the image config can hold; root only with allowRoot. True when it is root (allowed). */
function checkUser(user: string, where: string, allowRoot: boolean): boolean {
  const parsed = parseImageUser(user);
  if (!parsed) {
    throw new UsageError(`${where} ${JSON.stringify(user)} is not a user: expected uid:gid (ids 0-${MAX_ID}) or a name[:group], e.g. "65532:65532"`);
  }
  const reason = rootReason(parsed);
  if (reason !== undefined && !allowRoot) {
    throw new UsageError(`${where} ${JSON.stringify(user)} ${reason}: pass --allow-root (or "allowRoot": true in the config) to build an image that runs as root`, {
      hint: 'the default is the non-root "65532:65532"; give a group too, e.g. "1000:1000"',
    });
  }
  return reason !== undefined;
}

/** An Env entry is KEY=VALUE, read back up to the first "=" and passed to execve as a C string. */
function checkEnv(key: string, value: string, where: string): void {
  const bad = (why: string): UsageError => new UsageError(`env key ${JSON.stringify(key)} (${where}) ${why}`);
  if (key === "") throw bad("is empty");
  if (key.includes("=")) throw bad('holds "=", which would end the key early');
  if (key.includes("\0")) throw bad("holds NUL, which would end the entry early");
  if (value.includes("\0")) throw new UsageError(`env ${key} (${where}): the value holds NUL, which would end the entry early`);
}

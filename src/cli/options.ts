/**
 * The one place where argv becomes option objects (ko's style). Everything here throws
 * UsageError (exit 2) for bad flags; nothing here does any work.
 */
import { parseSbomFormat } from "../sbom/index.ts";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError, errorMessage } from "../errors.ts";
import { parsePlatform, parsePlatformList, type Platform } from "../oci/platform.ts";
import type { Compression } from "../oci/media-types.ts";
import type { ArtifactLayout, RuntimeKind } from "../compile/types.ts";
import type { BuildOptions } from "../build/build.ts";
import { parseOutputSpec, type OutputSpec } from "../build/outputs.ts";
import { TAG_SOURCE } from "../oci/names.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

export function parse<O extends Options>(argv: string[], options: O): Parsed<O> {
  const config = { args: argv, options, allowPositionals: true as const, strict: true as const };
  try {
    return parseArgs(config);
  } catch (err) {
    // node's messages are good ("Unknown option '--foo'"); keep them to one line.
    throw new UsageError(errorMessage(err).split("\n")[0]!.replace(/\. To specify a positional.*$/, ""));
  }
}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new UsageError(`--${flag} must be one of ${allowed.join(", ")} (got "${value}")`);
  return value as T;
}

function port(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`--${flag} must be a port number 1-65535 (got "${value}")`);
  return n;
}

export function keyValues(flag: string, values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const eq = v.indexOf("=");
    if (eq <= 0) throw new UsageError(`--${flag} takes KEY=VALUE (got "${v}")`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

export const GLOBAL = {
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies Options;

/** The flags that shape verify's checks and run; build --verify forwards exactly these. */
/** Flags `run` and `verify` share for untrusted images. */
export const SANDBOX_OPTIONS = {
  "max-unpacked-size": { type: "string" },
  "unsafe-host-root": { type: "boolean" },
} as const satisfies Options;

export const VERIFY_CHECK_FLAGS = {
  ...SANDBOX_OPTIONS,
  http: { type: "string", multiple: true },
  "expect-status": { type: "string", multiple: true },
  "expect-json-type": { type: "string", multiple: true },
  "expect-content-type": { type: "string", multiple: true },
  "expect-body": { type: "string", multiple: true },
  timeout: { type: "string" },
  grace: { type: "string" },
  isolation: { type: "string" },
} as const satisfies Options;

export const BUILD_FLAGS = {
  ...GLOBAL,
  ...VERIFY_CHECK_FLAGS,
  platform: { type: "string" },
  tag: { type: "string", short: "t" },
  output: { type: "string", short: "o", multiple: true },
  base: { type: "string" },
  runtime: { type: "string" },
  layout: { type: "string" },
  compression: { type: "string" },
  entry: { type: "string" },
  port: { type: "string" },
  env: { type: "string", short: "e", multiple: true },
  user: { type: "string" },
  file: { type: "string", multiple: true },
  "docker-platform": { type: "string" },
  "no-cache": { type: "boolean" },
  "no-minify": { type: "boolean" },
  sbom: { type: "string" },
  "no-provenance": { type: "boolean" },
  baseline: { type: "boolean" },
  verify: { type: "boolean" },
  "debug-image": { type: "boolean" },
  "debian-mirror": { type: "string" },
  lockfile: { type: "string" },
  "update-lock": { type: "boolean" },
  "frozen-lock": { type: "boolean" },
  "insecure-registry": { type: "string", multiple: true },
} as const satisfies Options;

export interface BuildCommand {
  build: Omit<BuildOptions, "reporter">;
  outputs: OutputSpec[];
  tag?: string;
  dockerPlatform?: Platform;
  verify: boolean;
  /** verify's check flags as given, in order, for --verify. */
  verifyArgs: string[];
  json: boolean;
  insecureRegistries: string[];
}

export function buildCommand(argv: string[]): BuildCommand {
  const { values, positionals } = parse(argv, BUILD_FLAGS);
  const verifyArgs = verifyFlagsIn(argv);
  if (verifyArgs.length && !values.verify) throw new UsageError(`${verifyArgs[0]} needs --verify`, { hint: "build … --verify --http 'GET /todos 200'" });
  if (positionals.length > 1) throw new UsageError(`build takes one project directory (got ${positionals.join(" ")})`);
  const build: Omit<BuildOptions, "reporter"> = { projectDir: positionals[0] ?? "." };
  if (values.platform !== undefined) build.platforms = parsePlatformList(values.platform);
  if (values.entry !== undefined) build.entry = values.entry;
  if (values.base !== undefined) build.base = values.base;
  const runtime = oneOf<RuntimeKind>("runtime", values.runtime, ["bun", "node", "dotnet-aot"]);
  if (runtime) build.runtime = runtime;
  const layout = oneOf<ArtifactLayout>("layout", values.layout, ["single-file", "layered"]);
  if (layout) build.layout = layout;
  const compression = oneOf<Compression>("compression", values.compression, ["gzip", "zstd", "none"]);
  if (compression) build.compression = compression;
  const p = port("port", values.port);
  if (p !== undefined) build.port = p;
  if (values.env) build.env = keyValues("env", values.env);
  if (values.user !== undefined) build.user = values.user;
  if (values.file) build.files = values.file;
  if (values["no-cache"]) build.cache = false;
  if (values["no-minify"]) build.minify = false;
  if (values.sbom !== undefined) build.sbom = parseSbomFormat(values.sbom);
  if (values["no-provenance"]) build.provenance = false;
  if (values.baseline) build.baseline = true;
  if (values["debug-image"]) build.debugImage = true;
  if (values["debian-mirror"] !== undefined) build.debianMirror = values["debian-mirror"];
  if (values.lockfile !== undefined) build.lockfile = values.lockfile;
  if (values["update-lock"]) build.updateLock = true;
  if (values["insecure-registry"]?.length) build.insecureRegistries = values["insecure-registry"];

  if (values["frozen-lock"]) build.frozenLock = true;
  if (build.updateLock && build.frozenLock) throw new UsageError("--update-lock and --frozen-lock contradict each other");
  if (values.tag !== undefined && !new RegExp(`^[a-z0-9][a-z0-9._/-]*(:${TAG_SOURCE})?$`).test(values.tag)) {
    throw new UsageError(`invalid --tag "${values.tag}": expected name[:tag], lowercase`);
  }
  const cmd: BuildCommand = {
    build,
    outputs: (values.output ?? []).map(parseOutputSpec),
    verify: values.verify ?? false,
    verifyArgs,
    json: values.json ?? false,
    insecureRegistries: values["insecure-registry"] ?? [],
  };
  if (values.tag !== undefined) cmd.tag = values.tag;
  if (values["docker-platform"] !== undefined) cmd.dockerPlatform = parsePlatform(values["docker-platform"]);
  return cmd;
}

/** verify's flags in argv, in their order (order matters: --expect-* refines the --http before it). */
function verifyFlagsIn(argv: string[]): string[] {
  const { tokens } = parseArgs({ args: argv, options: BUILD_FLAGS, allowPositionals: true, strict: false, tokens: true });
  const out: string[] = [];
  for (const t of tokens) {
    if (t.kind === "option" && t.name in VERIFY_CHECK_FLAGS) out.push(`--${t.name}`, ...(t.value === undefined ? [] : [t.value]));
  }
  return out;
}

/** `--platform all` or a comma list. */
export function platformSelection(value: string | undefined): Platform[] | "all" {
  if (value === undefined || value === "all") return "all";
  return parsePlatformList(value);
}

export { port as parsePort };

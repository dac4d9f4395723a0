/** `aotpack build`: compile per platform, assemble the images, publish them, and (--verify) run them. */
import { UsageError } from "../../errors.ts";
import type { BuildOptions, BuildResult } from "../../builder/build.ts";
import { checkOutputs, parseOutputSpec, preflightOutputs, publishAll, type OutputSpec } from "../../builder/outputs.ts";
import { RUNTIME_LIBRARY_IDS, type ArtifactLayout, type RuntimeKind, type RuntimeLibraryId } from "../../compile/types.ts";
import { compilerEntries, DEFAULT_RUNTIME, runtimeKinds } from "../../compile/registry.ts";
import type { Compression } from "../../oci/media-types.ts";
import { formatPlatform, parsePlatform, parsePlatformList, type Platform } from "../../oci/platform.ts";
import { parseSbomFormat } from "../../sbom/formats.ts";
import type { VerifyReport } from "../../verify/verify.ts";
import { GLOBAL, VERIFY_CHECK_FLAGS, keyValues, oneOf, parsePort, parseWithTokens } from "../options.ts";
import { ProgressView } from "../progress.ts";
import { buildJson, sizeTable } from "../report.ts";
import { checkFlagsIn, resolveChecks, verifyRunOptions, type CheckFlag, type VerifyRunOptions } from "../verify-flags.ts";
import type { Command, CommandContext, Flags } from "../command.ts";
import { verifyClosingOnSignals, type VerifyRequest } from "./verify.ts";
import { specSyntax } from "../../transports/index.ts";
import { nameProblem, splitTag, tagProblem } from "../../oci/names.ts";
import { parseImageUser, rootReason } from "../../oci/user.ts";

export const BUILD_FLAGS = {
  ...GLOBAL,
  ...VERIFY_CHECK_FLAGS,
  platform: { type: "string" },
  tag: { type: "string", short: "t" },
  output: { type: "string", short: "o", multiple: true },
  force: { type: "boolean" },
  base: { type: "string" },
  runtime: { type: "string" },
  layout: { type: "string" },
  compression: { type: "string" },
  entry: { type: "string" },
  port: { type: "string" },
  env: { type: "string", short: "e", multiple: true },
  user: { type: "string" },
  "allow-root": { type: "boolean" },
  file: { type: "string", multiple: true },
  omit: { type: "string", multiple: true },
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
} as const satisfies Flags;

export interface BuildCommand {
  build: Omit<BuildOptions, "reporter" | "compiler">;
  outputs: OutputSpec[];
  tag?: string;
  dockerPlatform?: Platform;
  verify: boolean;
  /** verify's --http/--expect-* flags as given, in order, for --verify. */
  verifyChecks: CheckFlag[];
  /** verify's run flags (--timeout, --grace, --isolation, sandbox), typed, for --verify. */
  verifyRun: VerifyRunOptions;
  json: boolean;
  /** --force: an archive output may replace a file that is not an image archive. */
  force: boolean;
}

/** build's argv → the options for the plan, the outputs, and --verify's typed settings. */
export function buildCommand(argv: string[]): BuildCommand {
  const { values, positionals, tokens } = parseWithTokens(argv, BUILD_FLAGS);
  const given = tokens.find((t) => t.kind === "option" && t.name in VERIFY_CHECK_FLAGS);
  if (given?.kind === "option" && !values.verify) throw new UsageError(`--${given.name} needs --verify`, { hint: "build … --verify --http 'GET /todos 200'" });
  if (positionals.length > 1) throw new UsageError(`build takes one project directory (got ${positionals.join(" ")})`);
  const build: Omit<BuildOptions, "reporter"> = { projectDir: positionals[0] ?? "." };
  if (values.platform !== undefined) build.platforms = parsePlatformList(values.platform);
  if (values.entry !== undefined) build.entry = values.entry;
  if (values.base !== undefined) build.base = values.base;
  const runtime = oneOf<RuntimeKind>("runtime", values.runtime, runtimeKinds());
  if (runtime) build.runtime = runtime;
  const layout = oneOf<ArtifactLayout>("layout", values.layout, ["single-file", "layered"]);
  if (layout) build.layout = layout;
  const compression = oneOf<Compression>("compression", values.compression, ["gzip", "zstd", "none"]);
  if (compression) build.compression = compression;
  const p = parsePort("port", values.port);
  if (p !== undefined) build.port = p;
  if (values.env) build.env = keyValues("env", values.env);
  if (values.user !== undefined) build.user = values.user;
  if (values["allow-root"]) build.allowRoot = true;
  if (values.file) build.files = values.file;
  // npm's shape: --omit openssl --omit ca-certificates, or one comma list.
  if (values.omit) build.omit = values.omit.flatMap((v) => v.split(",")).map((id) => oneOf<RuntimeLibraryId>("omit", id.trim(), RUNTIME_LIBRARY_IDS)!);
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
  if (values.tag !== undefined) {
    // The outputs' rule (names.ts): the part after the last ":" is the tag; the name is a repository path.
    const { head, tag } = splitTag(values.tag);
    const problem = nameProblem(head) ?? (tag !== undefined ? tagProblem(tag) : undefined);
    if (problem) throw new UsageError(`invalid --tag "${values.tag}": ${problem}`, { hint: "expected name[:tag], e.g. team/app:1.0" });
  }
  const cmd: BuildCommand = {
    build,
    outputs: (values.output ?? []).map(parseOutputSpec),
    verify: values.verify ?? false,
    verifyChecks: checkFlagsIn(tokens),
    verifyRun: verifyRunOptions(values),
    json: values.json ?? false,
    force: values.force ?? false,
  };
  if (values.tag !== undefined) cmd.tag = values.tag;
  if (values["docker-platform"] !== undefined) cmd.dockerPlatform = parsePlatform(values["docker-platform"]);
  return cmd;
}

/** The --runtime lines, from the compiler registry. */
export function runtimeHelp(): string {
  const entries = compilerEntries();
  const width = Math.max(...entries.map((e) => e.kind.length)) + 2;
  return [
    `  --runtime ${runtimeKinds().join("|")}   the compiler (default ${DEFAULT_RUNTIME}):`,
    ...entries.map((e) => `${" ".repeat(25)}${e.kind.padEnd(width)}${e.summary}${e.detects ? ` (the default for ${e.detects})` : ""}`),
  ].join("\n");
}

function buildHelp(): string {
  return `Usage: aotpack build [dir] --platform linux/amd64,linux/arm64 [options]

Compiles the project once per platform on this machine (no emulation), puts each executable
on a minimal base, and writes one multi-platform image index.

  --platform LIST        target platforms, comma separated (or aotpack.platforms)
  -o, --output SPEC      ${specSyntax("sink").join(" | ")}
                         (repeatable; default oci:out/<name>:<tag>; out/ is not dist/, which npm ships)
                         the part after the last ':' is the tag: a path holding ':' ends with its tag
                         (oci:out/a:b:latest; docker-archive:a:b.tar:name:tag)
  --force                let an archive output replace a file that is not an image archive
  -t, --tag NAME[:TAG]   tag for outputs that name none (default <name>:latest)
  --base SPEC            deb:bookworm (default, built from Debian packages) | scratch | a registry reference
${runtimeHelp()}
  --layout single-file|layered   one layer, or runtime and app in separate layers
  --compression gzip|zstd|none   layer compression (default gzip; zstd needs Node >= 22.15)
  --entry FILE           entry file (else aotpack.entry, bin, main, module, exports, scripts.start, src/index.ts)
  --port N               exposed port and PORT env (default 8080)
  -e, --env K=V          extra environment (repeatable)
  --user UID:GID|NAME[:GROUP]   user to run as (default non-root 65532:65532)
  --allow-root           let --user be root (uid 0, gid 0, root, a bare uid); the summary says so
  --file GLOB            extra project files under /app (repeatable; secrets need an exact name)
  --omit LIB             leave a declared run-time library out of a deb: base (repeatable or
                         comma list: openssl, icu, tzdata, ca-certificates); config "omit"
  --docker-platform P    which platform a docker-archive output holds
  --no-cache             recompile and re-layer even when inputs are unchanged
  --no-minify            do not minify the bundle
  --sbom spdx|cyclonedx|none   SBOM attached per platform as an attestation (default spdx)
  --no-provenance        do not attach SLSA provenance
  --baseline             amd64: Bun's baseline runtime for CPUs without AVX2
  --verify               run 'aotpack verify' on the result, with aotpack.verify's checks
  --http, --expect-*, --timeout, --grace, --isolation   verify's check flags, for --verify
  --debug-image          the aotdebug variant: + the .dbg symbols beside the executable and gdb (deb: bases)
  --debian-mirror URL    mirror for deb: bases (else the host's apt sources, else deb.debian.org)
  --lockfile FILE        aotpack.lock: deb: base packages and npm runtimes (default <dir>/aotpack.lock; commit it)
  --update-lock          re-resolve deb: bases from the mirror, re-fetch runtimes that differ, rewrite the pins
  --frozen-lock          CI: fail when the lock lacks a package or runtime pin (default: add it and say so)
  --insecure-registry H  allow plain HTTP / unverified TLS for this registry (repeatable)
  --json                 print the result as JSON

SOURCE_DATE_EPOCH fixes every timestamp (default: the last git commit's time, else 0): same inputs, same digests.`;
}

async function runBuild(argv: string[], ctx: CommandContext): Promise<number> {
  const started = Date.now();
  const cmd = buildCommand(argv);
  const view = new ProgressView(ctx.io.stderr, ctx.json ? { live: false } : {});
  // Loaded lazily: --help and usage errors should not pay for the compilers and the registry client.
  const { resolveBuildPlan } = await import("../../builder/plan.ts");
  // The config and the flags, resolved once: the outputs, build() and --verify all read this plan.
  const plan = await resolveBuildPlan(cmd.build);
  const appName = plan.appName;
  const { head: imageName, tag: tagOnly = "latest" } = splitTag(cmd.tag ?? `${appName}:latest`);
  const outputs: OutputSpec[] = cmd.outputs.length ? cmd.outputs : [parseOutputSpec(`oci:out/${appName}:${tagOnly}`)];
  // Fail on what can be known before compiling anything.
  checkOutputs(outputs, [...plan.platforms], cmd.dockerPlatform);
  await preflightOutputs(outputs, { force: cmd.force });

  const { build } = await import("../../builder/build.ts");
  const result: BuildResult = await build(plan, { reporter: view });
  const published = [];
  const ctxPublish: Parameters<typeof publishAll>[2] = { tag: tagOnly, imageName, insecureRegistries: [...plan.insecureRegistries], force: cmd.force };
  if (cmd.dockerPlatform) ctxPublish.platform = cmd.dockerPlatform;
  ctxPublish.onProgress = (spec, e) => view.publish(spec.raw, e);
  for (const { spec, result: r } of await publishAll(result.index, outputs, ctxPublish)) {
    published.push({ output: spec.raw, reference: r.reference, digest: r.digest });
    view.info(`wrote ${spec.raw} → ${r.reference} (${r.digest})`);
  }
  const { writeSymbols } = await import("../../builder/symbols.ts");
  for (const dir of await writeSymbols(result.platforms, outputs)) view.info(`wrote debug symbols to ${dir}`);
  view.finish();
  let verifyReport: VerifyReport | undefined;
  if (cmd.verify) {
    const first = published.find((p) => !p.output.startsWith("docker-archive:"));
    if (!first) throw new UsageError("--verify needs an oci:, oci-archive: or registry: output to run");
    const image = first.output.startsWith("registry:") ? first.output : withTag(first.output, tagOnly);
    // The flags' checks, else the plan's aotpack.verify ones, else GET /.
    const { checks, checksSource } = await resolveChecks(cmd.verifyChecks, plan.verify);
    const request: VerifyRequest = { image, platforms: "all", checks, checksSource, insecureRegistries: plan.insecureRegistries, run: cmd.verifyRun };
    const verified = await verifyClosingOnSignals(request, { ...ctx, io: { ...ctx.io, stdout: ctx.io.stderr } });
    if (typeof verified === "number") return verified;
    verifyReport = verified;
  }
  // The user the images run as, from their configs (a base may name its own).
  const users = await Promise.all(result.platforms.map(async (p) => (await p.image.configFile()).config.User ?? ""));
  if (ctx.json) {
    ctx.io.stdout.write(`${JSON.stringify({ ...buildJson(result, published, { users, runsAsRoot: plan.runsAsRoot }), ...(verifyReport ? { verify: verifyReport } : {}) }, null, 2)}\n`);
  } else {
    ctx.io.stdout.write(`\n${sizeTable(result, plan.compression)}\n`);
    if (plan.runsAsRoot) ctx.io.stdout.write(`${rootNote(plan.user!, cmd.build.allowRoot ? "--allow-root" : '"allowRoot": true')}\n`);
    for (const p of published) ctx.io.stdout.write(`${p.output}: ${p.reference} ${p.digest}\n`);
    // Layers are compressed as they are written, so the time that means anything spans build and publish.
    ctx.io.stdout.write(`built and wrote ${result.platforms.map((p) => formatPlatform(p.platform)).join(", ")} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    if (verifyReport) {
      const { formatVerifyReport } = await import("../../verify/index.ts");
      ctx.io.stdout.write(`\n${formatVerifyReport(verifyReport)}\n`);
    }
  }
  if (verifyReport && !verifyReport.ok) return 1;
  return 0;
}

/** The summary's line for an image allowed to run as root. */
function rootNote(user: string, allowedBy: string): string {
  return `the image ${rootReason(parseImageUser(user)!)}: user ${JSON.stringify(user)}, allowed by ${allowedBy}`;
}

function withTag(output: string, tag: string): string {
  const spec = parseOutputSpec(output);
  return `${spec.kind}:${spec.target}:${spec.tag ?? tag}`;
}

export const buildCommandSpec: Command = { name: "build", usage: "build [dir]", summary: "compile per platform, assemble OCI images on a minimal base, write one index", flags: BUILD_FLAGS, help: buildHelp, run: runBuild };

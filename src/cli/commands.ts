/** One entry per subcommand: its help text and a run function over the public API. */
import { basename, resolve } from "node:path";
import { UsageError } from "../errors.ts";
import type { BuildResult } from "../build/build.ts";
import { checkOutputs, parseOutputSpec, preflightOutputs, publishAll, type OutputSpec } from "../build/outputs.ts";
import { appNameFor, loadProject } from "../build/config.ts";
import { formatPlatform, parsePlatform, parsePlatformList } from "../oci/platform.ts";
import { parseSbomFormat } from "../sbom/index.ts";
import { inspectItem, formatInspect } from "./inspect.ts";
import { buildCommand, BUILD_FLAGS, GLOBAL, parse } from "./options.ts";
import { ProgressView } from "./progress.ts";
import { buildJson, sizeTable } from "./report.ts";
import type { Io } from "./main.ts";
import { RUN_HELP, SETUP_BINFMT_HELP, VERIFY_HELP, runRun, runSetupBinfmt, runVerify, verifyClosingOnSignals, verifyFromArgs } from "./commands-run.ts";
import { DOCKERFILE_HELP, LINT_HELP, runDockerfile, runLint } from "./commands-dockerfile.ts";
import { CACHE_HELP, runCache } from "./commands-cache.ts";
import { specSyntax } from "../transports/index.ts";

export interface CommandContext {
  io: Io;
  json: boolean;
}

export interface Command {
  help: string;
  run(argv: string[], ctx: CommandContext): Promise<number>;
}

const BUILD_HELP = `Usage: aotpack build [dir] --platform linux/amd64,linux/arm64 [options]

Compiles the project once per platform on this machine (no emulation), puts each executable
on a minimal base, and writes one multi-platform image index.

  --platform LIST        target platforms, comma separated (or aotpack.platforms)
  -o, --output SPEC      ${specSyntax("sink").join(" | ")}
                         (repeatable; default oci:out/<name>:<tag>; out/ is not dist/, which npm ships)
  -t, --tag NAME[:TAG]   tag for outputs that name none (default <name>:latest)
  --base SPEC            deb:bookworm (default, built from Debian packages) | scratch | a registry reference
  --runtime bun|node|dotnet-aot   compiler: Bun single-file executable (default), Node SEA, or
                         .NET NativeAOT (the default for a folder with a PublishAot .csproj)
  --layout single-file|layered   one layer, or runtime and app in separate layers
  --compression gzip|zstd|none   layer compression (default gzip; zstd needs Node >= 22.15)
  --entry FILE           entry file (else aotpack.entry, bin, main, module, exports, scripts.start, src/index.ts)
  --port N               exposed port and PORT env (default 8080)
  -e, --env K=V          extra environment (repeatable)
  --user UID[:GID]       user to run as (default non-root 65532:65532)
  --file GLOB            extra project files under /app (repeatable; secrets need an exact name)
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
  --lockfile FILE        aotpack.lock for deb: bases (default <dir>/aotpack.lock; commit it)
  --update-lock          re-resolve deb: bases from the mirror and rewrite the lock's pins
  --frozen-lock          CI: fail when the lock lacks a package the base needs (default: add it and say so)
  --insecure-registry H  allow plain HTTP / unverified TLS for this registry (repeatable)
  --json                 print the result as JSON

SOURCE_DATE_EPOCH fixes every timestamp (default: the last git commit's time, else 0): same inputs, same digests.`;

async function runBuild(argv: string[], ctx: CommandContext): Promise<number> {
  const started = Date.now();
  const cmd = buildCommand(argv);
  const view = new ProgressView(ctx.io.stderr, ctx.json ? { live: false } : {});
  const project = await loadProject(resolve(cmd.build.projectDir));
  const appName = appNameFor(project, basename(resolve(cmd.build.projectDir)));
  const tag = cmd.tag ?? `${appName}:latest`;
  const tagOnly = tag.includes(":") ? tag.slice(tag.lastIndexOf(":") + 1) : "latest";
  const outputs: OutputSpec[] = cmd.outputs.length ? cmd.outputs : [parseOutputSpec(`oci:out/${appName}:${tagOnly}`)];
  // Fail on what can be known before compiling anything.
  const platforms = cmd.build.platforms ?? (project.config.platforms ? parsePlatformList(project.config.platforms.join(",")) : []);
  checkOutputs(outputs, platforms, cmd.dockerPlatform);
  await preflightOutputs(outputs);

  // Loaded lazily: --help and usage errors should not pay for the compilers and the registry client.
  const { build } = await import("../build/build.ts");
  const result: BuildResult = await build({ ...cmd.build, reporter: view });
  const published = [];
  const imageName = tag.includes(":") ? tag.slice(0, tag.lastIndexOf(":")) : tag;
  const ctxPublish: Parameters<typeof publishAll>[2] = { tag: tagOnly, imageName, insecureRegistries: cmd.insecureRegistries };
  if (cmd.dockerPlatform) ctxPublish.platform = cmd.dockerPlatform;
  ctxPublish.onProgress = (spec, e) => view.publish(spec.raw, e);
  for (const { spec, result: r } of await publishAll(result.index, outputs, ctxPublish)) {
    published.push({ output: spec.raw, reference: r.reference, digest: r.digest });
    view.info(`wrote ${spec.raw} → ${r.reference} (${r.digest})`);
  }
  const { writeSymbols } = await import("../build/symbols.ts");
  for (const dir of await writeSymbols(result.platforms, outputs)) view.info(`wrote debug symbols to ${dir}`);
  view.finish();
  const compression = cmd.build.compression ?? project.config.compression ?? "gzip";
  let verifyReport: Awaited<ReturnType<typeof verifyFromArgs>> | undefined;
  if (cmd.verify) {
    const first = published.find((p) => !p.output.startsWith("docker-archive:"));
    if (!first) throw new UsageError("--verify needs an oci:, oci-archive: or registry: output to run");
    const target = first.output.startsWith("registry:") ? first.output : withTag(first.output, tagOnly);
    const verifyArgs = [target, "--platform", "all", ...cmd.verifyArgs, ...cmd.insecureRegistries.flatMap((r) => ["--insecure-registry", r])];
    const checks = { checks: project.config.verify ?? [], source: `${project.configSource ?? "package.json"} aotpack.verify` };
    const verified = await verifyClosingOnSignals(verifyArgs, { ...ctx, io: { ...ctx.io, stdout: ctx.io.stderr } }, checks);
    if (typeof verified === "number") return verified;
    verifyReport = verified;
  }
  if (ctx.json) {
    ctx.io.stdout.write(`${JSON.stringify({ ...buildJson(result, published), ...(verifyReport ? { verify: verifyReport } : {}) }, null, 2)}\n`);
  } else {
    ctx.io.stdout.write(`\n${sizeTable(result, compression)}\n`);
    for (const p of published) ctx.io.stdout.write(`${p.output}: ${p.reference} ${p.digest}\n`);
    // Layers are compressed as they are written, so the time that means anything spans build and publish.
    ctx.io.stdout.write(`built and wrote ${result.platforms.map((p) => formatPlatform(p.platform)).join(", ")} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    if (verifyReport) {
      const { formatVerifyReport } = await import("../verify/index.ts");
      ctx.io.stdout.write(`\n${formatVerifyReport(verifyReport)}\n`);
    }
  }
  if (verifyReport && !verifyReport.ok) return 1;
  return 0;
}

function withTag(output: string, tag: string): string {
  const spec = parseOutputSpec(output);
  return `${spec.kind}:${spec.target}:${spec.tag ?? tag}`;
}


const INSPECT_HELP = `Usage: aotpack inspect IMAGE [--json]

Prints platforms, layers, sizes and config. IMAGE: ${specSyntax("source").join(", ")}.`;

async function runInspect(argv: string[], ctx: CommandContext): Promise<number> {
  const { positionals, values } = parse(argv, { ...GLOBAL, "insecure-registry": { type: "string", multiple: true } });
  if (positionals.length !== 1) throw new UsageError(`inspect takes one IMAGE (${specSyntax("source").join(", ")})`);
  const { openSource } = await import("../sources.ts");
  const src = await openSource(positionals[0]!, { insecureRegistries: values["insecure-registry"] ?? [] });
  const info = await inspectItem(src.item);
  ctx.io.stdout.write(ctx.json ? `${JSON.stringify(info, null, 2)}\n` : `${formatInspect(src.name, info)}\n`);
  return 0;
}

const SBOM_HELP = `Usage: aotpack sbom IMAGE [--platform P] [--format spdx|cyclonedx] [--json]

Prints the SBOM attached to one platform image (default: the only one, else this host's).
IMAGE: ${specSyntax("source").join(", ")}.`;

async function runSbom(argv: string[], ctx: CommandContext): Promise<number> {
  const { positionals, values } = parse(argv, { ...GLOBAL, platform: { type: "string" }, format: { type: "string" }, "insecure-registry": { type: "string", multiple: true } });
  if (positionals.length !== 1) throw new UsageError(`sbom takes one IMAGE (${specSyntax("source").join(", ")})`);
  const format = values.format === undefined ? undefined : parseSbomFormat(values.format);
  if (format === "none") throw new UsageError("--format must be spdx or cyclonedx");
  const { openSource } = await import("../sources.ts");
  const { readSbom } = await import("../sbom/read.ts");
  const src = await openSource(positionals[0]!, { insecureRegistries: values["insecure-registry"] ?? [] });
  const sbom = await readSbom(src.item, { ...(values.platform ? { platform: parsePlatform(values.platform) } : {}), ...(format ? { format } : {}) });
  // The document is the answer with or without --json.
  ctx.io.stdout.write(`${JSON.stringify(sbom.document, null, 2)}\n`);
  return 0;
}

export const commands: Record<string, Command> = {
  build: { help: BUILD_HELP, run: runBuild },
  inspect: { help: INSPECT_HELP, run: runInspect },
  verify: { help: VERIFY_HELP, run: (argv, ctx) => runVerify(argv, ctx) },
  run: { help: RUN_HELP, run: runRun },
  "setup-binfmt": { help: SETUP_BINFMT_HELP, run: runSetupBinfmt },
  dockerfile: { help: DOCKERFILE_HELP, run: runDockerfile },
  lint: { help: LINT_HELP, run: runLint },
  cache: { help: CACHE_HELP, run: runCache },
  sbom: { help: SBOM_HELP, run: runSbom },
};

void BUILD_FLAGS;

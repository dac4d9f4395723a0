/** `dockerfile` and `lint`: the buildx path, rendered from the same plan as `build`. */
import { relative, resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { parsePlatformList } from "../oci/platform.ts";
import { parse, GLOBAL, BUILD_FLAGS, buildCommand } from "./options.ts";
import type { CommandContext } from "./commands.ts";

export const DOCKERFILE_HELP = `Usage: aotpack dockerfile [dir] [--platform LIST] [--force] [build options]   (platforms default to linux/amd64,linux/arm64)

Writes a Dockerfile and .dockerignore into the project, rendered from the same plan as
'aotpack build' (entry, platforms, runtime, layout, port, user, env). The build stage runs on
$BUILDPLATFORM and cross-compiles for $TARGETARCH: nothing is emulated.

  --force                 overwrite an existing Dockerfile/.dockerignore
  --builder-image IMG     builder image (default oven/bun:<bun version>; .NET: mcr.microsoft.com/dotnet/sdk:<version>)
  --runtime-image IMG     final base (default gcr.io/distroless/cc-debian12:nonroot;
                          .NET: mcr.microsoft.com/dotnet/runtime-deps:<version>-noble-chiseled[-extra])
  --stdout                print the Dockerfile instead of writing files
  (and build's --platform, --entry, --runtime bun|node, --layout, --port, --user, -e, --file)`;

export async function runDockerfile(argv: string[], ctx: CommandContext): Promise<number> {
  // Pull out our own flags, then let build's parser handle the shared ones (one source of truth).
  const own = parse(argv, {
    ...BUILD_FLAGS,
    force: { type: "boolean" },
    stdout: { type: "boolean" },
    "builder-image": { type: "string" },
    "runtime-image": { type: "string" },
  }).values;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--force" || a === "--stdout") continue;
    if (a === "--builder-image" || a === "--runtime-image") {
      i++;
      continue;
    }
    if (a.startsWith("--builder-image=") || a.startsWith("--runtime-image=")) continue;
    rest.push(a);
  }
  const cmd = buildCommand(rest);
  const { resolveBuildOptions, DEFAULT_USER } = await import("../build/build.ts");
  const { resolveEntry } = await import("../compile/entry.ts");
  const { installedBun } = await import("../compile/bun-runtime.ts");
  const { renderDockerfile, writeRenderedDockerfile } = await import("../dockerfile/index.ts");
  // A Dockerfile serves every platform buildx asks for; when none is named, say both in its header.
  const project = await (await import("../build/config.ts")).loadProject(resolve(cmd.build.projectDir));
  if (!cmd.build.platforms && !project.config.platforms) cmd.build.platforms = parsePlatformList("linux/amd64,linux/arm64");
  const o = await resolveBuildOptions(cmd.build);
  if (o.runtime === "dotnet-aot") {
    const { renderDotnetDockerfile } = await import("../dockerfile/render-dotnet.ts");
    const { dotnetDockerfilePlan } = await import("../dockerfile/dotnet-project.ts");
    const shared = { appName: o.appName, platforms: o.platforms, port: o.port, user: o.user ?? DEFAULT_USER, env: o.env, sdkImage: own["builder-image"], runtimeImage: own["runtime-image"] };
    return emit(renderDotnetDockerfile(await dotnetDockerfilePlan(o.project.dir, shared)));
  }
  if (o.runtime !== "bun" && o.runtime !== "node") {
    throw new UsageError(`aotpack dockerfile renders bun, node and NativeAOT .NET projects, not ${o.runtime}`);
  }
  const entry = relative(o.project.dir, await resolveEntry(o.project.dir, o.entry));
  const plan: Parameters<typeof renderDockerfile>[0] = {
    appName: o.appName,
    entry,
    platforms: o.platforms,
    runtime: o.runtime,
    layout: o.layout,
    port: o.port,
    user: o.user ?? DEFAULT_USER,
    env: o.env,
    bunVersion: installedBun().version,
    minify: cmd.build.minify ?? true,
  };
  if (o.runtime === "node") plan.nodeVersion = (await import("../compile/node-sea.ts")).NODE_SEA_VERSION;
  // The same files build ships (secret-looking ones stay out, as there).
  const files = (await (await import("../build/files.ts")).matchProjectFiles(o.project.dir, o.files)).files;
  if (files.length) plan.files = files;
  if (own["builder-image"]) plan.builderImage = own["builder-image"];
  if (own["runtime-image"]) plan.runtimeImage = own["runtime-image"];
  return emit(renderDockerfile(plan));

  async function emit(rendered: Awaited<ReturnType<typeof renderDockerfile>>): Promise<number> {
    if (own.stdout) {
      ctx.io.stdout.write(rendered.dockerfile);
      return 0;
    }
    const written = await writeRenderedDockerfile(o.project.dir, rendered, { overwrite: own.force ?? false });
    if (ctx.json) ctx.io.stdout.write(`${JSON.stringify({ written })}\n`);
    else for (const w of written) ctx.io.stdout.write(`wrote ${w}\n`);
    return 0;
  }
}

export const LINT_HELP = `Usage: aotpack lint [Dockerfile…] [--fix] [--json]

Checks Dockerfiles (.NET ones included) for the multi-platform and NativeAOT pitfalls:
emulated build stages, undeclared TARGETARCH, publish without -a/-r, missing cross toolchain,
oversized final bases, *.dbg in the image, root final stage, shell-form ENTRYPOINT/CMD,
apt-get without --no-install-recommends or list cleanup. Exit 1 when anything is found.

  --fix     rewrite what can be rewritten, keeping every other instruction as it was`;

export async function runLint(argv: string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parse(argv, { ...GLOBAL, fix: { type: "boolean" } });
  const files = positionals.length ? positionals : ["Dockerfile"];
  const { lintDockerfileFile, fixDockerfileFile, formatFindings } = await import("../dockerfile/index.ts");
  const all = [];
  const fixed: { file: string; applied: string[] }[] = [];
  for (const f of files) {
    const path = resolve(f);
    if (values.fix) {
      const r = await fixDockerfileFile(path);
      if (r.changed) fixed.push({ file: f, applied: r.applied });
      all.push(...r.remaining.map((x) => ({ ...x, file: f })));
    } else {
      all.push(...(await lintDockerfileFile(path)).map((x) => ({ ...x, file: f })));
    }
  }
  if (ctx.json) ctx.io.stdout.write(`${JSON.stringify({ findings: all, fixed }, null, 2)}\n`);
  else {
    for (const f of fixed) ctx.io.stdout.write(`fixed ${f.file}: ${f.applied.join("; ")}\n`);
    if (all.length) ctx.io.stdout.write(`${formatFindings(all)}\n`);
    ctx.io.stdout.write(`${all.length} finding${all.length === 1 ? "" : "s"} in ${files.length} file${files.length === 1 ? "" : "s"}\n`);
  }
  return all.length ? 1 : 0;
}

/** `aotpack dockerfile`: the buildx path, rendered by the runtime's registry entry from the same plan as `build`. */
import { UsageError } from "../../errors.ts";
import { dockerfileRuntimes, compilerEntry } from "../../compile/registry.ts";
import { parsePlatformList } from "../../oci/platform.ts";
import { parse } from "../options.ts";
import type { Command, CommandContext } from "../command.ts";
import { BUILD_FLAGS, buildCommand } from "./build.ts";

const DOCKERFILE_FLAGS = {
  ...BUILD_FLAGS,
  force: { type: "boolean" },
  stdout: { type: "boolean" },
  "builder-image": { type: "string" },
  "runtime-image": { type: "string" },
} as const;

function dockerfileHelp(): string {
  return `Usage: aotpack dockerfile [dir] [--platform LIST] [--force] [build options]   (platforms default to linux/amd64,linux/arm64)

Writes a Dockerfile and .dockerignore into the project, rendered from the same plan as
'aotpack build' (entry, platforms, runtime, layout, port, user, env). The build stage runs on
$BUILDPLATFORM and cross-compiles for $TARGETARCH: nothing is emulated.

  --force                 overwrite an existing Dockerfile/.dockerignore
  --builder-image IMG     builder image (default oven/bun:<bun version>; .NET: mcr.microsoft.com/dotnet/sdk:<version>)
  --runtime-image IMG     final base (default gcr.io/distroless/cc-debian12:nonroot;
                          .NET: mcr.microsoft.com/dotnet/runtime-deps:<version>-noble-chiseled[-extra])
  --stdout                print the Dockerfile instead of writing files
  (and build's --platform, --entry, --runtime ${dockerfileRuntimes().join("|")}, --layout, --port, --user, -e, --file)`;
}

async function runDockerfile(argv: string[], ctx: CommandContext): Promise<number> {
  // Pull out our own flags, then let build's parser handle the shared ones (one source of truth).
  const own = parse(argv, DOCKERFILE_FLAGS).values;
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
  const { resolveBuildPlan, DEFAULT_USER } = await import("../../builder/plan.ts");
  // A Dockerfile serves every platform buildx asks for; when none is named, say both in its header.
  const plan = await resolveBuildPlan(cmd.build, { platforms: parsePlatformList("linux/amd64,linux/arm64") });
  const render = compilerEntry(plan.runtime).dockerfile;
  if (!render) {
    throw new UsageError(`aotpack dockerfile renders ${dockerfileRuntimes().join(", ")} projects, not ${plan.runtime}`);
  }
  // The same files build ships (secret-looking ones stay out, as there).
  const { matchProjectFiles } = await import("../../builder/files.ts");
  const rendered = await render({
    projectDir: plan.project.dir,
    appName: plan.appName,
    entry: plan.entry,
    platforms: [...plan.platforms],
    layout: plan.layout,
    port: plan.port,
    user: plan.user ?? DEFAULT_USER,
    env: { ...plan.env },
    files: plan.files.length ? (await matchProjectFiles(plan.project.dir, [...plan.files])).files : [],
    minify: plan.minify,
    ...(own["builder-image"] ? { builderImage: own["builder-image"] } : {}),
    ...(own["runtime-image"] ? { runtimeImage: own["runtime-image"] } : {}),
  });
  if (own.stdout) {
    ctx.io.stdout.write(rendered.dockerfile);
    return 0;
  }
  const { writeRenderedDockerfile } = await import("../../dockerfile/index.ts");
  const written = await writeRenderedDockerfile(plan.project.dir, rendered, { overwrite: own.force ?? false });
  if (ctx.json) ctx.io.stdout.write(`${JSON.stringify({ written })}\n`);
  else for (const w of written) ctx.io.stdout.write(`wrote ${w}\n`);
  return 0;
}

export const dockerfileCommand: Command = { name: "dockerfile", usage: "dockerfile [dir]", summary: "write the equivalent Dockerfile + .dockerignore for buildx users", flags: DOCKERFILE_FLAGS, help: dockerfileHelp, run: runDockerfile };

/**
 * Opt-in compiler: a Node single executable application (SEA). esbuild bundles the
 * entry into one CommonJS file; a host Node of exactly the target's version makes
 * the SEA blob (the blob format is tied to the Node version, not the CPU, as long as
 * no snapshot or code cache is embedded); postject injects it into a copy of the
 * target's Node binary. Both Node binaries come from the `node-linux-*` npm packages
 * through the same verified runtime cache as Bun's.
 */
import { chmod, copyFile, mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { build, type BuildFailure, type Message } from "esbuild";
import { AotpackError, UsageError } from "../errors.ts";
import { formatPlatform, hostPlatform, type Platform } from "../oci/platform.ts";
import { checkedElf, executableName, displayPath, runTool, tail } from "./common.ts";
import { resolveEntry } from "./entry.ts";
import { ensureNpmRuntime, runtimeFacts, runtimeForElfFacts, type FetchOptions, type NpmRuntimeSpec } from "./npm-runtime.ts";
import { metafileInputs } from "./bundle-inputs.ts";
import type { Artifact, ArtifactFile, CompileRequest, Compiler } from "./types.ts";

/** One Node version for host and target: the SEA blob must be made by the same version that runs it. */
export const NODE_SEA_VERSION = "24.21.0";
/** The sentinel Node looks for to know a blob was injected. */
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
const TOOL_TIMEOUT_MS = 10 * 60_000;

export const NODE_PLATFORMS: readonly Platform[] = [
  { os: "linux", architecture: "amd64" },
  { os: "linux", architecture: "arm64" },
];

/** The npm package with the Node binary for a platform. */
export function nodeRuntimeSpec(platform: Platform, version = NODE_SEA_VERSION): NpmRuntimeSpec {
  const arch =
    platform.os === "linux" && platform.architecture === "amd64"
      ? "x64"
      : platform.os === "linux" && platform.architecture === "arm64" && platform.variant === undefined
        ? "arm64"
        : undefined;
  if (!arch) {
    throw new UsageError(
      `unsupported platform ${formatPlatform(platform)} for the node runtime; supported: ${NODE_PLATFORMS.map(formatPlatform).join(", ")}`,
    );
  }
  return { pkg: `node-linux-${arch}`, version, fileInPackage: "bin/node", name: "node" };
}

export function ensureNodeRuntime(platform: Platform, options: FetchOptions = {}): Promise<string> {
  return ensureNpmRuntime(nodeRuntimeSpec(platform), options);
}

export function nodeSeaCompiler(): Compiler {
  return {
    runtime: "node",
    supportedPlatforms: () => NODE_PLATFORMS.map((p) => ({ ...p })),
    compile: compileNodeSea,
    // A SEA is the node binary with the app injected: its ELF facts are node's.
    executableElf: async (platform, r) => checkedElf(await runtimeForElfFacts(nodeRuntimeSpec(platform), { cwd: r.projectDir, onProgress: r.onProgress }), platform),
  };
}

async function compileNodeSea(request: CompileRequest): Promise<Artifact> {
  const started = performance.now();
  const { platform, projectDir, outDir } = request;
  nodeRuntimeSpec(platform); // unsupported platform → UsageError before any work
  if (request.libc === "musl") {
    throw new UsageError("the node runtime has no musl build here; use --runtime bun for musl, or glibc");
  }
  const entry = await resolveEntry(projectDir, request.entry);
  const fetchOptions: FetchOptions = { cwd: projectDir, onProgress: request.onProgress };
  const targetNode = await ensureNodeRuntime(platform, fetchOptions);
  await mkdir(outDir, { recursive: true });
  const label = `${displayPath(projectDir, entry)} for ${formatPlatform(platform)}`;
  request.onProgress?.(`compiling ${label} with node ${NODE_SEA_VERSION} (SEA, ${request.layout})`);

  const work = await mkdtemp(join(outDir, ".node-sea-"));
  try {
    const bundle = join(work, "app.js");
    request.onProgress?.(`${label}: bundling with esbuild`);
    const metafile = join(work, "meta.json");
    await bundleWithEsbuild(entry, bundle, request, label, metafile);
    const { read, bundled } = await metafileInputs(metafile, projectDir, projectDir);
    const inputs = { bundled, runtime: await runtimeFacts(nodeRuntimeSpec(platform), targetNode) };

    if (request.layout === "layered") {
      const appDir = join(outDir, "app");
      await rm(appDir, { recursive: true, force: true });
      await mkdir(appDir);
      await rename(bundle, join(appDir, "app.js"));
      const appFile: ArtifactFile = { path: "/app/app.js", source: join(appDir, "app.js"), mode: 0o644 };
      return {
        platform,
        runtime: "node",
        layout: "layered",
        inputs,
      readFiles: read,
        layers: [
          { name: "runtime", files: [{ path: "/app/node", source: targetNode, mode: 0o755 }] },
          { name: "app", files: [appFile] },
        ],
        entrypoint: ["/app/node", "/app/app.js"],
        elf: await checkedElf(targetNode, platform),
        compileMs: Math.round(performance.now() - started),
      };
    }

    const hostNode = await ensureNodeRuntime(hostPlatform(), fetchOptions);
    const blob = join(work, "sea-prep.blob");
    const seaConfig = join(work, "sea-config.json");
    await writeFile(
      seaConfig,
      JSON.stringify({
        // Relative: the blob records the main path, and a temp dir in it would make builds differ.
        main: "app.js",
        output: "sea-prep.blob",
        disableExperimentalSEAWarning: true,
        // Both are CPU-specific; the blob is made on the host for any target.
        useSnapshot: false,
        useCodeCache: false,
      }),
    );
    request.onProgress?.(`${label}: making the SEA blob (node --experimental-sea-config)`);
    const made = await runTool(hostNode, ["--experimental-sea-config", seaConfig], { cwd: work, timeoutMs: TOOL_TIMEOUT_MS });
    if (made.code !== 0) throw new AotpackError(`cannot make the SEA blob for ${label}: ${tail(made.output)}`);

    const appName = await executableName(projectDir, request.appName);
    const executable = join(work, appName);
    await copyFile(targetNode, executable);
    request.onProgress?.(`${label}: injecting the blob into node with postject (the slow step: it rewrites a ~120 MB binary)`);
    const postjectCli = createRequire(import.meta.url).resolve("postject/dist/cli.js");
    const injected = await runTool(
      process.execPath,
      [postjectCli, executable, "NODE_SEA_BLOB", blob, "--sentinel-fuse", SEA_FUSE],
      { cwd: work, timeoutMs: TOOL_TIMEOUT_MS },
    );
    if (injected.code !== 0) throw new AotpackError(`postject could not inject the SEA blob for ${label}: ${tail(injected.output)}`);

    const finalPath = join(outDir, appName);
    await rename(executable, finalPath);
    await chmod(finalPath, 0o755);
    const file: ArtifactFile = { path: `/app/${appName}`, source: finalPath, mode: 0o755 };
    return {
      platform,
      runtime: "node",
      layout: "single-file",
      inputs,
      readFiles: read,
      layers: [{ name: "app", files: [file] }],
      entrypoint: [file.path],
      elf: await checkedElf(finalPath, platform),
      compileMs: Math.round(performance.now() - started),
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function bundleWithEsbuild(entry: string, outfile: string, request: CompileRequest, label: string, metafile: string): Promise<void> {
  try {
    const result = await build({
      metafile: true,
      entryPoints: [entry],
      outfile,
      absWorkingDir: request.projectDir,
      bundle: true,
      platform: "node",
      format: "cjs",
      target: `node${NODE_SEA_VERSION.split(".")[0]}`,
      minify: request.minify !== false,
      sourcemap: request.sourcemap ? "inline" : false,
      logLevel: "silent",
    });
    await writeFile(metafile, JSON.stringify(result.metafile));
  } catch (err) {
    const errors = (err as Partial<BuildFailure>).errors;
    const first: Message | undefined = Array.isArray(errors) ? errors[0] : undefined;
    if (!first) throw err;
    const where = first.location
      ? `${first.location.file}:${first.location.line}:${first.location.column + 1}: `
      : "";
    throw new AotpackError(`cannot compile ${label}: ${where}${first.text}`, { cause: err });
  }
}

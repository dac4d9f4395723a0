/**
 * The default compiler: `bun build --compile` cross-compiles for every target from
 * this host, given the target's runtime binary (--compile-executable-path), so no
 * emulation is needed and Bun never downloads anything itself.
 */
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { performance } from "node:perf_hooks";
import { stripAnsi } from "../ansi.ts";
import { AotpackError } from "../errors.ts";
import { formatPlatform } from "../oci/platform.ts";
import { BUN_PLATFORMS, bunRuntimeSpec, bunTargetFor, ensureBunRuntime, installedBun } from "./bun-runtime.ts";
import { dependencyModules, metafileInputs } from "./bundle-inputs.ts";
import { npmRuntimeForCopy, runtimeFacts, runtimeForElfFacts } from "./npm-runtime.ts";
import { checkedElf, executableName, displayPath, runTool, tail } from "./common.ts";
import { resolveEntry } from "./entry.ts";
import type { Artifact, ArtifactFile, CompileRequest, Compiler } from "./types.ts";

const BUN_TIMEOUT_MS = 10 * 60_000;

export function bunCompiler(): Compiler {
  return {
    runtime: "bun",
    supportedPlatforms: () => BUN_PLATFORMS.map((p) => ({ ...p })),
    compile: compileWithBun,
    // The executable is the runtime plus the appended bundle: the runtime's NEEDED and interpreter are its own.
    executableElf: async (platform, r) => {
      const options = { baseline: r.baseline, libc: r.libc, cwd: r.projectDir, onProgress: r.onProgress };
      return checkedElf(await runtimeForElfFacts(bunRuntimeSpec(platform, options), options), platform);
    },
  };
}

async function compileWithBun(request: CompileRequest): Promise<Artifact> {
  const started = performance.now();
  const { platform, projectDir, outDir } = request;
  const target = bunTargetFor(platform, request); // unsupported platform → UsageError before any work
  const entry = await resolveEntry(projectDir, request.entry);
  const bun = installedBun();
  const runtimeOptions = { baseline: request.baseline, libc: request.libc, cwd: projectDir, onProgress: request.onProgress };
  // Single-file: Bun copies the runtime into the executable, so the compile need not wait for the
  // runtime's hash; it is checked before the executable is used. Layered ships the runtime file itself.
  const cached = request.layout === "single-file"
    ? await npmRuntimeForCopy(bunRuntimeSpec(platform, runtimeOptions), runtimeOptions)
    : { path: await ensureBunRuntime(platform, runtimeOptions), verified: Promise.resolve(true) };
  let runtime = cached.path;
  await mkdir(outDir, { recursive: true });
  const label = `${displayPath(projectDir, entry)} for ${formatPlatform(platform)}`;
  request.onProgress?.(`compiling ${label} with bun ${bun.version} (${target.bunTarget})`);

  // Bun writes into a temp dir beside the outputs; we rename only after it succeeds.
  const work = await mkdtemp(join(outDir, ".bun-"));
  try {
    const metafile = join(work, "meta.json");
    const common = [
      `--metafile=${metafile}`,
      ...(request.minify !== false ? ["--minify"] : []),
      ...(request.bytecode ? ["--bytecode"] : []),
    ];
    if (request.layout === "single-file") {
      const appName = await executableName(projectDir, request.appName);
      const tmpOut = join(work, appName);
      const args = (runtime: string): string[] => [
        "build",
        "--compile",
        `--target=${target.bunTarget}`,
        `--compile-executable-path=${runtime}`,
        ...common,
        ...(request.sourcemap ? ["--sourcemap=inline"] : []),
        `--outfile=${tmpOut}`,
        entry,
      ];
      const compiled = runBun(bun.executable, args(runtime), work, projectDir, label);
      compiled.catch(() => {}); // awaited below, after the runtime's check
      if (!(await cached.verified)) {
        // What Bun copied is not the recorded runtime: wait for it, discard it, fetch the runtime again, compile again.
        await compiled.catch(() => {});
        await rm(tmpOut, { force: true });
        runtime = await ensureBunRuntime(platform, runtimeOptions);
        await runBun(bun.executable, args(runtime), work, projectDir, label);
      } else await compiled;
      const finalPath = join(outDir, appName);
      await rename(tmpOut, finalPath);
      const elf = await checkedElf(finalPath, platform);
      const file: ArtifactFile = { path: `/app/${appName}`, source: finalPath, mode: 0o755 };
      const { read, bundled } = await metafileInputs(metafile, work, projectDir);
      const inputs = { bundled, runtime: await runtimeFacts(bunRuntimeSpec(platform, request), runtime) };
      return {
        inputs,
        readFiles: read,
        platform,
        runtime: "bun",
        layout: "single-file",
        layers: [{ name: "app", files: [file] }],
        entrypoint: [file.path],
        elf,
        compileMs: Math.round(performance.now() - started),
      };
    }

    // Layered: the unchanged runtime in one layer, the dependencies the app imports in another,
    // and the app's own code (app.js, plus .map when asked) in a third, so a code change re-uploads
    // only the small app layer.
    const bundleDir = join(work, "bundle");
    const bundleArgs = (extra: string[], entries: string[]): string[] => [
      "build",
      "--target=bun",
      ...extra,
      ...(request.sourcemap ? ["--sourcemap=linked"] : []),
      `--outdir=${bundleDir}`,
      ...entries,
    ];
    await runBun(bun.executable, bundleArgs([...common, "--entry-naming=app.[ext]"], [entry]), work, projectDir, label);
    // The metafile of this first bundle is the compile's record of what it read (the second reads the same files).
    const { read, bundled } = await metafileInputs(metafile, work, projectDir);
    const inputs = { bundled, runtime: await runtimeFacts(bunRuntimeSpec(platform, request), runtime) };
    const deps = request.bytecode ? [] : await dependencyModules(metafile, work);
    if (deps.length) {
      // Bundled again with a second entry that imports every dependency module the app's own code
      // imports: code splitting puts what both entries share, the dependencies, in a chunk whose name
      // and bytes change only when they do. The second entry's own output is not shipped.
      const depsEntry = join(work, "aotpack-dependencies.js");
      await writeFile(depsEntry, deps.map((abs) => `import ${JSON.stringify(abs)};`).join("\n") + "\n");
      await rm(bundleDir, { recursive: true, force: true });
      const split = [...common.filter((a) => !a.startsWith("--metafile=")), "--splitting", "--entry-naming=[name].[ext]", "--chunk-naming=deps-[hash].[ext]"];
      await runBun(bun.executable, bundleArgs(split, [entry, depsEntry]), work, projectDir, label);
      for (const f of ["aotpack-dependencies.js", "aotpack-dependencies.js.map"]) await rm(join(bundleDir, f), { force: true });
      const main = basename(entry).replace(/\.[^.]*$/, "");
      await rename(join(bundleDir, `${main}.js`), join(bundleDir, "app.js"));
      if (request.sourcemap) {
        // The entry's output is named after it; the entrypoint and its map link say app.js.
        await rename(join(bundleDir, `${main}.js.map`), join(bundleDir, "app.js.map"));
        const js = await readFile(join(bundleDir, "app.js"), "utf8");
        await writeFile(join(bundleDir, "app.js"), js.replace(`//# sourceMappingURL=${main}.js.map`, "//# sourceMappingURL=app.js.map"));
      }
    }
    const appDir = join(outDir, "app");
    await rm(appDir, { recursive: true, force: true });
    await rename(bundleDir, appDir);
    const shipped: ArtifactFile[] = (await readdir(appDir))
      .sort()
      .map((name) => ({ path: `/app/${name}`, source: join(appDir, name), mode: 0o644 }));
    const isDeps = (f: ArtifactFile): boolean => /^\/app\/deps-/.test(f.path);
    const appFiles = shipped.filter((f) => !isDeps(f));
    const depFiles = shipped.filter(isDeps);
    const elf = await checkedElf(runtime, platform);
    return {
      platform,
      runtime: "bun",
      layout: "layered",
      inputs,
      readFiles: read,
      layers: [
        { name: "runtime", files: [{ path: "/app/bun", source: runtime, mode: 0o755 }] },
        ...(depFiles.length ? [{ name: "dependencies", files: depFiles }] : []),
        { name: "app", files: appFiles },
      ],
      entrypoint: ["/app/bun", "/app/app.js"],
      elf,
      compileMs: Math.round(performance.now() - started),
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Bun runs in our scratch dir: it writes `.<hash>.bun-build` temp files into its working directory,
 * which must never land in (or be left behind in, or be fingerprinted from) the user's project.
 */
async function runBun(executable: string, args: string[], cwd: string, projectDir: string, label: string): Promise<void> {
  const env = { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" };
  const result = await runTool(executable, args, { cwd, env, timeoutMs: BUN_TIMEOUT_MS });
  if (result.code === 0) return;
  if (result.signal) throw new AotpackError(`bun build of ${label} was stopped (${result.signal}; timeout ${BUN_TIMEOUT_MS / 1000}s)`);
  throw new AotpackError(`cannot compile ${label}: ${describeBunError(result.output, projectDir)}`);
}

/** Bun prints `error: <message>` then `    at <file>:<line>:<col>`; turn that into "file:line:col: message". */
export function describeBunError(output: string, projectDir: string): string {
  const clean = stripAnsi(output);
  const located = /^error: (.+)\n\s+at (.+?):(\d+):(\d+)\s*$/m.exec(clean);
  if (located) {
    const [, message, file, line, col] = located as unknown as [string, string, string, string, string];
    return `${displayPath(projectDir, file)}:${line}:${col}: ${message}`;
  }
  const firstError = /^error: (.+)$/m.exec(clean);
  return firstError?.[1] ?? (tail(clean) || "bun build failed without output");
}

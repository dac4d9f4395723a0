/**
 * .NET NativeAOT projects: the post's own system, built on the host for each target with
 * `dotnet publish -r linux-<arch>` (no emulation). arm64 is cross-compiled with Debian's
 * aarch64 toolchain, and the aarch64 objcopy is chosen through MSBuild (`ObjCopyName`),
 * never through a global symlink that changes the host.
 */
import { nugetPackages } from "./nuget-assets.ts";
import { spawn } from "node:child_process";
import { access, copyFile, mkdir, readFile, readdir, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { AotpackError, UsageError } from "../errors.ts";
import { formatPlatform, parsePlatform, type Platform } from "../oci/platform.ts";
import { readElf } from "../elf/read-elf.ts";
import type { Artifact, CompileRequest, Compiler } from "./types.ts";

export interface CsprojFacts {
  path: string;
  assemblyName: string;
  publishAot: boolean;
  invariantGlobalization: boolean;
}

export function property(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>\\s*([^<]*?)\\s*</${name}>`, "i").exec(xml);
  return m?.[1];
}

/** The project's single .csproj, with the properties that decide how it publishes. */
export async function readCsproj(projectDir: string): Promise<CsprojFacts | undefined> {
  const entries = await readdir(projectDir).catch(() => [] as string[]);
  const projects = entries.filter((e) => e.endsWith(".csproj")).sort();
  if (projects.length === 0) return undefined;
  if (projects.length > 1) {
    throw new UsageError(`${projectDir} has ${projects.length} .csproj files (${projects.join(", ")}); point aotpack at a folder with one`);
  }
  const path = join(projectDir, projects[0]!);
  const xml = await readFile(path, "utf8");
  return {
    path,
    assemblyName: property(xml, "AssemblyName") ?? basename(path, ".csproj"),
    publishAot: property(xml, "PublishAot")?.toLowerCase() === "true",
    invariantGlobalization: property(xml, "InvariantGlobalization")?.toLowerCase() === "true",
  };
}

/** True when the project is a .NET project that publishes with NativeAOT. */
export async function isDotnetAotProject(projectDir: string): Promise<boolean> {
  return (await readCsproj(projectDir))?.publishAot === true;
}

const RID: Record<string, string> = { amd64: "linux-x64", arm64: "linux-arm64" };

async function onPath(tool: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (!dir) continue;
    try {
      await access(join(dir, tool));
      return true;
    } catch {
      // keep looking
    }
  }
  return false;
}

export interface ToolchainProblem {
  missing: string;
  debianPackage: string;
}

/**
 * What a NativeAOT publish for this target needs on an x86_64 Debian host, and what is missing.
 * The native link runs clang (or gcc) with zlib; arm64 adds the aarch64 cross gcc, binutils and libc.
 */
export async function checkDotnetToolchain(platform: Platform, fileExists = (p: string) => access(p).then(() => true, () => false)): Promise<ToolchainProblem[]> {
  const problems: ToolchainProblem[] = [];
  if (!(await onPath("dotnet"))) problems.push({ missing: "dotnet (the .NET SDK)", debianPackage: "dotnet-sdk-10.0" });
  // arm64 cross-links with clang (CppCompilerAndLinker=clang, see publishArguments); amd64 falls back to gcc.
  if (platform.architecture === "arm64" && process.arch !== "arm64") {
    if (!(await onPath("clang"))) problems.push({ missing: "clang", debianPackage: "clang" });
  } else if (!(await onPath("clang")) && !(await onPath("gcc"))) problems.push({ missing: "clang or gcc", debianPackage: "clang" });
  if (platform.architecture === "amd64") {
    if (!(await fileExists("/usr/include/zlib.h"))) problems.push({ missing: "zlib headers", debianPackage: "zlib1g-dev" });
  } else if (platform.architecture === "arm64") {
    if (!(await onPath("aarch64-linux-gnu-gcc"))) problems.push({ missing: "aarch64-linux-gnu-gcc", debianPackage: "gcc-aarch64-linux-gnu" });
    if (!(await onPath("aarch64-linux-gnu-objcopy"))) problems.push({ missing: "aarch64-linux-gnu-objcopy", debianPackage: "binutils-aarch64-linux-gnu" });
    if (!(await fileExists("/usr/aarch64-linux-gnu/lib/crt1.o"))) problems.push({ missing: "the arm64 C runtime (crt1.o)", debianPackage: "libc6-dev-arm64-cross" });
  }
  return problems;
}

/**
 * What an x86_64 host adds to `dotnet publish` for arm64: clang as the cross linker driver, GNU ld, and the
 * aarch64 objcopy for stripping symbols (a property, so the host's objcopy is never replaced). No SysRoot:
 * Debian's cross libc.so is a linker script naming absolute paths, which SysRoot would prefix twice.
 * `aotpack dockerfile` renders the same properties.
 */
export const ARM64_CROSS_PROPERTIES = ["-p:CppCompilerAndLinker=clang", "-p:LinkerFlavor=bfd", "-p:ObjCopyName=aarch64-linux-gnu-objcopy"] as const;

/** MSBuild arguments for one target: RID, and for arm64 the cross linker and its objcopy. */
export function publishArguments(csproj: string, platform: Platform, outDir: string): string[] {
  const rid = RID[platform.architecture];
  if (!rid) throw new UsageError(`dotnet-aot supports linux/amd64 and linux/arm64, not ${formatPlatform(platform)}`);
  // A private artifacts path per target: parallel publishes for two RIDs must not race on the
  // project's obj/ (project.assets.json), and the user's source tree stays clean.
  const args = ["publish", csproj, "-c", "Release", "-r", rid, "-o", outDir, "--artifacts-path", join(outDir, "..", "artifacts"), "-p:PublishAot=true", "-p:UseAppHost=true", "--nologo"];
  if (platform.architecture === "arm64" && process.arch !== "arm64") {
    args.push(...ARM64_CROSS_PROPERTIES);
  }
  return args;
}

/** Turn NuGet's "no such package" lines into one error that says what the source lacks. */
export function explainPublishFailure(output: string, platform: Platform): AotpackError {
  const missing = [...output.matchAll(/Unable to find package ([A-Za-z0-9_.-]+)/g)].map((m) => m[1]!.replace(/\.$/, ""));
  const unique = [...new Set(missing)];
  if (unique.length) {
    return new AotpackError(
      `dotnet publish for ${formatPlatform(platform)} failed: the NuGet source does not serve ${unique.join(", ")}`,
      { hint: "NativeAOT needs the ILCompiler and NativeAOT runtime packs for each target RID; add a NuGet source that has them" },
    );
  }
  const errors = output.split("\n").filter((l) => /\berror\b/.test(l)).slice(0, 3).map((l) => l.trim());
  return new AotpackError(`dotnet publish for ${formatPlatform(platform)} failed: ${errors.join(" | ") || "see the output above"}`);
}

export function dotnetAotCompiler(): Compiler {
  return {
    runtime: "dotnet-aot",
    supportedPlatforms: () => [parsePlatform("linux/amd64"), parsePlatform("linux/arm64")],
    async compile(request: CompileRequest): Promise<Artifact> {
      const started = Date.now();
      const facts = await readCsproj(request.projectDir);
      if (!facts) throw new UsageError(`no .csproj in ${request.projectDir}`);
      if (!facts.publishAot) {
        throw new UsageError(`${basename(facts.path)} does not set <PublishAot>true</PublishAot>`, { hint: "aotpack builds NativeAOT .NET projects only" });
      }
      const problems = await checkDotnetToolchain(request.platform);
      if (problems.length) {
        throw new AotpackError(
          `cannot NativeAOT-compile for ${formatPlatform(request.platform)}: missing ${problems.map((p) => p.missing).join(", ")}`,
          { hint: `apt-get install ${[...new Set(problems.map((p) => p.debianPackage))].join(" ")}` },
        );
      }
      const publishDir = join(request.outDir, "publish");
      await mkdir(publishDir, { recursive: true });
      const args = publishArguments(facts.path, request.platform, publishDir);
      request.onProgress?.(`dotnet ${args.join(" ")}`);
      const output = await new Promise<{ code: number; text: string }>((resolve, reject) => {
        const child = spawn("dotnet", args, { env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: "1", DOTNET_NOLOGO: "1" } });
        let text = "";
        child.stdout.on("data", (d: Buffer) => (text += d.toString()));
        child.stderr.on("data", (d: Buffer) => (text += d.toString()));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code: code ?? 1, text }));
      });
      if (output.code !== 0) throw explainPublishFailure(output.text, request.platform);
      const exe = join(publishDir, facts.assemblyName);
      if (!(await stat(exe).catch(() => undefined))?.isFile()) {
        throw new AotpackError(`dotnet publish succeeded but produced no ${facts.assemblyName} executable in ${publishDir}`);
      }
      // Debug symbols (*.dbg) stay in the publish folder beside the output; only the executable ships.
      const name = request.appName ?? facts.assemblyName;
      const shipped = join(request.outDir, name);
      await copyFile(exe, shipped);
      const elf = await readElf(shipped);
      return {
        platform: request.platform,
        runtime: "dotnet-aot",
        layout: "single-file",
        layers: [{ name: "app", files: [{ path: `/app/${name}`, source: shipped, mode: 0o755 }] }],
        entrypoint: [`/app/${name}`],
        elf,
        inputs: { nuget: await nugetPackages(join(publishDir, "..", "artifacts")) },
        compileMs: Date.now() - started,
      };
    },
  };
}

/**
 * .NET NativeAOT projects: the post's own system, built on the host for each target with
 * `dotnet publish -r linux-<arch>` (no emulation). arm64 is cross-compiled with Debian's
 * aarch64 toolchain, and the aarch64 objcopy is chosen through MSBuild (`ObjCopyName`),
 * never through a global symlink that changes the host.
 */
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { access, copyFile, mkdir, open, readFile, readdir, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { cacheDir, touchUsed } from "../cache.ts";
import { nugetPackages } from "./nuget-assets.ts";
import { AotpackError, UsageError } from "../errors.ts";
import { formatPlatform, parsePlatform, type Platform } from "../oci/platform.ts";
import { readElf } from "../elf/read-elf.ts";
import { ARM64_CROSS_PROPERTIES, DOTNET_PORT_ENV } from "../dockerfile/dotnet-cross.ts";
import { escapeNameBytes } from "../bytes.ts";
import { checkedElf } from "./common.ts";
import type { Artifact, ArtifactFile, ArtifactLayer, CompileInputs, CompileRequest, Compiler, RuntimeLibrary } from "./types.ts";

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

/**
 * The runtime for a folder that names none: a PublishAot project, or any .csproj folder without a
 * package.json. A `dotnet new webapi` project is a .NET project, and its build says what to add
 * (assertNativeAot), not that it lacks a package.json.
 */
export async function isDotnetProject(projectDir: string): Promise<boolean> {
  const facts = await readCsproj(projectDir);
  if (!facts) return false;
  return facts.publishAot || !(await access(join(projectDir, "package.json")).then(() => true, () => false));
}

/** One line for a .NET project that does not publish with NativeAOT: what to add. */
export function assertNativeAot(facts: CsprojFacts): void {
  if (facts.publishAot) return;
  throw new UsageError(
    `${basename(facts.path)} is a .NET project without NativeAOT: add <PublishAot>true</PublishAot> to its <PropertyGroup> (\`dotnet new webapiaot\` makes a project with it)`,
  );
}

/** The project's .csproj, which must publish with NativeAOT (build, preflight and `aotpack dockerfile`). */
export async function readAotCsproj(projectDir: string): Promise<CsprojFacts> {
  const facts = await readCsproj(projectDir);
  if (!facts) throw new UsageError(`no .csproj in ${projectDir}`);
  assertNativeAot(facts);
  return facts;
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

// What an x86_64 host adds to `dotnet publish` for arm64: one list for this compiler and `aotpack dockerfile`.
export { ARM64_CROSS_PROPERTIES } from "../dockerfile/dotnet-cross.ts";

/** One error naming every platform's missing tools and the Debian packages that bring them. */
export async function assertDotnetToolchains(platforms: Platform[]): Promise<void> {
  const missing: string[] = [];
  const packages = new Set<string>();
  for (const platform of platforms) {
    const problems = await checkDotnetToolchain(platform);
    if (!problems.length) continue;
    missing.push(`${formatPlatform(platform)}: ${problems.map((p) => p.missing).join(", ")}`);
    for (const p of problems) packages.add(p.debianPackage);
  }
  if (missing.length) {
    throw new AotpackError(`cannot NativeAOT-compile (missing ${missing.join("; ")})`, { hint: `apt-get install ${[...packages].join(" ")}` });
  }
}

/**
 * MSBuild arguments for one target: RID, and for arm64 the cross linker and its objcopy.
 * `workDir` is stable per project and target (not a random temp dir): paths end up in the
 * assemblies' debug directories, and a random one would change the executable on every compile.
 */
export function publishArguments(csproj: string, platform: Platform, outDir: string, workDir = join(outDir, "..", "artifacts")): string[] {
  const rid = RID[platform.architecture];
  if (!rid) throw new UsageError(`dotnet-aot supports linux/amd64 and linux/arm64, not ${formatPlatform(platform)}`);
  // A private artifacts path per target: parallel publishes for two RIDs must not race on the
  // project's obj/ (project.assets.json), and the user's source tree stays clean.
  const args = ["publish", csproj, "-c", "Release", "-r", rid, "-o", outDir, "--artifacts-path", workDir, "-p:PublishAot=true", "-p:UseAppHost=true", "--nologo"];
  // Reproducible: deterministic source paths (/_/), and normal verbosity so that a failed native
  // link shows the linker's own lines in the captured output (minimal shows only clang's summary).
  args.push("-p:ContinuousIntegrationBuild=true", "-p:Deterministic=true", "-v:n", "-nodeReuse:false");
  // The assembly records its PDB's path (under workDir), and its MVID hashes that: map both roots to fixed names so the
  // executable does not depend on where the cache or the checkout is. (%2C: MSBuild splits -p values at commas.)
  args.push(`-p:PathMap=${resolve(dirname(csproj))}=/_/%2C${resolve(workDir)}=/_aotpack/`);
  if (platform.architecture === "arm64" && process.arch !== "arm64") {
    args.push(...ARM64_CROSS_PROPERTIES);
  }
  return args;
}

/** The native linker's own error lines (ld.bfd, lld, collect2), which clang sums up as "linker command failed". */
export function linkerErrorLines(output: string): string[] {
  const lines = output.split("\n").map((l) => l.trim());
  const hits = lines.filter((l) => /(?:^|[\s/])(?:[\w.-]+-)?(?:ld(?:\.bfd|\.gold|\.lld)?|lld|collect2):\s/.test(l) || /undefined reference to /.test(l));
  return [...new Set(hits)].slice(0, 3);
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
  const linker = linkerErrorLines(output);
  if (linker.length) return new AotpackError(`dotnet publish for ${formatPlatform(platform)} failed in the native link: ${linker.join(" | ")}`);
  // MSBuild repeats each error in its summary; the source location prefix makes the lines long.
  const errors = [...new Set(output.split("\n").filter((l) => /\berror\b/.test(l)).map((l) => l.trim()))].slice(0, 3);
  return new AotpackError(`dotnet publish for ${formatPlatform(platform)} failed: ${errors.join(" | ") || "see the output above"}`);
}

/**
 * What a NativeAOT executable loads at run time beyond its NEEDED list: OpenSSL by dlopen when the
 * crypto shim is linked in (its probe names "libssl.so" are in the binary), ICU unless globalization
 * is invariant, and zoneinfo always (TimeZoneInfo and `TZ` read /usr/share/zoneinfo).
 */
export async function dotnetRuntimeLibraries(executable: string, facts: Pick<CsprojFacts, "invariantGlobalization">): Promise<RuntimeLibrary[]> {
  const needs: RuntimeLibrary[] = [];
  if ((await readFile(executable)).includes("libssl.so")) needs.push({ id: "openssl", purpose: "OpenSSL (System.Security.Cryptography)", soname: "libssl.so.3" });
  if (!facts.invariantGlobalization) {
    needs.push({ id: "icu", purpose: "ICU (globalization)", anyOf: ["libicu76", "libicu74", "libicu72"], sonamePrefixes: ["libicuuc.so.", "libicui18n.so."] });
  }
  needs.push({ id: "tzdata", purpose: "time zones (TimeZoneInfo, TZ)", zoneinfo: true });
  return needs;
}

/** MSBuild targets (their headers at -v:n) that mark a publish's phases, and what to call them. */
const PUBLISH_PHASES: Readonly<Record<string, string>> = {
  Restore: "restoring NuGet packages",
  CoreCompile: "compiling C#",
  IlcCompile: "generating native code",
  LinkNative: "linking",
};

/**
 * Progress for a publish, which prints nothing a user reads for minutes: each phase once, as MSBuild
 * enters it, and "still …" after `heartbeatMs` without one. Output is fed as it comes (any chunking).
 */
export function publishProgress(report: (message: string) => void, heartbeatMs = 10_000): { feed(text: string): void; stop(): void } {
  const started = Date.now();
  const seen = new Set<string>();
  let phase = "starting";
  let partial = "";
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => say(`still ${phase} (${Math.round((Date.now() - started) / 1000)} s)`), heartbeatMs);
    timer.unref();
  };
  const say = (message: string): void => {
    report(`dotnet publish: ${message}`);
    arm();
  };
  arm();
  return {
    feed(text: string): void {
      const lines = (partial + text).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        const target = /^\s*(?:\d+(?::\d+)?>)?([A-Za-z_][A-Za-z0-9_]*):\s*$/.exec(line)?.[1];
        const name = target === undefined ? undefined : PUBLISH_PHASES[target];
        if (name === undefined || seen.has(target!)) continue;
        seen.add(target!);
        phase = name;
        say(name);
      }
    },
    stop: () => clearTimeout(timer),
  };
}

/** Symbols stay out of the image: the executable's .dbg goes beside the output (and --debug-image); .pdb files serve no NativeAOT code. */
const SYMBOL_FILE = /\.(?:dbg|pdb)$/i;
const UTF8 = new TextDecoder("utf-8", { fatal: true });

async function isElfFile(path: string): Promise<boolean> {
  const fh = await open(path, "r");
  try {
    const b = Buffer.alloc(4);
    return (await fh.read(b, 0, 4, 0)).bytesRead === 4 && b.readUInt32BE(0) === 0x7f454c46;
  } finally {
    await fh.close();
  }
}

export interface PublishedExtras {
  /** What ships beside the executable: paths relative to the publish folder, sorted, with their modes (ELF files 0755). */
  files: { rel: string; mode: number }[];
  /** What the ELF files among them need (DT_NEEDED), less the ones they ship themselves; sorted. */
  libraryNeeds: string[];
}

/**
 * What `dotnet publish -r RID` put beside the executable, to ship with it as `docker build` of the
 * publish folder would: content files (appsettings*.json, wwwroot/, the static web assets manifest) and
 * the native libraries NuGet packages carry for the RID (SQLitePCLRaw's libe_sqlite3.so), which must
 * be built for the target. Symbols stay out. Only regular files with UTF-8 names: a symlink could name
 * any file of the build host.
 */
export async function publishedExtras(publishDir: string, executable: string, platform: Platform): Promise<PublishedExtras> {
  const files: PublishedExtras["files"] = [];
  const needs = new Set<string>();
  const shipped = new Set<string>();
  const walk = async (dir: string, relDir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true, encoding: "buffer" })) {
      let name: string;
      try {
        name = UTF8.decode(entry.name);
      } catch {
        throw new AotpackError(`cannot ship ${relDir}${escapeNameBytes(entry.name)} from the publish folder: its name is not UTF-8; rename it`);
      }
      const rel = `${relDir}${name}`;
      const full = join(dir, name);
      if (entry.isDirectory()) {
        await walk(full, `${rel}/`);
        continue;
      }
      if (!entry.isFile()) throw new AotpackError(`the publish folder has ${rel}, which is not a regular file (a symlink?); aotpack ships regular files only`);
      if (rel === executable || SYMBOL_FILE.test(name)) continue;
      if (!(await isElfFile(full))) {
        files.push({ rel, mode: 0o644 });
        continue;
      }
      const elf = await checkedElf(full, platform).catch((err: unknown) => {
        throw new AotpackError(`dotnet publish for ${formatPlatform(platform)} put ${rel} in the publish folder, built for another target: ${(err as Error).message}`, {
          hint: "a package ships this native library for the wrong architecture, or the project copies one in; check its runtimes/<rid>/native files",
          cause: err,
        });
      });
      for (const soname of elf.needed) needs.add(soname);
      shipped.add(name);
      files.push({ rel, mode: 0o755 });
    }
  };
  await walk(publishDir, "");
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { files, libraryNeeds: [...needs].filter((n) => !shipped.has(n)).sort() };
}

async function sdkVersion(): Promise<string> {
  try {
    return (await promisify(execFile)("dotnet", ["--version"], { timeout: 60_000, env: { ...process.env, ...DOTNET_ENV } })).stdout.trim();
  } catch (err) {
    throw new AotpackError(`dotnet --version failed: ${(err as Error).message.split("\n")[0]}`, { hint: "install the .NET SDK (apt-get install dotnet-sdk-10.0)" });
  }
}

const DOTNET_ENV = { DOTNET_CLI_TELEMETRY_OPTOUT: "1", DOTNET_NOLOGO: "1", DOTNET_SKIP_FIRST_TIME_EXPERIENCE: "1" };

export function dotnetAotCompiler(options: { /** How long a silent publish goes before "still …" (tests). */ heartbeatMs?: number } = {}): Compiler {
  return {
    runtime: "dotnet-aot",
    supportedPlatforms: () => [parsePlatform("linux/amd64"), parsePlatform("linux/arm64")],
    async preflight(platforms: Platform[], projectDir?: string): Promise<void> {
      // The project first: a `dotnet new webapi` folder hears what to add even on a host without the SDK.
      if (projectDir !== undefined) await readAotCsproj(projectDir);
      await assertDotnetToolchains(platforms);
    },
    async compileInputs(): Promise<CompileInputs> {
      // MSBuild's own inputs (sources, .csproj, Directory.*.props, NuGet.config, packages.lock.json) are
      // project files; npm lockfiles are not, and obj/ bin/ are outputs of the user's own builds.
      // `ships`: what an artifact holds (the publish folder since issue 27, not the executable alone), so older entries are not reused.
      return { facts: { sdk: await sdkVersion(), ships: "publish-folder" }, packageLockfiles: false, ignoreDirs: ["obj", "bin"] };
    },
    async compile(request: CompileRequest): Promise<Artifact> {
      const started = Date.now();
      const facts = await readAotCsproj(request.projectDir);
      await assertDotnetToolchains([request.platform]);
      // Stable per project and target, so the same source gives the same bytes (see publishArguments).
      const workKey = createHash("sha256").update(`${resolve(facts.path)}\0${formatPlatform(request.platform)}`).digest("hex").slice(0, 16);
      const workDir = join(cacheDir("dotnet-work"), workKey);
      const publishDir = join(workDir, "publish");
      await rm(publishDir, { recursive: true, force: true });
      await mkdir(publishDir, { recursive: true });
      await touchUsed(workDir); // in use: never evicted while MSBuild works in it
      const args = publishArguments(facts.path, request.platform, publishDir, join(workDir, "artifacts"));
      request.onProgress?.(`dotnet ${args.join(" ")}`);
      const progress = publishProgress((m) => request.onProgress?.(m), options.heartbeatMs);
      const output = await new Promise<{ code: number; text: string }>((resolveRun, reject) => {
        const child = spawn("dotnet", args, { env: { ...process.env, ...DOTNET_ENV } });
        let text = "";
        const collect = (d: string): void => {
          text += d;
          progress.feed(d);
        };
        child.stdout.setEncoding("utf8").on("data", collect);
        child.stderr.setEncoding("utf8").on("data", collect);
        child.on("error", reject);
        child.on("close", (code) => resolveRun({ code: code ?? 1, text }));
      }).finally(() => progress.stop());
      if (output.code !== 0) throw explainPublishFailure(output.text, request.platform);
      const exe = join(publishDir, facts.assemblyName);
      if (!(await stat(exe).catch(() => undefined))?.isFile()) {
        throw new AotpackError(`dotnet publish succeeded but produced no ${facts.assemblyName} executable in ${publishDir}`);
      }
      const name = request.appName ?? facts.assemblyName;
      await mkdir(request.outDir, { recursive: true });
      const shipped = join(request.outDir, name);
      await copyFile(exe, shipped);
      // Debug symbols (*.dbg) go beside the output and into --debug-image, never into the image.
      const symbols: string[] = [];
      if (await stat(`${exe}.dbg`).catch(() => undefined)) {
        // Named as the executable's .gnu_debuglink says, so gdb finds it beside the executable.
        symbols.push(join(request.outDir, `${facts.assemblyName}.dbg`));
        await copyFile(`${exe}.dbg`, symbols[0]!);
      }
      const elf = await readElf(shipped);
      // The rest of the publish folder goes beside the executable, in a layer of its own (it changes less often).
      const extras = await publishedExtras(publishDir, facts.assemblyName, request.platform);
      const content: ArtifactFile[] = [];
      for (const { rel, mode } of extras.files) {
        if (rel === name) throw new AotpackError(`the publish folder has ${rel}, the executable's own name in the image (/app/${name}); rename one`);
        const source = join(request.outDir, "publish", rel);
        await mkdir(dirname(source), { recursive: true });
        await copyFile(join(publishDir, rel), source);
        content.push({ path: `/app/${rel}`, source, mode });
      }
      const layers: ArtifactLayer[] = [{ name: "app", files: [{ path: `/app/${name}`, source: shipped, mode: 0o755 }] }];
      if (content.length) layers.push({ name: "content", files: content });
      return {
        platform: request.platform,
        runtime: "dotnet-aot",
        layout: "single-file",
        layers,
        entrypoint: [`/app/${name}`],
        elf,
        ...(extras.libraryNeeds.length ? { libraryNeeds: extras.libraryNeeds } : {}),
        portEnv: [...DOTNET_PORT_ENV],
        inputs: { nuget: await nugetPackages(join(publishDir, "..", "artifacts")) },
        compileMs: Date.now() - started,
        runtimeLibraries: await dotnetRuntimeLibraries(shipped, facts),
        symbols,
      };
    },
  };
}


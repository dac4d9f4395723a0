/**
 * The .NET Dockerfile path, offline: a local SDK builder image assembled from the host's own files
 * (no container registry exists here). It holds
 *   - the Debian packages the rendered toolchain RUN asks for (clang, zlib1g-dev, the aarch64 cross
 *     gcc/binutils/libc) with their whole Depends closure, taken from the host's dpkg database, plus a
 *     dpkg status file for exactly those, so that RUN's `dpkg -s` sees them installed and skips apt;
 *   - the host's .NET SDK (/usr/share/dotnet);
 *   - the host's NuGet global packages folder after a restore (ILCompiler + NativeAOT runtime packs for
 *     both RIDs), as the image's own global packages folder, so restore needs no source.
 * The runtime image is bench/buildah.ts's glibc-only one: exactly a NativeAOT executable's ELF NEEDED.
 */
import { execFile } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import { CROSS_PACKAGES } from "../src/dockerfile/lint.ts";
import { RUNTIME_IMAGE, makeRuntimeImage, type BuildahStore } from "./buildah.ts";
import { missingTools } from "../test/support/index.ts";

const run = promisify(execFile);

export const DOTNET_SDK_IMAGE = "localhost/aotpack-bench-dotnet-sdk:latest";
export { RUNTIME_IMAGE as DOTNET_RUNTIME_IMAGE };

const DOTNET_ROOT = "/usr/share/dotnet";
/** What the rendered toolchain RUN checks with `dpkg -s`, plus what the SDK and the amd64 strip need. */
const PACKAGES = ["clang", "zlib1g-dev", ...CROSS_PACKAGES, "binutils", "dash", "coreutils", "dpkg", "libssl3", "libicu72"];
/** Documentation is not needed to compile; leaving it out keeps the image (and each layer copy) smaller. */
const SKIP = /^\/usr\/share\/(doc|man|info|locale|lintian|bug)\//;

export function nugetPackagesDir(): string {
  return process.env.NUGET_PACKAGES ?? join(homedir(), ".nuget", "packages");
}

/** Why the .NET buildah build cannot run here, or undefined. */
export function dotnetBuildahUnavailable(): string | undefined {
  const tools = missingTools(["buildah", "dpkg-query", "tar", "qemu-aarch64-static"]);
  if (tools) return tools;
  if (process.getuid?.() !== 0) return "buildah here needs root (no rootless storage configured)";
  if (process.arch !== "x64") return "the SDK image is made from the host's x86-64 SDK and toolchain";
  if (!existsSync(join(DOTNET_ROOT, "dotnet"))) return `no .NET SDK at ${DOTNET_ROOT}`;
  const nuget = nugetPackagesDir();
  for (const rid of ["linux-x64", "linux-arm64"]) {
    if (!existsSync(join(nuget, `runtime.${rid}.microsoft.dotnet.ilcompiler`))) {
      return `${nuget} has no ILCompiler pack for ${rid} (run \`aotpack build\` of a NativeAOT project for both platforms once to restore it)`;
    }
  }
  return undefined;
}

interface DpkgRecord {
  name: string;
  installed: boolean;
  depends: string[][];
}

/** Installed packages and their Depends + Pre-Depends (each a list of alternatives), from the host's dpkg database. */
async function dpkgDatabase(): Promise<{ records: Map<string, DpkgRecord>; provides: Map<string, string> }> {
  const { stdout } = await run("dpkg-query", ["-W", "-f=${Package}\t${db:Status-Abbrev}\t${Depends}, ${Pre-Depends}\t${Provides}\n"], { maxBuffer: 64 * 1024 * 1024 });
  const records = new Map<string, DpkgRecord>();
  const provides = new Map<string, string>();
  const names = (field: string) => field.split(",").map((g) => g.split("|").map((a) => a.replace(/\(.*?\)|:\w+/g, "").trim()).filter(Boolean)).filter((g) => g.length);
  for (const line of stdout.split("\n")) {
    const [name, status, deps, prov] = line.split("\t");
    if (!name || !status) continue;
    const installed = status.startsWith("ii");
    const prev = records.get(name);
    // Multi-arch packages appear once per arch; the host-arch one is what the build needs.
    if (prev?.installed) continue;
    records.set(name, { name, installed, depends: names(deps ?? "") });
    if (installed) for (const [p] of names(prov ?? "")) if (p && !provides.has(p)) provides.set(p, name);
  }
  return { records, provides };
}

/** The Depends closure of `roots` among installed packages (the first installed alternative wins). */
export async function packageClosure(roots: string[]): Promise<string[]> {
  const { records, provides } = await dpkgDatabase();
  const resolve = (n: string) => (records.get(n)?.installed ? n : provides.get(n));
  const seen = new Set<string>();
  const todo = [...roots];
  while (todo.length) {
    const want = todo.pop()!;
    const name = resolve(want);
    if (!name) {
      if (roots.includes(want)) throw new Error(`the host has no ${want} installed (apt-get install ${want})`);
      continue;
    }
    if (seen.has(name)) continue;
    seen.add(name);
    for (const group of records.get(name)!.depends) {
      const pick = group.find((a) => resolve(a) !== undefined);
      if (pick) todo.push(pick);
    }
  }
  return [...seen].sort();
}

/** Host path → its path with every directory symlink resolved (merged /usr: /lib/x → /usr/lib/x). */
function canonical(path: string): string | undefined {
  try {
    return join(realpathSync(dirname(path)), basename(path));
  } catch {
    return undefined;
  }
}

/** A tar (paths relative to /) of the packages' files, the SDK and the NuGet packages, plus a matching dpkg status. */
async function sdkRootfsTar(workDir: string): Promise<string> {
  const packages = await packageClosure(PACKAGES);
  const { stdout } = await run("dpkg-query", ["-L", ...packages], { maxBuffer: 256 * 1024 * 1024 });
  const entries = new Set<string>();
  for (const p of stdout.split("\n")) {
    if (!p.startsWith("/") || SKIP.test(p)) continue;
    const c = canonical(p);
    if (c && c !== "/" && existsSync(c)) entries.add(c.slice(1));
  }
  // dpkg's status for exactly these packages: the rendered RUN's `dpkg -s` then finds them installed.
  const status = (await readFile("/var/lib/dpkg/status", "utf8")).split(/\n\n+/).filter((stanza) => {
    const name = /^Package: (\S+)$/m.exec(stanza)?.[1];
    return name !== undefined && packages.includes(name) && /^Status: install ok installed$/m.test(stanza);
  });
  const extra = join(workDir, "sdk-extra");
  await run("mkdir", ["-p", join(extra, "var/lib/dpkg"), join(extra, "etc"), join(extra, "tmp"), join(extra, "root")]);
  await writeFile(join(extra, "var/lib/dpkg/status"), status.join("\n\n") + "\n");
  await writeFile(join(extra, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  await writeFile(join(extra, "etc/group"), "root:x:0:\n");
  const list = join(workDir, "sdk-files.txt");
  await writeFile(list, [...entries].sort().join("\n") + "\n");
  const tar = join(workDir, "sdk-rootfs.tar");
  const nuget = realpathSync(nugetPackagesDir());
  // Top-level merged-/usr links first; package files by canonical path (no recursion: dpkg lists every entry).
  await run("ln", ["-sfn", "usr/bin", join(extra, "bin")]);
  await run("ln", ["-sfn", "usr/lib", join(extra, "lib")]);
  await run("ln", ["-sfn", "usr/lib64", join(extra, "lib64")]);
  await run("ln", ["-sfn", "usr/sbin", join(extra, "sbin")]);
  await run("ln", ["-sfn", "dash", join(extra, "sh")]);
  await run("tar", ["-cf", tar, "-C", extra, "--owner=0", "--group=0", "bin", "lib", "lib64", "sbin", "etc", "tmp", "root", "var"], { maxBuffer: 1024 * 1024 });
  await run("tar", ["-rf", tar, "-C", "/", "--no-recursion", "--ignore-failed-read", "-T", list], { maxBuffer: 16 * 1024 * 1024, timeout: 600_000 });
  await run("tar", ["-rf", tar, "-C", extra, "--owner=0", "--group=0", "--transform=s,^sh$,usr/bin/sh,", "sh"]);
  await run("tar", ["-rf", tar, "-C", "/", "usr/share/dotnet", "usr/bin/dotnet"], { timeout: 600_000 });
  await run("tar", ["-rf", tar, "-C", dirname(nuget), `--transform=s,^${basename(nuget)},root/.nuget/packages,`, basename(nuget)], { timeout: 600_000 });
  return tar;
}

/** The SDK builder image (amd64 only: its stage always runs on the build platform) and the glibc runtime image. */
export async function makeDotnetImages(store: BuildahStore, workDir: string): Promise<void> {
  const tar = await sdkRootfsTar(workDir);
  const container = await store.buildah(["from", "--arch", "amd64", "--os", "linux", "scratch"]);
  try {
    await store.buildah(["add", "--quiet", container, tar, "/"], 900_000);
    const env = {
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      HOME: "/root",
      DOTNET_ROOT,
      DOTNET_CLI_TELEMETRY_OPTOUT: "1",
      DOTNET_NOLOGO: "1",
      DOTNET_SKIP_FIRST_TIME_EXPERIENCE: "1",
      DOTNET_CLI_USE_MSBUILD_SERVER: "0",
      MSBUILDDISABLENODEREUSE: "1",
      // The SDK's own ICU lookup is not needed to compile; the published app's globalization is the csproj's.
      DOTNET_SYSTEM_GLOBALIZATION_INVARIANT: "1",
    };
    await store.buildah(["config", "--arch", "amd64", "--os", "linux", ...Object.entries(env).flatMap(([k, v]) => ["--env", `${k}=${v}`]), container]);
    await store.buildah(["commit", "--quiet", container, DOTNET_SDK_IMAGE], 900_000);
  } finally {
    await store.buildah(["rm", container]);
  }
  await makeRuntimeImage(store);
}

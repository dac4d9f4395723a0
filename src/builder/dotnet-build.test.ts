/**
 * The build's .NET plumbing with a stand-in `dotnet` on PATH (fast; the real SDK is used in
 * src/compile/dotnet-runtime-libs.test.ts and the example's test): toolchains are checked for
 * every platform before any compile, and the compile fingerprint is the project's own inputs
 * plus the SDK version, not aotpack.lock or an unrelated package-lock.json.
 */
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AotpackError } from "../errors.ts";
import { parsePlatformList } from "../oci/platform.ts";
import { build } from "./build.ts";
import { sharedObject, writeStaticHello } from "../oci/testing/static-elf.ts";
import { extractLayer, debianMirrorReachable, REAL_MIRROR } from "../base/testing/fixtures.ts";
import { unavailable, withEnv } from "../../test/support/index.ts";
import type { BuildReporter } from "./plan.ts";

const CSPROJ = `<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><PublishAot>true</PublishAot><InvariantGlobalization>true</InvariantGlobalization></PropertyGroup>
</Project>`;

/**
 * `dotnet --version` prints $FAKE_SDK; `dotnet publish … -o DIR` logs the call, prints MSBuild's phase headers, and
 * fills DIR as a real publish does: an x86-64 ELF at DIR/hello, its .dbg, appsettings.json, wwwroot/ and a
 * NuGet package's native library ($FAKE_SO, which needs libz.so.1).
 */
const FAKE_DOTNET = `#!/bin/sh
if [ "$1" = "--version" ]; then echo "$FAKE_SDK"; exit 0; fi
echo "$*" >> "$FAKE_LOG"
out=""; prev=""
for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done
printf '     1>Restore:\\n       CoreCompile:\\n       IlcCompile:\\n         Generating native code\\n       LinkNative:\\n'
/bin/mkdir -p "$out/wwwroot" && /bin/cp "$FAKE_ELF" "$out/hello" && /bin/cp "$FAKE_SO" "$out/libe_sqlite3.so" || exit 1
echo symbols > "$out/hello.dbg"; echo '{}' > "$out/appsettings.json"; echo 'body{}' > "$out/wwwroot/site.css"
`;

describe("dotnet-aot in the build (stand-in dotnet)", () => {
  let root = "";
  let project = "";
  let bin = "";
  let log = "";
  const saved = { PATH: process.env.PATH, AOTPACK_CACHE_DIR: process.env.AOTPACK_CACHE_DIR };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "aotpack-dotnet-build-"));
    bin = join(root, "bin");
    await mkdir(bin);
    await writeFile(join(bin, "dotnet"), FAKE_DOTNET);
    await chmod(join(bin, "dotnet"), 0o755);
    // amd64's toolchain (a C compiler) but none of arm64's cross tools.
    for (const tool of ["clang", "gcc"]) if (existsSync(`/usr/bin/${tool}`)) await symlink(`/usr/bin/${tool}`, join(bin, tool));
    // Static, so that --base scratch can run it (the build refuses a dynamic executable on scratch).
    await writeStaticHello(join(root, "true.elf"), "amd64", "hello");
    log = join(root, "publish.log");
    process.env.PATH = bin;
    process.env.FAKE_LOG = log;
    process.env.FAKE_ELF = join(root, "true.elf");
    await writeFile(join(root, "lib.so"), sharedObject("amd64", ["libz.so.1", "libc.so.6"]));
    process.env.FAKE_SO = join(root, "lib.so");
  });

  beforeEach(async () => {
    process.env.FAKE_SDK = "10.0.401";
    await rm(log, { force: true });
    process.env.AOTPACK_CACHE_DIR = await mkdtemp(join(root, "cache-"));
    project = join(root, "repo", "hello");
    await rm(join(root, "repo"), { recursive: true, force: true });
    await mkdir(project, { recursive: true });
    await writeFile(join(project, "hello.csproj"), CSPROJ);
    await writeFile(join(project, "Program.cs"), 'System.Console.WriteLine("hello");\n');
  });

  after(async () => {
    process.env.PATH = saved.PATH;
    if (saved.AOTPACK_CACHE_DIR === undefined) delete process.env.AOTPACK_CACHE_DIR;
    else process.env.AOTPACK_CACHE_DIR = saved.AOTPACK_CACHE_DIR;
    for (const k of ["FAKE_LOG", "FAKE_ELF", "FAKE_SO", "FAKE_SDK"]) delete process.env[k];
    await rm(root, { recursive: true, force: true });
  });

  const publishes = async (): Promise<number> => (await readFile(log, "utf8").catch(() => "")).split("\n").filter(Boolean).length;

  test("a missing arm64 cross toolchain fails before any platform compiles, naming the Debian packages", async () => {
    await assert.rejects(
      build({ projectDir: project, platforms: parsePlatformList("linux/amd64,linux/arm64"), base: "scratch" }),
      (err: unknown) => {
        assert.ok(err instanceof AotpackError, String(err));
        assert.match(err.message, /linux\/arm64/);
        assert.match(err.hint ?? "", /gcc-aarch64-linux-gnu/);
        return true;
      },
    );
    assert.equal(await publishes(), 0, "no dotnet publish started");
  });

  test("aotpack.lock and a parent package-lock.json are not compile inputs; sources and the SDK version are", async () => {
    const once = () => build({ projectDir: project, platforms: parsePlatformList("linux/amd64"), base: "scratch" });
    await once();
    assert.equal(await publishes(), 1);
    await writeFile(join(project, "aotpack.lock"), '{"version":1}\n');
    await writeFile(join(root, "repo", "package-lock.json"), '{"lockfileVersion":3}\n');
    await once();
    assert.equal(await publishes(), 1, "a lock change reuses the compile");
    await mkdir(join(project, "obj"));
    await writeFile(join(project, "obj", "project.assets.json"), "{}");
    await once();
    assert.equal(await publishes(), 1, "obj/ is build output, not input");
    await writeFile(join(project, "Program.cs"), 'System.Console.WriteLine("changed");\n');
    await once();
    assert.equal(await publishes(), 2, "a source change recompiles");
    process.env.FAKE_SDK = "10.0.402";
    await once();
    assert.equal(await publishes(), 3, "an SDK update recompiles");
  });

  // Issue 27 (4): the template ignores PORT; the publish folder's content and native libraries ship; publish shows progress.
  test("ASPNETCORE_HTTP_PORTS is the port; the publish folder ships beside the executable without symbols; publish progress is shown", async (t) => {
    withEnv(t, { PATH: `${bin}:${saved.PATH}` }); // tar, to read the layers
    const said: string[] = [];
    const reporter: BuildReporter = { step() {}, info: (m) => said.push(m), warn: (m) => said.push(m) };
    const result = await build({ projectDir: project, platforms: parsePlatformList("linux/amd64"), base: "scratch", port: 9090, reporter });
    const image = result.platforms[0]!.image;
    const env = (await image.configFile()).config.Env ?? [];
    assert.ok(env.includes("ASPNETCORE_HTTP_PORTS=9090") && env.includes("PORT=9090"), env.join(" "));
    const rootfs = join(root, "rootfs");
    await rm(rootfs, { recursive: true, force: true });
    for (const layer of await image.layers()) await extractLayer(layer, rootfs);
    for (const f of ["hello", "appsettings.json", "wwwroot/site.css", "libe_sqlite3.so"]) assert.ok(existsSync(join(rootfs, "app", f)), `/app/${f}`);
    assert.ok(!existsSync(join(rootfs, "app", "hello.dbg")), "no symbols in the image");
    for (const phase of ["restoring NuGet packages", "generating native code", "linking"]) {
      assert.ok(said.includes(`linux/amd64: dotnet publish: ${phase}`), said.join("\n"));
    }
  });

  test("what the shipped native library needs goes into the deb: base (libz.so.1 → zlib1g in the lock)", { timeout: 600_000 }, async (t) => {
    if (!(await debianMirrorReachable())) return unavailable(t, "deb.debian.org is not reachable over http");
    withEnv(t, { PATH: `${bin}:${saved.PATH}` }); // gpgv, for InRelease
    const lockfile = join(root, "repo", "aotpack.lock");
    await build({ projectDir: project, platforms: parsePlatformList("linux/amd64"), base: "deb:bookworm", debianMirror: REAL_MIRROR, lockfile, sourceDateEpoch: 0 });
    assert.match(await readFile(lockfile, "utf8"), /"zlib1g"/);
  });
});

import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePlatform } from "../oci/platform.ts";
import { AotpackError, UsageError } from "../errors.ts";
import { findTool, requireTool, runCli } from "../../test/support/index.ts";
import { sharedObject, writeStaticHello } from "../oci/testing/static-elf.ts";
import { detectRuntime } from "./registry.ts";
import {
  assertNativeAot,
  checkDotnetToolchain,
  dotnetAotCompiler,
  explainPublishFailure,
  isDotnetAotProject,
  publishArguments,
  publishedExtras,
  publishProgress,
  readCsproj,
} from "./dotnet-aot.ts";

const CSPROJ = `<Project Sdk="Microsoft.NET.Sdk.Web">
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
    <InvariantGlobalization>true</InvariantGlobalization>
    <PublishAot>true</PublishAot>
  </PropertyGroup>
</Project>`;

const amd64 = parsePlatform("linux/amd64");
const arm64 = parsePlatform("linux/arm64");

test("detects a NativeAOT project and its globalization mode", async () => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-dotnet-"));
  try {
    assert.equal(await isDotnetAotProject(dir), false);
    await writeFile(join(dir, "todo.csproj"), CSPROJ);
    const facts = await readCsproj(dir);
    assert.deepEqual(facts, { path: join(dir, "todo.csproj"), assemblyName: "todo", publishAot: true, invariantGlobalization: true });
    assert.equal(await isDotnetAotProject(dir), true);
    await writeFile(join(dir, "other.csproj"), CSPROJ);
    await assert.rejects(readCsproj(dir), /2 \.csproj files/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("arm64 publish uses the aarch64 objcopy through MSBuild, not a host symlink", () => {
  const a = publishArguments("/p/x.csproj", arm64, "/o");
  assert.ok(a.includes("linux-arm64"));
  assert.ok(a.includes("-p:ObjCopyName=aarch64-linux-gnu-objcopy"));
  const x = publishArguments("/p/x.csproj", amd64, "/o");
  assert.ok(x.includes("linux-x64"));
  assert.ok(!x.some((s) => s.includes("ObjCopyName")));
  assert.throws(() => publishArguments("/p/x.csproj", parsePlatform("linux/riscv64"), "/o"), /supports linux\/amd64 and linux\/arm64/);
});

test("a missing cross toolchain names the Debian packages", async () => {
  const none = async () => false;
  const problems = await checkDotnetToolchain(arm64, none);
  const pkgs = problems.map((p) => p.debianPackage);
  assert.ok(pkgs.includes("libc6-dev-arm64-cross"));
  // The cross gcc and binutils are looked up on PATH; on a host without them they must be named too.
  const hasCrossGcc = findTool("aarch64-linux-gnu-gcc") !== undefined;
  assert.equal(pkgs.includes("gcc-aarch64-linux-gnu"), !hasCrossGcc);
});

test("NuGet's missing-package errors become one line naming the packages", () => {
  const out = [
    "/x/app.csproj : error NU1101: Unable to find package Microsoft.NETCore.App.Runtime.NativeAOT.linux-x64. No packages exist with this id in source(s): nuget.org",
    "/x/app.csproj : error NU1101: Unable to find package Microsoft.NETCore.App.Runtime.NativeAOT.linux-x64. No packages exist with this id in source(s): nuget.org",
  ].join("\n");
  const e = explainPublishFailure(out, amd64);
  assert.ok(e instanceof AotpackError);
  assert.equal(e.message, "dotnet publish for linux/amd64 failed: the NuGet source does not serve Microsoft.NETCore.App.Runtime.NativeAOT.linux-x64");
});

test("a failed native link quotes the linker's own lines, not only clang's summary", () => {
  const out = [
    "  /usr/aarch64-linux-gnu/bin/ld.bfd: cannot find /usr/aarch64-linux-gnu/lib/libc.so.6 inside /usr/aarch64-linux-gnu",
    "  /usr/bin/aarch64-linux-gnu-ld.bfd: cannot find /usr/aarch64-linux-gnu/lib/libc.so.6 inside /usr/aarch64-linux-gnu",
    "clang : error : linker command failed with exit code 1 (use -v to see invocation) [/p/x.csproj]",
  ].join("\n");
  const e = explainPublishFailure(out, arm64);
  assert.match(e.message, /^dotnet publish for linux\/arm64 failed in the native link: .*ld\.bfd: cannot find \/usr\/aarch64-linux-gnu\/lib\/libc\.so\.6/);
  assert.doesNotMatch(e.message, /linker command failed/);
});

test("real dotnet publish: builds an x86_64 executable, or says exactly which packages the NuGet source lacks", { timeout: 600_000 }, async (t) => {
  if (!requireTool(t, "dotnet", "the .NET SDK")) return;
  const dir = await mkdtemp(join(tmpdir(), "aotpack-dotnet-pub-"));
  try {
    await writeFile(join(dir, "hello.csproj"), CSPROJ.replace("Microsoft.NET.Sdk.Web", "Microsoft.NET.Sdk").replace("<PropertyGroup>", "<PropertyGroup><OutputType>Exe</OutputType>"));
    await writeFile(join(dir, "Program.cs"), 'System.Console.WriteLine("hello");\n');
    const out = join(dir, "out");
    try {
      const artifact = await dotnetAotCompiler().compile({ projectDir: dir, platform: amd64, layout: "single-file", outDir: out });
      assert.equal(artifact.elf.machine, "x86_64");
      assert.deepEqual(artifact.entrypoint, ["/app/hello"]);
    } catch (err) {
      assert.ok(err instanceof AotpackError, String(err));
      assert.match(err.message, /the NuGet source does not serve .*NativeAOT|missing /);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ---- issue 27 (4): what ships from the publish folder, progress, and the advice for a plain .NET project ----

describe("the publish folder beside the executable", () => {
  let dir = "";
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "aotpack-dotnet-publish-"));
    await writeStaticHello(join(dir, "Wapi"), "amd64", "hi");
    await writeFile(join(dir, "Wapi.dbg"), "symbols");
    await writeFile(join(dir, "Lib.pdb"), "symbols");
    await writeFile(join(dir, "appsettings.json"), "{}");
    await writeFile(join(dir, "Wapi.staticwebassets.endpoints.json"), '{"Version":1,"Endpoints":[]}');
    await mkdir(join(dir, "wwwroot", "css"), { recursive: true });
    await writeFile(join(dir, "wwwroot", "css", "site.css"), "body{}");
    // libmain.so needs libhelper.so (shipped beside it), libz and libc; libhelper.so needs libm and libc.
    await writeFile(join(dir, "libmain.so"), sharedObject("amd64", ["libhelper.so", "libz.so.1", "libc.so.6"]));
    await writeFile(join(dir, "libhelper.so"), sharedObject("amd64", ["libm.so.6", "libc.so.6"]));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  test("content files and native libraries ship, symbols do not; the libraries' NEEDED less what ships", async () => {
    const extras = await publishedExtras(dir, "Wapi", amd64);
    assert.deepEqual(extras.files, [
      { rel: "Wapi.staticwebassets.endpoints.json", mode: 0o644 },
      { rel: "appsettings.json", mode: 0o644 },
      { rel: "libhelper.so", mode: 0o755 },
      { rel: "libmain.so", mode: 0o755 },
      { rel: "wwwroot/css/site.css", mode: 0o644 },
    ]);
    assert.deepEqual(extras.libraryNeeds, ["libc.so.6", "libm.so.6", "libz.so.1"]);
  });

  test("a native library for another architecture is refused, naming it", async () => {
    await writeFile(join(dir, "libe_sqlite3.so"), sharedObject("arm64", ["libc.so.6"]));
    await assert.rejects(publishedExtras(dir, "Wapi", amd64), (err: unknown) => {
      assert.ok(err instanceof AotpackError, String(err));
      assert.match(err.message, /libe_sqlite3\.so .*aarch64.*linux\/amd64/);
      return true;
    });
  });

  test("a symlink or a name that is not UTF-8 is refused, not followed", async () => {
    await symlink("/etc/passwd", join(dir, "passwd"));
    await assert.rejects(publishedExtras(dir, "Wapi", amd64), /has passwd, which is not a regular file/);
    await rm(join(dir, "passwd"));
    await writeFile(Buffer.from(`${dir}/bad-\xff.json`, "latin1"), "{}");
    await assert.rejects(publishedExtras(dir, "Wapi", amd64), /bad-\\xff\.json.*not UTF-8/);
  });
});

test("publish progress: MSBuild's phases once each, and a heartbeat while it is silent", async () => {
  const said: string[] = [];
  const progress = publishProgress((m) => said.push(m), 10);
  try {
    progress.feed("     1>Restore:\n         Restored /p/x.csproj (in 283 ms).\n       CoreCompile:\n");
    progress.feed("         csc ...\n       _CopyFilesMarkedCopyLocal:\n       IlcCom");
    progress.feed("pile:\n         Generating native code\n");
    for (let i = 0; i < 500 && !said.some((m) => m.startsWith("dotnet publish: still")); i++) await new Promise((r) => setTimeout(r, 10));
    progress.feed("       LinkNative:\n       Restore:\n");
  } finally {
    progress.stop();
  }
  const phases = said.filter((m) => !m.startsWith("dotnet publish: still"));
  assert.deepEqual(phases, ["dotnet publish: restoring NuGet packages", "dotnet publish: compiling C#", "dotnet publish: generating native code", "dotnet publish: linking"]);
  assert.ok(said.some((m) => /^dotnet publish: still generating native code \(\d+ s\)$/.test(m)), said.join("\n"));
});

test("a .csproj folder without PublishAot is a .NET project: detected as such, and told to add PublishAot", async () => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-dotnet-plain-"));
  try {
    await writeFile(join(dir, "Plain.csproj"), CSPROJ.replace("<PublishAot>true</PublishAot>", ""));
    assert.equal(await detectRuntime(dir), "dotnet-aot");
    const facts = await readCsproj(dir);
    assert.throws(() => assertNativeAot(facts!), (err: unknown) => {
      assert.ok(err instanceof UsageError, String(err));
      assert.match(err.message, /^Plain\.csproj is a \.NET project without NativeAOT: add <PublishAot>true<\/PublishAot>.*dotnet new webapiaot/);
      return true;
    });
    // A Node project that happens to hold a .csproj stays a Node project.
    await writeFile(join(dir, "package.json"), '{"name":"p"}');
    assert.equal(await detectRuntime(dir), "bun");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("`dotnet new webapi` as generated: build and dockerfile give the .NET advice in one line, exit 2, before any download", { timeout: 300_000 }, async (t) => {
  if (!requireTool(t, "dotnet", "the .NET SDK")) return;
  const dir = await mkdtemp(join(tmpdir(), "aotpack-dotnet-webapi-"));
  try {
    const project = join(dir, "Plain");
    const gen = spawnSync("dotnet", ["new", "webapi", "-n", "Plain", "-o", project, "--no-restore"], { encoding: "utf8", env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: "1", DOTNET_NOLOGO: "1" } });
    assert.equal(gen.status, 0, gen.stderr);
    const env = { AOTPACK_CACHE_DIR: join(dir, "cache") };
    for (const args of [["build", project, "--platform", "linux/amd64,linux/arm64", "-o", `oci:${join(dir, "image")}:latest`], ["dockerfile", project, "--stdout"]]) {
      const r = await runCli(args, { env });
      assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
      const errors = r.stderr.split("\n").filter((l) => l.startsWith("aotpack: error:"));
      assert.equal(errors.length, 1, r.stderr);
      assert.match(errors[0]!, /Plain\.csproj is a \.NET project without NativeAOT: add <PublishAot>true<\/PublishAot>/, r.stderr);
      assert.doesNotMatch(r.stderr, /package\.json|fetching/, r.stderr);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

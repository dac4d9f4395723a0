import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePlatform } from "../oci/platform.ts";
import { AotpackError } from "../errors.ts";
import { findTool, requireTool } from "../../test/support/index.ts";
import { checkDotnetToolchain, dotnetAotCompiler, explainPublishFailure, isDotnetAotProject, publishArguments, readCsproj } from "./dotnet-aot.ts";

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

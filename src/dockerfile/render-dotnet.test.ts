import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Run } from "dockerfile-ast";
import { UsageError } from "../errors.ts";
import { parsePlatformList } from "../oci/platform.ts";
import { runCli, REPO_ROOT } from "../../test/support/cli.ts";
import { renderDotnetDockerfile, type DotnetDockerfilePlan } from "./render-dotnet.ts";
import { formatFindings, lintDockerfile } from "./lint.ts";
import { parseModel, rootOf, isBuildPlatform } from "./model.ts";

function plan(over: Partial<DotnetDockerfilePlan> = {}): DotnetDockerfilePlan {
  return {
    appName: "todo-dotnet",
    csproj: "TodoApi.csproj",
    assemblyName: "TodoApi",
    dotnetVersion: "10.0",
    invariantGlobalization: true,
    restoreInputs: [],
    platforms: parsePlatformList("linux/amd64,linux/arm64"),
    port: 8080,
    user: "65532:65532",
    env: {},
    ...over,
  };
}

const lintClean = (dockerfile: string, invariantGlobalization: boolean) => {
  const findings = lintDockerfile(dockerfile, { file: "Dockerfile", nativeAot: true, invariantGlobalization });
  assert.deepEqual(findings, [], formatFindings(findings));
};

test("aotpack dockerfile on the .NET example prints the fixed Dockerfile, and aotpack lint passes it clean", async (t) => {
  const r = await runCli(["dockerfile", join(REPO_ROOT, "examples/todo-api-dotnet"), "--stdout"], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^FROM --platform=\$BUILDPLATFORM \$\{SDK_IMAGE\} AS build$/m);
  assert.match(r.stdout, /^ARG SDK_IMAGE=mcr\.microsoft\.com\/dotnet\/sdk:10\.0$/m);
  assert.match(r.stdout, /^ARG RUNTIME_IMAGE=mcr\.microsoft\.com\/dotnet\/runtime-deps:10\.0-noble-chiseled$/m);
  // The publish folder (content files, native libraries) less its symbols, as `aotpack build` ships it; ASP.NET's port as build sets it.
  assert.match(r.stdout, /^COPY --from=build \/app\/image\/ \/app\/$/m);
  assert.match(r.stdout, /&& find \/app\/image \\\( -name '\*\.dbg' -o -name '\*\.pdb' \\\) -delete$/m);
  assert.match(r.stdout, /^ENV PORT="8080"$/m);
  assert.match(r.stdout, /^ENV ASPNETCORE_HTTP_PORTS="8080"$/m);
  // Through the CLI too, with the csproj beside it deciding NativeAOT and globalization.
  const dir = mkdtempSync(join(tmpdir(), "aotpack-df-dotnet-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "Dockerfile"), r.stdout);
  writeFileSync(join(dir, "TodoApi.csproj"), "<Project><PropertyGroup><PublishAot>true</PublishAot><InvariantGlobalization>true</InvariantGlobalization></PropertyGroup></Project>");
  const lint = await runCli(["lint", join(dir, "Dockerfile")], { timeoutMs: 60_000 });
  assert.equal(lint.code, 0, lint.stdout + lint.stderr);
  assert.match(lint.stdout, /^0 findings in 1 file$/m);
});

test(".NET: SDK stage on BUILDPLATFORM, cross packages by TARGETARCH, ObjCopyName as a property, -a $TARGETARCH, no SysRoot", () => {
  const { dockerfile } = renderDotnetDockerfile(plan());
  const model = parseModel(dockerfile);
  const build = model.stages.find((s) => s.name === "build");
  assert.ok(build);
  assert.equal(build.from.toString(), "FROM --platform=$BUILDPLATFORM ${SDK_IMAGE} AS build");
  assert.ok(build.body.some((i) => i.getKeyword() === "ARG" && i.getArgumentsContent() === "TARGETARCH"));
  // Every RUN is on the build platform: nothing is emulated.
  for (const stage of model.stages) {
    if (stage.body.some((i) => i instanceof Run)) assert.ok(isBuildPlatform(rootOf(stage).platform), `RUN in ${stage.name ?? stage.index}`);
  }
  assert.match(dockerfile, /dotnet publish "\.\/TodoApi\.csproj" -c Release -a \$TARGETARCH /);
  assert.match(dockerfile, /-p:ObjCopyName=aarch64-linux-gnu-objcopy/);
  assert.doesNotMatch(dockerfile, /SysRoot/);
  assert.doesNotMatch(dockerfile, /ln -s/, "no global objcopy symlink");
  for (const pkg of ["clang", "zlib1g-dev", "gcc-aarch64-linux-gnu", "binutils-aarch64-linux-gnu", "libc6-dev-arm64-cross"]) {
    assert.match(dockerfile, new RegExp(`\\b${pkg}\\b`), pkg);
  }

  const final = model.stages[model.stages.length - 1];
  assert.ok(final);
  assert.equal(final.from.toString(), "FROM --platform=$TARGETPLATFORM ${RUNTIME_IMAGE}");
  assert.deepEqual(
    final.body.map((i) => i.toString()),
    [
      "COPY --from=build /app/image/ /app/",
      "WORKDIR /app",
      "USER 65532:65532",
      "EXPOSE 8080",
      'ENV PORT="8080"',
      'ENV ASPNETCORE_HTTP_PORTS="8080"',
      'ENTRYPOINT ["/app/TodoApi"]',
    ],
  );
});

test(".NET: lint passes the rendered file clean, invariant or not; the base follows InvariantGlobalization", () => {
  const invariant = renderDotnetDockerfile(plan()).dockerfile;
  lintClean(invariant, true);
  const icu = renderDotnetDockerfile(plan({ invariantGlobalization: false })).dockerfile;
  lintClean(icu, false);
  assert.match(icu, /^ARG RUNTIME_IMAGE=mcr\.microsoft\.com\/dotnet\/runtime-deps:10\.0-noble-chiseled-extra$/m);
  const custom = renderDotnetDockerfile(plan({ sdkImage: "localhost/sdk:1", runtimeImage: "localhost/glibc:2", env: { TZ: "Asia/Tokyo" } })).dockerfile;
  lintClean(custom, true);
  assert.match(custom, /^ARG SDK_IMAGE=localhost\/sdk:1$/m);
  assert.match(custom, /^ENV TZ="Asia\/Tokyo"$/m);
});

test(".NET: restore inputs are copied before the restore, so a source change keeps the restore layer", () => {
  const { dockerfile } = renderDotnetDockerfile(plan({ restoreInputs: ["NuGet.Config", "Directory.Build.props"] }));
  const lines = dockerfile.split("\n");
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  assert.ok(at(/^COPY \["TodoApi\.csproj", "NuGet\.Config", "Directory\.Build\.props", "\.\/"\]$/) >= 0, dockerfile);
  assert.ok(at(/^COPY \["TodoApi/) < at(/^RUN dotnet restore/));
  assert.ok(at(/^RUN dotnet restore/) < at(/^COPY \. \.$/));
  assert.ok(at(/^COPY \. \.$/) < at(/dotnet publish/));
});

test(".NET: the publish RUN picks the cross properties by TARGETARCH and refuses other arches (run with /bin/sh and a stub dotnet)", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "aotpack-df-dotnet-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, "bin");
  mkdirSync(bin);
  // Echoes its call and fills -o as a publish does: the executable, its symbols, a content file.
  writeFileSync(
    join(bin, "dotnet"),
    '#!/bin/sh\necho "dotnet $*"\nout=""; prev=""\nfor a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done\nmkdir -p "$out" && touch "$out/TodoApi" "$out/TodoApi.dbg" "$out/appsettings.json"\n',
  );
  chmodSync(join(bin, "dotnet"), 0o755);
  const runs = parseModel(renderDotnetDockerfile(plan()).dockerfile).stages.flatMap((s) => s.body.filter((i): i is Run => i instanceof Run));
  const publish = runs.map((r) => r.getArgumentsContent() ?? "").find((s) => /dotnet publish/.test(s));
  assert.ok(publish);
  const sh = (arch: string) => {
    rmSync(join(dir, "app"), { recursive: true, force: true });
    mkdirSync(join(dir, "app"));
    return spawnSync("/bin/sh", ["-c", publish.replaceAll("/app/", `${join(dir, "app")}/`)], { cwd: dir, env: { PATH: `${bin}:/usr/bin:/bin`, TARGETARCH: arch }, encoding: "utf8", timeout: 10_000 });
  };
  const amd64 = sh("amd64");
  assert.equal(amd64.status, 0, amd64.stderr);
  // What the final stage copies: the publish folder less its symbols, which stay behind in /app/publish.
  assert.deepEqual(readdirSync(join(dir, "app", "image")).sort(), ["TodoApi", "appsettings.json"]);
  assert.ok(readdirSync(join(dir, "app", "publish")).includes("TodoApi.dbg"));
  assert.match(amd64.stdout, /^dotnet publish \.\/TodoApi\.csproj -c Release -a amd64 /m);
  assert.doesNotMatch(amd64.stdout, /ObjCopyName|CppCompilerAndLinker/);
  const arm64 = sh("arm64");
  assert.equal(arm64.status, 0, arm64.stderr);
  assert.match(arm64.stdout, /-a arm64 .*-p:CppCompilerAndLinker=clang -p:LinkerFlavor=bfd -p:ObjCopyName=aarch64-linux-gnu-objcopy/);
  const bad = sh("riscv64");
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /unsupported target platform linux\/riscv64/);
});

test(".NET: invalid plans are usage errors", () => {
  const bad: Array<[Partial<DotnetDockerfilePlan>, RegExp]> = [
    [{ csproj: "../x.csproj" }, /invalid project file/],
    [{ csproj: "a b.csproj" }, /invalid project file/],
    [{ assemblyName: "x;rm -rf /" }, /invalid assembly name/],
    [{ dotnetVersion: "10; rm" }, /invalid .NET version/],
    [{ restoreInputs: ["../secret"] }, /invalid restore input/],
    [{ platforms: parsePlatformList("linux/arm/v7") }, /linux\/arm\/v7 is not supported/],
    [{ platforms: [] }, /no platforms/],
    [{ user: "root" }, /root/],
    [{ port: 70000 }, /invalid port/],
    [{ env: { OK: "two\nlines" } }, /one line/],
    [{ sdkImage: "img with space" }, /invalid SDK image/],
  ];
  for (const [over, message] of bad) {
    assert.throws(() => renderDotnetDockerfile(plan(over)), (err: unknown) => err instanceof UsageError && message.test(err.message), JSON.stringify(over));
  }
});

test(".NET: .dockerignore also keeps the host's bin/ and obj/ out (their project.assets.json names host paths)", () => {
  const lines = renderDotnetDockerfile(plan()).dockerignore.split("\n");
  for (const entry of ["bin", "obj", ".git", ".env*"]) assert.ok(lines.includes(entry), entry);
});

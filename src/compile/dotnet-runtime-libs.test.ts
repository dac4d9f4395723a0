/**
 * Real NativeAOT compiles of testdata/dotnet-runtime-libs (a tiny HTTP server, amd64), through the
 * CLI as a user runs it:
 *  - the deb: base brings what the executable opens at run time: `--verify` checks an endpoint
 *    each for SHA256.HashData (OpenSSL), a de-DE number (ICU) and TimeZoneInfo with TZ (tzdata);
 *  - the `.dbg` symbols land beside the output, not in the image;
 *  - a second compile from an empty cache gives the same index digest (reproducible);
 *  - a broken native link names the linker's own error line;
 *  - `--debug-image` adds the symbols beside the executable and a gdb that runs in the image.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../../test/support/cli.ts";
import { extractLayer, run } from "../base/testing/fixtures.ts";
import { openSource } from "../sources.ts";
import { isImageIndex } from "../oci/interfaces.ts";
import { skipOrFail } from "../../test/support/index.ts";
import { parsePlatform } from "../oci/platform.ts";
import { checkDotnetToolchain } from "./dotnet-aot.ts";

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), "testdata", "dotnet-runtime-libs");
const TIMEOUT_MS = 30 * 60_000;

async function whyNot(): Promise<string | undefined> {
  const problems = await checkDotnetToolchain(parsePlatform("linux/amd64"));
  return problems.length ? `NativeAOT toolchain incomplete: ${problems.map((p) => p.missing).join(", ")}` : undefined;
}

describe("NativeAOT runtime libraries, symbols, reproducibility, link errors (real dotnet publish, amd64)", { skip: skipOrFail(await whyNot()), timeout: 4 * TIMEOUT_MS }, () => {
  let work = "";
  let firstDigest = "";
  const quiet = { DOTNET_CLI_TELEMETRY_OPTOUT: "1", DOTNET_NOLOGO: "1", SOURCE_DATE_EPOCH: "1700000000" };
  // The base's pins go to the work dir, not into the fixture.
  const buildOnce = (cache: string, out: string, extra: string[] = [], lock = "aotpack.lock") =>
    runCli(["build", FIXTURE, "--platform", "linux/amd64", "-o", `oci:${out}:latest`, "--json", "--lockfile", join(work, lock), ...extra], {
      env: { ...quiet, AOTPACK_CACHE_DIR: join(work, cache) },
      timeoutMs: TIMEOUT_MS,
    });

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "aotpack-dotnet-libs-"));
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  test("SHA256, de-DE culture and TZ=Asia/Tokyo endpoints pass verify; .dbg beside the output", { timeout: TIMEOUT_MS }, async () => {
    const out = join(work, "dist", "libs");
    const r = await buildOnce("cache-a", out, ["--verify"]);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const report = JSON.parse(r.stdout) as { digest: string; verify: { ok: boolean } };
    assert.equal(report.verify.ok, true, r.stdout);
    firstDigest = report.digest;
    assert.ok(existsSync(join(work, "dist", "libs.symbols", "linux-amd64", "RuntimeLibs.dbg")), "symbols beside the output");
    const inspect = await runCli(["inspect", `oci:${out}:latest`, "--json"]);
    assert.doesNotMatch(inspect.stdout, /\.dbg/, "no symbols in the image");
  });

  // todo (issue 14): two fresh runs of the test above give the same digest, and two fresh publishes are byte-identical,
  // but this second build in the same run still differs in the app layer; not yet found why.
  test("a compile from an empty cache (another work dir) gives the same digest", { timeout: TIMEOUT_MS }, async () => {
    assert.ok(firstDigest, "the first build ran");
    const r = await buildOnce("cache-b", join(work, "dist2", "libs"));
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { digest: string }).digest, firstDigest);
  });

  // "omit" is the user's word over the compiler's declaration: the base leaves OpenSSL and the CA bundle
  // out (and says so), and the SHA256 endpoint then really fails, which is what verify is for.
  test('"omit": ["openssl", "ca-certificates"] leaves both out of the base, and the SHA256 check fails', { timeout: TIMEOUT_MS }, async () => {
    const project = join(work, "omit");
    await cp(FIXTURE, project, { recursive: true, filter: (src) => !src.endsWith("aotpack.lock") });
    const config = join(project, "aotpack.config.json");
    await writeFile(config, JSON.stringify({ ...JSON.parse(await readFile(config, "utf8")), omit: ["openssl", "ca-certificates"] }));
    const out = join(work, "dist-omit", "libs");
    const r = await runCli(["build", project, "--platform", "linux/amd64", "-o", `oci:${out}:latest`, "--json", "--verify", "--lockfile", join(work, "omit.lock")], {
      env: { ...quiet, AOTPACK_CACHE_DIR: join(work, "cache-a") },
      timeoutMs: TIMEOUT_MS,
    });
    assert.match(r.stderr, /leaves out OpenSSL/, r.stderr);
    const report = JSON.parse(r.stdout) as { verify: { ok: boolean; platforms: { checks?: { ok: boolean; name?: string; path?: string }[] }[] } };
    assert.equal(report.verify.ok, false, "SHA256.HashData needs libssl");
    const { item } = await openSource(`oci:${out}:latest`);
    assert.ok(isImageIndex(item));
    const [descriptor] = (await item.indexManifest()).manifests;
    const image = await item.image(descriptor!.digest);
    const rootfs = join(work, "omit-rootfs");
    await extractLayer((await image.layers())[0]!, rootfs);
    assert.ok(existsSync(join(rootfs, "usr", "share", "zoneinfo", "Asia", "Tokyo")), "tzdata stays");
    const names = (await run("find", [rootfs, "-name", "libssl*", "-o", "-name", "libcrypto*", "-o", "-name", "ca-certificates.crt"])).stdout.trim();
    assert.equal(names, "", "no OpenSSL and no CA bundle in the base");
  });

  test("a broken native link shows the linker's own error line", { timeout: TIMEOUT_MS }, async () => {
    // A copy of the fixture that asks the linker for a library that does not exist.
    const broken = join(work, "broken");
    await cp(FIXTURE, broken, { recursive: true, filter: (src) => !src.endsWith("aotpack.lock") });
    const csproj = join(broken, "RuntimeLibs.csproj");
    await writeFile(csproj, (await readFile(csproj, "utf8")).replace("</Project>", '  <ItemGroup><LinkerArg Include="-laotpack_no_such_library" /></ItemGroup>\n</Project>'));
    const r = await runCli(["build", broken, "--platform", "linux/amd64", "-o", `oci:${join(work, "dist3", "libs")}:latest`], {
      env: { ...quiet, AOTPACK_CACHE_DIR: join(work, "cache-a") },
      timeoutMs: TIMEOUT_MS,
    });
    assert.equal(r.code, 1, r.stderr);
    const errorLines = r.stderr.split("\n").filter((l) => l.startsWith("aotpack: error:"));
    assert.equal(errorLines.length, 1, r.stderr);
    assert.match(errorLines[0]!, /failed in the native link: .*cannot find -laotpack_no_such_library/, r.stderr);
  });

  test("--debug-image: the symbols beside the executable and gdb-minimal, which runs in the image", { timeout: TIMEOUT_MS }, async () => {
    const out = join(work, "dist4", "libs");
    // Its own lock: gdb's packages are not in the plain image's pins.
    const r = await buildOnce("cache-a", out, ["--debug-image"], "debug.lock");
    assert.equal(r.code, 0, r.stderr);
    const { item } = await openSource(`oci:${out}:latest`);
    assert.ok(isImageIndex(item));
    const [descriptor] = (await item.indexManifest()).manifests;
    const image = await item.image(descriptor!.digest);
    const rootfs = join(work, "debug-rootfs");
    await mkdir(rootfs, { recursive: true });
    for (const [i, layer] of (await image.layers()).entries()) await extractLayer(layer, `${rootfs}-${i}`).then(() => run("cp", ["-a", `${rootfs}-${i}/.`, `${rootfs}/`]));
    assert.ok(existsSync(join(rootfs, "app", "RuntimeLibs.dbg")), "symbols beside /app/runtime-libs");
    const gdb = await run("/usr/sbin/chroot", [rootfs, "/usr/bin/gdb", "--version"]);
    assert.equal(gdb.code, 0, gdb.stderr);
    assert.match(gdb.stdout, /^GNU gdb/);
  });
});

/**
 * The compiler registry: a runtime is one entry. A toy runtime registered here (and nowhere
 * else) is accepted by the config and the flags, named in the help, detected for its projects,
 * and built into an image that runs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { UsageError } from "../errors.ts";
import { checkProjectConfig } from "../builder/config.ts";
import { build } from "../builder/build.ts";
import { main } from "../cli/main.ts";
import { buildCommand } from "../cli/commands/build.ts";
import { extractLayer } from "../base/testing/fixtures.ts";
import { readLayout } from "../oci/layout-source.ts";
import { isImageIndex, type Image } from "../oci/interfaces.ts";
import { parsePlatformList } from "../oci/platform.ts";
import { staticHello } from "../oci/testing/static-elf.ts";
import { runImage } from "../verify/run.ts";
import { sandboxWorkDir } from "../verify/testing/images.ts";
import { hasQemuArm64 } from "./testing/serve.ts";
import { compilerFor, detectRuntime, registerCompiler, runtimeKinds } from "./registry.ts";
import { TOY_MARKER, toyCompilerEntry } from "./testing/toy-compiler.ts";

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = "";
  let stderr = "";
  out.on("data", (d: Buffer) => (stdout += d.toString()));
  err.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await main(argv, { stdout: out, stderr: err });
  return { code, stdout, stderr };
}

async function toyProject(t: { after(fn: () => Promise<void>): void }, message: string): Promise<{ root: string; project: string }> {
  const root = await sandboxWorkDir("aotpack-toy-");
  t.after(() => rm(root, { recursive: true, force: true }));
  const project = join(root, "toy-app");
  await mkdir(project);
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "toy-app" }));
  await writeFile(join(project, TOY_MARKER), JSON.stringify({ message }));
  return { root, project };
}

test("adding a toy runtime takes one registry entry: config, flags, help, detection and the CLI's build pick it up", async (t) => {
  const env = { AOTPACK_CACHE_DIR: process.env.AOTPACK_CACHE_DIR };
  const { root, project } = await toyProject(t, "hello from toy");
  process.env.AOTPACK_CACHE_DIR = join(root, "cache");
  t.after(() => {
    if (env.AOTPACK_CACHE_DIR === undefined) delete process.env.AOTPACK_CACHE_DIR;
    else process.env.AOTPACK_CACHE_DIR = env.AOTPACK_CACHE_DIR;
  });

  // Before: an unknown runtime everywhere.
  assert.throws(() => checkProjectConfig({ runtime: "toy" }, "cfg"), (e: unknown) => e instanceof UsageError && /"runtime" must be "bun", "node" or "dotnet-aot"/.test(e.message));
  assert.throws(() => buildCommand(["--runtime", "toy"]), /--runtime must be one of bun, node, dotnet-aot \(got "toy"\)/);
  assert.equal(await detectRuntime(project), "bun");

  t.after(registerCompiler(toyCompilerEntry()));

  assert.deepEqual(runtimeKinds(), ["bun", "node", "dotnet-aot", "toy"]);
  assert.deepEqual(checkProjectConfig({ runtime: "toy" }, "cfg"), { runtime: "toy" });
  assert.throws(() => checkProjectConfig({ runtime: "toys" }, "cfg"), /must be "bun", "node", "dotnet-aot" or "toy"/);
  assert.equal(buildCommand(["--runtime", "toy"]).build.runtime, "toy");
  assert.equal((await compilerFor("toy")).runtime, "toy");
  assert.equal(await detectRuntime(project), "toy", "a folder with a toy.json is a toy project");
  assert.throws(() => registerCompiler(toyCompilerEntry()), /already registered/);

  const help = await cli(["build", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--runtime bun\|node\|dotnet-aot\|toy /);
  assert.match(help.stdout, /toy +toy static executable \(tests\) \(the default for a folder with a toy\.json\)/);
  const dockerfileHelp = await cli(["dockerfile", "--help"]);
  assert.match(dockerfileHelp.stdout, /--runtime bun\|node\|dotnet-aot,/, "the toy has no Dockerfile renderer, so dockerfile does not offer it");

  // The CLI, runtime not named: detected from toy.json.
  const out = join(root, "img");
  const r = await cli(["build", project, "--platform", "linux/amd64,linux/arm64", "--base", "scratch", "-o", `oci:${out}:v1`, "--json", "--sbom", "none", "--no-provenance"]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { platforms: { platform: string }[] };
  assert.deepEqual(report.platforms.map((p) => p.platform), ["linux/amd64", "linux/arm64"]);
  const index = await (await readLayout(out)).resolve("v1");
  assert.ok(isImageIndex(index));
  const images = await Promise.all((await index.indexManifest()).manifests.map(async (d) => [d.platform?.architecture, await index.image(d.digest)] as const));
  for (const [arch, image] of images) {
    const cfg = await image.configFile();
    assert.deepEqual(cfg.config.Entrypoint, ["/app/toy-app"]);
    assert.deepEqual(cfg.history?.map((h) => h.created_by), ["aotpack: toy app"]);
    const dir = join(root, `rootfs-${arch}`);
    for (const layer of await image.layers()) await extractLayer(layer, dir);
    assert.deepEqual(await readFile(join(dir, "app", "toy-app")), staticHello(arch as "amd64" | "arm64", "hello from toy"));
  }

  const refused = await cli(["dockerfile", project, "--stdout"]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /aotpack dockerfile renders bun, node, dotnet-aot projects, not toy/);
});

test("build() with a registered toy runtime makes an image that runs (runc; arm64 under qemu-user)", async (t) => {
  const { root, project } = await toyProject(t, "toy says hi");
  t.after(registerCompiler(toyCompilerEntry("toy-run")));
  const platforms = parsePlatformList(hasQemuArm64() ? "linux/amd64,linux/arm64" : "linux/amd64");
  const result = await build({ projectDir: project, runtime: "toy-run", platforms, base: "scratch", sourceDateEpoch: 0, cache: false, sbom: "none", provenance: false });
  assert.deepEqual(result.platforms.map((p) => p.artifact.runtime), platforms.map(() => "toy-run"));
  for (const p of result.platforms) {
    const lines: string[] = [];
    const code = await runImage({ image: p.image as Image, tempDir: root, forwardSignals: false, onOutput: (line) => lines.push(line) });
    assert.equal(code, 0, `${p.platform.architecture}: ${lines.join("\n")}`);
    assert.deepEqual(lines, ["toy says hi"], p.platform.architecture);
  }
});

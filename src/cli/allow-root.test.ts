/** Issue 33: an image runs as root only when asked (--allow-root / "allowRoot"), and the summary then says so. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { registerCompiler } from "../compile/registry.ts";
import { TOY_MARKER, toyCompilerEntry } from "../compile/testing/toy-compiler.ts";
import { isImageIndex } from "../oci/interfaces.ts";
import { readLayout } from "../oci/layout-source.ts";
import { runCli, runMain as cli, tempCache, tempDir } from "../../test/support/index.ts";

async function toyProject(dir: string, aotpack: Record<string, unknown> = {}): Promise<string> {
  const project = join(dir, "root-app");
  await mkdir(project);
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "root-app", aotpack }));
  await writeFile(join(project, TOY_MARKER), JSON.stringify({ message: "hi" }));
  return project;
}

test("the CLI refuses --user 0:0 without --allow-root: exit 2, one line, nothing written", async (t) => {
  const dir = await tempDir(t);
  const project = await toyProject(dir);
  const out = join(dir, "out");
  const r = await runCli(["build", project, "--platform", "linux/amd64", "--runtime", "bun", "--base", "scratch", "--user", "0:0", "-o", `oci:${out}:v1`], { env: { AOTPACK_CACHE_DIR: join(dir, "cache") } });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^aotpack: error: --user "0:0" runs as root \(uid 0\): pass --allow-root \(or "allowRoot": true in the config\) to build an image that runs as root\n(hint: .+\n)?$/);
  assert.deepEqual(await readdir(dir), ["root-app"]);
});

test("with --allow-root the image's config says User 0:0 and the summary (human and --json) says it runs as root", async (t) => {
  await tempCache(t);
  const dir = await tempDir(t);
  t.after(registerCompiler(toyCompilerEntry("toy-root")));
  const project = await toyProject(dir);
  const common = [project, "--platform", "linux/amd64", "--runtime", "toy-root", "--base", "scratch", "--sbom", "none", "--no-provenance"];

  const out = join(dir, "img");
  const r = await cli(["build", ...common, "--user", "0:0", "--allow-root", "-o", `oci:${out}:v1`, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { runsAsRoot: boolean; platforms: { user: string }[] };
  assert.deepEqual([report.platforms[0]!.user, report.runsAsRoot], ["0:0", true]);
  const index = await (await readLayout(out)).resolve("v1");
  assert.ok(isImageIndex(index));
  const image = await index.image((await index.indexManifest()).manifests[0]!.digest);
  assert.equal((await image.configFile()).config.User, "0:0");

  const human = await cli(["build", ...common, "--user", "0:0", "--allow-root", "-o", `oci:${join(dir, "img2")}:v1`]);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /^the image runs as root \(uid 0\): user "0:0", allowed by --allow-root$/m);

  // Not root: no such line, and --json says so.
  const plain = await cli(["build", ...common, "-o", `oci:${join(dir, "img3")}:v1`, "--json"]);
  assert.equal(plain.code, 0, plain.stderr);
  const plainReport = JSON.parse(plain.stdout) as { runsAsRoot: boolean; platforms: { user: string }[] };
  assert.deepEqual([plainReport.platforms[0]!.user, plainReport.runsAsRoot], ["65532:65532", false]);
  assert.doesNotMatch((await cli(["build", ...common, "-o", `oci:${join(dir, "img4")}:v1`])).stdout, /runs as root/);
});

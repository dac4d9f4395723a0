/**
 * The build's options reach the base, as they reach the app layers: `--compression` is the
 * compression of EVERY layer (the deb: base's too), and `--insecure-registry` reaches the pull
 * of a registry base, not only the push.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { runCli } from "../support/cli.ts";
import { requireTool, tempDir } from "../support/tools.ts";
import { startRegistry } from "../support/registry.ts";
import { readLayout } from "../../src/oci/layout-source.ts";
import { isImageIndex, type Image } from "../../src/oci/interfaces.ts";
import { platformEntries } from "../../src/oci/platform.ts";
import { REPO_ROOT } from "../support/cli.ts";

const fixture = join(REPO_ROOT, "test/fixtures/hello-server");

async function layerMediaTypes(layout: string, tag: string): Promise<string[]> {
  const index = await (await readLayout(layout)).resolve(tag);
  assert.ok(isImageIndex(index));
  const types: string[] = [];
  for (const d of platformEntries((await index.indexManifest()).manifests)) {
    const image: Image = await index.image(d.digest);
    for (const l of (await image.manifest()).layers) types.push(l.mediaType);
  }
  return types;
}

test("--compression applies to the deb: base layer too (none; zstd in node24.test.ts)", { timeout: 600_000 }, async (t) => {
  const dir = await tempDir(t, "aotpack-basecomp-");
  const plain = join(dir, "plain");
  const r = await runCli(["build", fixture, "--platform", "linux/amd64", "--compression", "none", "-o", `oci:${plain}:v1`]);
  assert.equal(r.code, 0, r.stderr);
  const types = await layerMediaTypes(plain, "v1");
  assert.ok(types.length >= 2, `base + app layers: ${types.join(", ")}`);
  assert.deepEqual([...new Set(types)], ["application/vnd.oci.image.layer.v1.tar"], "every layer, the base's included, is uncompressed");

  // zstd (Node >= 22.15): test/e2e/node24.test.ts checks the base's layer under Node 24.
});

test("--insecure-registry reaches the pull of a registry base", { timeout: 600_000 }, async (t) => {
  if (!requireTool(t, "docker-registry")) return;
  const dir = await tempDir(t, "aotpack-insecure-base-");
  const registry = await startRegistry();
  t.after(() => registry.stop());
  // A base image on the local registry (built by aotpack itself: any image will do as a base).
  const seed = await runCli(["build", fixture, "--platform", "linux/amd64", "-o", `registry:${registry.host}/base/app:v1`]);
  assert.equal(seed.code, 0, seed.stderr);
  // 0.0.0.0 reaches the local registry but is not a loopback name, so HTTPS is required unless marked insecure.
  const name = `0.0.0.0:${registry.port}`;
  const refused = await runCli(["build", fixture, "--platform", "linux/amd64", "--base", `${name}/base/app:v1`, "-o", `oci:${join(dir, "refused")}:v1`]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /TLS with 0\.0\.0\.0/);
  const ok = await runCli(["build", fixture, "--platform", "linux/amd64", "--base", `${name}/base/app:v1`, "--insecure-registry", name, "-o", `oci:${join(dir, "ok")}:v1`]);
  assert.equal(ok.code, 0, ok.stderr);
});

test("docker-archive:FILE:name:tag writes FILE, with RepoTags name:tag (skopeo's grammar)", { timeout: 300_000 }, async (t) => {
  const dir = await tempDir(t, "aotpack-darchive-name-");
  const file = join(dir, "app.tar");
  const r = await runCli(["build", fixture, "--platform", "linux/amd64", "-o", `docker-archive:${file}:team/hello:v1`]);
  assert.equal(r.code, 0, r.stderr);
  const manifest = JSON.parse(execFileSync("tar", ["-xOf", file, "manifest.json"], { encoding: "utf8" })) as { RepoTags: string[] }[];
  assert.deepEqual(manifest.map((m) => m.RepoTags), [["team/hello:v1"]]);
  // FILE and its SBOM (a docker-archive has no index to attach it to); no file named after the image.
  assert.deepEqual((await readdir(dir)).sort(), ["app.tar", "app.tar.sbom.json"]);
});

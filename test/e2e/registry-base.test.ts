/**
 * Building on a registry base, as a user would: a Debian-built base pushed to a real local
 * registry, then `aotpack build --base 127.0.0.1:PORT/base:tag`. The base annotations must name
 * it, its user must be kept, and a platform the base lacks must fail naming the ones it has.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli, REPO_ROOT } from "../support/cli.ts";
import { requireTool, tempDir } from "../support/tools.ts";
import { startRegistry } from "../support/registry.ts";
import { resolveBase, parseBaseSpec } from "../../src/base/index.ts";
import { newIndex } from "../../src/oci/mutate.ts";
import { parsePlatform, platformEntries } from "../../src/oci/platform.ts";
import { registryPublisher } from "../../src/registry/index.ts";
import { readLayout } from "../../src/oci/layout-source.ts";
import { isImageIndex, type Image } from "../../src/oci/interfaces.ts";
import { readElf } from "../../src/elf/read-elf.ts";
import { ensureBunRuntime } from "../../src/compile/bun-runtime.ts";
import { validate } from "../../src/oci/validate.ts";

const fixture = join(REPO_ROOT, "test/fixtures/hello-server");

test("build on a Debian-built base pulled from a real registry; a missing base platform fails", { timeout: 900_000 }, async (t) => {
  if (!requireTool(t, "docker-registry")) return;
  const dir = await tempDir(t, "aotpack-regbase-");
  const registry = await startRegistry();
  t.after(() => registry.stop());

  // The base: deb:bookworm for both platforms, sliced for what a Bun executable needs (the runtimes' ELF facts).
  const lockfile = join(dir, "aotpack.lock");
  const platforms = [parsePlatform("linux/amd64"), parsePlatform("linux/arm64")];
  const bases: Image[] = [];
  for (const p of platforms) {
    const elf = await readElf(await ensureBunRuntime(p));
    bases.push((await resolveBase(parseBaseSpec("deb:bookworm"), p, { elf, caCertificates: true }, { lockfile })).image);
  }
  const both = await registryPublisher(`${registry.host}/base/bookworm:v1`).publish(newIndex(bases.map((image, i) => ({ image, platform: platforms[i]! }))));
  await registryPublisher(`${registry.host}/base/amd64-only:v1`).publish(bases[0]!);

  const out = join(dir, "layout");
  const r = await runCli(["build", fixture, "--platform", "linux/amd64,linux/arm64", "--base", `${registry.host}/base/bookworm:v1`, "-o", `oci:${out}:v1`, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const index = await (await readLayout(out)).resolve("v1");
  assert.ok(isImageIndex(index));
  await validate(index);
  for (const d of platformEntries((await index.indexManifest()).manifests)) {
    const image: Image = await index.image(d.digest);
    const annotations: Record<string, string> = (await image.manifest()).annotations ?? {};
    assert.equal(annotations["org.opencontainers.image.base.name"], `${registry.host}/base/bookworm:v1`);
    assert.equal(annotations["org.opencontainers.image.base.digest"], both.digest);
    const cfg = await image.configFile();
    assert.equal(cfg.config.User, "65532:65532");
    // The base's layer comes first, unchanged.
    const baseImage = bases[platforms.findIndex((p) => p.architecture === d.platform?.architecture)]!;
    assert.equal((await image.manifest()).layers[0]!.digest, (await baseImage.manifest()).layers[0]!.digest);
  }

  const missing = await runCli(["build", fixture, "--platform", "linux/amd64,linux/arm64", "--base", `${registry.host}/base/amd64-only:v1`, "-o", `oci:${join(dir, "never")}`]);
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /aotpack: error: .*linux\/arm64.*available: linux\/amd64/);
});

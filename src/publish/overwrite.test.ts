/**
 * Issue 33: an archive output replaces only an image archive (manifest.json, or oci-layout and
 * index.json); any other file at the path is kept unless --force (force: true) is given.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AotpackError, UsageError } from "../errors.ts";
import { readDockerArchive } from "../oci/docker-archive-source.ts";
import { readLayout } from "../oci/layout-source.ts";
import { buildHelloIndex } from "../oci/testing/fixtures.ts";
import { parseSpec, transportFor } from "../transports/index.ts";
import { registerCompiler } from "../compile/registry.ts";
import { TOY_MARKER, toyCompilerEntry } from "../compile/testing/toy-compiler.ts";
import { runCli, runMain, tempCache, tempDir } from "../../test/support/index.ts";
import { dockerArchivePublisher } from "./docker-archive.ts";
import { ociArchivePublisher } from "./oci-archive.ts";
import { writeTarAtomic } from "./tar-file.ts";

async function setup(t: TestContext) {
  const dir = await tempDir(t);
  await mkdir(join(dir, "work"));
  const fixture = await buildHelloIndex(join(dir, "work"), { sourceDateEpoch: 0 });
  // A backup someone keeps beside the outputs: a tar, but not an image.
  const backup = join(dir, "backup.tar");
  await writeTarAtomic(backup, [{ header: { name: "notes.txt", type: "file", size: 8, mode: 0o644, uid: 0, gid: 0, mtime: 0 }, body: Buffer.from("precious") }]);
  const text = join(dir, "notes.tar");
  await writeFile(text, "not even a tar");
  return { dir, fixture, backup, text };
}

function notImage(path: string, cls: typeof AotpackError = AotpackError): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof cls, String(e));
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, new RegExp(`${path.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} exists and is not an image archive .*pass --force to overwrite it`));
    return true;
  };
}

test("a docker-archive or oci-archive output does not overwrite a tar (or file) that is not an image archive, unless forced", async (t) => {
  const { fixture, backup, text } = await setup(t);
  const before = await readFile(backup);
  for (const path of [backup, text]) {
    const kept = await readFile(path);
    await assert.rejects(dockerArchivePublisher(path).publish(fixture.amd64, { tag: "app:v1" }), notImage(path));
    await assert.rejects(ociArchivePublisher(path).publish(fixture.index, { tag: "v1" }), notImage(path));
    assert.deepEqual(await readFile(path), kept, "the file is untouched");
  }
  assert.deepEqual(await readFile(backup), before);
  // Forced: replaced by the image archive.
  await dockerArchivePublisher(backup, { force: true }).publish(fixture.amd64, { tag: "app:v1" });
  assert.equal(await (await readDockerArchive(backup, "app:v1")).digest(), await fixture.amd64.digest());
  await ociArchivePublisher(text, { force: true }).publish(fixture.index, { tag: "v1" });
  assert.equal(await (await (await readLayout(text)).resolve("v1")).digest(), await fixture.index.digest());
});

test("an existing image archive is still overwritten without --force (docker-archive over a docker or OCI archive)", async (t) => {
  const { dir, fixture } = await setup(t);
  const d = join(dir, "d.tar");
  await dockerArchivePublisher(d).publish(fixture.amd64, { tag: "app:v1" });
  await dockerArchivePublisher(d).publish(fixture.arm64, { tag: "app:v2" });
  assert.equal(await (await readDockerArchive(d, "app:v2")).digest(), await fixture.arm64.digest());
  const o = join(dir, "o.tar");
  await ociArchivePublisher(o).publish(fixture.index, { tag: "v1" });
  await dockerArchivePublisher(o).publish(fixture.amd64, { tag: "app:v1" });
  assert.equal(await (await readDockerArchive(o, "app:v1")).digest(), await fixture.amd64.digest());
});

test("preflight refuses a non-image tar at an archive output before any work (usage error), and lets --force through", async (t) => {
  const { backup } = await setup(t);
  for (const raw of [`docker-archive:${backup}`, `oci-archive:${backup}:v1`]) {
    const spec = parseSpec(raw);
    await assert.rejects(transportFor(spec.kind)!.preflight(spec, {}), notImage(backup, UsageError), raw);
    await transportFor(spec.kind)!.preflight(spec, { force: true });
  }
});

test("the CLI: build -o docker-archive:backup.tar exits 2 and keeps the tar; with --force it writes the image", async (t) => {
  await tempCache(t);
  const { dir, backup } = await setup(t);
  const before = await readFile(backup);
  const project = join(dir, "toy-app");
  await mkdir(project);
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "toy-app" }));
  await writeFile(join(project, TOY_MARKER), JSON.stringify({ message: "hi" }));
  const refused = await runCli(["build", project, "--platform", "linux/amd64", "--runtime", "bun", "--base", "scratch", "-o", `docker-archive:${backup}`], { env: { AOTPACK_CACHE_DIR: join(dir, "cache") } });
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /^aotpack: error: output docker-archive:.*backup\.tar exists and is not an image archive .*pass --force to overwrite it\n/);
  assert.deepEqual(await readFile(backup), before);

  t.after(registerCompiler(toyCompilerEntry("toy-force")));
  const forced = await runMain(["build", project, "--platform", "linux/amd64", "--runtime", "toy-force", "--base", "scratch", "--sbom", "none", "--no-provenance", "-o", `docker-archive:${backup}:v1`, "--force"]);
  assert.equal(forced.code, 0, forced.stderr);
  await readDockerArchive(backup, "toy-app:v1");
});

/**
 * Sinks against real readers: skopeo, umoci, GNU tar, and a private dockerd.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { startDockerd } from "../../test/support/dockerd.ts";
import { findTool, requireRoot, requireTool, run, runOk, smallTmpfs, tempDir } from "../../test/support/tools.ts";
import { AotpackError, UsageError } from "../errors.ts";
import { createLayer } from "../oci/layer.ts";
import { readLayout } from "../oci/layout-source.ts";
import { MediaType } from "../oci/media-types.ts";
import { appendLayers, emptyImage } from "../oci/mutate.ts";
import { parsePlatform } from "../oci/platform.ts";
import { buildHelloIndex } from "../oci/testing/fixtures.ts";
import { validate } from "../oci/validate.ts";
import { dockerArchivePublisher } from "./docker-archive.ts";
import { layoutPublisher } from "./layout.ts";
import { ociArchivePublisher } from "./oci-archive.ts";

async function publishedLayout(t: TestContext) {
  const dir = await tempDir(t);
  const work = join(dir, "work");
  await mkdir(work);
  const fixture = await buildHelloIndex(work);
  const out = join(dir, "layout");
  const publisher = layoutPublisher(out);
  await publisher.publish(fixture.index, { tag: "v1" });
  // umoci and docker-archive want one platform: tag each platform image as well.
  await publisher.publish(fixture.amd64, { tag: "v1-amd64" });
  await publisher.publish(fixture.arm64, { tag: "v1-arm64" });
  return { dir, out, fixture };
}

describe("layout output read by real tools", () => {
  test("skopeo inspect --raw and inspect accept the two-platform index and each platform", async (t) => {
    const skopeo = requireTool(t, "skopeo");
    if (!skopeo) return;
    const { out, fixture } = await publishedLayout(t);
    const raw = await runOk(skopeo, ["inspect", "--raw", `oci:${out}:v1`]);
    assert.equal(raw.stdout.trim(), (await fixture.index.rawManifest()).toString("utf8"));
    const plain = JSON.parse((await runOk(skopeo, ["inspect", `oci:${out}:v1`])).stdout) as { Architecture: string; Os: string };
    assert.equal(plain.Os, "linux");
    assert.ok(["amd64", "arm64"].includes(plain.Architecture), "skopeo picks the host's platform from the index");
    const parsed = JSON.parse(raw.stdout) as { manifests: { platform: { architecture: string } }[] };
    assert.deepEqual(parsed.manifests.map((m) => m.platform.architecture), ["amd64", "arm64"]);
    for (const arch of ["amd64", "arm64"] as const) {
      // skopeo picks the index entry for --override-arch, and reads the config.
      const info = JSON.parse((await runOk(skopeo, ["--override-arch", arch, "--override-os", "linux", "inspect", `oci:${out}:v1`])).stdout) as {
        Architecture: string;
        Os: string;
        Digest: string;
        Created: string;
        Layers: string[];
      };
      const image = fixture[arch];
      assert.equal(info.Architecture, arch);
      assert.equal(info.Os, "linux");
      assert.equal(info.Digest, await fixture.index.digest()); // skopeo reports the digest of what the tag names
      assert.equal(info.Created, "1970-01-01T00:00:00Z");
      assert.deepEqual(info.Layers, await Promise.all((await image.layers()).map((l) => l.digest())));
    }
  });

  test("umoci unpack accepts each platform image; the rootfs holds the binary with its mode", async (t) => {
    const umoci = requireTool(t, "umoci");
    if (!umoci) return;
    const { dir, out, fixture } = await publishedLayout(t);
    for (const arch of ["amd64", "arm64"] as const) {
      const bundle = join(dir, `bundle-${arch}`);
      await runOk(umoci, ["unpack", "--rootless", "--image", `${out}:v1-${arch}`, bundle], { timeoutMs: 60_000 });
      const st = await stat(join(bundle, "rootfs", "app", "hello"));
      assert.equal(st.mode & 0o777, 0o755);
      assert.equal((await stat(join(bundle, "rootfs", "tmp"))).mode & 0o7777, 0o1777);
      const config = JSON.parse(await readFile(join(bundle, "config.json"), "utf8")) as { process: { args: string[] } };
      assert.deepEqual(config.process.args, ["/app/hello"]);
      if (arch === "amd64" && process.arch === "x64") {
        const r = await runOk(join(bundle, "rootfs", "app", "hello"), []);
        assert.equal(r.stdout, `${fixture.lines.amd64}\n`);
      }
      const qemu = findTool("qemu-aarch64-static");
      if (arch === "arm64" && qemu) {
        const r = await runOk(qemu, [join(bundle, "rootfs", "app", "hello")]);
        assert.equal(r.stdout, `${fixture.lines.arm64}\n`);
      }
    }
  });

  test("skopeo copy oci:… docker-archive:… works, and skopeo reads our oci-archive", async (t) => {
    const skopeo = requireTool(t, "skopeo");
    if (!skopeo) return;
    const { dir, out, fixture } = await publishedLayout(t);
    const archive = join(dir, "skopeo-docker.tar");
    await runOk(skopeo, ["copy", `oci:${out}:v1-amd64`, `docker-archive:${archive}:hello:v1`], { timeoutMs: 60_000 });
    const manifest = JSON.parse((await runOk("tar", ["-xOf", archive, "manifest.json"])).stdout) as { RepoTags: string[] }[];
    assert.deepEqual(manifest[0]?.RepoTags, ["docker.io/library/hello:v1"]);

    const ociArchive = join(dir, "ours.oci.tar");
    await ociArchivePublisher(ociArchive).publish(fixture.index, { tag: "v1" });
    const raw = await runOk(skopeo, ["inspect", "--raw", `oci-archive:${ociArchive}:v1`]);
    assert.equal(raw.stdout.trim(), (await fixture.index.rawManifest()).toString("utf8"));
    const copied = join(dir, "copied");
    await runOk(skopeo, ["copy", "--all", `oci-archive:${ociArchive}:v1`, `oci:${copied}:v1`], { timeoutMs: 60_000 });
    const back = await (await readLayout(copied)).resolve("v1");
    await validate(back);
    assert.equal(await back.digest(), await fixture.index.digest());
  });
});

describe("docker-archive", () => {
  test("loads into a real dockerd and `docker run` prints the binary's line", { timeout: 180_000 }, async (t) => {
    if (!requireTool(t, "dockerd", "apt-get install docker.io")) return;
    if (!requireRoot(t, "dockerd needs root")) return;
    const dir = await tempDir(t);
    const work = join(dir, "work");
    await mkdir(work);
    const fixture = await buildHelloIndex(work, { message: "hello from docker" });
    const archive = join(dir, "hello.tar");
    const result = await dockerArchivePublisher(archive, { platform: parsePlatform("linux/amd64") }).publish(fixture.index, {
      tag: "aotpack-test/hello:v1",
    });
    assert.equal(result.digest, await fixture.amd64.digest());
    assert.equal(result.reference, `docker-archive:${archive}:aotpack-test/hello:v1`);

    const dockerd = await startDockerd({ timeoutMs: 90_000 });
    t.after(() => dockerd.stop());
    const load = await dockerd.dockerOk(["load", "-i", archive], { timeoutMs: 60_000 });
    assert.match(load.stdout, /Loaded image: aotpack-test\/hello:v1/);
    const inspect = JSON.parse((await dockerd.dockerOk(["image", "inspect", "aotpack-test/hello:v1"])).stdout) as {
      Id: string;
      Architecture: string;
    }[];
    assert.equal(inspect[0]?.Id, (await fixture.amd64.manifest()).config.digest);
    if (process.arch !== "x64") return t.skip("docker run of the amd64 binary needs an amd64 host");
    const r = await dockerd.docker(["run", "--rm", "--network", "none", "aotpack-test/hello:v1"], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, `${r.stderr}\n${(await dockerd.log()).slice(-1500)}`);
    assert.equal(r.stdout, "hello from docker (amd64)\n");

    // Uncompressed layers load too.
    const rawWork = join(dir, "raw");
    await mkdir(rawWork);
    const raw = await buildHelloIndex(rawWork, { message: "uncompressed layer", compression: "none" });
    assert.equal(await (await raw.amd64.layers())[0]?.mediaType(), MediaType.OciLayer);
    const rawArchive = join(dir, "raw.tar");
    await dockerArchivePublisher(rawArchive).publish(raw.amd64, { tag: "aotpack-test/hello:raw" });
    await dockerd.dockerOk(["load", "-i", rawArchive], { timeoutMs: 60_000 });
    const r2 = await dockerd.dockerOk(["run", "--rm", "--network", "none", "aotpack-test/hello:raw"], { timeoutMs: 60_000 });
    assert.equal(r2.stdout, "uncompressed layer (amd64)\n");
  });

  test("an index with two platforms and none chosen is a UsageError listing them; a missing platform too", async (t) => {
    const dir = await tempDir(t);
    const fixture = await buildHelloIndex(dir);
    const archive = join(dir, "x.tar");
    await assert.rejects(dockerArchivePublisher(archive).publish(fixture.index), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /holds one platform but the index has 2 \(linux\/amd64, linux\/arm64\); choose one with --platform/);
      return true;
    });
    await assert.rejects(
      dockerArchivePublisher(archive, { platform: parsePlatform("linux/s390x") }).publish(fixture.index),
      /no linux\/s390x image in the index \(it has: linux\/amd64, linux\/arm64\)/,
    );
    await assert.rejects(dockerArchivePublisher(archive).publish(fixture.amd64, { tag: "Bad Tag" }), UsageError);
    assert.equal(await stat(archive).catch(() => undefined), undefined, "nothing written");
    // A single image needs no platform; the tag gets :latest.
    const r = await dockerArchivePublisher(archive).publish(fixture.arm64, { tag: "hello" });
    assert.equal(r.reference, `docker-archive:${archive}:hello:latest`);
  });
});

describe("output paths and failures", () => {
  test("an output path that exists and is not a layout is refused with one line, untouched", async (t) => {
    const dir = await tempDir(t);
    const fixture = await buildHelloIndex(dir);
    const file = join(dir, "a-file");
    await writeFile(file, "precious");
    const nonEmpty = join(dir, "non-empty");
    await mkdir(nonEmpty);
    await writeFile(join(nonEmpty, "notes.txt"), "precious");
    for (const [path, why] of [
      [file, /exists and is not an OCI layout \(it is a file\)/],
      [nonEmpty, /exists and is not an OCI layout \(a non-empty directory without an oci-layout file\)/],
    ] as const) {
      await assert.rejects(layoutPublisher(path).publish(fixture.index, { tag: "v1" }), (e: unknown) => {
        assert.ok(e instanceof AotpackError && e.exitCode === 1 && !e.message.includes("\n"));
        assert.match(e.message, why);
        return true;
      });
    }
    assert.equal(await readFile(file, "utf8"), "precious");
    assert.deepEqual(await readdir(nonEmpty), ["notes.txt"]);
    // Archives: a directory, or a file that is not an OCI archive, is refused too.
    await assert.rejects(ociArchivePublisher(nonEmpty).publish(fixture.index), /exists and is a directory, not an OCI archive/);
    await assert.rejects(ociArchivePublisher(file).publish(fixture.index), /exists and is not an image archive \(.*\); pass --force to overwrite it/);
    await assert.rejects(dockerArchivePublisher(nonEmpty).publish(fixture.amd64), /exists and is a directory, not a docker archive/);
    assert.equal(await readFile(file, "utf8"), "precious");
    // A corrupt index.json in an existing layout is never overwritten.
    const corrupt = join(dir, "corrupt");
    await mkdir(corrupt);
    await writeFile(join(corrupt, "oci-layout"), `{"imageLayoutVersion":"1.0.0"}`);
    await writeFile(join(corrupt, "index.json"), "{not json");
    await assert.rejects(layoutPublisher(corrupt).publish(fixture.index), /corrupt index\.json; refusing to overwrite it/);
    assert.equal(await readFile(join(corrupt, "index.json"), "utf8"), "{not json");
    await assert.rejects(layoutPublisher(join(dir, "x")).publish(fixture.index, { tag: "bad tag" }), UsageError);
  });

  test("appending to a layout written by skopeo keeps its entries", async (t) => {
    const skopeo = requireTool(t, "skopeo");
    if (!skopeo) return;
    const { dir, out, fixture } = await publishedLayout(t);
    const theirs = join(dir, "theirs");
    await runOk(skopeo, ["copy", `oci:${out}:v1-arm64`, `oci:${theirs}:from-skopeo`], { timeoutMs: 60_000 });
    await layoutPublisher(theirs).publish(fixture.index, { tag: "ours" });
    const layout = await readLayout(theirs);
    assert.deepEqual(await layout.tags(), ["from-skopeo", "ours"]);
    await validate(await layout.resolve("from-skopeo"));
    await validate(await layout.resolve("ours"));
    await runOk(skopeo, ["inspect", "--raw", `oci:${theirs}:from-skopeo`]);
  });

  test("full disk: layout and archives fail with 'no space left on device writing …' and leave nothing", async (t) => {
    const mnt = await smallTmpfs(t, "2m");
    if (!mnt) return;
    const work = await tempDir(t);
    const big = join(work, "big");
    await writeFile(big, randomBytes(3 * 1024 * 1024)); // incompressible, more than the 2 MB disk
    const layer = await createLayer([{ path: "/big", type: "file", source: big }], { blobDir: join(work, "blobs") });
    const image = appendLayers(emptyImage(parsePlatform("linux/amd64")), [{ layer }]);
    const small = await buildHelloIndex(work);

    // An existing layout on the small disk: a failed append leaves it exactly as it was.
    const out = join(mnt, "layout");
    await layoutPublisher(out).publish(small.index, { tag: "small" });
    const before = await snapshot(mnt);
    await assert.rejects(layoutPublisher(out).publish(image, { tag: "big" }), (e: unknown) => {
      assert.ok(e instanceof AotpackError);
      assert.match(e.message, new RegExp(`^no space left on device writing ${out}/blobs/sha256/[a-f0-9]{64}$`));
      return true;
    });
    assert.deepEqual(await snapshot(mnt), before);
    await validate(await (await readLayout(out)).resolve("small"));

    // A fresh layout: nothing at all.
    await assert.rejects(layoutPublisher(join(mnt, "fresh")).publish(image, { tag: "big" }), /: no space left on device writing /);
    assert.equal(await stat(join(mnt, "fresh")).catch(() => undefined), undefined);

    for (const [publisher, path] of [
      [ociArchivePublisher(join(mnt, "image.tar")), join(mnt, "image.tar")],
      [dockerArchivePublisher(join(mnt, "docker.tar")), join(mnt, "docker.tar")],
    ] as const) {
      await assert.rejects(publisher.publish(image, { tag: "big" }), (e: unknown) => {
        assert.ok(e instanceof AotpackError);
        assert.equal(e.message, `no space left on device writing ${path}`);
        return true;
      });
    }
    assert.deepEqual(await snapshot(mnt), before);
  });
});

/** Every path under `dir` with its size: enough to see that nothing was added, removed or truncated. */
async function snapshot(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  const out: string[] = [];
  for (const e of entries.sort()) {
    const st = await stat(join(dir, e));
    out.push(`${e} ${st.isDirectory() ? "dir" : st.size}`);
  }
  return out;
}

test("media types: our layouts are pure OCI", async (t) => {
  const dir = await tempDir(t);
  const fixture = await buildHelloIndex(dir);
  const out = join(dir, "layout");
  await layoutPublisher(out).publish(fixture.index);
  const index = JSON.parse(await readFile(join(out, "index.json"), "utf8")) as { manifests: { mediaType: string; annotations?: unknown }[] };
  assert.equal(index.manifests[0]?.mediaType, MediaType.OciIndex);
  assert.equal(index.manifests[0]?.annotations, undefined);
  assert.equal(await readFile(join(out, "oci-layout"), "utf8"), `{"imageLayoutVersion":"1.0.0"}`);
});

test("concurrent publishes into one layout keep every tag; a stale lock from a dead process is taken over", async (t) => {
  const dir = await tempDir(t);
  const fixture = await buildHelloIndex(dir);
  const out = join(dir, "layout");
  const tags = ["a", "b", "c", "d", "e"];
  await Promise.all(tags.map((tag, i) => layoutPublisher(out).publish(i % 2 ? fixture.amd64 : fixture.index, { tag })));
  assert.deepEqual((await (await readLayout(out)).tags()).sort(), tags);
  // A lock file left by a process that no longer exists does not block.
  const dead = await run(process.execPath, ["-e", "console.log(process.pid)"]);
  await writeFile(join(out, ".aotpack-index.lock"), dead.stdout.trim());
  await layoutPublisher(out).publish(fixture.arm64, { tag: "f" });
  assert.deepEqual((await (await readLayout(out)).tags()).sort(), [...tags, "f"]);
  assert.equal(await stat(join(out, ".aotpack-index.lock")).catch(() => undefined), undefined, "lock released");
});

test("reproducible outputs: two builds in different dirs give byte-identical index.json and oci-archive", async (t) => {
  const outputs: { indexJson: string; archive: Buffer }[] = [];
  for (const name of ["one", "two"]) {
    const dir = await tempDir(t, `aotpack-repro-${name}-`);
    const fixture = await buildHelloIndex(dir, { sourceDateEpoch: 1700000000 });
    await layoutPublisher(join(dir, "layout")).publish(fixture.index, { tag: "v1" });
    await ociArchivePublisher(join(dir, "image.tar")).publish(fixture.index, { tag: "v1" });
    outputs.push({ indexJson: await readFile(join(dir, "layout", "index.json"), "utf8"), archive: await readFile(join(dir, "image.tar")) });
  }
  assert.equal(outputs[0]?.indexJson, outputs[1]?.indexJson);
  assert.ok(outputs[0]?.archive.equals(outputs[1]!.archive), "oci-archive bytes are identical");
});

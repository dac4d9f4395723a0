import assert from "node:assert/strict";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { tempDir } from "../../test/support/tools.ts";
import { AotpackError } from "../errors.ts";
import { layoutPublisher } from "../publish/layout.ts";
import { ociArchivePublisher } from "../publish/oci-archive.ts";
import { sha256 } from "./digest.ts";
import { descriptorOf, isImageIndex, type ImageIndex } from "./interfaces.ts";
import { createLayer } from "./layer.ts";
import { MediaType } from "./media-types.ts";
import { appendLayers, newIndex } from "./mutate.ts";
import type { IndexManifest } from "./types.ts";
import { readLayout } from "./layout-source.ts";
import { buildHelloIndex, dockerImage } from "./testing/fixtures.ts";
import { validate } from "./validate.ts";

for (const kind of ["directory", "oci-archive"] as const) {
  test(`readLayout (${kind}): tags, resolve by tag, digest, nested digest, sole entry`, async (t) => {
    const dir = await tempDir(t);
    const fixture = await buildHelloIndex(dir);
    const out = join(dir, kind === "directory" ? "layout" : "image.tar");
    const publisher = kind === "directory" ? layoutPublisher(out) : ociArchivePublisher(out);
    await publisher.publish(fixture.index, { tag: "v1" });

    let layout = await readLayout(out);
    assert.deepEqual(await layout.tags(), ["v1"]);
    const sole = await layout.resolve();
    assert.equal(await sole.digest(), await fixture.index.digest());
    assert.equal((await (await layout.index()).indexManifest()).manifests.length, 1);

    await publisher.publish(fixture.amd64, { tag: "amd64" });
    layout = await readLayout(out);
    assert.deepEqual(await layout.tags(), ["v1", "amd64"]);
    const byTag = await layout.resolve("v1");
    assert.ok(isImageIndex(byTag));
    await validate(byTag);
    const byDigest = await layout.resolve(await fixture.amd64.digest());
    assert.equal(await byDigest.digest(), await fixture.amd64.digest());
    const nested = await layout.resolve(await fixture.arm64.digest());
    assert.equal(await nested.digest(), await fixture.arm64.digest(), "a platform image named only inside the index");
    await validate(nested);
    await assert.rejects(layout.resolve(), /holds 2 entries; name one \(tags: v1, amd64\)/);
    await assert.rejects(layout.resolve("nope"), (e: unknown) => e instanceof AotpackError && /no image "nope" in oci(-archive)?:.* \(tags: v1, amd64\)/.test(e.message));
  });
}

test("readLayout refuses what is not a layout, with one line", async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(readLayout(join(dir, "missing")), /no such file or directory reading .*missing/);
  await mkdir(join(dir, "empty"));
  await assert.rejects(readLayout(join(dir, "empty")), /is not an OCI layout \(no oci-layout file\)/);
  await writeFile(join(dir, "junk.tar"), Buffer.alloc(2048, 7));
  await assert.rejects(readLayout(join(dir, "junk.tar")), /is not an OCI archive/);
  await mkdir(join(dir, "v2"));
  await writeFile(join(dir, "v2", "oci-layout"), `{"imageLayoutVersion":"2.0.0"}`);
  await assert.rejects(readLayout(join(dir, "v2")), /unsupported imageLayoutVersion "2.0.0"/);
});

test("a blob missing from a layout gives an error naming it", async (t) => {
  const dir = await tempDir(t);
  const fixture = await buildHelloIndex(dir);
  const out = join(dir, "layout");
  await layoutPublisher(out).publish(fixture.index, { tag: "v1" });
  const configDigest = (await fixture.arm64.manifest()).config.digest;
  await rm(join(out, "blobs", "sha256", configDigest.slice(7)));
  const image = await (await readLayout(out)).resolve(await fixture.arm64.digest());
  assert.ok(!isImageIndex(image));
  await assert.rejects(image.configFile(), new RegExp(`no such file or directory reading .*${configDigest.slice(7)}`));
});

test("Docker schema2 manifests and manifest lists read through the same interfaces", async (t) => {
  const dir = await tempDir(t);
  const layer = await createLayer([{ path: "/etc/os-release", type: "file", content: "ID=docker-base\n" }], { blobDir: join(dir, "b") });
  const rawConfig = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", config: {}, rootfs: { type: "layers", diff_ids: [await layer.diffId()] } }),
  );
  const docker = dockerImage(rawConfig, [layer]);
  // A manifest list, serialised the way Docker does (not our canonical form).
  const listRaw = Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: MediaType.DockerManifestList,
        manifests: [{ ...(await descriptorOf(docker)), platform: { architecture: "amd64", os: "linux" } }],
      },
      null,
      3,
    ),
  );
  const ociIndex = newIndex([{ image: docker }]);
  const dockerList: ImageIndex = {
    ...ociIndex,
    mediaType: async () => MediaType.DockerManifestList,
    rawManifest: async () => listRaw,
    indexManifest: async () => JSON.parse(listRaw.toString("utf8")) as IndexManifest,
    digest: async () => sha256(listRaw),
    size: async () => listRaw.length,
  };
  await validate(dockerList);
  const out = join(dir, "layout");
  await layoutPublisher(out).publish(dockerList, { tag: "docker" });
  const back = await (await readLayout(out)).resolve("docker");
  assert.ok(isImageIndex(back));
  assert.equal(await back.mediaType(), MediaType.DockerManifestList);
  assert.deepEqual(await back.rawManifest(), listRaw, "stored bytes kept exactly");
  await validate(back);
  const image = await back.image(await docker.digest());
  assert.equal(await image.mediaType(), MediaType.DockerManifest);
  assert.equal(await (await image.layers())[0]?.mediaType(), MediaType.DockerLayerGzip);
  // Building on it converts to OCI.
  const derived = appendLayers(image, [{ layer: await createLayer([{ path: "/app", type: "directory" }], { blobDir: join(dir, "b") }) }]);
  assert.equal(await derived.mediaType(), MediaType.OciManifest);
  assert.deepEqual((await derived.manifest()).layers.map((l) => l.mediaType), [MediaType.OciLayerGzip, MediaType.OciLayerGzip]);
  await validate(derived);
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { tempDir } from "../../test/support/tools.ts";
import { UsageError } from "../errors.ts";
import { sha256 } from "./digest.ts";
import type { Image, Layer } from "./interfaces.ts";
import { canonicalJson } from "./json.ts";
import { createLayer } from "./layer.ts";
import { MediaType } from "./media-types.ts";
import { appendLayers, emptyImage, newIndex, withConfig, withManifestAnnotations } from "./mutate.ts";
import { dockerImage } from "./testing/fixtures.ts";
import { parsePlatform } from "./platform.ts";
import { validate } from "./validate.ts";

test("emptyImage: OCI media types, no layers, created from the epoch, platform checked", async () => {
  const image = emptyImage(parsePlatform("linux/arm64/v8"), { sourceDateEpoch: 86400 });
  const manifest = await image.manifest();
  assert.equal(manifest.mediaType, MediaType.OciManifest);
  assert.equal(manifest.config.mediaType, MediaType.OciConfig);
  assert.deepEqual(manifest.layers, []);
  const config = await image.configFile();
  assert.deepEqual(
    { os: config.os, architecture: config.architecture, variant: config.variant, created: config.created, rootfs: config.rootfs },
    { os: "linux", architecture: "arm64", variant: undefined, created: "1970-01-02T00:00:00Z", rootfs: { type: "layers", diff_ids: [] } },
  );
  assert.equal(await image.digest(), sha256(await image.rawManifest()));
  await validate(image);
  assert.throws(() => emptyImage({ os: "linux", architecture: "sparc" }), UsageError);
  assert.throws(() => emptyImage({ os: "plan9", architecture: "amd64" }), UsageError);
  assert.throws(() => parsePlatform("linux/"), (e: unknown) => e instanceof UsageError && e.exitCode === 2 && /invalid platform "linux\/"/.test(e.message));
  assert.deepEqual(emptyImage({ os: "linux", architecture: "aarch64" }) && (await emptyImage({ os: "linux", architecture: "aarch64" }).configFile()).architecture, "arm64");
});

test("canonical JSON: key order of the input does not change the bytes", () => {
  assert.deepEqual(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: undefined } }), Buffer.from(`{"a":{"d":[2,{"y":2,"z":1}]},"b":1}`));
});

async function dockerBase(dir: string): Promise<{ base: Image; baseLayer: Layer }> {
  const layer = await createLayer([{ path: "/etc/os-release", type: "file", content: "ID=test\n" }], { blobDir: dir });
  const dockerLayer: Layer = { ...layer, mediaType: async () => MediaType.DockerLayerGzip };
  const config = {
    architecture: "amd64",
    os: "linux",
    created: "2020-01-01T00:00:00Z",
    docker_version: "20.10.24",
    config: { Env: ["PATH=/usr/bin"], Cmd: ["/bin/sh"] },
    rootfs: { type: "layers", diff_ids: [await layer.diffId()] },
    history: [{ created: "2020-01-01T00:00:00Z", created_by: "ADD rootfs" }],
  };
  const rawConfig = Buffer.from(JSON.stringify(config, null, 2));
  const base = dockerImage(rawConfig, [layer]);
  return { base, baseLayer: dockerLayer };
}

test("appendLayers on a Docker schema2 base gives an OCI image, keeping the base's config and history", async (t) => {
  const dir = await tempDir(t);
  const { base } = await dockerBase(dir);
  await validate(base);
  const baseDigest = await base.digest();
  const app = await createLayer([{ path: "/app/server", type: "file", content: "#!/bin/true\n", mode: 0o755 }], { blobDir: dir });
  const image = appendLayers(base, [{ layer: app, history: { created_by: "aotpack: app" } }]);
  const manifest = await image.manifest();
  assert.equal(manifest.mediaType, MediaType.OciManifest);
  assert.equal(manifest.config.mediaType, MediaType.OciConfig);
  assert.deepEqual(manifest.layers.map((l) => l.mediaType), [MediaType.OciLayerGzip, MediaType.OciLayerGzip]);
  assert.deepEqual(
    await Promise.all((await image.layers()).map((l) => l.mediaType())),
    [MediaType.OciLayerGzip, MediaType.OciLayerGzip],
    "layer objects agree with the manifest",
  );
  const config = (await image.configFile()) as unknown as Record<string, unknown> & { rootfs: { diff_ids: string[] }; history: unknown[] };
  assert.equal(config.docker_version, "20.10.24", "unknown base fields survive");
  assert.equal(config.created, "2020-01-01T00:00:00Z");
  assert.deepEqual(config.rootfs.diff_ids.at(-1), await app.diffId());
  assert.deepEqual(config.history, [{ created: "2020-01-01T00:00:00Z", created_by: "ADD rootfs" }, { created_by: "aotpack: app" }]);
  await validate(image);
  assert.equal(await base.digest(), baseDigest, "the base is not changed");
  // The same additions give the same image (lazy, deterministic).
  assert.equal(await appendLayers(base, [{ layer: app, history: { created_by: "aotpack: app" } }]).digest(), await image.digest());
});

test("withConfig and withManifestAnnotations wrap without touching the original", async () => {
  const base = emptyImage(parsePlatform("linux/amd64"));
  const configured = withConfig(base, (cfg) => ({ ...cfg, config: { ...cfg.config, Entrypoint: ["/app/server"], ExposedPorts: { "8080/tcp": {} } } }));
  assert.deepEqual((await configured.configFile()).config, { Entrypoint: ["/app/server"], ExposedPorts: { "8080/tcp": {} } });
  assert.deepEqual((await base.configFile()).config, {});
  assert.notEqual(await configured.digest(), await base.digest());
  const annotated = withManifestAnnotations(configured, { "org.opencontainers.image.source": "https://example.test/repo" });
  assert.deepEqual((await annotated.manifest()).annotations, { "org.opencontainers.image.source": "https://example.test/repo" });
  assert.equal((await annotated.manifest()).config.digest, (await configured.manifest()).config.digest);
  await validate(annotated);
});

test("newIndex: platforms from each config unless given, annotations, child lookup", async () => {
  const amd = emptyImage(parsePlatform("linux/amd64"));
  const arm = emptyImage(parsePlatform("linux/arm/v7"));
  const index = newIndex([{ image: amd, annotations: { note: "a" } }, { image: arm }], { "org.opencontainers.image.created": "1970-01-01T00:00:00Z" });
  const m = await index.indexManifest();
  assert.equal(m.mediaType, MediaType.OciIndex);
  assert.deepEqual(m.manifests.map((d) => d.platform), [
    { os: "linux", architecture: "amd64" },
    { os: "linux", architecture: "arm", variant: "v7" },
  ]);
  assert.deepEqual(m.manifests[0]?.annotations, { note: "a" });
  assert.equal(await (await index.image(await arm.digest())).digest(), await arm.digest());
  await assert.rejects(index.imageIndex(await arm.digest()), /is an image, not an index/);
  await assert.rejects(index.image(sha256("nope")), /no manifest with digest/);
  const outer = newIndex([{ image: index }]);
  assert.equal((await outer.indexManifest()).manifests[0]?.platform, undefined);
  assert.equal(await (await outer.imageIndex(await index.digest())).digest(), await index.digest());
  await validate(outer);
});

test("appendLayers result validates after a round trip through blobs in a directory", async (t) => {
  const dir = await tempDir(t);
  const layer = await createLayer([{ path: "/x", type: "file", content: "x" }], { blobDir: join(dir, "b") });
  const image = appendLayers(appendLayers(emptyImage(parsePlatform("linux/amd64")), [{ layer }]), [{ layer: await createLayer([{ path: "/y", type: "directory" }], { blobDir: join(dir, "b") }) }]);
  assert.equal((await image.configFile()).rootfs.diff_ids.length, 2);
  assert.equal((await image.configFile()).history?.length, 2);
  await validate(image);
});

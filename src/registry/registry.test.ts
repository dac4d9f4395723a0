/** Against a real registry (Debian's docker-registry) and real skopeo. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, open, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { readLayout } from "../oci/layout-source.ts";
import { validate } from "../oci/validate.ts";
import { isImageIndex, type Image, type ImageIndex } from "../oci/interfaces.ts";
import { AotpackError } from "../errors.ts";
import { REGISTRY_BIN, requireTools, startRegistry, type TestRegistry } from "../../test/support/index.ts";
import { RegistryClient } from "./client.ts";
import { push } from "./publisher.ts";
import { BlobCache, pull, remoteImage, remoteIndex, remoteIndexOrImage, RemoteLayer } from "./remote.ts";
import { startFaultProxy } from "./testing/fault-proxy.ts";
import { AMD64, ARM64, twoPlatformIndex } from "./testing/fixtures.ts";
import type { ProgressEvent } from "../publish/types.ts";

const run = promisify(execFile);

interface Env {
  registry: TestRegistry;
  dir: string;
}

async function withRegistry(fn: (env: Env) => Promise<void>): Promise<void> {
  const registry = await startRegistry();
  const dir = await mkdtemp(join(tmpdir(), "aotpack-regtest-"));
  try {
    await fn({ registry, dir });
  } finally {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Small thresholds so a 200 kB layer goes up in several PATCH chunks. */
const CHUNKED = { monolithicMaxBytes: 64 * 1024, chunkBytes: 80 * 1024 };

async function childDigests(index: ImageIndex): Promise<string[]> {
  return (await index.indexManifest()).manifests.map((d) => d.digest);
}

test("round trip: push by us, read back by skopeo (inspect, copy --all) and by us, all validate with identical digests", async (t) => {
  if (!requireTools(t, [REGISTRY_BIN, "skopeo"])) return;
  await withRegistry(async ({ registry, dir }) => {
    const index = await twoPlatformIndex(join(dir, "build"), { seed: "roundtrip" });
    await validate(index);
    const events: ProgressEvent[] = [];
    const result = await push(index, `${registry.host}/team/app:v1`, { ...CHUNKED, onProgress: (e) => events.push(e) });
    const digest = await index.digest();
    assert.equal(result.digest, digest);
    assert.equal(result.reference, `${registry.host}/team/app:v1@${digest}`);
    // Progress: every blob reaches its total; manifests reported; bytes grow monotonically per blob.
    const blobEvents = events.filter((e): e is Extract<ProgressEvent, { kind: "blob" }> => e.kind === "blob");
    const finals = new Map(blobEvents.filter((e) => e.done === e.total).map((e) => [e.digest, e.total]));
    assert.equal(finals.size, 5, "2 configs + 1 shared layer + 2 own layers");
    assert.equal(events.filter((e) => e.kind === "manifest").length, 3);
    const big = blobEvents.filter((e) => e.total > 100_000);
    assert.ok(big.some((e) => e.done > 0 && e.done < e.total), "chunked uploads report partial progress");

    // skopeo reads the exact bytes we pushed.
    const { stdout: raw } = await run("skopeo", ["--insecure-policy", "inspect", "--raw", "--tls-verify=false", `docker://${registry.host}/team/app:v1`], { timeout: 60_000 });
    assert.equal(raw, (await index.rawManifest()).toString("utf8"));

    const layoutDir = join(dir, "layout");
    await run("skopeo", ["--insecure-policy", "copy", "--all", "--src-tls-verify=false", `docker://${registry.host}/team/app:v1`, `oci:${layoutDir}:v1`], { timeout: 120_000 });
    const fromSkopeo = await (await readLayout(layoutDir)).resolve("v1");
    assert.ok(isImageIndex(fromSkopeo));
    assert.equal(await fromSkopeo.digest(), digest);
    await validate(fromSkopeo);

    // And we pull it back ourselves, through a fresh cache.
    const pulled = await pull(`${registry.host}/team/app:v1`, { blobDir: join(dir, "cache") });
    assert.equal(pulled.digest, digest);
    assert.deepEqual(pulled.images.map((i) => i.platform), [AMD64, ARM64]);
    assert.ok(pulled.index);
    await validate(pulled.index);
    assert.deepEqual(await childDigests(pulled.index), await childDigests(index));
    assert.deepEqual(await childDigests(pulled.index), await childDigests(fromSkopeo));
    for (const { image } of pulled.images) {
      for (const layer of await image.layers()) {
        const cached = await stat(new BlobCache(join(dir, "cache")).path(await layer.digest()));
        assert.equal(cached.size, await layer.size(), "pull leaves every layer in the cache");
      }
    }
  });
});

test("pushing again uploads no blob; another repository mounts instead of uploading", async (t) => {
  if (!requireTools(t, [REGISTRY_BIN])) return;
  await withRegistry(async ({ registry, dir }) => {
    const proxy = await startFaultProxy(registry.port);
    try {
      const index = await twoPlatformIndex(join(dir, "build"), { seed: "idem" });
      const ref = `${proxy.host}/idem/app:v1`;
      await push(index, ref, CHUNKED);
      const uploads = (reqs: typeof proxy.requests) => reqs.filter((r) => r.path.includes("/blobs/uploads/"));
      assert.ok(uploads(proxy.requests).length >= 5, "the first push uploads");

      proxy.reset();
      const events: ProgressEvent[] = [];
      const again = await push(index, ref, { ...CHUNKED, onProgress: (e) => events.push(e) });
      assert.equal(again.digest, await index.digest());
      assert.deepEqual(uploads(proxy.requests), [], "no upload request on the second push");
      assert.equal(proxy.requests.filter((r) => r.method === "HEAD" && r.path.includes("/blobs/")).length, 5);
      assert.ok(events.filter((e) => e.kind === "blob").every((e) => e.kind === "blob" && e.skipped === true));

      // Same registry, other repository, one client that knows where the blobs are: mounts.
      proxy.reset();
      const client = new RegistryClient(proxy.host);
      try {
        await push(index, `${proxy.host}/idem/app:v1`, { client });
        proxy.reset();
        await push(index, `${proxy.host}/other/app:v1`, { client });
        const posts = proxy.requests.filter((r) => r.method === "POST");
        assert.equal(posts.length, 5);
        assert.ok(posts.every((r) => r.url.includes("mount=") && r.url.includes("from=idem%2Fapp")), JSON.stringify(posts));
        assert.equal(proxy.requests.filter((r) => r.method === "PATCH" || (r.method === "PUT" && r.path.includes("/blobs/"))).length, 0);
      } finally {
        client.close();
      }
      const other = await remoteIndex(`${registry.host}/other/app:v1`, { blobDir: join(dir, "cache") });
      await validate(other);
    } finally {
      await proxy.stop();
    }
  });
});

test("a layer pulled from one repository is mounted when pushed to another", async (t) => {
  if (!requireTools(t, [REGISTRY_BIN])) return;
  await withRegistry(async ({ registry, dir }) => {
    const index = await twoPlatformIndex(join(dir, "build"), { seed: "mount" });
    await push(index, `${registry.host}/base/img:1`);
    const proxy = await startFaultProxy(registry.port);
    try {
      const base = await remoteImage(`${proxy.host}/base/img:1`, { platform: ARM64, blobDir: join(dir, "cache") });
      assert.ok((await base.layers()).every((l) => l instanceof RemoteLayer));
      proxy.reset();
      await push(base, `${proxy.host}/derived/img:1`);
      const posts = proxy.requests.filter((r) => r.method === "POST");
      assert.equal(posts.length, 3, "config + 2 layers");
      assert.equal(posts.filter((r) => r.url.includes("from=base%2Fimg")).length, 3, "config and both layers mounted");
      assert.equal(proxy.requests.filter((r) => r.method === "PATCH").length, 0);
    } finally {
      await proxy.stop();
    }
    await validate(await remoteImage(`${registry.host}/derived/img:1`, { platform: ARM64, blobDir: join(dir, "cache2") }));
  });
});

test("a missing platform fails and lists the available ones; single images and indexes resolve", async (t) => {
  if (!requireTools(t, [REGISTRY_BIN])) return;
  await withRegistry(async ({ registry, dir }) => {
    const index = await twoPlatformIndex(join(dir, "build"), { seed: "platforms" });
    await push(index, `${registry.host}/p/app:multi`);
    const opts = { blobDir: join(dir, "cache") };
    const riscv = { os: "linux", architecture: "riscv64" };
    await assert.rejects(pull(`${registry.host}/p/app:multi`, { ...opts, platforms: [AMD64, riscv] }), (err: unknown) => {
      assert.ok(err instanceof AotpackError);
      assert.equal(err.message, `${registry.host}/p/app:multi has no image for linux/riscv64; available: linux/amd64, linux/arm64`);
      return true;
    });
    const arm = await remoteImage(`${registry.host}/p/app:multi`, { ...opts, platform: ARM64 });
    assert.equal((await arm.configFile()).architecture, "arm64");
    const only = await pull(`${registry.host}/p/app:multi`, { ...opts, platforms: [ARM64] });
    assert.equal(only.images.length, 1);
    assert.equal(await only.images[0]!.image.digest(), await arm.digest());

    // A single image pushed by digest and tag.
    await push(arm, `${registry.host}/p/single:arm`);
    const single = await remoteIndexOrImage(`${registry.host}/p/single:arm`, opts);
    assert.ok(!isImageIndex(single));
    assert.equal(await (single as Image).digest(), await arm.digest());
    await assert.rejects(remoteIndex(`${registry.host}/p/single:arm`, opts), /is a single image, not an index/);
    await assert.rejects(remoteImage(`${registry.host}/p/single:arm`, { ...opts, platform: AMD64 }), /has no image for linux\/amd64; available: linux\/arm64/);
    await assert.rejects(remoteIndexOrImage(`${registry.host}/p/absent:1`, opts), /manifest 127\.0\.0\.1:\d+\/p\/absent:1 not found/);
  });
});

test("the blob cache is re-verified on every read: a corrupt entry fails, is removed, and is fetched again", async (t) => {
  if (!requireTools(t, [REGISTRY_BIN])) return;
  await withRegistry(async ({ registry, dir }) => {
    const index = await twoPlatformIndex(join(dir, "build"), { seed: "cache" });
    await push(index, `${registry.host}/c/app:1`);
    const cacheDirPath = join(dir, "cache");
    const image = await remoteImage(`${registry.host}/c/app:1`, { platform: AMD64, blobDir: cacheDirPath });
    const layer = (await image.layers())[1]!;
    const digest = await layer.digest();
    const consume = async () => {
      for await (const _ of await layer.compressed()) void _;
    };
    await consume();
    const path = new BlobCache(cacheDirPath).path(digest);
    // Flip one byte in place: same size, wrong content.
    const fh = await open(path, "r+");
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, 1000);
    b[0] = b[0]! ^ 0xff;
    await fh.write(b, 0, 1, 1000);
    await fh.close();
    await assert.rejects(consume(), /digest mismatch/);
    await assert.rejects(stat(path), { code: "ENOENT" });
    await consume();
    assert.equal((await stat(path)).size, await layer.size());
    assert.deepEqual((await readdir(join(cacheDirPath, "sha256"))).filter((n) => n.startsWith(".")), [], "no temp files left");
  });
});

test("non-loopback names use verified HTTPS; insecureRegistries allows falling back to plain HTTP", async (t) => {
  if (!requireTools(t, [REGISTRY_BIN])) return;
  await withRegistry(async ({ registry, dir }) => {
    const index = await twoPlatformIndex(join(dir, "build"), { seed: "insecure" });
    await push(index, `${registry.host}/i/app:1`);
    // 0.0.0.0 reaches the local registry but is not a loopback name, so HTTPS is required.
    const name = `0.0.0.0:${registry.port}`;
    await assert.rejects(remoteIndex(`${name}/i/app:1`, { credentials: null, blobDir: join(dir, "cache") }), (err: unknown) => {
      assert.ok(err instanceof AotpackError);
      assert.match(err.message, new RegExp(`^HEAD https://0\\.0\\.0\\.0:${registry.port}/.*: TLS with 0\\.0\\.0\\.0:${registry.port} failed|^GET https://0\\.0\\.0\\.0:${registry.port}/.*: TLS with`));
      assert.match(err.hint ?? "", /--insecure-registry/);
      return true;
    });
    const pulled = await remoteIndex(`${name}/i/app:1`, { credentials: null, insecureRegistries: [name], blobDir: join(dir, "cache") });
    await validate(pulled);
    assert.equal(await pulled.digest(), await index.digest());
  });
});

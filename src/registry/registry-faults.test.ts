/** Push and pull through a loopback proxy that injects 500s, 429s, dropped and cut connections. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validate } from "../oci/validate.ts";
import { REGISTRY_BIN, requireTools, startRegistry, type TestRegistry } from "../../test/support/index.ts";
import { RegistryClient } from "./client.ts";
import { RegistryError } from "./errors.ts";
import { push } from "./publisher.ts";
import { pull, remoteIndex } from "./remote.ts";
import { startFaultProxy, type FaultProxy } from "./testing/fault-proxy.ts";
import { twoPlatformIndex } from "./testing/fixtures.ts";

/** Several PATCH chunks per layer, so resumption is exercised. */
const CHUNKED = { monolithicMaxBytes: 64 * 1024, chunkBytes: 80 * 1024 };

async function withProxy(options: Parameters<typeof startFaultProxy>[1], fn: (r: TestRegistry, p: FaultProxy, dir: string) => Promise<void>): Promise<void> {
  const registry = await startRegistry();
  const proxy = await startFaultProxy(registry.port, options);
  const dir = await mkdtemp(join(tmpdir(), "aotpack-regfault-"));
  try {
    await fn(registry, proxy, dir);
  } finally {
    await proxy.stop();
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function tagOf(host: string, repo: string, tag: string): Promise<string | undefined> {
  const client = new RegistryClient(host, { credentials: null });
  try {
    return (await client.headManifest(repo, tag))?.digest;
  } finally {
    client.close();
  }
}

test("push and pull complete with correct digests through 500s, 429s (Retry-After), dropped and cut connections", async (t) => {
  if (!requireTools(t, [REGISTRY_BIN])) return;
  await withProxy({ failRate: 0.3, seed: 7, retryAfterSeconds: 1 }, async (registry, proxy, dir) => {
    const index = await twoPlatformIndex(join(dir, "build"), { seed: "faults", layerBytes: 400_000 });
    const retry = { retries: 6, baseDelayMs: 5, maxDelayMs: 50 };
    const result = await push(index, `${proxy.host}/f/app:v1`, { ...CHUNKED, retry, credentials: null });
    assert.equal(result.digest, await index.digest());
    const pushFaults = new Set(proxy.requests.filter((r) => r.fault).map((r) => r.fault));
    assert.deepEqual([...pushFaults].sort(), ["429", "500", "cut", "drop"], "every kind of fault was injected during the push");
    assert.ok(proxy.requests.some((r) => r.fault && r.method === "PATCH"), "a chunk upload failed and was resumed");

    // What the registry holds, read directly (no proxy), is complete and valid.
    assert.equal(await tagOf(registry.host, "f/app", "v1"), result.digest);
    await validate(await remoteIndex(`${registry.host}/f/app:v1`, { credentials: null, blobDir: join(dir, "direct-cache") }));

    // Pull with every response cut half-way the first time (blob bodies included) …
    proxy.reset();
    proxy.failEachOnce("cut");
    const pulled = await pull(`${proxy.host}/f/app:v1`, { retry, credentials: null, blobDir: join(dir, "cache") });
    const cutBlobs = proxy.requests.filter((r) => r.fault === "cut" && r.method === "GET" && r.path.includes("/blobs/"));
    assert.equal(cutBlobs.length, 5, "each of the 5 blob downloads was cut once mid-body");
    assert.equal(pulled.digest, result.digest);
    await validate(pulled.index!);

    // … and with a random share of every kind of fault.
    proxy.reset(11);
    proxy.setFailRate(0.5);
    const again = await pull(`${proxy.host}/f/app:v1`, { retry, credentials: null, blobDir: join(dir, "cache2") });
    assert.ok(proxy.requests.some((r) => r.fault), "the second pull met faults");
    assert.equal(again.digest, result.digest);
    await validate(again.index!);
  });
});

test("when every request fails, the push fails and the tag stays on the previous image", async (t) => {
  if (!requireTools(t, [REGISTRY_BIN])) return;
  await withProxy({ retryAfterSeconds: 0 }, async (registry, proxy, dir) => {
    const before = await twoPlatformIndex(join(dir, "before"), { seed: "before" });
    await push(before, `${registry.host}/f/app:stable`, { credentials: null });
    const after = await twoPlatformIndex(join(dir, "after"), { seed: "after" });
    proxy.failAll = true;
    await assert.rejects(push(after, `${proxy.host}/f/app:stable`, { ...CHUNKED, credentials: null, retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 5 } }), (err: unknown) => {
      assert.ok(err instanceof RegistryError, String(err));
      assert.equal(err.temporary, true);
      return true;
    });
    assert.equal(await tagOf(registry.host, "f/app", "stable"), await before.digest());
  });
});

test("cut off after any number of requests, the tag is either the old image or the whole new one", async (t) => {
  if (!requireTools(t, [REGISTRY_BIN])) return;
  await withProxy({ retryAfterSeconds: 0 }, async (registry, proxy, dir) => {
    const before = await twoPlatformIndex(join(dir, "before"), { seed: "old" });
    const oldDigest = (await push(before, `${registry.host}/f/app:live`, { credentials: null })).digest;
    // How many requests a whole push of a fresh image takes (to another repository).
    proxy.reset();
    await push(await twoPlatformIndex(join(dir, "probe"), { seed: "probe" }), `${proxy.host}/f/probe:x`, { credentials: null });
    const total = proxy.requests.length;
    assert.ok(total >= 19, `a push is 5 blobs x (HEAD, POST, PUT) + 3 manifests + tag; saw ${total}`);
    const cuts = [...new Set([0, 1, Math.floor(total / 3), Math.floor(total / 2), total - 4, total - 3, total - 2, total - 1])];
    for (const n of cuts) {
      const after = await twoPlatformIndex(join(dir, `after-${n}`), { seed: `new-${n}` });
      proxy.reset();
      proxy.failAfter(n);
      await assert.rejects(push(after, `${proxy.host}/f/app:live`, { credentials: null, retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 2 } }), RegistryError, `n=${n}`);
      const tagged = await tagOf(registry.host, "f/app", "live");
      // A cut tag PUT may land on the server while we see an error: then it is the whole new image.
      assert.ok(tagged === oldDigest || tagged === (await after.digest()), `n=${n}: tag is ${tagged}`);
      await validate(await remoteIndex(`${registry.host}/f/app:live`, { credentials: null, blobDir: join(dir, `cache-${n}`) }));
      if (tagged !== oldDigest) await push(before, `${registry.host}/f/app:live`, { credentials: null });
    }
    proxy.reset();
    proxy.failAfter(total);
    const last = await twoPlatformIndex(join(dir, "last"), { seed: "last" });
    assert.equal((await push(last, `${proxy.host}/f/app:live`, { credentials: null })).digest, await last.digest());
    assert.equal(await tagOf(registry.host, "f/app", "live"), await last.digest());
  });
});

test("a proxy that limits request bodies (413) gets smaller PATCH chunks, and the push completes", async (t) => {
  if (!requireTools(t, [REGISTRY_BIN])) return;
  await withProxy({ maxBodyBytes: 7 * 1024 * 1024 }, async (registry, proxy, dir) => {
    // 12 MiB layers: under the monolithic limit, over the proxy's.
    const index = await twoPlatformIndex(join(dir, "build"), { seed: "413", layerBytes: 12 * 1024 * 1024 });
    const result = await push(index, `${proxy.host}/f/big:v1`, { credentials: null, retry: { baseDelayMs: 1, maxDelayMs: 5 } });
    assert.equal(result.digest, await index.digest());
    assert.equal(proxy.requests.filter((r) => r.fault === "413" && r.method === "PUT").length, 2, "each big layer's single PUT was refused once");
    assert.ok(proxy.requests.filter((r) => r.method === "PATCH" && !r.fault).length >= 4, "then went up in chunks");
    await validate(await remoteIndex(`${registry.host}/f/big:v1`, { credentials: null, blobDir: join(dir, "cache") }));
  });
});

/**
 * The contract every Publisher keeps (layout, oci-archive, registry …). Call
 * publisherContract(...) at the top level of a *.test.ts file; it registers a
 * `describe` block of node:test tests.
 */
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { contractDirs } from "../../oci/testing/contract-dirs.ts";
import { isImageIndex, type Image, type ImageIndex, type Layer } from "../../oci/interfaces.ts";
import { appendLayers, emptyImage, newIndex } from "../../oci/mutate.ts";
import { parsePlatform } from "../../oci/platform.ts";
import { buildHelloIndex } from "../../oci/testing/fixtures.ts";
import { validate } from "../../oci/validate.ts";
import type { ProgressEvent, Publisher } from "../types.ts";

export interface ContractContext {
  /** A fresh temp directory for this test (removed afterwards); put outputs under it. */
  dir: string;
}

export interface ContractOptions {
  /** Temp, partial or orphaned (unreferenced) files in the sink; checked to be none after a failed publish. */
  leftovers?: (ctx: ContractContext) => Promise<string[]>;
  /** Per-test timeout; default 120 s. */
  timeoutMs?: number;
}

/** A layer that behaves like `inner` but whose stored bytes fail after the first chunk. */
export function failingLayer(inner: Layer): Layer {
  return {
    digest: () => inner.digest(),
    diffId: () => inner.diffId(),
    size: () => inner.size(),
    mediaType: () => inner.mediaType(),
    uncompressed: () => inner.uncompressed(),
    compressed: async () => {
      const real = await inner.compressed();
      async function* broken(): AsyncGenerator<Buffer> {
        for await (const chunk of real as AsyncIterable<Buffer>) {
          yield (chunk as Buffer).subarray(0, Math.max(1, Math.floor(chunk.length / 2)));
          break;
        }
        real.destroy();
        throw new Error("simulated read failure in the middle of a layer");
      }
      return Readable.from(broken());
    },
  };
}

/** An index like `good` but with its amd64 layer failing mid-stream. */
async function brokenVariant(work: string, message: string): Promise<ImageIndex> {
  const fresh = await buildHelloIndex(work, { message });
  const [layer] = await fresh.amd64.layers();
  const [goodLayer] = await fresh.arm64.layers();
  // A new good layer first, so the sink has stored something before the failure.
  const broken = appendLayers(emptyImage(parsePlatform("linux/amd64")), [{ layer: goodLayer! }, { layer: failingLayer(layer!) }]);
  return newIndex([{ image: broken }, { image: fresh.arm64 }]);
}

async function childDigests(item: Image | ImageIndex): Promise<string[]> {
  if (!isImageIndex(item)) return [await item.digest()];
  return (await item.indexManifest()).manifests.map((m) => m.digest);
}

export function publisherContract(
  name: string,
  makePublisher: (ctx: ContractContext) => Promise<Publisher> | Publisher,
  readBack: (publisher: Publisher, tag: string, ctx: ContractContext) => Promise<Image | ImageIndex | undefined>,
  options: ContractOptions = {},
): void {
  const timeout = options.timeoutMs ?? 120_000;
  describe(`Publisher contract: ${name}`, () => {
    const context: () => Promise<ContractContext> = contractDirs("aotpack-contract-");

    test("publishes a two-platform index that reads back valid, with identical digests", { timeout }, async () => {
      const ctx = await context();
      const work = join(ctx.dir, "work");
      await mkdir(work);
      const fixture = await buildHelloIndex(work, { message: `contract ${name} round trip` });
      const publisher = await makePublisher(ctx);
      const events: ProgressEvent[] = [];
      const result = await publisher.publish(fixture.index, { tag: "v1", onProgress: (e) => events.push(e) });
      assert.equal(result.digest, await fixture.index.digest());
      assert.equal(result.mediaType, await fixture.index.mediaType());
      assert.equal(result.size, await fixture.index.size());
      assert.ok(result.reference.length > 0);

      const back = await readBack(publisher, "v1", ctx);
      assert.ok(back, "the published tag reads back");
      await validate(back);
      assert.equal(await back.digest(), await fixture.index.digest());
      assert.ok(isImageIndex(back));
      assert.deepEqual(await childDigests(back), await childDigests(fixture.index));
      const amd64Back = await back.image(await fixture.amd64.digest());
      assert.deepEqual(await amd64Back.rawConfigFile(), await fixture.amd64.rawConfigFile());

      // Every layer reported complete, and the index itself reported as a manifest.
      for (const image of [fixture.amd64, fixture.arm64]) {
        for (const layer of await image.layers()) {
          const digest = await layer.digest();
          const size = await layer.size();
          assert.ok(
            events.some((e) => e.kind === "blob" && e.digest === digest && e.done === size && e.total === size),
            `progress reports layer ${digest} complete`,
          );
        }
      }
      assert.ok(events.some((e) => e.kind === "manifest" && e.digest === result.digest), "progress reports the index manifest");
    });

    test("publishing the same thing twice is idempotent", { timeout }, async () => {
      const ctx = await context();
      const work = join(ctx.dir, "work");
      await mkdir(work);
      const fixture = await buildHelloIndex(work, { message: `contract ${name} twice` });
      const publisher = await makePublisher(ctx);
      const first = await publisher.publish(fixture.index, { tag: "again" });
      const second = await publisher.publish(fixture.index, { tag: "again" });
      assert.deepEqual(second, first);
      const back = await readBack(publisher, "again", ctx);
      assert.ok(back);
      await validate(back);
      assert.equal(await back.digest(), first.digest);
    });

    test("a tag moves to the newest publish; other tags stay", { timeout }, async () => {
      const ctx = await context();
      const work = join(ctx.dir, "work");
      await mkdir(work);
      const fixture = await buildHelloIndex(work, { message: `contract ${name} retag` });
      const publisher = await makePublisher(ctx);
      await publisher.publish(fixture.index, { tag: "stable" });
      await publisher.publish(fixture.index, { tag: "moving" });
      await publisher.publish(fixture.amd64, { tag: "moving" });
      const moving = await readBack(publisher, "moving", ctx);
      const stable = await readBack(publisher, "stable", ctx);
      assert.ok(moving && stable);
      assert.equal(await moving.digest(), await fixture.amd64.digest());
      assert.equal(await stable.digest(), await fixture.index.digest());
      await validate(moving);
    });

    test("a failed publish leaves no partial output and never moves a tag", { timeout }, async () => {
      const ctx = await context();
      const work = join(ctx.dir, "work");
      await mkdir(work);
      const publisher = await makePublisher(ctx);

      // Into a fresh sink: nothing readable afterwards.
      const broken1 = await brokenVariant(work, `contract ${name} broken fresh`);
      await assert.rejects(publisher.publish(broken1, { tag: "broken" }), /simulated read failure|digest|size/);
      assert.equal(await readBack(publisher, "broken", ctx), undefined, "a failed publish is not readable");

      // Into a sink that already holds a good image: it stays intact and its tag does not move.
      const good = await buildHelloIndex(work, { message: `contract ${name} good` });
      await publisher.publish(good.index, { tag: "good" });
      const broken2 = await brokenVariant(work, `contract ${name} broken append`);
      await assert.rejects(publisher.publish(broken2, { tag: "good" }), /simulated read failure|digest|size/);
      await assert.rejects(publisher.publish(broken2, { tag: "other" }), /simulated read failure|digest|size/);
      assert.equal(await readBack(publisher, "other", ctx), undefined);
      const stillGood = await readBack(publisher, "good", ctx);
      assert.ok(stillGood);
      assert.equal(await stillGood.digest(), await good.index.digest());
      await validate(stillGood);
      if (options.leftovers) assert.deepEqual(await options.leftovers(ctx), [], "no temp or partial files left");
    });
  });
}

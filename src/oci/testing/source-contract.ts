/**
 * The contract every image source keeps (layout dir, oci-archive, docker-archive, registry):
 * the same bytes read back with the same digests, and the same refusals (tampered blob,
 * missing blob, oversized config, diff_ids that do not match the layers) with the same
 * error. Call sourceContract(...) at the top level of a *.test.ts file.
 */
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { contractDirs } from "./contract-dirs.ts";
import { AotpackError } from "../../errors.ts";
import { sha256, type Digest } from "../digest.ts";
import { isImageIndex, type Image, type ImageIndex, type Layer } from "../interfaces.ts";
import { canonicalJson } from "../json.ts";
import { MediaType } from "../media-types.ts";
import type { ImageConfigFile, ImageManifest } from "../types.ts";
import { validate } from "../validate.ts";
import { buildHelloIndex } from "./fixtures.ts";

export interface SourceContext {
  /** A fresh temp directory for this test (removed afterwards). */
  dir: string;
}

export interface SourceUnderTest {
  /** Store `item` under `tag` in this kind of source. A source that holds one image (docker-archive) is given one. */
  write(item: Image | ImageIndex, tag: string, ctx: SourceContext): Promise<void>;
  /** Open what `write` stored, afresh (no state carried over from an earlier open). */
  open(tag: string, ctx: SourceContext): Promise<Image | ImageIndex>;
  /** Change one byte of the stored blob, keeping its size. */
  tamper(digest: Digest, ctx: SourceContext): Promise<void>;
  /** Make the stored blob disappear. */
  remove(digest: Digest, ctx: SourceContext): Promise<void>;
  /** Holds a single image only (docker-archive): the index tests use one platform's image. */
  singleImage?: boolean;
}

/** An image exactly as given: no limits, no checks (what a hostile writer can store). */
export function rawImage(rawConfig: Buffer, layers: Layer[], layerDescs: ImageManifest["layers"]): Image {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: sha256(rawConfig), size: rawConfig.length },
    layers: layerDescs,
  };
  const raw = canonicalJson(manifest);
  return {
    mediaType: async () => MediaType.OciManifest,
    rawManifest: async () => raw,
    manifest: async () => JSON.parse(raw.toString("utf8")) as ImageManifest,
    digest: async () => sha256(raw),
    size: async () => raw.length,
    rawConfigFile: async () => rawConfig,
    configFile: async () => JSON.parse(rawConfig.toString("utf8")) as ImageConfigFile,
    layers: async () => layers,
    layerByDigest: async () => {
      throw new Error("not used");
    },
  };
}

/** `image` (one layer) with its config replaced by `edit(config)`, serialised as is. */
async function withRawConfig(image: Image, edit: (cfg: ImageConfigFile) => unknown): Promise<Image> {
  const cfg = JSON.parse((await image.rawConfigFile()).toString("utf8")) as ImageConfigFile;
  const raw = Buffer.from(JSON.stringify(edit(cfg)));
  return rawImage(raw, await image.layers(), (await image.manifest()).layers);
}

async function drain(stream: Readable): Promise<void> {
  for await (const _ of stream) void _;
}

async function imageOf(item: Image | ImageIndex, digest: Digest): Promise<Image> {
  if (!isImageIndex(item)) return item;
  return item.image(digest);
}

const MiB = 1024 * 1024;

export function sourceContract(name: string, source: SourceUnderTest, options: { timeoutMs?: number } = {}): void {
  const timeout = options.timeoutMs ?? 120_000;
  describe(`Source contract: ${name}`, () => {
    const context: () => Promise<SourceContext> = contractDirs("aotpack-source-contract-");
    const fixture = async (ctx: SourceContext, message: string) => {
      const work = join(ctx.dir, "work");
      await mkdir(work, { recursive: true });
      const f = await buildHelloIndex(work, { message: `source ${name} ${message}` });
      return { ...f, item: source.singleImage ? f.amd64 : (f.index as Image | ImageIndex) };
    };

    test("reads back what was stored with identical digests, config bytes and layers", { timeout }, async () => {
      const ctx = await context();
      const f = await fixture(ctx, "round trip");
      await source.write(f.item, "v1", ctx);
      const back = await source.open("v1", ctx);
      assert.equal(await back.digest(), await f.item.digest());
      assert.equal(await back.size(), await f.item.size());
      assert.deepEqual(await back.rawManifest(), await f.item.rawManifest());
      assert.equal(isImageIndex(back), isImageIndex(f.item));
      const amd64 = await imageOf(back, await f.amd64.digest());
      assert.deepEqual(await amd64.rawConfigFile(), await f.amd64.rawConfigFile());
      const [want] = await f.amd64.layers();
      const [got] = await amd64.layers();
      assert.ok(want && got);
      assert.equal(await got.digest(), await want.digest());
      assert.equal(await got.diffId(), await want.diffId());
      assert.equal(await got.size(), await want.size());
      assert.equal(await got.mediaType(), await want.mediaType());
      assert.equal(await (await amd64.layerByDigest(await want.digest())).digest(), await want.digest());
      await validate(back);
    });

    test("a tampered layer blob is refused while it streams (digest mismatch)", { timeout }, async () => {
      const ctx = await context();
      const f = await fixture(ctx, "tampered");
      await source.write(f.item, "v1", ctx);
      const [layer] = await f.amd64.layers();
      await source.tamper(await layer!.digest(), ctx);
      const back = await imageOf(await source.open("v1", ctx), await f.amd64.digest());
      const [got] = await back.layers();
      await assert.rejects(async () => drain(await got!.compressed()), (e: unknown) => e instanceof AotpackError && e.exitCode === 1 && /digest mismatch/.test(e.message));
    });

    test("a missing layer blob and an unknown layer digest are the same BlobNotFoundError", { timeout }, async () => {
      const ctx = await context();
      const f = await fixture(ctx, "missing");
      await source.write(f.item, "v1", ctx);
      const [layer] = await f.amd64.layers();
      const back = await imageOf(await source.open("v1", ctx), await f.amd64.digest());
      const notFound = (e: unknown): boolean => e instanceof AotpackError && e.name === "BlobNotFoundError" && e.exitCode === 1;
      await assert.rejects(back.layerByDigest(sha256("no such layer")), notFound);
      await source.remove(await layer!.digest(), ctx);
      // Whenever the blob is first needed: a docker-archive needs every layer's size to open.
      await assert.rejects(async () => {
        const again = await imageOf(await source.open("v1", ctx), await f.amd64.digest());
        const [got] = await again.layers();
        await drain(await got!.compressed());
      }, notFound);
    });

    test("one config limit: a 12 MiB config reads back, a 17 MiB one is refused", { timeout }, async () => {
      const ctx = await context();
      const f = await fixture(ctx, "big config");
      const big = await withRawConfig(f.amd64, (cfg) => ({ ...cfg, config: { ...cfg.config, Labels: { big: "x".repeat(12 * MiB) } } }));
      await source.write(big, "big", ctx);
      const back = await imageOf(await source.open("big", ctx), await big.digest());
      assert.deepEqual(await back.rawConfigFile(), await big.rawConfigFile());

      const huge = await withRawConfig(f.amd64, (cfg) => ({ ...cfg, config: { ...cfg.config, Labels: { big: "x".repeat(17 * MiB) } } }));
      await source.write(huge, "huge", ctx);
      const hugeBack = await imageOf(await source.open("huge", ctx), await huge.digest());
      await assert.rejects(hugeBack.rawConfigFile(), (e: unknown) => e instanceof AotpackError && /config .* is larger than 16777216 bytes/.test(e.message));
    });

    test("one diff_id rule: a config whose diff_ids do not match the layers is refused by layers()", { timeout }, async () => {
      const ctx = await context();
      const f = await fixture(ctx, "diff_ids");
      const none = await withRawConfig(f.amd64, (cfg) => ({ ...cfg, rootfs: { type: "layers", diff_ids: [] } }));
      await source.write(none, "none", ctx);
      const back = await imageOf(await source.open("none", ctx), await none.digest());
      await assert.rejects(back.layers(), (e: unknown) => e instanceof AotpackError && /1 layers but 0 diff_ids in its config/.test(e.message));

      const malformed = await withRawConfig(f.amd64, (cfg) => ({ ...cfg, rootfs: { type: "layers", diff_ids: ["sha256:nothex"] } }));
      await source.write(malformed, "malformed", ctx);
      const back2 = await imageOf(await source.open("malformed", ctx), await malformed.digest());
      await assert.rejects(back2.layers(), (e: unknown) => e instanceof AotpackError && /diff_id "sha256:nothex" .*is not a sha256 digest/.test(e.message));
    });
  });
}

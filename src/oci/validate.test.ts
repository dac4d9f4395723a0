import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { test } from "node:test";
import { createGzip } from "node:zlib";
import * as tarStream from "tar-stream";
import { tempDir } from "../../test/support/tools.ts";
import { AotpackError } from "../errors.ts";
import { DigestCounter } from "./digest.ts";
import { layerFromBlobFile } from "./layer.ts";
import { readLayout } from "./layout-source.ts";
import { MediaType } from "./media-types.ts";
import { appendLayers, emptyImage, newIndex, withConfig } from "./mutate.ts";
import { parsePlatform } from "./platform.ts";
import { buildHelloIndex } from "./testing/fixtures.ts";
import { validate } from "./validate.ts";
import { layoutPublisher } from "../publish/layout.ts";

test("a good two-platform index validates", async (t) => {
  const dir = await tempDir(t);
  const { index } = await buildHelloIndex(dir);
  await validate(index);
});

test("every problem is listed in one error: platform mismatch, wrong diff_id, across a nested index", async (t) => {
  const dir = await tempDir(t);
  const { amd64, arm64 } = await buildHelloIndex(dir);
  const wrongDiff = withConfig(arm64, (cfg) => ({ ...cfg, rootfs: { type: "layers", diff_ids: [`sha256:${"0".repeat(64)}`] } }));
  const inner = newIndex([
    { image: amd64, platform: parsePlatform("linux/arm64") },
    { image: wrongDiff },
  ]);
  const outer = newIndex([{ image: inner }]);
  await assert.rejects(validate(outer), (e: unknown) => {
    assert.ok(e instanceof AotpackError);
    assert.ok(!e.message.includes("\n"), "one line");
    assert.match(e.message, /^invalid index sha256:[a-f0-9]{64}: 2 problems: /);
    assert.match(e.message, /index > manifests\[0\] > manifests\[0\] \(linux\/arm64\): index says platform linux\/arm64 but the image config says linux\/amd64/);
    assert.match(e.message, /manifests\[1\] \(linux\/arm64\) > layer 0 \(sha256:[a-f0-9]{64}\): config diff_id sha256:0{64} but the uncompressed tar hashes to sha256:/);
    return true;
  });
});

test("a layer with the same path twice is found", async (t) => {
  const dir = await tempDir(t);
  // Hand-made with tar-stream: createLayer itself refuses duplicates.
  const pack = tarStream.pack();
  pack.entry({ name: "etc/", type: "directory" });
  pack.entry({ name: "etc/passwd", size: 1 }, "a");
  pack.entry({ name: "./etc/passwd", size: 1 }, "b");
  pack.finalize();
  const blob = join(dir, "dup.tar.gz");
  const diff = new DigestCounter();
  const compressed = new DigestCounter();
  await pipeline(pack as unknown as NodeJS.ReadableStream, diff, createGzip(), compressed, createWriteStream(blob));
  const { digest, size } = compressed.result();
  const layer = layerFromBlobFile(blob, { mediaType: MediaType.OciLayerGzip, digest, size }, diff.result().digest);
  const image = appendLayers(emptyImage(parsePlatform("linux/amd64")), [{ layer }]);
  await assert.rejects(validate(image), /1 problem: image > layer 0 \(sha256:[a-f0-9]{64}\): duplicate paths \/etc\/passwd$/);
});

test("a tampered blob in a layout is reported, not trusted", async (t) => {
  const dir = await tempDir(t);
  const fixture = await buildHelloIndex(join(dir));
  const out = join(dir, "layout");
  await layoutPublisher(out).publish(fixture.index, { tag: "v1" });
  const [layer] = await fixture.amd64.layers();
  const path = join(out, "blobs", "sha256", (await layer!.digest()).slice(7));
  const bytes = await readFile(path);
  bytes[20] = (bytes[20] ?? 0) ^ 0xff;
  await writeFile(path, bytes);
  const back = await (await readLayout(out)).resolve("v1");
  await assert.rejects(validate(back), /manifests\[0\] \(linux\/amd64\) > layer 0 .*digest mismatch/);
});

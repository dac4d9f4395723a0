/** One platform choice everywhere: the same images are found, at the same nesting depth, by every caller. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { tempDir } from "../../test/support/tools.ts";
import type { ImageIndex } from "../oci/interfaces.ts";
import { newIndex } from "../oci/mutate.ts";
import { parsePlatform } from "../oci/platform.ts";
import { buildHelloIndex } from "../oci/testing/fixtures.ts";
import { chooseImage } from "./docker-archive.ts";
import { selectPlatformImage, listPlatforms } from "../verify/run.ts";

test("an image six indexes deep is found by verify/run and docker-archive alike", async (t) => {
  const dir = await tempDir(t);
  const f = await buildHelloIndex(dir);
  let nested: ImageIndex = newIndex([{ image: f.arm64 }]);
  for (let i = 0; i < 5; i++) nested = newIndex([{ image: nested }]);
  const arm64 = parsePlatform("linux/arm64");
  assert.equal(await (await chooseImage(nested, arm64)).digest(), await f.arm64.digest());
  assert.equal(await (await chooseImage(nested, undefined)).digest(), await f.arm64.digest(), "the only image");
  assert.equal(await (await selectPlatformImage(nested, arm64)).image.digest(), await f.arm64.digest());
  assert.deepEqual(await listPlatforms(nested), [arm64]);
});

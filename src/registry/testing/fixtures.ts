/** Small real images for registry tests, built with the OCI model (layers are real gzip tars). */
import { createHash } from "node:crypto";
import { createLayer } from "../../oci/layer.ts";
import { appendLayers, emptyImage, newIndex } from "../../oci/mutate.ts";
import type { ImageIndex } from "../../oci/interfaces.ts";
import type { Platform } from "../../oci/platform.ts";

/** Deterministic incompressible bytes (so a layer really is `size` bytes on the wire). */
export function pseudoRandomBytes(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash("sha256").update(seed).digest();
  for (let off = 0; off < size; off += block.length) {
    block.copy(out, off);
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

export const AMD64: Platform = { os: "linux", architecture: "amd64" };
export const ARM64: Platform = { os: "linux", architecture: "arm64" };

/**
 * Index of two platform images, each with one shared small layer and one own layer
 * of `layerBytes` incompressible bytes. `seed` makes different images per test.
 */
export async function twoPlatformIndex(blobDir: string, options: { layerBytes?: number; seed?: string } = {}): Promise<ImageIndex> {
  const seed = options.seed ?? "aotpack";
  const size = options.layerBytes ?? 200_000;
  const shared = await createLayer([{ path: "/etc/motd", type: "file", content: `shared ${seed}\n` }], { blobDir, sourceDateEpoch: 0 });
  const images = [];
  for (const platform of [AMD64, ARM64]) {
    const own = await createLayer(
      [{ path: "/app/data.bin", type: "file", content: pseudoRandomBytes(size, `${seed}/${platform.architecture}`) }],
      { blobDir, sourceDateEpoch: 0 },
    );
    images.push({ image: appendLayers(emptyImage(platform, { sourceDateEpoch: 0 }), [{ layer: shared }, { layer: own }]), platform });
  }
  return newIndex(images);
}

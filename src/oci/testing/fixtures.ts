/** Test images built with the real layer code: a two-platform index of tiny static hello binaries. */
import { join } from "node:path";
import type { ImageIndex, Image, Layer } from "../interfaces.ts";
import { sha256 } from "../digest.ts";
import { MediaType } from "../media-types.ts";
import { createLayer, type LayerOptions } from "../layer.ts";
import { appendLayers, emptyImage, imageFromParts, newIndex, withConfig } from "../mutate.ts";
import { parsePlatform } from "../platform.ts";
import { writeStaticHello } from "./static-elf.ts";

export interface HelloIndex {
  index: ImageIndex;
  amd64: Image;
  arm64: Image;
  /** The line each platform's binary prints. */
  lines: { amd64: string; arm64: string };
}

/**
 * Write the hello binaries under `workDir` and build the index; layer blobs go to
 * `workDir/blobs` unless options.blobDir says otherwise.
 */
export async function buildHelloIndex(
  workDir: string,
  options: LayerOptions & { message?: string } = {},
): Promise<HelloIndex> {
  const { message = "hello from aotpack", ...layerOptions } = options;
  const lines = { amd64: `${message} (amd64)`, arm64: `${message} (arm64)` };
  const images: Record<"amd64" | "arm64", Image> = {} as Record<"amd64" | "arm64", Image>;
  for (const arch of ["amd64", "arm64"] as const) {
    const bin = join(workDir, `hello-${arch}`);
    await writeStaticHello(bin, arch, lines[arch]);
    const layer = await createLayer(
      [
        { path: "/app/hello", type: "file", source: bin, mode: 0o755 },
        { path: "/etc/passwd", type: "file", content: "root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n" },
        { path: "/tmp", type: "directory", mode: 0o1777 },
      ],
      { blobDir: join(workDir, "blobs"), ...layerOptions },
    );
    images[arch] = withConfig(
      appendLayers(emptyImage(parsePlatform(`linux/${arch}`), layerOptions.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: layerOptions.sourceDateEpoch }), [
        { layer, history: { created_by: "aotpack test fixture" } },
      ]),
      (cfg) => ({ ...cfg, config: { ...cfg.config, Entrypoint: ["/app/hello"], User: "65534:65534", Env: ["PATH=/app"] } }),
    );
  }
  return { index: newIndex([{ image: images.amd64 }, { image: images.arm64 }]), amd64: images.amd64, arm64: images.arm64, lines };
}

/**
 * An image as Docker writes one (Docker media types for the manifest, config and layers) over a
 * config's raw bytes and layers made by createLayer: what a pulled docker.io base looks like.
 */
export function dockerImage(rawConfig: Buffer, layers: Layer[]): Image {
  return imageFromParts(async () => ({
    manifest: {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerConfig, digest: sha256(rawConfig), size: rawConfig.length },
      layers: await Promise.all(layers.map(async (l) => ({ mediaType: MediaType.DockerLayerGzip, digest: await l.digest(), size: await l.size() }))),
    },
    rawConfig,
    layers: layers.map((l) => ({ ...l, mediaType: async () => MediaType.DockerLayerGzip })),
  }));
}

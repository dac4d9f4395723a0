/**
 * A separate process that publishes one image to an OCI layout, for the concurrency and
 * kill tests: `node --import tsx publish-child.ts OUT TAG BYTES [slow]`. The single layer
 * is BYTES of deterministic data; `slow` streams it 64 KiB at a time with pauses, so a
 * parent can kill the writer mid-blob.
 */
import { Readable } from "node:stream";
import tar from "tar-stream";
import { setTimeout as sleep } from "node:timers/promises";
import { sha256 } from "../../oci/digest.ts";
import type { Layer } from "../../oci/interfaces.ts";
import { MediaType } from "../../oci/media-types.ts";
import { appendLayers, emptyImage } from "../../oci/mutate.ts";
import { parsePlatform } from "../../oci/platform.ts";
import { layoutPublisher } from "../layout.ts";

const [out, tag, bytes, slow] = process.argv.slice(2);
const content = Buffer.alloc(Number(bytes));
for (let i = 0; i < content.length; i++) content[i] = (i * 31 + 7) & 0xff;
// A real tar (one file) so readers can scan the layer.
const pack = tar.pack();
pack.entry({ name: "data.bin", size: content.length, mode: 0o644, mtime: new Date(0) }, content);
pack.finalize();
const parts: Buffer[] = [];
for await (const c of pack) parts.push(c as Buffer);
const data = Buffer.concat(parts);
const digest = sha256(data);
const chunks = async function* () {
  for (let i = 0; i < data.length; i += 65536) {
    if (slow) await sleep(20);
    yield data.subarray(i, i + 65536);
  }
};
const layer: Layer = {
  digest: async () => digest,
  diffId: async () => digest,
  size: async () => data.length,
  mediaType: async () => MediaType.OciLayer,
  compressed: async () => Readable.from(chunks()),
  uncompressed: async () => Readable.from(chunks()),
};
const image = appendLayers(emptyImage(parsePlatform("linux/amd64"), { sourceDateEpoch: 0 }), [{ layer }]);
await layoutPublisher(out!).publish(image, { tag: tag! });

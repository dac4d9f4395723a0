/** Streams of stored blobs, checked against their digest while they flow. */
import { Readable, type Transform } from "node:stream";
import { DigestVerifier, type Digest } from "./digest.ts";
import { fileReadStream, fsError } from "./fs-util.ts";
import { AotpackError } from "../errors.ts";

/** Connect `from` → `to`, destroying `to` with `mapError(err)` if `from` fails, and `from` if `to` is destroyed early. */
export function chain<T extends Transform>(from: Readable, to: T, mapError: (err: unknown) => unknown = (e) => e): T {
  from.on("error", (err) => to.destroy(mapError(err) as Error));
  to.on("close", () => {
    if (!from.destroyed) from.destroy();
  });
  from.pipe(to);
  return to;
}

/** Read (part of) a file as a blob, verified against digest and size while streaming. */
export function verifiedFileStream(
  path: string,
  expected: { digest: Digest; size?: number },
  range?: { start: number; length: number },
): Readable {
  const source =
    range !== undefined && range.length === 0
      ? Readable.from([])
      : range === undefined
      ? fileReadStream(path)
      : fileReadStream(path, { start: range.start, end: range.start + range.length - 1 });
  const verifier = new DigestVerifier(expected.digest, expected.size, `blob ${expected.digest} (${path})`);
  return chain(source, verifier, (err) => fsError(err, "reading", path));
}

/** Read a whole small stream into memory (manifests, configs), refusing more than `limit` bytes. */
export async function readSmall(stream: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      stream.destroy();
      throw new AotpackError(`${what} is larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

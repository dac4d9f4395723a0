/** Layer (de)compression streams: deterministic gzip, zstd where the running Node has it. */
import { PassThrough, Transform, type TransformCallback } from "node:stream";
import * as zlib from "node:zlib";
import { AotpackError } from "../errors.ts";
import type { Compression } from "./media-types.ts";

/** Fixed so the same tar always gives the same blob (with the same zlib). */
export const GZIP_LEVEL = 6;
/** Byte 9 of the gzip header; 255 = "unknown", what Go's compress/gzip writes, and the same on every host OS. */
const GZIP_OS_BYTE = 255;

type ZstdFactory = (options?: Record<string, unknown>) => Transform;
const zlibZstd = zlib as unknown as { createZstdCompress?: ZstdFactory; createZstdDecompress?: ZstdFactory };

export function zstdAvailable(): boolean {
  return typeof zlibZstd.createZstdCompress === "function" && typeof zlibZstd.createZstdDecompress === "function";
}

function zstdMissing(): AotpackError {
  return new AotpackError(
    `zstd needs Node >= 22.15 (running ${process.version}); use --compression gzip or run under a newer Node`,
  );
}

/** Throws the one-line zstd error early, before any output is written. */
export function assertCompressionAvailable(c: Compression): void {
  if (c === "zstd" && !zstdAvailable()) throw zstdMissing();
}

/**
 * Node's gzip already writes mtime 0 and no file name; the OS byte depends on the
 * host OS zlib was built for, so we overwrite it.
 */
class GzipHeaderFixer extends Transform {
  #seen = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.#seen <= 9 && this.#seen + chunk.length > 9) {
      const copy = Buffer.from(chunk);
      copy[9 - this.#seen] = GZIP_OS_BYTE;
      chunk = copy;
    }
    this.#seen += chunk.length;
    cb(null, chunk);
  }
}

/** The pipeline stages that compress a tar stream (gzip is zlib followed by the header fixer). */
export function compressStages(c: Compression, gzipLevel: number = GZIP_LEVEL): Transform[] {
  if (c === "none") return [];
  if (c === "zstd") {
    if (!zlibZstd.createZstdCompress) throw zstdMissing();
    return [zlibZstd.createZstdCompress()];
  }
  return [zlib.createGzip({ level: gzipLevel }), new GzipHeaderFixer()];
}

export function decompressStream(c: Compression): Transform {
  if (c === "none") return new PassThrough();
  if (c === "zstd") {
    if (!zlibZstd.createZstdDecompress) throw zstdMissing();
    return zlibZstd.createZstdDecompress();
  }
  return zlib.createGunzip();
}

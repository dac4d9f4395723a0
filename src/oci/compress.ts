/** Layer (de)compression streams: deterministic gzip, zstd where the running Node has it. */
import { PassThrough, Transform, type TransformCallback } from "node:stream";
import * as zlib from "node:zlib";
import { AotpackError, UsageError } from "../errors.ts";
import type { ChunkCache } from "./chunk-cache.ts";
import { CHUNKED_GZIP_LEVEL, ChunkedCompressor, chunkEncoderId, ZSTD_LEVEL, zstdVersion } from "./chunked-compress.ts";
import type { Compression } from "./media-types.ts";

/** Fixed so the same tar always gives the same blob (with the same zlib): the single-stream level. */
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

/**
 * "chunked" (default): pigz-style parallel chunks with a chunk cache (chunked-compress.ts);
 * "stream": one zlib/zstd stream, as before, kept for comparison (AOTPACK_COMPRESSOR=stream).
 */
export type Encoder = "chunked" | "stream";

export function encoderFromEnv(env: NodeJS.ProcessEnv = process.env): Encoder {
  const v = env.AOTPACK_COMPRESSOR?.trim();
  if (v === undefined || v === "" || v === "chunked") return "chunked";
  if (v === "stream") return "stream";
  throw new UsageError(`invalid AOTPACK_COMPRESSOR "${v}": expected chunked or stream`);
}

export interface CompressOptions {
  gzipLevel?: number;
  encoder?: Encoder;
  /** chunked only: where compressed chunks are reused from. */
  chunkCache?: ChunkCache;
  /** chunked only: a dedicated pool of this many workers; default the shared one-per-core pool. */
  workers?: number;
}

/**
 * Everything a compressed blob's bytes depend on besides its tar: the encoder, its library's version
 * and the level. Caches of compressed layers key on it, so an aotpack whose encoder changed (a new
 * libdeflate, another level) makes its layers anew and gives the digest a fresh cache gives.
 */
export function compressorIdentity(c: Compression, options: Pick<CompressOptions, "encoder" | "gzipLevel"> = {}): string {
  if (c === "none") return "none";
  const encoder = options.encoder ?? encoderFromEnv();
  if (encoder === "chunked") return chunkEncoderId(c, c === "gzip" ? (options.gzipLevel ?? CHUNKED_GZIP_LEVEL) : ZSTD_LEVEL);
  return c === "gzip" ? `stream gzip zlib-${process.versions.zlib} level ${options.gzipLevel ?? GZIP_LEVEL}` : `stream zstd zstd-${zstdVersion()}`;
}

/** The pipeline stages that compress a tar stream. */
export function compressStages(c: Compression, options: CompressOptions = {}): Transform[] {
  if (c === "none") return [];
  if (c === "zstd" && !zlibZstd.createZstdCompress) throw zstdMissing();
  if ((options.encoder ?? "chunked") === "chunked") {
    const level = options.gzipLevel ?? CHUNKED_GZIP_LEVEL;
    const cache = options.chunkCache ? { cache: options.chunkCache } : {};
    const workers = options.workers !== undefined ? { workers: options.workers } : {};
    return [new ChunkedCompressor({ codec: c, ...(c === "gzip" ? { level } : {}), ...cache, ...workers })];
  }
  if (c === "zstd") return [zlibZstd.createZstdCompress!()];
  return [zlib.createGzip({ level: options.gzipLevel ?? GZIP_LEVEL }), new GzipHeaderFixer()];
}

export function decompressStream(c: Compression): Transform {
  if (c === "none") return new PassThrough();
  if (c === "zstd") {
    if (!zlibZstd.createZstdDecompress) throw zstdMissing();
    return zlibZstd.createZstdDecompress();
  }
  return zlib.createGunzip();
}

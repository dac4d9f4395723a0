/**
 * pigz-style chunked compression with a content-keyed chunk cache.
 *
 * gzip: the stream is cut into fixed chunks; each is raw-deflated on its own by libdeflate, which
 * compresses better and faster than zlib even without the previous chunk as a dictionary
 * (docs/decisions.md). Its final block is then made non-final and the chunk ended on an empty stored
 * block, as a sync flush ends it (deflate-blocks.ts). Header + chunks + one empty final block +
 * trailer (CRC-32 combined from the chunks' CRCs, length mod 2^32) is ONE ordinary gzip member.
 * zstd: each chunk is its own frame; concatenated frames are one valid zstd stream.
 *
 * A chunk's bytes depend only on (its bytes, codec, level, encoder version), so they are cached
 * under the hash of exactly that: a rebuild compresses only chunks that changed, and runtime bytes
 * shared by projects and builds are compressed once, wherever in a layer they sit. Output is the
 * same at every worker count, since chunk boundaries depend only on the byte offset.
 */
import { Transform, type TransformCallback } from "node:stream";
import type { ChunkCache } from "./chunk-cache.ts";
import { CompressPool, libdeflatePackage, sharedCompressPool, type ChunkCodec, type ChunkJob, type ChunkResult } from "./compress-pool.ts";
import { crc32, crc32Combine } from "./crc32.ts";

/** 1 MiB: ~100 chunks per Bun executable, enough for 2–8 cores, and a changed page costs one chunk. */
export const CHUNK_SIZE = 1 << 20;
export const ZSTD_LEVEL = 3;
/**
 * The gzip default, a libdeflate level. On a Bun executable it is 1.5 % smaller than the zlib level 7
 * chunks it replaced, and 0.2 % smaller than GNU gzip -6, in 8 % less time; level 6 is 0.3 % smaller
 * again for 8 % more time (docs/decisions.md, bench/encoders.ts).
 */
export const CHUNKED_GZIP_LEVEL = 5;

/** The zstd the running Node bundles (its version is part of what zstd bytes depend on). */
export function zstdVersion(): string {
  return (process.versions as Record<string, string | undefined>).zstd ?? process.version;
}
const GZIP_OS_BYTE = 255;
const FINAL_BLOCK = Buffer.from([3, 0]);

export interface ChunkedOptions {
  codec: ChunkCodec;
  /** gzip 1-12 (libdeflate's levels; default CHUNKED_GZIP_LEVEL); zstd default ZSTD_LEVEL. */
  level?: number;
  /** Default CHUNK_SIZE; part of every chunk's identity only through the bytes it cuts. */
  chunkSize?: number;
  /** A dedicated pool of this many workers (closed at the end); default the shared one-per-core pool. */
  workers?: number;
  cache?: ChunkCache;
}

export interface ChunkStats {
  chunks: number;
  /** Chunks taken from the cache (after decoding them back to the chunk). */
  hits: number;
  /** Cache answers that did not decode to the chunk, recompressed. */
  rejected: number;
}

/** What a chunk's compressed bytes are a function of, besides its own bytes (part of every chunk's key). */
export function chunkEncoderId(codec: ChunkCodec, level: number): string {
  const v = codec === "gzip" ? `libdeflate-${libdeflatePackage().version}` : `zstd-${zstdVersion()}`;
  return `aotpack-chunk-v2 ${codec} ${v} level ${level}`;
}

function gzipHeader(level: number): Buffer {
  // mtime 0, no name; XFL as zlib sets it (2 = best, 4 = fastest); OS 255 ("unknown") on every host.
  const xfl = level === 9 ? 2 : level === 1 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, GZIP_OS_BYTE]);
}

interface Done {
  bytes: Uint8Array;
  crc: number;
  length: number;
}

export class ChunkedCompressor extends Transform {
  readonly stats: ChunkStats = { chunks: 0, hits: 0, rejected: 0 };
  readonly #codec: ChunkCodec;
  readonly #level: number;
  readonly #chunkSize: number;
  readonly #cache: ChunkCache | undefined;
  readonly #pool: CompressPool;
  readonly #ownPool: boolean;
  readonly #id: string;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #inFlight: Promise<Done>[] = [];
  #crc = 0;
  #length = 0;
  #started = false;

  constructor(options: ChunkedOptions) {
    super();
    this.#codec = options.codec;
    this.#level = options.level ?? (options.codec === "gzip" ? CHUNKED_GZIP_LEVEL : ZSTD_LEVEL);
    this.#chunkSize = options.chunkSize ?? CHUNK_SIZE;
    if (!Number.isInteger(this.#chunkSize) || this.#chunkSize < 1) throw new Error(`chunk size must be a whole number >= 1, got ${this.#chunkSize}`);
    this.#cache = options.cache;
    this.#ownPool = options.workers !== undefined;
    this.#pool = options.workers !== undefined ? new CompressPool(options.workers) : sharedCompressPool();
    this.#id = chunkEncoderId(this.#codec, this.#level);
  }

  override _transform(data: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#pending.push(data);
    this.#pendingBytes += data.length;
    while (this.#pendingBytes >= this.#chunkSize) this.#submit(this.#take(this.#chunkSize));
    // Bounded memory (about 8 chunks per worker in flight), but a deep enough window that one stalled
    // worker (hundreds of ms on a loaded host) does not stop the reading: 2 per worker was ~2x slower here.
    this.#drain(this.#pool.size * 8).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    if (this.#pendingBytes > 0 || this.stats.chunks === 0) this.#submit(this.#take(this.#pendingBytes));
    this.#drain(0)
      .then(() => {
        if (this.#codec === "gzip") {
          const trailer = Buffer.alloc(8);
          trailer.writeUInt32LE(this.#crc >>> 0, 0);
          trailer.writeUInt32LE(this.#length % 2 ** 32, 4);
          this.push(Buffer.concat([FINAL_BLOCK, trailer]));
        }
        return this.#closePool();
      })
      .then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.#closePool().then(() => cb(err), () => cb(err));
  }

  async #closePool(): Promise<void> {
    if (this.#ownPool) await this.#pool.close();
  }

  /**
   * The next `n` pending bytes, copied once into a buffer of exactly that size: posting a view to a
   * worker would clone its whole ArrayBuffer (the pending bytes, or a caller's 100 MB buffer, per chunk).
   */
  #take(n: number): Buffer {
    const chunk = Buffer.allocUnsafeSlow(n);
    let filled = 0;
    while (filled < n) {
      const head = this.#pending[0]!;
      const used = Math.min(head.length, n - filled);
      head.copy(chunk, filled, 0, used);
      filled += used;
      if (used === head.length) this.#pending.shift();
      else this.#pending[0] = head.subarray(used);
    }
    this.#pendingBytes -= n;
    return chunk;
  }

  #submit(chunk: Buffer): void {
    this.stats.chunks++;
    const p = this.#one(chunk);
    p.catch(() => {}); // awaited in order by #drain; this only stops an early rejection being "unhandled"
    this.#inFlight.push(p);
  }

  async #one(chunk: Buffer): Promise<Done> {
    const job = { codec: this.#codec, level: this.#level, chunk };
    // The key is hashed in a worker: two sha256 passes over every chunk kept the main thread busy.
    const key = this.#cache ? (await this.#pool.run({ ...job, op: "key", encoderId: this.#id })).key : undefined;
    if (key !== undefined) {
      const cached = await this.#cache!.get(key).catch(() => undefined);
      if (cached) {
        const r = await this.#pool.run({ ...job, op: "check", bytes: cached });
        if (r.ok) {
          this.stats.hits++;
          return this.#done(cached, r, chunk);
        }
        this.stats.rejected++;
        await this.#cache!.drop?.(key, "it does not decode to the chunk its key names").catch(() => {});
      }
    }
    const r = await this.#pool.run({ ...job, op: "compress" } satisfies ChunkJob);
    const bytes = r.bytes!;
    if (key !== undefined) await this.#cache!.put(key, bytes).catch(() => {});
    return this.#done(bytes, r, chunk);
  }

  #done(bytes: Uint8Array, r: ChunkResult, chunk: Buffer): Done {
    return { bytes, crc: r.crc >= 0 ? r.crc : crc32(chunk), length: chunk.length };
  }

  async #drain(keep: number): Promise<void> {
    while (this.#inFlight.length > keep) {
      const d = await this.#inFlight.shift()!;
      if (!this.#started) {
        this.#started = true;
        if (this.#codec === "gzip") this.push(gzipHeader(this.#level));
      }
      this.#crc = crc32Combine(this.#crc, d.crc, d.length);
      this.#length += d.length;
      if (d.bytes.length > 0) this.push(d.bytes);
    }
  }
}

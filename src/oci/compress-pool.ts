/**
 * worker_threads that compress (and check) chunks for chunked-compress.ts, one per core by
 * default. The worker is plain JS run with `eval` (the block walker's functions are put in as their
 * source text), so it loads the same way from the TypeScript sources (tests, tsx) and from dist/,
 * and starts without a loader. gzip chunks are deflated by libdeflate (WASM), imported in the worker.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { fillHuffmanTable, finalBlockBits, withoutFinalBlock } from "./deflate-blocks.ts";

export type ChunkCodec = "gzip" | "zstd";

export interface ChunkJob {
  /** "key": hash (chunk, encoder id) for the chunk cache, off the main thread. */
  op: "compress" | "check" | "key";
  codec: ChunkCodec;
  level: number;
  chunk: Uint8Array;
  /** For "check": the cached bytes to decode and compare with `chunk`. */
  bytes?: Uint8Array;
  /** For "key": what the compressed bytes depend on besides the chunk (codec, level, encoder version). */
  encoderId?: string;
}

export interface ChunkResult {
  /** "compress": the compressed chunk. */
  bytes?: Uint8Array;
  /** "check": whether `bytes` decode, on their own, to exactly `chunk` and can be followed by the next chunk. */
  ok?: boolean;
  /** "key": sha256 hex of (encoderId, sha256(chunk)). */
  key?: string;
  /** CRC-32 of the chunk, or -1 when this Node has no zlib.crc32 (the caller computes it). */
  crc: number;
}

let libdeflate: { url: string; version: string } | undefined;

/**
 * The installed libdeflate: its entry module's URL, imported by each worker (never on the main thread:
 * its WASM glue hooks `process`), and its version, part of every gzip chunk's key. Looked up on first
 * use, not at start-up. (Its exports map does not export package.json, so it is read beside the entry.)
 */
export function libdeflatePackage(): { url: string; version: string } {
  if (!libdeflate) {
    const entry = createRequire(import.meta.url).resolve("libdeflate");
    const { version } = JSON.parse(readFileSync(join(dirname(entry), "package.json"), "utf8")) as { version: string };
    libdeflate = { url: pathToFileURL(entry).href, version };
  }
  return libdeflate;
}

const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require("node:worker_threads");
const zlib = require("node:zlib");
const { createHash } = require("node:crypto");
const C = zlib.constants;
// tsx (esbuild with keepNames) may wrap functions in __name(); tsc does not. The walker's source needs neither.
var __name = (f) => f;
${String(fillHuffmanTable)}
${String(finalBlockBits)}
${String(withoutFinalBlock)}
let libdeflate;
// After the walk a chunk ends on an empty stored block: the next chunk starts byte-aligned.
const SYNC_TAIL = Buffer.from([0, 0, 0xff, 0xff]);
// An empty final block with fixed codes: appended once after the last chunk, and used here as a probe.
const FINAL = Buffer.from([3, 0]);
async function compress(j) {
  if (j.codec === "zstd") return zlib.zstdCompressSync(j.chunk, { params: { [C.ZSTD_c_compressionLevel]: j.level } });
  libdeflate ??= await import(workerData.libdeflateUrl);
  return withoutFinalBlock(libdeflate.deflate(j.chunk, j.level));
}
function check(j) {
  const chunk = Buffer.from(j.chunk.buffer, j.chunk.byteOffset, j.chunk.byteLength);
  const bytes = Buffer.from(j.bytes.buffer, j.bytes.byteOffset, j.bytes.byteLength);
  try {
    if (j.codec === "zstd") return zlib.zstdDecompressSync(bytes, { maxOutputLength: chunk.length + 1 }).equals(chunk);
    if (bytes.length < 4 || !bytes.subarray(bytes.length - 4).equals(SYNC_TAIL)) return false;
    // No dictionary: a chunk that reaches back before its own start fails here ("too far back").
    const r = zlib.inflateRawSync(Buffer.concat([bytes, FINAL]), { info: true, maxOutputLength: chunk.length + 1 });
    // All of the probe consumed: no final block and nothing after the chunk's own blocks.
    return r.buffer.equals(chunk) && r.engine.bytesWritten === bytes.length + FINAL.length;
  } catch {
    return false;
  }
}
function key(j) {
  const sha = (b) => createHash("sha256").update(b).digest();
  return createHash("sha256").update(j.encoderId).update("\0").update(sha(j.chunk)).digest("hex");
}
parentPort.on("message", async ({ id, job }) => {
  try {
    const crc = typeof zlib.crc32 === "function" ? zlib.crc32(job.chunk) >>> 0 : -1;
    if (job.op === "key") parentPort.postMessage({ id, result: { key: key(job), crc } });
    else if (job.op === "check") parentPort.postMessage({ id, result: { ok: check(job), crc } });
    else parentPort.postMessage({ id, result: { bytes: await compress(job), crc } });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) });
  }
});
`;

interface Pending {
  job: ChunkJob;
  resolve: (r: ChunkResult) => void;
  reject: (e: Error) => void;
}

export class CompressPool {
  readonly size: number;
  #idle: Worker[] = [];
  #all: Worker[] = [];
  #queue: Pending[] = [];
  #busy = new Map<Worker, Pending>();
  #nextId = 0;

  constructor(size: number = availableParallelism()) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`worker count must be a whole number >= 1, got ${size}`);
    this.size = size;
  }

  run(job: ChunkJob): Promise<ChunkResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ job, resolve, reject });
      this.#pump();
    });
  }

  /** Stop every worker; pending jobs fail. */
  async close(): Promise<void> {
    const all = this.#all;
    this.#all = [];
    this.#idle = [];
    for (const p of this.#queue.splice(0)) p.reject(new Error("compression pool closed"));
    await Promise.all(all.map((w) => w.terminate()));
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      const worker = this.#idle.pop() ?? (this.#all.length < this.size ? this.#spawn() : undefined);
      if (!worker) return;
      const pending = this.#queue.shift()!;
      this.#busy.set(worker, pending);
      worker.ref(); // a job in flight keeps the process alive; an idle worker does not
      worker.postMessage({ id: this.#nextId++, job: pending.job });
    }
  }

  #spawn(): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { libdeflateUrl: libdeflatePackage().url } });
    this.#all.push(worker);
    const finish = (fn: (p: Pending) => void): void => {
      const p = this.#busy.get(worker);
      this.#busy.delete(worker);
      worker.unref();
      if (p) fn(p);
    };
    worker.on("message", (msg: { result?: ChunkResult; error?: string }) => {
      finish((p) => (msg.error !== undefined ? p.reject(new Error(`chunk compression failed: ${msg.error}`)) : p.resolve(msg.result!)));
      if (this.#all.includes(worker)) this.#idle.push(worker);
      this.#pump();
    });
    worker.on("error", (err) => {
      this.#all = this.#all.filter((w) => w !== worker);
      this.#idle = this.#idle.filter((w) => w !== worker);
      finish((p) => p.reject(err));
      this.#pump();
    });
    return worker;
  }
}

let shared: CompressPool | undefined;

/** The process-wide pool, one worker per core: layers built at the same time share the cores. */
export function sharedCompressPool(): CompressPool {
  shared ??= new CompressPool();
  return shared;
}

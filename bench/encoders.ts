/**
 * The gzip encoders side by side on one Bun executable (the host's Bun: the runtime every Bun image
 * carries), one core each: the chunked encoder (libdeflate per 1 MiB chunk, then the block walk that
 * makes the chunk joinable) at several levels, the previous chunked encoder (zlib, each chunk primed
 * with the previous chunk's last 32 KiB), one zlib stream (AOTPACK_COMPRESSOR=stream) and GNU gzip -6.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as zlib from "node:zlib";
import { CHUNKED_GZIP_LEVEL, ChunkedCompressor, CHUNK_SIZE } from "../src/oci/chunked-compress.ts";
import { mdTable } from "./lib.ts";

interface Row {
  encoder: string;
  bytes: number;
  seconds: number;
}

async function chunked(input: Buffer, level: number): Promise<number> {
  const c = new ChunkedCompressor({ codec: "gzip", level, workers: 1 });
  let bytes = 0;
  await pipeline(Readable.from([input]), c, async function* (src) {
    for await (const b of src) bytes += (b as Buffer).length;
  });
  return bytes;
}

/** What aotpack's chunked encoder did before libdeflate: zlib per chunk, primed, sync-flushed. */
function zlibPrimedChunks(input: Buffer, level: number): number {
  let bytes = 18 + 2; // gzip header and trailer, the closing empty block
  for (let o = 0; o < input.length; o += CHUNK_SIZE) {
    const dictionary = o > 0 ? input.subarray(o - 32 * 1024, o) : undefined;
    bytes += zlib.deflateRawSync(input.subarray(o, o + CHUNK_SIZE), { level, finishFlush: zlib.constants.Z_SYNC_FLUSH, ...(dictionary ? { dictionary } : {}) }).length;
  }
  return bytes;
}

async function timed(encoder: string, fn: () => number | Promise<number>): Promise<Row> {
  const t = performance.now();
  const bytes = await fn();
  return { encoder, bytes, seconds: (performance.now() - t) / 1000 };
}

export async function encodersBench(log: (m: string) => void): Promise<string> {
  const file = join(dirname(createRequire(import.meta.url).resolve("bun/package.json")), "bin", "bun.exe");
  const input = readFileSync(file);
  log(`gzip encoders on the host's Bun (${(input.length / 1e6).toFixed(1)} MB)`);
  const rows: Row[] = [];
  const gnu = await timed("GNU gzip -6", () => {
    const r = spawnSync("sh", ["-c", 'gzip -6 -n -c "$1" | wc -c', "sh", file], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`gzip -6 failed: ${r.stderr}`);
    return Number(r.stdout.trim());
  });
  rows.push(gnu);
  for (const level of [4, 5, 6, 7, 8]) {
    const name = `chunked, libdeflate level ${level}${level === CHUNKED_GZIP_LEVEL ? " (the default)" : ""}`;
    rows.push(await timed(name, () => chunked(input, level)));
  }
  for (const level of [6, 7]) rows.push(await timed(`chunked, zlib level ${level} + 32 KiB dictionary (before)`, () => zlibPrimedChunks(input, level)));
  rows.push(await timed("one zlib stream, level 6 (AOTPACK_COMPRESSOR=stream)", () => zlib.gzipSync(input, { level: 6 }).length));
  const oldDefault = rows.find((r) => r.encoder.startsWith("chunked, zlib level 7"))!;
  return [
    `Each gzip encoder on the host's Bun executable (${(input.length / 1e6).toFixed(1)} MB, the runtime inside every Bun image), on one core (a single worker for the chunked encoder, so the seconds are its CPU cost). The chunked rows include the block walk that clears each chunk's final block (src/oci/deflate-blocks.ts). MB = 10⁶ bytes.`,
    "",
    mdTable(
      ["encoder", "MB", "size vs gzip -6", "seconds (1 core)", "time vs zlib chunks (before)"],
      rows.map((r) => [r.encoder, (r.bytes / 1e6).toFixed(2), (r.bytes / gnu.bytes).toFixed(4), r.seconds.toFixed(2), (r.seconds / oldDefault.seconds).toFixed(2) + "×"]),
    ),
  ].join("\n");
}

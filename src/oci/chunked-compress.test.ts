import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { test } from "node:test";
import * as zlib from "node:zlib";
import { requireTool, runOk, tempDir } from "../../test/support/tools.ts";
import { fileChunkCache, type ChunkCache } from "./chunk-cache.ts";
import { CHUNKED_GZIP_LEVEL, ChunkedCompressor, type ChunkedOptions } from "./chunked-compress.ts";
import { compressorIdentity, zstdAvailable } from "./compress.ts";
import { crc32, crc32Combine } from "./crc32.ts";

const CHUNK = 64 * 1024;

/** Compressible, partly repetitive, partly random: long matches cross chunk boundaries. */
function sample(seed: number, size = 9 * CHUNK + 12345): Buffer {
  const rnd = createHash("sha256").update(String(seed)).digest();
  const out = Buffer.alloc(size);
  const words = ["GET /todos ", "HTTP/1.1 200 ", "function ", "return ", "\0\0\0\0\0\0\0\0"];
  let i = 0;
  let x = rnd.readUInt32LE(0);
  while (i < size) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const w = Buffer.from(x % 7 === 0 ? randomHex(x) : words[x % words.length]!);
    i += w.copy(out, i);
  }
  return out;
}
const randomHex = (x: number): string => x.toString(16);

async function compress(input: Buffer, options: ChunkedOptions): Promise<{ bytes: Buffer; c: ChunkedCompressor }> {
  const c = new ChunkedCompressor({ chunkSize: CHUNK, ...options });
  const parts: Buffer[] = [];
  // Feed odd-sized pieces so chunking does not depend on how the input arrives.
  const pieces = [];
  for (let o = 0; o < input.length; o += 7777) pieces.push(input.subarray(o, o + 7777));
  await pipeline(Readable.from(pieces), c, async function* (src) {
    for await (const b of src) parts.push(b as Buffer);
  });
  return { bytes: Buffer.concat(parts), c };
}

test("crc32Combine equals the CRC-32 of the concatenation", () => {
  const a = randomBytes(100_003);
  for (const cut of [0, 1, 4096, 65_536, 100_002, 100_003]) {
    const left = a.subarray(0, cut);
    const right = a.subarray(cut);
    assert.equal(crc32Combine(crc32(left), crc32(right), right.length), crc32(a), `cut at ${cut}`);
  }
  assert.equal(crc32(Buffer.from("123456789")), 0xcbf43926);
});

test("chunked gzip is one gzip member that Node, Python and gzip -t accept, byte-identical at 1, 2 and 4 workers", async (t) => {
  const gzip = requireTool(t, "gzip");
  const python = requireTool(t, "python3");
  if (!gzip || !python) return;
  const dir = await tempDir(t);
  const input = sample(1);
  const outs = [];
  for (const workers of [1, 2, 4]) outs.push((await compress(input, { codec: "gzip", workers })).bytes);
  assert.ok(outs[1]!.equals(outs[0]!), "2 workers differ from 1");
  assert.ok(outs[2]!.equals(outs[0]!), "4 workers differ from 1");
  const out = outs[0]!;
  assert.deepEqual([...out.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255], "fixed gzip header (mtime 0, OS 255)");
  assert.ok(zlib.gunzipSync(out).equals(input), "Node gunzip");
  const file = join(dir, "layer.gz");
  await writeFile(file, out);
  await runOk(gzip, ["-t", file]);
  const py = await runOk(python, ["-c", "import gzip,hashlib,sys; d=gzip.open(sys.argv[1]).read(); print(hashlib.sha256(d).hexdigest(), len(d))", file]);
  assert.equal(py.stdout.trim(), `${createHash("sha256").update(input).digest("hex")} ${input.length}`);
  // One member: Python's gzip would silently accept several; zlib's inflate of the member must end at the trailer.
  const member = zlib.inflateRawSync(out.subarray(10, out.length - 8));
  assert.ok(member.equals(input));
  assert.equal(out.readUInt32LE(out.length - 8), crc32(input));
  assert.equal(out.readUInt32LE(out.length - 4), input.length);
  // Each chunk is deflated on its own, so this synthetic input's repeats across its small 64 KiB chunks
  // cost ~7 %: a bound that only says it compresses. At the real 1 MiB size on a real executable the
  // chunks beat gzip -6 (the next test).
  const single = zlib.gzipSync(input, { level: 6 }).length;
  assert.ok(out.length <= single * 1.1, `chunked ${out.length} vs single ${single}`);
});

test("at 1 MiB chunks a Bun executable compresses no larger than GNU gzip -6 and zlib's level 9", async (t) => {
  const gzip = requireTool(t, "gzip");
  if (!gzip) return;
  // 16 MiB of the host's Bun (the runtime every Bun image carries): machine code, tables and strings.
  const bun = join(dirname(createRequire(import.meta.url).resolve("bun/package.json")), "bin", "bun.exe");
  const input = (await readFile(bun)).subarray(0, 16 << 20);
  const chunked = new ChunkedCompressor({ codec: "gzip" });
  const parts: Buffer[] = [];
  await pipeline(Readable.from([input]), chunked, async function* (src) {
    for await (const b of src) parts.push(b as Buffer);
  });
  const out = Buffer.concat(parts);
  assert.ok(zlib.gunzipSync(out).equals(input));
  const file = join(await tempDir(t), "slice");
  await writeFile(file, input);
  await runOk(gzip, ["-6", "-k", "-n", file]);
  const gnu = (await stat(`${file}.gz`)).size;
  const zlib9 = zlib.gzipSync(input, { level: 9 }).length;
  assert.ok(out.length <= gnu, `chunked ${out.length} bytes, gzip -6 ${gnu}`);
  assert.ok(out.length <= zlib9, `chunked ${out.length} bytes, zlib level 9 (one stream) ${zlib9}`);
});

test("the compressor identity (in every compressed layer's cache key) names the encoder, its library's installed version and the level", async () => {
  const pkg = join(dirname(createRequire(import.meta.url).resolve("libdeflate")), "package.json");
  const version = (JSON.parse(await readFile(pkg, "utf8")) as { version: string }).version;
  const chunked = compressorIdentity("gzip", { encoder: "chunked" });
  assert.match(chunked, new RegExp(`libdeflate-${version.replace(/\./g, "\\.")} level ${CHUNKED_GZIP_LEVEL}$`));
  const others = [
    compressorIdentity("gzip", { encoder: "chunked", gzipLevel: 9 }),
    compressorIdentity("gzip", { encoder: "stream" }),
    compressorIdentity("zstd", { encoder: "chunked" }),
    compressorIdentity("none"),
  ];
  assert.equal(new Set([chunked, ...others]).size, 5, [chunked, ...others].join(" | "));
  assert.match(others[1]!, new RegExp(`zlib-${process.versions.zlib.replace(/\./g, "\\.")} level 6$`));
});

test("chunked gzip of empty input is a valid empty gzip", async () => {
  const { bytes } = await compress(Buffer.alloc(0), { codec: "gzip", workers: 1 });
  assert.equal(zlib.gunzipSync(bytes).length, 0);
});

test("chunk cache: a rebuild hits every unchanged chunk and gives the same bytes; a change recompresses only its chunks", async (t) => {
  const cache = fileChunkCache(join(await tempDir(t), "chunks"));
  const input = sample(2);
  const first = await compress(input, { codec: "gzip", workers: 2, cache });
  assert.equal(first.c.stats.hits, 0);
  const again = await compress(input, { codec: "gzip", workers: 2, cache });
  assert.equal(again.c.stats.hits, again.c.stats.chunks);
  assert.ok(again.bytes.equals(first.bytes));
  // One byte changed in chunk 3: only chunk 3 misses (each chunk is compressed on its own).
  const changed = Buffer.from(input);
  changed.writeUInt8(changed.readUInt8(3 * CHUNK + 10) ^ 1, 3 * CHUNK + 10);
  const third = await compress(changed, { codec: "gzip", workers: 2, cache });
  assert.equal(third.c.stats.chunks - third.c.stats.hits, 1);
  assert.ok(zlib.gunzipSync(third.bytes).equals(changed));
  assert.ok(third.bytes.equals((await compress(changed, { codec: "gzip", workers: 1 })).bytes), "cached result equals an uncached one");
});

/** Every stored chunk file of a fileChunkCache. */
async function cachedFiles(dir: string): Promise<string[]> {
  const out = [];
  for (const sub of await readdir(dir)) for (const f of await readdir(join(dir, sub))) out.push(join(dir, sub, f));
  return out;
}

test("chunk cache: a corrupted entry fails its content hash and is recomputed", async (t) => {
  const dir = join(await tempDir(t), "chunks");
  const cache = fileChunkCache(dir);
  const input = sample(3);
  const clean = (await compress(input, { codec: "gzip", workers: 2, cache })).bytes;
  for (const f of await cachedFiles(dir)) {
    const b = await readFile(f);
    b.writeUInt8(b.readUInt8(b.length - 5) ^ 0xff, b.length - 5);
    await writeFile(f, b);
  }
  const r = await compress(input, { codec: "gzip", workers: 2, cache });
  assert.equal(r.c.stats.hits, 0);
  assert.ok(r.bytes.equals(clean));
});

/** A cache that answers whatever the attacker stored, with a consistent content hash. */
function hostileCache(answer: (key: string) => Uint8Array | undefined): ChunkCache {
  return { get: async (key) => answer(key), put: async () => {} };
}

test("chunk cache: self-consistent but wrong entries are refused (wrong data, a final block, an unaligned end)", async () => {
  const input = sample(4);
  const clean = (await compress(input, { codec: "gzip", workers: 1 })).bytes;
  const other = zlib.deflateRawSync(randomBytes(CHUNK), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  // Deflate of the right chunk, but ended with Z_FINISH (BFINAL set): decoders would stop there.
  const finals = (key: string): Uint8Array | undefined => (key ? zlib.deflateRawSync(input.subarray(0, CHUNK)) : undefined);
  const sync = zlib.deflateRawSync(input.subarray(0, CHUNK), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  // The same, then an empty *final* stored block: it still ends in 00 00 ff ff and decodes to the chunk.
  const finalStored = (): Uint8Array => Buffer.concat([sync, Buffer.from([1, 0, 0, 0xff, 0xff])]);
  // A partial flush: the chunk's blocks end off a byte boundary, so the next chunk's bits would be misread.
  const partial = (): Uint8Array => zlib.deflateRawSync(input.subarray(0, CHUNK), { finishFlush: zlib.constants.Z_PARTIAL_FLUSH });
  const cases = [["wrong data", () => other], ["final block", finals], ["final stored block", finalStored], ["partial flush", partial]] as const;
  for (const [name, answer] of cases) {
    const r = await compress(input, { codec: "gzip", workers: 2, cache: hostileCache(answer) });
    assert.equal(r.c.stats.hits, 0, name);
    assert.equal(r.c.stats.rejected, r.c.stats.chunks, name);
    assert.ok(r.bytes.equals(clean), name);
  }
});

test("chunk cache: a chunk that needs the previous chunk as its dictionary is refused (a key names no neighbours)", async () => {
  const input = sample(5);
  const clean = (await compress(input, { codec: "gzip", workers: 1 })).bytes;
  // Learn which chunk each key names: the first run's puts, decoded.
  const chunkOfKey = new Map<string, number>();
  const recording: ChunkCache = {
    get: async () => undefined,
    put: async (key, bytes) => {
      const chunk = zlib.inflateRawSync(Buffer.concat([bytes, Buffer.from([3, 0])]));
      for (let o = 0; o < input.length; o += CHUNK) if (input.subarray(o, o + CHUNK).equals(chunk)) chunkOfKey.set(key, o / CHUNK);
    },
  };
  await compress(input, { codec: "gzip", workers: 2, cache: recording });
  // What the old encoder stored: each chunk primed with the previous chunk's last 32 KiB. In its own
  // place it decodes; put after other bytes (the same runtime page in another layer) it would not.
  const primed = (key: string): Uint8Array | undefined => {
    const i = chunkOfKey.get(key);
    if (i === undefined || i === 0) return undefined;
    const dictionary = input.subarray(i * CHUNK - 32 * 1024, i * CHUNK);
    return zlib.deflateRawSync(input.subarray(i * CHUNK, (i + 1) * CHUNK), { dictionary, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  };
  const r = await compress(input, { codec: "gzip", workers: 2, cache: hostileCache(primed) });
  assert.equal(r.c.stats.hits, 0);
  assert.equal(r.c.stats.rejected, r.c.stats.chunks - 1, "every chunk but the first was answered, and refused");
  assert.ok(r.bytes.equals(clean));
});

test("chunked zstd: concatenated frames, byte-identical at 1, 2 and 4 workers, cache verified", { skip: zstdAvailable() ? false : `zstd needs Node >= 22.15 (running ${process.version}); node24.test.ts runs this file under Node 24` }, async (t) => {
  const zstd = zlib as unknown as { zstdDecompressSync(b: Buffer): Buffer; zstdCompressSync(b: Buffer): Buffer };
  const input = sample(5);
  const outs = [];
  for (const workers of [1, 2, 4]) outs.push((await compress(input, { codec: "zstd", workers })).bytes);
  assert.ok(outs[1]!.equals(outs[0]!) && outs[2]!.equals(outs[0]!), "worker counts differ");
  assert.ok(zstd.zstdDecompressSync(outs[0]!).equals(input));
  const zstdCli = requireTool(t, "zstd");
  if (zstdCli) {
    const file = join(await tempDir(t), "layer.zst");
    await writeFile(file, outs[0]!);
    await runOk(zstdCli, ["-t", "-q", file]);
  }
  const cache = fileChunkCache(join(await tempDir(t), "chunks"));
  await compress(input, { codec: "zstd", workers: 2, cache });
  const hit = await compress(input, { codec: "zstd", workers: 2, cache });
  assert.equal(hit.c.stats.hits, hit.c.stats.chunks);
  assert.ok(hit.bytes.equals(outs[0]!));
  const wrong = await compress(input, { codec: "zstd", workers: 2, cache: hostileCache(() => zstd.zstdCompressSync(randomBytes(100))) });
  assert.equal(wrong.c.stats.rejected, wrong.c.stats.chunks);
  assert.ok(wrong.bytes.equals(outs[0]!));
});

test("createLayer: chunked (default) and stream give the same diff_id; a poisoned chunk cache still gives the same layer", async (t) => {
  const { createLayer } = await import("./layer.ts");
  const dir = await tempDir(t);
  const file = join(dir, "payload");
  await writeFile(file, sample(6, 3 * 1024 * 1024 + 999));
  const chunks = join(dir, "chunks");
  const entries = [{ path: "/app/payload", type: "file" as const, source: file, mode: 0o755 }];
  const base = { blobDir: join(dir, "blobs"), sourceDateEpoch: 0 };
  const stream = await createLayer(entries, { ...base, encoder: "stream" });
  const chunked = await createLayer(entries, { ...base, encoder: "chunked", chunkCache: fileChunkCache(chunks) });
  assert.equal(await chunked.diffId(), await stream.diffId());
  assert.notEqual(await chunked.digest(), await stream.digest());
  const tar = async (l: typeof stream): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for await (const b of await l.uncompressed()) parts.push(b as Buffer);
    return Buffer.concat(parts);
  };
  assert.ok((await tar(chunked)).equals(await tar(stream)));
  for (const f of await cachedFiles(chunks)) await writeFile(f, Buffer.alloc(40, 1));
  const again = await createLayer(entries, { ...base, encoder: "chunked", chunkCache: fileChunkCache(chunks) });
  assert.equal(await again.digest(), await chunked.digest());
});

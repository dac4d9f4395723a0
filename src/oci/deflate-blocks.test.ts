import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { test } from "node:test";
import * as zlib from "node:zlib";
import { finalBlockBits, withoutFinalBlock } from "./deflate-blocks.ts";

const FINAL = Buffer.from([3, 0]); // an empty final block with fixed codes
const C = zlib.constants;

/** Text-like, binary-like and incompressible stretches, so every block type and long codes occur. */
function mixed(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = createHash("sha256").update(String(seed)).digest().readUInt32LE(0);
  let i = 0;
  while (i < size) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const run = 64 + (x % 4000);
    const kind = (x >>> 8) % 4;
    const part = kind === 0 ? randomBytes(run) : kind === 1 ? Buffer.alloc(run, x & 0xff) : kind === 2 ? Buffer.from(`GET /todos/${x} HTTP/1.1\r\n`.repeat(run / 20 + 1)) : Buffer.from(Array.from({ length: run }, (_, k) => (k * 7 + (x & 15)) & 0x3f));
    i += part.copy(out, i);
  }
  return out;
}

/** Complete raw deflate streams of `input` in every shape zlib writes: stored, fixed, dynamic, many blocks. */
function streams(input: Buffer): [string, Buffer][] {
  return [
    ["level 0 (stored blocks)", zlib.deflateRawSync(input, { level: 0 })],
    ["level 1", zlib.deflateRawSync(input, { level: 1 })],
    ["level 9", zlib.deflateRawSync(input, { level: 9 })],
    ["fixed codes", zlib.deflateRawSync(input, { strategy: C.Z_FIXED })],
    ["Huffman only", zlib.deflateRawSync(input, { strategy: C.Z_HUFFMAN_ONLY })],
    ["run-length", zlib.deflateRawSync(input, { strategy: C.Z_RLE })],
    ["small blocks (memLevel 1)", zlib.deflateRawSync(input, { memLevel: 1, level: 6 })],
  ];
}

/** The stream property the chunked gzip relies on: the result inflates to the input and leaves no final block. */
function assertJoinable(bytes: Uint8Array, input: Buffer, name: string): void {
  assert.deepEqual([...bytes.subarray(bytes.length - 4)], [0, 0, 0xff, 0xff], `${name}: ends on an empty stored block`);
  const r = zlib.inflateRawSync(Buffer.concat([bytes, FINAL]), { info: true }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
  assert.ok(r.buffer.equals(input), `${name}: inflates to the input`);
  assert.equal(r.engine.bytesWritten, bytes.length + FINAL.length, `${name}: no final block before the probe`);
}

test("the final block of an empty stream is its first: header at bit 0, 10 bits long", () => {
  assert.deepEqual(finalBlockBits(zlib.deflateRawSync(Buffer.alloc(0))), { header: 0, end: 10 });
  assertJoinable(withoutFinalBlock(zlib.deflateRawSync(Buffer.alloc(0))), Buffer.alloc(0), "empty");
});

test("every kind of zlib stream becomes a joinable sync-flushed one that inflates to its input", () => {
  for (const [i, input] of [Buffer.from("a"), mixed(70_000, 1), mixed(1 << 20, 2), randomBytes(200_000), Buffer.alloc(300_000)].entries()) {
    for (const [name, stream] of streams(input)) {
      const bytes = withoutFinalBlock(stream);
      assertJoinable(bytes, input, `input ${i}, ${name}`);
      // Only BFINAL and the appended stored block differ: everything before the final header is untouched.
      const { header } = finalBlockBits(stream);
      assert.ok(Buffer.from(bytes.subarray(0, header >> 3)).equals(stream.subarray(0, header >> 3)), `input ${i}, ${name}: prefix kept`);
    }
  }
});

test("chunks made joinable, concatenated and closed with a final block, are one deflate stream", () => {
  const parts = [mixed(50_000, 3), randomBytes(1000), Buffer.alloc(0), mixed(120_000, 4)];
  const joined = Buffer.concat([...parts.map((p, i) => withoutFinalBlock(zlib.deflateRawSync(p, { level: i + 1 }))), FINAL]);
  assert.ok(zlib.inflateRawSync(joined).equals(Buffer.concat(parts)));
});

test("broken streams are refused with an error, never a wrong answer or a hang", () => {
  const good = zlib.deflateRawSync(mixed(100_000, 5));
  assert.throws(() => withoutFinalBlock(good.subarray(0, good.length - 10)), /invalid deflate stream/, "truncated");
  assert.throws(() => withoutFinalBlock(Buffer.concat([good, Buffer.from([0])])), /bytes after its final block/, "trailing byte");
  assert.throws(() => finalBlockBits(Buffer.from([0x07, 0, 0])), /reserved block type/);
  assert.throws(() => finalBlockBits(Buffer.from([0x01, 5, 0, 5, 0])), /length check/, "stored LEN/NLEN mismatch");
  assert.throws(() => finalBlockBits(Buffer.from([0x00])), /invalid deflate stream/, "a non-final stored block, cut short");
  // Random bytes: each either fails or is a stream whose end is inside the input; the walk always ends.
  for (let i = 0; i < 300; i++) {
    const junk = randomBytes(1 + (i % 97) * 13);
    try {
      const { header, end } = finalBlockBits(junk);
      assert.ok(header < end && end <= junk.length * 8);
    } catch (e) {
      assert.match((e as Error).message, /invalid deflate stream/);
    }
  }
});

/**
 * Turn a complete raw deflate stream (what libdeflate writes: its last block has BFINAL set) into
 * one that can be followed by more blocks: BFINAL cleared, then an empty stored block, so the
 * stream ends byte-aligned on 00 00 ff ff, exactly as zlib's Z_SYNC_FLUSH ends a chunk.
 *
 * Finding the final block's header means walking every block before it, so this is a deflate
 * decoder that decodes codes and skips their output. libdeflate has no sync flush, and no package
 * exposes block boundaries (docs/decisions.md).
 *
 * These functions run in the compression workers as source text (compress-pool.ts stringifies them),
 * so each is self-contained: no imports, no module-level state, no inner functions.
 */

/**
 * Fill `table` (2^bits entries, indexed by the next `bits` input bits, LSB first) for the canonical
 * code with these code lengths. An entry is `codeLength | payload << 4`; 0 marks a bit pattern that
 * is no code. `payload(symbol)` is given as a lookup array: payloads[symbol], 0 = invalid symbol.
 * Returns `bits`, the longest code length (at least 1). Throws on an over-subscribed code.
 */
export function fillHuffmanTable(lengths: Uint8Array, start: number, count: number, payloads: ArrayLike<number>, table: Uint16Array): number {
  let bits = 1;
  const perLength = new Int32Array(16);
  for (let i = 0; i < count; i++) {
    const l = lengths[start + i]!;
    perLength[l]!++;
    if (l > bits) bits = l;
  }
  perLength[0] = 0;
  const nextCode = new Int32Array(16);
  let code = 0;
  let left = 1;
  for (let l = 1; l <= 15; l++) {
    code = (code + perLength[l - 1]!) << 1;
    nextCode[l] = code;
    left = (left << 1) - perLength[l]!;
    if (left < 0) throw new Error("invalid deflate stream: over-subscribed Huffman code");
  }
  const size = 1 << bits;
  table.fill(0, 0, size);
  for (let symbol = 0; symbol < count; symbol++) {
    const l = lengths[start + symbol]!;
    const payload = payloads[symbol] ?? 0;
    if (l === 0 || payload === 0) continue;
    // Deflate packs a code's bits most-significant first into an LSB-first stream: index by the reversal.
    let c = nextCode[l]!++;
    let reversed = 0;
    for (let i = 0; i < l; i++) {
      reversed = (reversed << 1) | (c & 1);
      c >>= 1;
    }
    const entry = l | (payload << 4);
    for (let i = reversed; i < size; i += 1 << l) table[i] = entry;
  }
  return bits;
}

/**
 * The bit offsets of the final block's header and of the end of that block in a raw deflate stream.
 * Throws on anything that is not a complete, valid stream ending within `stream`.
 */
export function finalBlockBits(stream: Uint8Array): { header: number; end: number } {
  const n = stream.length;
  // Zero slack after the input, so refills never index past the array; overruns are caught by `n`.
  const buf = new Uint8Array(n + 8);
  buf.set(stream);
  // Payloads: literal/length symbols carry kind (1 literal, 2 end of block, 3 length) | extra bits << 2;
  // distance symbols carry 1 | extra bits << 2; code-length symbols carry symbol + 1.
  const litPayload = new Uint16Array(288);
  for (let s = 0; s < 256; s++) litPayload[s] = 1;
  litPayload[256] = 2;
  for (let s = 257; s < 286; s++) {
    const i = s - 257;
    litPayload[s] = 3 | ((i < 8 || i === 28 ? 0 : (i >> 2) - 1) << 2);
  }
  const distPayload = new Uint16Array(32);
  for (let s = 0; s < 30; s++) distPayload[s] = 1 | ((s < 4 ? 0 : (s >> 1) - 1) << 2);
  const clPayload = new Uint16Array(19);
  for (let s = 0; s < 19; s++) clPayload[s] = s + 1;
  const order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
  const litTable = new Uint16Array(1 << 15);
  const distTable = new Uint16Array(1 << 15);
  const clTable = new Uint16Array(1 << 7);
  const lengths = new Uint8Array(320);
  const clLengths = new Uint8Array(19);

  // The bit buffer holds at most 31 bits, so bit 31 is never set and `>>` never sign-extends:
  // V8 then keeps it a small integer (with `>>>` it became a double, and this loop 1.8x slower).
  let p = 0;
  let bb = 0;
  let bc = 0;
  for (;;) {
    // Refills read ahead of what is decoded, so bounds are checked on the bits consumed, p * 8 - bc.
    if (p * 8 - bc >= n * 8) throw new Error("invalid deflate stream: it ends before its final block");
    while (bc < 24) {
      bb |= buf[p++]! << bc;
      bc += 8;
    }
    const header = p * 8 - bc;
    const final = bb & 1;
    const type = (bb >> 1) & 3;
    bb >>= 3;
    bc -= 3;
    if (type === 0) {
      // Stored: skip to the byte boundary; the whole bytes still in the bit buffer are unread.
      p -= bc >> 3;
      bb = 0;
      bc = 0;
      if (p + 4 > n) throw new Error("invalid deflate stream: it ends inside a stored block's header");
      const len = buf[p]! | (buf[p + 1]! << 8);
      const nlen = buf[p + 2]! | (buf[p + 3]! << 8);
      if ((len ^ 0xffff) !== nlen) throw new Error("invalid deflate stream: a stored block's length check fails");
      p += 4 + len;
      if (p > n) throw new Error("invalid deflate stream: it ends inside a stored block");
    } else if (type === 3) {
      throw new Error("invalid deflate stream: reserved block type");
    } else {
      let litBits: number;
      let distBits: number;
      if (type === 1) {
        lengths.fill(8, 0, 144);
        lengths.fill(9, 144, 256);
        lengths.fill(7, 256, 280);
        lengths.fill(8, 280, 288);
        lengths.fill(5, 288, 320);
        litBits = fillHuffmanTable(lengths, 0, 288, litPayload, litTable);
        distBits = fillHuffmanTable(lengths, 288, 32, distPayload, distTable);
      } else {
        while (bc < 24) {
          bb |= buf[p++]! << bc;
          bc += 8;
        }
        const hlit = (bb & 31) + 257;
        const hdist = ((bb >> 5) & 31) + 1;
        const hclen = ((bb >> 10) & 15) + 4;
        bb >>= 14;
        bc -= 14;
        clLengths.fill(0);
        for (let i = 0; i < hclen; i++) {
          if (bc < 3) {
            bb |= buf[p++]! << bc;
            bc += 8;
          }
          clLengths[order[i]!] = bb & 7;
          bb >>= 3;
          bc -= 3;
        }
        const clMask = (1 << fillHuffmanTable(clLengths, 0, 19, clPayload, clTable)) - 1;
        lengths.fill(0);
        const total = hlit + hdist;
        for (let i = 0; i < total; ) {
          while (bc < 24) {
            bb |= buf[p++]! << bc;
            bc += 8;
          }
          const e = clTable[bb & clMask]!;
          if (e === 0) throw new Error("invalid deflate stream: bad code-length code");
          bb >>= e & 15;
          bc -= e & 15;
          const s = (e >> 4) - 1;
          if (s < 16) {
            lengths[i++] = s;
            continue;
          }
          let repeat: number;
          let value = 0;
          if (s === 16) {
            if (i === 0) throw new Error("invalid deflate stream: a repeat with nothing to repeat");
            value = lengths[i - 1]!;
            repeat = 3 + (bb & 3);
            bb >>= 2;
            bc -= 2;
          } else if (s === 17) {
            repeat = 3 + (bb & 7);
            bb >>= 3;
            bc -= 3;
          } else {
            repeat = 11 + (bb & 127);
            bb >>= 7;
            bc -= 7;
          }
          if (i + repeat > total) throw new Error("invalid deflate stream: code lengths overrun");
          while (repeat-- > 0) lengths[i++] = value;
        }
        if (lengths[256] === 0) throw new Error("invalid deflate stream: no end-of-block code");
        litBits = fillHuffmanTable(lengths, 0, hlit, litPayload, litTable);
        distBits = fillHuffmanTable(lengths, hlit, hdist, distPayload, distTable);
      }
      const litMask = (1 << litBits) - 1;
      const distMask = (1 << distBits) - 1;
      // Each refill adds 16 bits when fewer than 16 are left: enough for any code (<= 15 bits) or extra (<= 13).
      for (;;) {
        if (bc < 16) {
          if (p * 8 - bc > n * 8) throw new Error("invalid deflate stream: it ends inside a block");
          bb |= (buf[p]! | (buf[p + 1]! << 8)) << bc;
          p += 2;
          bc += 16;
        }
        const e = litTable[bb & litMask]!;
        bb >>= e & 15;
        bc -= e & 15;
        const kind = (e >> 4) & 3;
        if (kind === 1) continue;
        if (kind === 2) break;
        if (kind !== 3) throw new Error("invalid deflate stream: bad literal/length code");
        if (bc < 16) {
          bb |= (buf[p]! | (buf[p + 1]! << 8)) << bc;
          p += 2;
          bc += 16;
        }
        const lengthExtra = e >> 6;
        bb >>= lengthExtra;
        bc -= lengthExtra;
        if (bc < 16) {
          bb |= (buf[p]! | (buf[p + 1]! << 8)) << bc;
          p += 2;
          bc += 16;
        }
        const d = distTable[bb & distMask]!;
        if (d === 0) throw new Error("invalid deflate stream: bad distance code");
        bb >>= d & 15;
        bc -= d & 15;
        if (bc < 16) {
          bb |= (buf[p]! | (buf[p + 1]! << 8)) << bc;
          p += 2;
          bc += 16;
        }
        const distExtra = d >> 6;
        bb >>= distExtra;
        bc -= distExtra;
      }
    }
    const end = p * 8 - bc;
    if (end > n * 8) throw new Error("invalid deflate stream: it ends inside a block");
    if (final) return { header, end };
  }
}

/**
 * `stream` (a complete raw deflate stream) without its final mark, ended on an empty stored block:
 * the blocks of the next chunk can follow it, and the joined chunks are one deflate stream.
 */
export function withoutFinalBlock(stream: Uint8Array): Uint8Array {
  const { header, end } = finalBlockBits(stream);
  if (Math.ceil(end / 8) !== stream.length) throw new Error("invalid deflate stream: bytes after its final block");
  // The empty stored block: 3 header bits (not final, type 00) after `end`, padding to a byte, then LEN/NLEN.
  const aligned = Math.ceil((end + 3) / 8);
  const out = new Uint8Array(aligned + 4);
  out.set(stream);
  // Bits past `end` in the last byte must be zero: they are the stored block's header and padding.
  if (end % 8 !== 0) out[end >> 3]! &= (1 << end % 8) - 1;
  out[header >> 3]! &= ~(1 << (header & 7));
  out[aligned + 2] = 0xff;
  out[aligned + 3] = 0xff;
  return out;
}

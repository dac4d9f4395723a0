/**
 * CRC-32 (gzip's, reflected polynomial 0xEDB88320) and crc32Combine, which gives the CRC of
 * A‖B from crc(A), crc(B) and |B| alone: chunks compressed in parallel each report their own
 * CRC, and the gzip trailer gets the whole stream's without a second pass over the bytes.
 */
import * as zlib from "node:zlib";

const POLY = 0xedb88320;

/** Node >= 20.15 / 22.2 has zlib.crc32 (zlib's own, fast); older Node uses the table below. */
const native = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

let table: Uint32Array | undefined;
function crcTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC-32 of `data`, continuing from `value` (the CRC of what came before; 0 to start). */
export function crc32(data: Uint8Array, value = 0): number {
  if (native) return native(data, value) >>> 0;
  const t = crcTable();
  let c = ~value >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** a(x)·b(x) mod P(x), in the reflected bit order CRC-32 uses. */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p = (p ^ b) >>> 0;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? ((b >>> 1) ^ POLY) >>> 0 : b >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) mod P(x) for k = 0..31; squaring the previous entry gives the next. */
const X2N: number[] = (() => {
  const out = [0x40000000]; // x^1
  for (let k = 1; k < 32; k++) out.push(multModP(out[k - 1]!, out[k - 1]!));
  return out;
})();

/** x^(n·2^k) mod P(x). */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000; // x^0
  while (n > 0) {
    if (n % 2 === 1) p = multModP(X2N[k & 31]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/** CRC-32 of A‖B given crc1 = crc(A), crc2 = crc(B) and len2 = |B| in bytes. */
export function crc32Combine(crc1: number, crc2: number, len2: number): number {
  return (multModP(x2nModP(len2, 3), crc1 >>> 0) ^ (crc2 >>> 0)) >>> 0;
}

/**
 * Tiny static Linux executables that print one line and exit 0, written byte by byte
 * (no toolchain, no busybox needed): amd64 and arm64. Used as the "app" in image tests.
 */
import { writeFile } from "node:fs/promises";

const BASE = 0x400000n;
const HEADER_SIZE = 64 + 56; // ELF header + one program header

function elf(machine: number, code: Buffer): Buffer {
  const total = HEADER_SIZE + code.length;
  const h = Buffer.alloc(HEADER_SIZE);
  h.write("\x7fELF", 0, "binary");
  h[4] = 2; // 64-bit
  h[5] = 1; // little endian
  h[6] = 1; // ELF version
  h.writeUInt16LE(2, 16); // ET_EXEC
  h.writeUInt16LE(machine, 18);
  h.writeUInt32LE(1, 20);
  h.writeBigUInt64LE(BASE + BigInt(HEADER_SIZE), 24); // entry: right after the headers
  h.writeBigUInt64LE(64n, 32); // program headers at 64
  h.writeUInt16LE(64, 52); // e_ehsize
  h.writeUInt16LE(56, 54); // e_phentsize
  h.writeUInt16LE(1, 56); // e_phnum
  // PT_LOAD of the whole file, read + execute.
  h.writeUInt32LE(1, 64);
  h.writeUInt32LE(5, 68);
  h.writeBigUInt64LE(0n, 72);
  h.writeBigUInt64LE(BASE, 80);
  h.writeBigUInt64LE(BASE, 88);
  h.writeBigUInt64LE(BigInt(total), 96);
  h.writeBigUInt64LE(BigInt(total), 104);
  h.writeBigUInt64LE(0x10000n, 112);
  return Buffer.concat([h, code]);
}

function amd64(message: Buffer): Buffer {
  const code = Buffer.from([
    0xb8, 1, 0, 0, 0, // mov eax, 1 (write)
    0xbf, 1, 0, 0, 0, // mov edi, 1 (stdout)
    0x48, 0x8d, 0x35, 16, 0, 0, 0, // lea rsi, [rip+16] (the message)
    0xba, 0, 0, 0, 0, // mov edx, len
    0x0f, 0x05, // syscall
    0xb8, 60, 0, 0, 0, // mov eax, 60 (exit)
    0x31, 0xff, // xor edi, edi
    0x0f, 0x05, // syscall
  ]);
  code.writeUInt32LE(message.length, 18);
  return elf(0x3e, Buffer.concat([code, message]));
}

function arm64(message: Buffer): Buffer {
  if (message.length > 0xffff) throw new Error("message too long");
  const words = [
    0xd2800020, // mov x0, #1 (stdout)
    0x100000e1, // adr x1, #28 (the message, after these 8 instructions)
    0xd2800002 | (message.length << 5), // mov x2, #len
    0xd2800808, // mov x8, #64 (write)
    0xd4000001, // svc #0
    0xd2800000, // mov x0, #0
    0xd2800ba8, // mov x8, #93 (exit)
    0xd4000001, // svc #0
  ];
  const code = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => code.writeUInt32LE(w >>> 0, i * 4));
  return elf(0xb7, Buffer.concat([code, message]));
}

/** Bytes of a static executable that writes `line` + "\n" to stdout and exits 0. */
export function staticHello(arch: "amd64" | "arm64", line: string): Buffer {
  const message = Buffer.from(`${line}\n`, "utf8");
  return arch === "amd64" ? amd64(message) : arm64(message);
}

export async function writeStaticHello(path: string, arch: "amd64" | "arm64", line: string): Promise<void> {
  await writeFile(path, staticHello(arch, line), { mode: 0o755 });
}

/**
 * Bytes of a 64-bit shared object (ET_DYN) whose dynamic section names `needed` (DT_NEEDED), like a
 * NuGet package's native library: headers, one PT_LOAD of the whole file at address 0, PT_DYNAMIC.
 */
export function sharedObject(arch: "amd64" | "arm64", needed: string[]): Buffer {
  const phoff = 64;
  const dynOff = phoff + 2 * 56;
  const dyn: [bigint, bigint][] = [];
  let strtab = "\0";
  for (const name of needed) {
    dyn.push([1n, BigInt(strtab.length)]); // DT_NEEDED
    strtab += `${name}\0`;
  }
  const strOff = dynOff + (dyn.length + 3) * 16;
  dyn.push([5n, BigInt(strOff)], [10n, BigInt(strtab.length)], [0n, 0n]); // DT_STRTAB, DT_STRSZ, DT_NULL
  const total = strOff + strtab.length;
  const b = Buffer.alloc(total);
  b.write("\x7fELF", 0, "binary");
  b[4] = 2;
  b[5] = 1;
  b[6] = 1;
  b.writeUInt16LE(3, 16); // ET_DYN
  b.writeUInt16LE(arch === "amd64" ? 0x3e : 0xb7, 18);
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(BigInt(phoff), 32);
  b.writeUInt16LE(64, 52);
  b.writeUInt16LE(56, 54);
  b.writeUInt16LE(2, 56);
  const ph = (i: number, type: number, offset: number, size: number): void => {
    const at = phoff + i * 56;
    b.writeUInt32LE(type, at);
    b.writeUInt32LE(4, at + 4); // PF_R
    b.writeBigUInt64LE(BigInt(offset), at + 8);
    b.writeBigUInt64LE(BigInt(offset), at + 16);
    b.writeBigUInt64LE(BigInt(offset), at + 24);
    b.writeBigUInt64LE(BigInt(size), at + 32);
    b.writeBigUInt64LE(BigInt(size), at + 40);
  };
  ph(0, 1, 0, total); // PT_LOAD
  ph(1, 2, dynOff, dyn.length * 16); // PT_DYNAMIC
  dyn.forEach(([tag, val], i) => {
    b.writeBigInt64LE(tag, dynOff + i * 16);
    b.writeBigUInt64LE(val, dynOff + i * 16 + 8);
  });
  b.write(strtab, strOff, "latin1");
  return b;
}

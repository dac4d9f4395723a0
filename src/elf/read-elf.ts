/**
 * A small ELF reader: the file header, the program headers, PT_INTERP and the
 * dynamic section's DT_NEEDED strings. It reads those byte ranges only, so a
 * 100 MB executable costs a few small reads. Written by hand rather than taken
 * from a library: the subset we need is ~150 lines, and the libraries on npm
 * either read the whole file into memory or parse far more than we use.
 */
import { open, type FileHandle } from "node:fs/promises";
import { basename } from "node:path";
import { AotpackError, errorMessage } from "../errors.ts";
import { formatPlatform, type Platform } from "../oci/platform.ts";
import type { ElfInfo } from "./types.ts";

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_STRSZ = 10n;

/** Caps that keep a corrupt or hostile file from making us read a lot. */
const MAX_PROGRAM_HEADERS = 4096;
const MAX_DYNAMIC_BYTES = 1 << 20;
const MAX_STRTAB_BYTES = 16 << 20;
const MAX_INTERP_BYTES = 4096;

/** e_machine → `uname -m` name. Some depend on class or byte order. */
function machineName(eMachine: number, is64: boolean, littleEndian: boolean): string {
  switch (eMachine) {
    case 3:
      return "i386";
    case 8:
      return is64 ? "mips64" : "mips";
    case 20:
      return "ppc";
    case 21:
      return littleEndian ? "ppc64le" : "ppc64";
    case 22:
      return "s390x";
    case 40:
      return "arm";
    case 62:
      return "x86_64";
    case 183:
      return "aarch64";
    case 243:
      return is64 ? "riscv64" : "riscv32";
    case 258:
      return "loongarch64";
    default:
      return `unknown(e_machine=${eMachine})`;
  }
}

const MACHINE_TO_ARCH: Record<string, string> = {
  x86_64: "amd64",
  aarch64: "arm64",
  arm: "arm",
  i386: "386",
  riscv64: "riscv64",
  ppc64le: "ppc64le",
  s390x: "s390x",
  loongarch64: "loong64",
  mips64: "mips64",
  mips: "mips",
};

/** OCI architecture for an ELF machine name ("aarch64" → "arm64"); undefined when there is none. */
export function machineToPlatformArch(machine: string): string | undefined {
  return MACHINE_TO_ARCH[machine];
}

/** Throws when the executable cannot run on `platform`, e.g. "server is aarch64 but the platform is linux/amd64". */
export function assertElfMatchesPlatform(info: ElfInfo, platform: Platform, path: string): void {
  const arch = machineToPlatformArch(info.machine);
  const okClass = platform.architecture === "arm" || platform.architecture === "386" ? info.class === 32 : info.class === 64;
  if (platform.os !== "linux" || arch !== platform.architecture || !okClass) {
    throw new AotpackError(
      `${basename(path)} is ${info.machine}${arch === platform.architecture ? ` (${info.class}-bit)` : ""} but the platform is ${formatPlatform(platform)}`,
      { hint: "the compiler produced a binary for the wrong target; check --platform and the runtime package" },
    );
  }
}

class Reader {
  constructor(
    readonly fh: FileHandle,
    readonly path: string,
    readonly size: number,
    readonly is64: boolean,
    readonly le: boolean,
  ) {}

  async bytes(offset: bigint | number, length: number, what: string): Promise<Buffer> {
    const off = Number(offset);
    if (!Number.isSafeInteger(off) || off < 0 || length < 0 || off + length > this.size) {
      throw new AotpackError(`${this.path}: truncated or corrupt ELF file (${what} lies outside the file)`);
    }
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, off + done);
      if (bytesRead === 0) throw new AotpackError(`${this.path}: truncated ELF file while reading ${what}`);
      done += bytesRead;
    }
    return buf;
  }

  u16(b: Buffer, at: number): number {
    return this.le ? b.readUInt16LE(at) : b.readUInt16BE(at);
  }
  u32(b: Buffer, at: number): number {
    return this.le ? b.readUInt32LE(at) : b.readUInt32BE(at);
  }
  /** A word: 4 bytes in ELF32, 8 in ELF64; as bigint so 64-bit values stay exact. */
  word(b: Buffer, at: number): bigint {
    if (this.is64) return this.le ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at);
    return BigInt(this.u32(b, at));
  }
  sword(b: Buffer, at: number): bigint {
    if (this.is64) return this.le ? b.readBigInt64LE(at) : b.readBigInt64BE(at);
    return BigInt(this.le ? b.readInt32LE(at) : b.readInt32BE(at));
  }
}

interface ProgramHeader {
  type: number;
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
}

/** Read class, machine, interpreter and NEEDED from an ELF file without reading the whole file. */
export async function readElf(path: string): Promise<ElfInfo> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err) {
    throw new AotpackError(`cannot read executable ${path}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    const size = (await fh.stat()).size;
    const ident = Buffer.alloc(64);
    const { bytesRead } = await fh.read(ident, 0, 64, 0);
    if (bytesRead < 16 || ident.readUInt32BE(0) !== 0x7f454c46) {
      throw new AotpackError(`${path} is not an ELF executable (bad magic)`);
    }
    const elfClass = ident[4];
    const data = ident[5];
    if ((elfClass !== 1 && elfClass !== 2) || (data !== 1 && data !== 2)) {
      throw new AotpackError(`${path}: unsupported ELF class ${elfClass} or byte order ${data}`);
    }
    const is64 = elfClass === 2;
    const r = new Reader(fh, path, size, is64, data === 1);
    const header = await r.bytes(0, is64 ? 64 : 52, "ELF header");
    const machine = machineName(r.u16(header, 18), is64, r.le);
    const phoff = r.word(header, is64 ? 32 : 28);
    const phentsize = r.u16(header, is64 ? 54 : 42);
    const phnum = r.u16(header, is64 ? 56 : 44);
    const minEntSize = is64 ? 56 : 32;
    if (phnum > 0 && (phentsize < minEntSize || phnum > MAX_PROGRAM_HEADERS)) {
      throw new AotpackError(`${path}: corrupt ELF program header table (entsize ${phentsize}, count ${phnum})`);
    }

    const phTable = phnum === 0 ? Buffer.alloc(0) : await r.bytes(phoff, phentsize * phnum, "program headers");
    const headers: ProgramHeader[] = [];
    for (let i = 0; i < phnum; i++) {
      const at = i * phentsize;
      headers.push(
        is64
          ? { type: r.u32(phTable, at), offset: r.word(phTable, at + 8), vaddr: r.word(phTable, at + 16), filesz: r.word(phTable, at + 32) }
          : { type: r.u32(phTable, at), offset: r.word(phTable, at + 4), vaddr: r.word(phTable, at + 8), filesz: r.word(phTable, at + 16) },
      );
    }

    let interpreter: string | undefined;
    const interp = headers.find((h) => h.type === PT_INTERP);
    if (interp) {
      const raw = await r.bytes(interp.offset, Math.min(Number(interp.filesz), MAX_INTERP_BYTES), "PT_INTERP");
      const nul = raw.indexOf(0);
      interpreter = raw.subarray(0, nul === -1 ? raw.length : nul).toString("utf8");
    }

    const needed = await readNeeded(r, headers);
    const info: ElfInfo = { class: is64 ? 64 : 32, machine, needed, static: interpreter === undefined && needed.length === 0 };
    if (interpreter !== undefined) info.interpreter = interpreter;
    return info;
  } finally {
    await fh.close();
  }
}

async function readNeeded(r: Reader, headers: ProgramHeader[]): Promise<string[]> {
  const dynamic = headers.find((h) => h.type === PT_DYNAMIC);
  if (!dynamic || dynamic.filesz === 0n) return [];
  const entSize = r.is64 ? 16 : 8;
  const dynBytes = Math.min(Number(dynamic.filesz), MAX_DYNAMIC_BYTES);
  const dyn = await r.bytes(dynamic.offset, dynBytes - (dynBytes % entSize), "dynamic section");

  const neededOffsets: bigint[] = [];
  let strtabAddr: bigint | undefined;
  let strsz: bigint | undefined;
  for (let at = 0; at + entSize <= dyn.length; at += entSize) {
    const tag = r.sword(dyn, at);
    const val = r.word(dyn, at + entSize / 2);
    if (tag === DT_NULL) break;
    if (tag === DT_NEEDED) neededOffsets.push(val);
    else if (tag === DT_STRTAB) strtabAddr = val;
    else if (tag === DT_STRSZ) strsz = val;
  }
  if (neededOffsets.length === 0) return [];
  if (strtabAddr === undefined || strsz === undefined) {
    throw new AotpackError(`${r.path}: corrupt ELF dynamic section (DT_NEEDED without a string table)`);
  }
  // DT_STRTAB is a virtual address; the PT_LOAD that maps it tells us where it sits in the file.
  const load = headers.find((h) => h.type === PT_LOAD && h.vaddr <= strtabAddr && strtabAddr < h.vaddr + h.filesz);
  if (!load) throw new AotpackError(`${r.path}: corrupt ELF file (string table is not in a loaded segment)`);
  const strtabSize = Number(strsz < BigInt(MAX_STRTAB_BYTES) ? strsz : BigInt(MAX_STRTAB_BYTES));
  const strtab = await r.bytes(strtabAddr - load.vaddr + load.offset, strtabSize, "dynamic string table");
  return neededOffsets.map((off) => {
    const start = Number(off);
    if (start >= strtab.length) throw new AotpackError(`${r.path}: corrupt ELF file (DT_NEEDED offset outside the string table)`);
    const end = strtab.indexOf(0, start);
    return strtab.subarray(start, end === -1 ? strtab.length : end).toString("utf8");
  });
}

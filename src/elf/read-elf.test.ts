import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { AotpackError } from "../errors.ts";
import { ARM64_LIB, requireFile } from "../../test/support/index.ts";
import { assertElfMatchesPlatform, machineToPlatformArch, readElf } from "./read-elf.ts";

const QEMU = "/usr/bin/qemu-aarch64-static";
const HOST_BUN = join(dirname(createRequire(import.meta.url).resolve("bun/package.json")), "bin", "bun.exe");

/** A minimal 32-bit big-endian ELF (PowerPC) with PT_INTERP and two DT_NEEDED: no such binary is installed here. */
function elf32BigEndian(): Buffer {
  const b = Buffer.alloc(1024);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 1; // ELFCLASS32
  b[5] = 2; // ELFDATA2MSB
  b[6] = 1;
  b.writeUInt16BE(2, 16); // ET_EXEC
  b.writeUInt16BE(20, 18); // EM_PPC
  b.writeUInt32BE(1, 20);
  b.writeUInt32BE(52, 28); // e_phoff
  b.writeUInt16BE(52, 40);
  b.writeUInt16BE(32, 42); // e_phentsize
  b.writeUInt16BE(3, 44); // e_phnum
  const ph = (i: number, type: number, offset: number, vaddr: number, filesz: number): void => {
    const at = 52 + i * 32;
    b.writeUInt32BE(type, at);
    b.writeUInt32BE(offset, at + 4);
    b.writeUInt32BE(vaddr, at + 8);
    b.writeUInt32BE(vaddr, at + 12);
    b.writeUInt32BE(filesz, at + 16);
    b.writeUInt32BE(filesz, at + 20);
  };
  const interp = "/lib/ld.so.1\0";
  ph(0, 1, 0, 0x10000, 1024); // PT_LOAD maps the whole file at 0x10000
  ph(1, 3, 200, 0x10000 + 200, interp.length); // PT_INTERP
  ph(2, 2, 256, 0x10000 + 256, 40); // PT_DYNAMIC
  b.write(interp, 200, "latin1");
  const dyn: Array<[number, number]> = [
    [1, 1], // DT_NEEDED "libc.so.6"
    [1, 11], // DT_NEEDED "libm.so.6"
    [5, 0x10000 + 320], // DT_STRTAB (a virtual address)
    [10, 32], // DT_STRSZ
    [0, 0],
  ];
  dyn.forEach(([tag, val], i) => {
    b.writeInt32BE(tag, 256 + i * 8);
    b.writeUInt32BE(val, 256 + i * 8 + 4);
  });
  b.write("\0libc.so.6\0libm.so.6\0", 320, "latin1");
  return b;
}

describe("readElf on real binaries", () => {
  test("/bin/ls: 64-bit x86_64, dynamic, glibc interpreter, NEEDED in order", async () => {
    const info = await readElf("/bin/ls");
    assert.equal(info.class, 64);
    assert.equal(info.machine, "x86_64");
    assert.equal(info.interpreter, "/lib64/ld-linux-x86-64.so.2");
    assert.equal(info.static, false);
    assert.equal(info.needed.at(-1), "libc.so.6");
  });

  test("qemu-aarch64-static: static (no PT_INTERP, no NEEDED)", async (t) => {
    if (!requireFile(t, QEMU, "qemu-user-static")) return;
    const info = await readElf(QEMU);
    assert.deepEqual(info, { class: 64, machine: "x86_64", needed: [], static: true });
  });

  test("aarch64 libc.so.6 (an executable library) and libstdc++.so.6 (no interpreter)", async (t) => {
    if (!requireFile(t, `${ARM64_LIB}/libc.so.6`, "libc6-arm64-cross")) return;
    const libc = await readElf(`${ARM64_LIB}/libc.so.6`);
    assert.equal(libc.machine, "aarch64");
    assert.equal(libc.interpreter, "/lib/ld-linux-aarch64.so.1");
    assert.deepEqual(libc.needed, ["ld-linux-aarch64.so.1"]);
    if (!requireFile(t, `${ARM64_LIB}/libstdc++.so.6`, "libstdc++6-arm64-cross")) return;
    const cxx = await readElf(`${ARM64_LIB}/libstdc++.so.6`);
    assert.equal(cxx.machine, "aarch64");
    assert.equal(cxx.interpreter, undefined);
    assert.ok(cxx.needed.includes("libc.so.6") && cxx.needed.includes("libm.so.6"), cxx.needed.join(","));
    assert.equal(cxx.static, false);
  });

  test("the host Bun runtime (~100 MB): read from headers only", async () => {
    const info = await readElf(HOST_BUN);
    assert.equal(info.machine, process.arch === "arm64" ? "aarch64" : "x86_64");
    assert.ok(info.needed.includes("libc.so.6"));
    assert.ok(info.interpreter?.startsWith("/lib"));
  });
});

describe("readElf edge cases", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "aotpack-elf-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("32-bit big-endian: class, machine, interpreter and NEEDED through DT_STRTAB's vaddr", async () => {
    const path = join(dir, "ppc");
    await writeFile(path, elf32BigEndian());
    assert.deepEqual(await readElf(path), {
      class: 32,
      machine: "ppc",
      interpreter: "/lib/ld.so.1",
      needed: ["libc.so.6", "libm.so.6"],
      static: false,
    });
  });

  test("not an ELF file, a truncated one, and a missing one are AotpackErrors", async () => {
    const text = join(dir, "server.js");
    await writeFile(text, "console.log('hi')\n");
    await assert.rejects(readElf(text), (e: unknown) => e instanceof AotpackError && /is not an ELF executable/.test(e.message));

    const truncated = join(dir, "truncated");
    const src = await open("/bin/ls", "r");
    const head = Buffer.alloc(100);
    await src.read(head, 0, 100, 0);
    await src.close();
    await writeFile(truncated, head);
    await assert.rejects(readElf(truncated), (e: unknown) => e instanceof AotpackError && /truncated or corrupt/.test(e.message));

    await assert.rejects(readElf(join(dir, "nope")), (e: unknown) => e instanceof AotpackError && /cannot read executable/.test(e.message));
  });
});

describe("platform checks", () => {
  test("machineToPlatformArch maps uname names to OCI architectures", () => {
    assert.equal(machineToPlatformArch("x86_64"), "amd64");
    assert.equal(machineToPlatformArch("aarch64"), "arm64");
    assert.equal(machineToPlatformArch("arm"), "arm");
    assert.equal(machineToPlatformArch("riscv64"), "riscv64");
    assert.equal(machineToPlatformArch("weird"), undefined);
  });

  test("assertElfMatchesPlatform: a mismatch fails the build with both names", () => {
    const arm = { class: 64 as const, machine: "aarch64", needed: ["libc.so.6"], static: false };
    assertElfMatchesPlatform(arm, { os: "linux", architecture: "arm64" }, "/out/server");
    assert.throws(
      () => assertElfMatchesPlatform(arm, { os: "linux", architecture: "amd64" }, "/out/server"),
      (e: unknown) => e instanceof AotpackError && e.exitCode === 1 && e.message === "server is aarch64 but the platform is linux/amd64",
    );
    const arm32 = { class: 32 as const, machine: "arm", needed: [], static: true };
    assertElfMatchesPlatform(arm32, { os: "linux", architecture: "arm", variant: "v7" }, "x");
    assert.throws(() => assertElfMatchesPlatform(arm, { os: "windows", architecture: "arm64" }, "x"), AotpackError);
  });
});

/**
 * The lock is checked before compiling (#17): where a compiler knows its executable's ELF before it
 * compiles (Bun and Node SEA append the app to a prebuilt runtime), the deb: base is resolved first.
 * So switching to a runtime that needs more Debian packages than aotpack.lock pins fails at once
 * under --frozen-lock, and otherwise extends the lock before the compile, not after it.
 * Real Debian mirror (deb.debian.org), a toy compiler that counts its compiles.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, type BuildReporter } from "./build.ts";
import { debianMirrorReachable, REAL_MIRROR } from "../base/testing/fixtures.ts";
import { unavailable, withEnv } from "../../test/support/index.ts";
import { toyCompilerEntry } from "../compile/testing/toy-compiler.ts";
import { parsePlatform } from "../oci/platform.ts";
import type { Compiler } from "../compile/types.ts";
import type { ElfInfo } from "../elf/types.ts";

const LIBC_ONLY: ElfInfo = { class: 64, machine: "x86_64", interpreter: "/lib64/ld-linux-x86-64.so.2", needed: ["libc.so.6"], static: false };
// What a Node SEA needs beyond glibc: the lock written for a Bun-like executable does not pin libstdc++6.
const WITH_LIBSTDCXX: ElfInfo = { ...LIBC_ONLY, needed: ["libstdc++.so.6", "libm.so.6", "libgcc_s.so.1", "libc.so.6"] };

function countingToy(predicted: ElfInfo, log: string[]): Compiler {
  const toy = toyCompilerEntry("toy-early").create() as Compiler;
  return {
    ...toy,
    executableElf: async () => predicted,
    compile: (request) => {
      log.push("compile");
      return toy.compile(request);
    },
  };
}

test("a lock that lacks the runtime's packages is refused (--frozen-lock) or extended before any compile", { timeout: 600_000 }, async (t) => {
  if (!(await debianMirrorReachable())) return unavailable(t, "deb.debian.org is not reachable over http");
  const work = await mkdtemp(join(tmpdir(), "aotpack-early-base-"));
  t.after(() => rm(work, { recursive: true, force: true }));
  const project = join(work, "app");
  await mkdir(project);
  await writeFile(join(project, "toy.json"), JSON.stringify({ message: "hi" }));
  const lockfile = join(work, "aotpack.lock");
  const log: string[] = [];
  const reporter: BuildReporter = {
    step: (p, step, state) => log.push(`${step} ${state}`),
    info: (m) => log.push(m),
    warn: (m) => log.push(m),
  };
  const options = (predicted: ElfInfo, frozenLock: boolean) => ({
    projectDir: project,
    platforms: [parsePlatform("linux/amd64")],
    base: "deb:bookworm",
    lockfile,
    debianMirror: REAL_MIRROR,
    sourceDateEpoch: 0,
    compiler: countingToy(predicted, log),
    reporter,
    ...(frozenLock ? { frozenLock } : {}),
  });

  withEnv(t, { AOTPACK_CACHE_DIR: join(work, "cache") });
  {
    await build(options(LIBC_ONLY, false));
    assert.equal(log.filter((l) => l === "compile").length, 1);

    // --frozen-lock: the missing package is named and nothing was compiled for it.
    log.length = 0;
    await assert.rejects(build(options(WITH_LIBSTDCXX, true)), /aotpack\.lock has no (gcc-12-base|libgcc-s1|libstdc\+\+6) for amd64/);
    assert.deepEqual(log.filter((l) => l.startsWith("compile")), [], log.join("\n"));

    // Without it, the lock is extended, and that is said before the compile starts.
    log.length = 0;
    await build(options(WITH_LIBSTDCXX, false));
    const added = log.findIndex((l) => /aotpack\.lock: added .*libstdc\+\+6.* for amd64/.test(l));
    assert.ok(added >= 0, log.join("\n"));
    assert.ok(added < log.indexOf("compile start"), `the lock is extended before the compile:\n${log.join("\n")}`);
  }
});

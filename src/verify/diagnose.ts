/**
 * Checks made on the unpacked rootfs before anything runs, so a broken image fails with
 * its cause ("the ELF interpreter … is missing") instead of "exec format error" or ENOENT.
 */
import { open, readFile, readdir } from "node:fs/promises";
import { posix } from "node:path";
import { AotpackError } from "../errors.ts";
import type { ElfInfo } from "../elf/types.ts";
import { machineToPlatformArch, readElf } from "../elf/read-elf.ts";
import { formatPlatform, unameMachine, type Platform } from "../oci/platform.ts";
import { statInRoot } from "./rootfs-path.ts";

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface EntrypointFacts {
  /** The program as found inside the image, e.g. "/app/server". */
  imagePath: string;
  /** Where that file is on the host (inside the unpacked root). */
  hostPath: string;
  /** ELF facts; absent for a `#!` script. */
  elf?: ElfInfo;
}

/** Debian multiarch triplets, where the C library and friends live. */
const MULTIARCH: Record<string, string[]> = {
  x86_64: ["x86_64-linux-gnu"],
  aarch64: ["aarch64-linux-gnu"],
  arm: ["arm-linux-gnueabihf", "arm-linux-gnueabi"],
  i386: ["i386-linux-gnu"],
  riscv64: ["riscv64-linux-gnu"],
  ppc64le: ["powerpc64le-linux-gnu"],
  s390x: ["s390x-linux-gnu"],
};

/** Find the entrypoint program inside the root: a path as-is (relative to WorkingDir), a bare name on the image's PATH. */
export async function findEntrypoint(rootDir: string, program: string, workingDir: string, pathVar: string): Promise<{ imagePath: string; hostPath: string }> {
  const candidates = program.includes("/")
    ? [posix.resolve(workingDir || "/", program)]
    : pathVar.split(":").filter((d) => d.startsWith("/")).map((d) => posix.join(d, program));
  for (const imagePath of candidates) {
    const found = await statInRoot(rootDir, imagePath);
    if (found?.stats.isFile()) {
      if ((found.stats.mode & 0o111) === 0) throw new AotpackError(`the entrypoint ${imagePath} is not executable (mode ${(found.stats.mode & 0o777).toString(8)})`);
      return { imagePath, hostPath: found.hostPath };
    }
  }
  throw new AotpackError(
    program.includes("/") ? `the entrypoint ${candidates[0]} is not in the image` : `the entrypoint ${program} is not on the image's PATH (${pathVar})`,
    { hint: "check the image's Entrypoint/Cmd, or pass the program after --" },
  );
}

/**
 * Check that `program` can start on `platform`: the architecture matches, its ELF
 * interpreter and every NEEDED library (transitively) are in the image.
 */
export async function diagnoseEntrypoint(
  rootDir: string,
  program: string,
  platform: Platform,
  options: { workingDir?: string; pathVar?: string } = {},
): Promise<EntrypointFacts> {
  const { imagePath, hostPath } = await findEntrypoint(rootDir, program, options.workingDir ?? "/", options.pathVar ?? DEFAULT_PATH);
  const head = await readHead(hostPath, 256);
  if (head.subarray(0, 2).toString("latin1") === "#!") {
    const interpreter = head.toString("latin1").slice(2).split("\n")[0]?.trim().split(/\s+/)[0] ?? "";
    if (!interpreter.startsWith("/") || !(await statInRoot(rootDir, interpreter))?.stats.isFile()) {
      throw new AotpackError(`the script ${imagePath} starts with #!${interpreter}, which is not in the image`);
    }
    return { imagePath, hostPath };
  }
  if (head.readUInt32BE(0) !== 0x7f454c46) throw new AotpackError(`the entrypoint ${imagePath} is neither an ELF executable nor a #! script`);

  const elf = await readElf(hostPath);
  const arch = machineToPlatformArch(elf.machine);
  if (arch !== platform.architecture) {
    throw new AotpackError(`${imagePath} is ${elf.machine} but the image platform is ${formatPlatform(platform)}`, {
      hint: `build the image for linux/${arch ?? elf.machine}, or compile the binary for ${unameMachine(platform)}`,
    });
  }
  if (elf.interpreter && !(await statInRoot(rootDir, elf.interpreter))?.stats.isFile()) {
    throw new AotpackError(`the ELF interpreter ${elf.interpreter} (needed by ${imagePath}) is missing from the image`, {
      hint: "use a base that has the C library (e.g. a deb: base with libc6), or build a static binary",
    });
  }
  await checkNeededLibraries(rootDir, imagePath, elf);
  return { imagePath, hostPath, elf };
}

/** The directories the dynamic loader searches in this root, in its order. */
export async function librarySearchDirs(rootDir: string, machine: string): Promise<string[]> {
  const dirs: string[] = [];
  for (const d of await ldSoConfDirs(rootDir, "/etc/ld.so.conf", 0)) dirs.push(d);
  for (const triplet of MULTIARCH[machine] ?? []) dirs.push(`/lib/${triplet}`, `/usr/lib/${triplet}`);
  dirs.push("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib");
  return [...new Set(dirs)];
}

async function checkNeededLibraries(rootDir: string, imagePath: string, elf: ElfInfo): Promise<void> {
  const searchDirs = await librarySearchDirs(rootDir, elf.machine);
  const seen = new Set<string>();
  const queue: { lib: string; neededBy: string }[] = elf.needed.map((lib) => ({ lib, neededBy: imagePath }));
  while (queue.length > 0) {
    const { lib, neededBy } = queue.shift() as { lib: string; neededBy: string };
    if (seen.has(lib)) continue;
    seen.add(lib);
    const candidates = lib.includes("/") ? [lib] : searchDirs.map((d) => posix.join(d, lib));
    let foundAt: string | undefined;
    for (const candidate of candidates) {
      const found = await statInRoot(rootDir, candidate);
      if (found?.stats.isFile()) {
        foundAt = found.hostPath;
        break;
      }
    }
    if (!foundAt) {
      throw new AotpackError(`the library ${lib} (needed by ${neededBy}) is missing from the image; searched ${searchDirs.join(", ")}`, {
        hint: "add the package that ships it to the base image, or link the binary statically",
      });
    }
    // A library's own NEEDED are the loader's business too; unreadable ones are left to the loader.
    const libElf = await readElf(foundAt).catch(() => undefined);
    for (const next of libElf?.needed ?? []) if (!seen.has(next)) queue.push({ lib: next, neededBy: lib });
  }
}

/** Directories from the root's /etc/ld.so.conf (following `include` globs of the form dir/*.conf). */
async function ldSoConfDirs(rootDir: string, confPath: string, depth: number): Promise<string[]> {
  if (depth > 4) return [];
  const found = await statInRoot(rootDir, confPath);
  if (!found?.stats.isFile() || found.stats.size > 1 << 20) return [];
  const out: string[] = [];
  for (const raw of (await readFile(found.hostPath, "utf8")).split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") continue;
    const include = /^include\s+(\S+)$/.exec(line);
    if (include?.[1]) {
      const pattern = include[1];
      const dir = posix.dirname(pattern);
      const suffix = posix.basename(pattern).replace(/^\*/, "");
      const dirFound = await statInRoot(rootDir, dir);
      if (!dirFound?.stats.isDirectory()) continue;
      for (const name of (await readdir(dirFound.hostPath)).sort()) {
        if (name.endsWith(suffix)) out.push(...(await ldSoConfDirs(rootDir, posix.join(dir, name), depth + 1)));
      }
    } else if (line.startsWith("/")) out.push(line);
  }
  return out;
}

async function readHead(path: string, length: number): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, 0);
    return buf.subarray(0, Math.max(bytesRead, 4));
  } finally {
    await fh.close();
  }
}

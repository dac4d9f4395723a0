/**
 * An init as PID 1 (tini: what aotpack's deb: bases start the app under, and Docker's --init):
 * the app is then PID 2, so a SIGTERM it has no handler for takes the default action (the
 * kernel drops it only for PID 1), and a re-raised SIGTERM (Nest's enableShutdownHooks) ends it.
 * run/verify recognise `tini [flags] -- program args…` in the image's argv:
 *   - natively and through binfmt_misc, it runs as the image has it;
 *   - under qemu-user started by us (no binfmt_misc), the image's tini could not exec the app
 *     (the kernel cannot run a foreign ELF without binfmt_misc), so the host's static tini takes
 *     its place as PID 1 and starts qemu-user with the app, as Docker's --init mounts the host's;
 *   - without a PID namespace (--isolation host) the app is not PID 1 anyway: the init is left out.
 */
import { readFile } from "node:fs/promises";
import { posix } from "node:path";
import { readElf } from "../elf/read-elf.ts";
import { findOnPath } from "./find-on-path.ts";

/** Program names of tini-like inits: `NAME [flags] -- program args…`. */
const INIT_NAMES = new Set(["tini", "tini-static", "docker-init"]);

export interface InitSplit {
  /** The init and its flags, up to and including "--". */
  init: string[];
  /** The app's argv. */
  program: string[];
}

/** The image's argv as init + program, when it starts under a tini-like init. */
export function splitInit(argv: readonly string[]): InitSplit | undefined {
  if (!INIT_NAMES.has(posix.basename(argv[0] ?? ""))) return undefined;
  const dashes = argv.indexOf("--");
  if (dashes < 1 || dashes === argv.length - 1) return undefined;
  return { init: argv.slice(0, dashes + 1), program: argv.slice(dashes + 1) };
}

/** A statically linked tini on this host (Debian's tini package ships /usr/bin/tini-static), or undefined. */
export async function hostStaticInit(searchPath = `${process.env.PATH ?? ""}:/usr/bin:/usr/sbin:/usr/libexec/docker`): Promise<string | undefined> {
  for (const name of ["tini-static", "docker-init", "tini"]) {
    const path = await findOnPath(name, searchPath);
    const elf = path ? await readElf(path).catch(() => undefined) : undefined;
    if (path && elf && !elf.interpreter) return path;
  }
  return undefined;
}

/** The first child of `pid` (the app under its init), from /proc; undefined when it has none. */
export async function firstChild(pid: number): Promise<number | undefined> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
  const first = Number(text.trim().split(/\s+/)[0]);
  return Number.isInteger(first) && first > 0 ? first : undefined;
}

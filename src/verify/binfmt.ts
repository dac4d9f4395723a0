/**
 * binfmt_misc: how the kernel runs foreign ELF binaries through qemu-user. With the F
 * (fix-binary) flag the kernel opens the interpreter once, at registration, so it also
 * works inside a chroot that has no qemu in it.
 */
import { access, constants, readFile, writeFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { AotpackError, errorMessage } from "../errors.ts";
import { findOnPath } from "./find-on-path.ts";

export const BINFMT_DIR = "/proc/sys/fs/binfmt_misc";

/** qemu's well-known aarch64 ELF magic/mask (e_ident + e_machine 0xb7; ET_EXEC or ET_DYN). */
const AARCH64_MAGIC = "\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00";
const AARCH64_MASK = "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff";

export interface BinfmtEntry {
  name: string;
  enabled: boolean;
  interpreter: string;
  flags: string;
}

/** The enabled binfmt_misc entry `qemu-<machine>`, if binfmt_misc is mounted and has one. */
export async function readBinfmtEntry(machine: string, binfmtDir = BINFMT_DIR): Promise<BinfmtEntry | undefined> {
  let text: string;
  try {
    const status = (await readFile(`${binfmtDir}/status`, "utf8")).trim();
    if (status !== "enabled") return undefined;
    text = await readFile(`${binfmtDir}/qemu-${machine}`, "utf8");
  } catch {
    return undefined;
  }
  const lines = text.split("\n");
  const field = (key: string): string => lines.find((l) => l.startsWith(`${key} `))?.slice(key.length + 1).trim() ?? "";
  return { name: `qemu-${machine}`, enabled: lines[0]?.trim() === "enabled", interpreter: field("interpreter"), flags: field("flags:") };
}

/** True when `qemu-<machine>` is registered with the fix-binary flag, so it runs inside a chroot. */
export async function binfmtFixBinaryReady(machine: string, binfmtDir = BINFMT_DIR): Promise<boolean> {
  const entry = await readBinfmtEntry(machine, binfmtDir);
  return entry !== undefined && entry.enabled && entry.flags.includes("F");
}

export interface SetupBinfmtResult {
  /** "already" when an F entry was there; "registered" when we wrote one. */
  status: "already" | "registered";
  interpreter: string;
  /** True when we mounted binfmt_misc ourselves. */
  mounted: boolean;
}

/**
 * Register qemu-aarch64 with binfmt_misc (flag F) for root; idempotent. Mounts binfmt_misc
 * when needed. An existing qemu-aarch64 entry without F is replaced, since without F it
 * cannot run binaries inside an image's chroot.
 */
export async function setupBinfmt(options: { binfmtDir?: string; qemuPath?: string } = {}): Promise<SetupBinfmtResult> {
  const dir = options.binfmtDir ?? BINFMT_DIR;
  if (process.getuid?.() !== 0) {
    throw new AotpackError("setting up binfmt_misc needs root", { hint: "run `sudo aotpack setup-binfmt`" });
  }
  const qemu = options.qemuPath ?? (await findOnPath("qemu-aarch64-static"));
  if (!qemu) {
    throw new AotpackError("qemu-aarch64-static is not installed", { hint: "install qemu-user-static (apt-get install qemu-user-static)" });
  }
  let mounted = false;
  if (!(await exists(`${dir}/register`))) {
    try {
      await promisify(execFile)("mount", ["-t", "binfmt_misc", "binfmt_misc", dir]);
      mounted = true;
    } catch (err) {
      throw new AotpackError(`cannot mount binfmt_misc on ${dir}: ${errorMessage(err).split("\n")[0]}`, { cause: err });
    }
  }
  const existing = await readBinfmtEntry("aarch64", dir);
  if (existing?.enabled && existing.flags.includes("F")) return { status: "already", interpreter: existing.interpreter, mounted };
  if (existing) await writeFile(`${dir}/qemu-aarch64`, "-1"); // remove the entry without F
  const { magic, mask } = await debianMagic();
  try {
    await writeFile(`${dir}/register`, `:qemu-aarch64:M:0:${magic}:${mask}:${qemu}:F`);
  } catch (err) {
    throw new AotpackError(`cannot register qemu-aarch64 with binfmt_misc: ${errorMessage(err)}`, { cause: err });
  }
  return { status: "registered", interpreter: qemu, mounted };
}

/** Remove the qemu-aarch64 entry (used by tests to restore the host as they found it). */
export async function removeBinfmtEntry(machine: string, binfmtDir = BINFMT_DIR): Promise<void> {
  if (await exists(`${binfmtDir}/qemu-${machine}`)) await writeFile(`${binfmtDir}/qemu-${machine}`, "-1");
}

/** Magic and mask from Debian's binfmts description when present, else qemu's well-known values. */
async function debianMagic(): Promise<{ magic: string; mask: string }> {
  try {
    const text = await readFile("/usr/share/binfmts/qemu-aarch64", "utf8");
    const get = (k: string): string | undefined => text.split("\n").find((l) => l.startsWith(`${k} `))?.slice(k.length + 1).trim();
    const magic = get("magic");
    const mask = get("mask");
    if (magic && mask) return { magic, mask };
  } catch {
    // fall through to the built-in values
  }
  return { magic: AARCH64_MAGIC, mask: AARCH64_MASK };
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

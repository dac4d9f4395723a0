/** Running the other architecture's executables here: qemu-user and the arm64 cross libraries. */
import { existsSync } from "node:fs";
import { findTool } from "./tools.ts";

export const QEMU_AARCH64 = "qemu-aarch64-static";
/** Debian's arm64 cross sysroot (libc6-arm64-cross, libstdc++6-arm64-cross). */
export const ARM64_SYSROOT = "/usr/aarch64-linux-gnu";
export const ARM64_LIB = `${ARM64_SYSROOT}/lib`;

/** qemu-aarch64-static on PATH and the arm64 dynamic loader in the cross sysroot. */
export function hasQemuArm64(): boolean {
  return findTool(QEMU_AARCH64) !== undefined && existsSync(`${ARM64_LIB}/ld-linux-aarch64.so.1`);
}

/**
 * The post's `aotdebug` variant (--debug-image): the same image plus the executable's split
 * symbols beside it in /app (where gdb looks for the `.gnu_debuglink` file) and gdb from Debian.
 * `gdb-minimal` is gdb without Python: a few MiB instead of tens.
 */
import { basename, posix } from "node:path";
import type { Artifact } from "../compile/types.ts";
import type { LayerEntry } from "../oci/layer.ts";

export const DEBUGGER_PACKAGE = "gdb-minimal";

/** Extra base requirements for the debug variant (deb: bases add the package; others ignore it). */
export function base(debugImage: boolean | undefined): { extraPackages?: string[] } {
  return debugImage ? { extraPackages: [DEBUGGER_PACKAGE] } : {};
}

/** The symbols layer's entries, beside the entrypoint; undefined when the compiler split none. */
export function symbolsLayer(artifact: Artifact): LayerEntry[] | undefined {
  if (!artifact.symbols?.length) return undefined;
  const dir = posix.dirname(artifact.entrypoint[0] ?? "/app/app");
  return artifact.symbols.map((source) => ({ path: posix.join(dir, basename(source)), type: "file" as const, source, mode: 0o644 }));
}

/**
 * Images that cannot start are build failures, not runtime surprises:
 * - a scratch base has no ELF interpreter or libc for a dynamically linked executable;
 * - a single-file executable cannot load a native addon (`.node`) from node_modules, which
 *   the image does not have. Heuristic: the project's direct dependencies (package.json
 *   "dependencies") whose package holds a binding.gyp or a `.node` file.
 */
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { AotpackError } from "../errors.ts";
import type { ElfInfo } from "../elf/types.ts";

export function checkBaseCanRun(baseKind: string, elf: ElfInfo, platform: string): void {
  if (baseKind !== "scratch" || !elf.interpreter) return;
  throw new AotpackError(
    `--base scratch cannot start the ${platform} executable: it is dynamically linked (interpreter ${elf.interpreter}, needs ${elf.needed.join(", ") || "shared libraries"}) and scratch has none`,
    { hint: "use --base deb:bookworm (the default: only the files the executable needs), or a base with glibc" },
  );
}

async function findAddon(dir: string, depth = 0): Promise<string | undefined> {
  if (depth > 4) return undefined;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (e.isFile() && (e.name.endsWith(".node") || e.name === "binding.gyp")) return join(dir, e.name);
  }
  for (const e of entries) {
    if (e.isDirectory() && e.name !== "node_modules" && !e.name.startsWith(".")) {
      const found = await findAddon(join(dir, e.name), depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}

export async function checkNoNativeAddons(projectDir: string): Promise<void> {
  const pkg = JSON.parse(await readFile(join(projectDir, "package.json"), "utf8").catch(() => "{}")) as { dependencies?: Record<string, string> };
  const found: string[] = [];
  for (const name of Object.keys(pkg.dependencies ?? {}).sort()) {
    const addon = await findAddon(join(projectDir, "node_modules", name));
    if (addon) found.push(`${name} has a native addon (${relative(projectDir, addon)})`);
  }
  if (!found.length) return;
  throw new AotpackError(`dependency ${found.join("; ")}, which a single-file executable cannot load: the image would fail at startup`, {
    hint: "use a built-in instead (bun:sqlite with the Bun runtime, node:sqlite with --runtime node) or a pure-JavaScript package",
  });
}

/** Folders that by convention hold files the server reads at runtime (Express/Hono/Fastify static, templates). */
const ASSET_DIRS = ["public", "static", "assets", "views", "templates"];

/**
 * A cheap heuristic, not an analysis of the code: a conventional asset folder with files in it,
 * none of which the build ships (`files`). The build warns; it cannot know the code reads them.
 */
export async function unshippedAssetDirs(projectDir: string, shipped: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of ASSET_DIRS) {
    const entries = await readdir(join(projectDir, dir)).catch(() => []);
    if (entries.length && !shipped.some((f) => f.startsWith(`${dir}/`))) out.push(dir);
  }
  return out;
}

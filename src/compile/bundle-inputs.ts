/** The bundler's own record of what it read (esbuild's and Bun's metafile `inputs`): the compile key's inputs, and the SBOM's. */
import { readFile } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import type { ArtifactInputs } from "./types.ts";

export interface MetafileInputs {
  /** Every file the bundler read, absolute host paths, sorted: wherever they live (dist/, node_modules, outside the project). */
  read: string[];
  /** The same, relative to the project dir with `/` (`../shared/lib.ts` for a file outside it), for the SBOM. */
  bundled: NonNullable<ArtifactInputs["bundled"]>;
}

/**
 * The metafile names inputs relative to the bundler's working dir (`baseDir`); built-in modules
 * (`node:`, `bun:`) and plugin namespaces are not files.
 */
export async function metafileInputs(metafile: string, baseDir: string, projectDir: string): Promise<MetafileInputs> {
  const meta = JSON.parse(await readFile(metafile, "utf8")) as { inputs?: Record<string, unknown> };
  const read = new Set<string>();
  for (const key of Object.keys(meta.inputs ?? {})) {
    if (/^[a-z]+:/.test(key)) continue;
    read.add(isAbsolute(key) ? key : resolve(baseDir, key));
  }
  const sorted = [...read].sort();
  return { read: sorted, bundled: sorted.map((abs) => relative(projectDir, abs).split(sep).join("/")).sort() };
}

const IN_NODE_MODULES = /(^|[\\/])node_modules[\\/]/;

/**
 * The dependency modules the app's own code imports (statically, or with require): absolute paths of
 * the node_modules files that the metafile's non-node_modules inputs import, sorted.
 */
export async function dependencyModules(metafile: string, baseDir: string): Promise<string[]> {
  const meta = JSON.parse(await readFile(metafile, "utf8")) as { inputs?: Record<string, { imports?: { path?: unknown; kind?: unknown }[] }> };
  const out = new Set<string>();
  for (const [key, input] of Object.entries(meta.inputs ?? {})) {
    if (/^[a-z]+:/.test(key) || IN_NODE_MODULES.test(key)) continue;
    for (const imp of input.imports ?? []) {
      if (typeof imp.path !== "string" || /^[a-z]+:/.test(imp.path) || !IN_NODE_MODULES.test(imp.path)) continue;
      if (imp.kind !== "import-statement" && imp.kind !== "require-call") continue;
      out.add(isAbsolute(imp.path) ? imp.path : resolve(baseDir, imp.path));
    }
  }
  return [...out].sort();
}

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

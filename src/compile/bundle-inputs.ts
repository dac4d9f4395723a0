/** The bundler's own list of what it read (esbuild's and Bun's metafile `inputs`), for the SBOM. */
import { readFile } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";

/**
 * Input paths relative to the project dir, sorted. The metafile names them relative to the
 * bundler's working dir (`baseDir`); built-in modules and inputs outside the project are dropped.
 */
export async function bundledInputs(metafile: string, baseDir: string, projectDir: string): Promise<string[]> {
  const meta = JSON.parse(await readFile(metafile, "utf8")) as { inputs?: Record<string, unknown> };
  const out = new Set<string>();
  for (const key of Object.keys(meta.inputs ?? {})) {
    if (/^[a-z]+:/.test(key)) continue; // bun:, node:, and plugin namespaces
    const abs = isAbsolute(key) ? key : resolve(baseDir, key);
    const rel = relative(projectDir, abs);
    if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) continue;
    out.add(rel.split(sep).join("/"));
  }
  return [...out].sort();
}

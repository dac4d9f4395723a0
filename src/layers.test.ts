/**
 * The layering rule of docs/architecture.md: no module imports from a layer above its own.
 * LAYERS lists src/'s folders (and its loose files) bottom to top; a module may import its own
 * layer and those below. Static and dynamic imports both count; tests and testing/ helpers
 * are exempt (they may reach anything to set a scene up).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = dirname(fileURLToPath(import.meta.url));

/** Bottom to top. A folder is named as `oci`; a loose file of src/ as `file:cache.ts`. */
export const LAYERS: string[][] = [
  ["file:errors.ts", "file:ansi.ts", "file:bytes.ts", "file:limit.ts", "file:redact.ts", "file:version.ts"],
  // The cache stores blobs with oci/'s digests and atomic writes, and oci's layers cache chunks in it.
  ["oci", "file:cache.ts"],
  ["elf"],
  ["dockerfile", "publish", "verify"],
  ["compile", "registry"],
  ["transports", "base", "file:sources.ts", "file:cache-admin.ts"],
  ["sbom"],
  ["builder"],
  ["cli"],
  ["file:index.ts"],
];

function layerOf(file: string): string {
  const rel = relative(SRC, file).split("/");
  return rel.length === 1 ? `file:${rel[0]}` : rel[0]!;
}

function modules(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== "testing" && name !== "testdata") modules(path, out);
    } else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

test("no module imports from a layer above its own (docs/architecture.md)", () => {
  const rank = new Map(LAYERS.flatMap((names, i) => names.map((n) => [n, i] as const)));
  const violations: string[] = [];
  const unplaced = new Set<string>();
  for (const file of modules(SRC)) {
    const own = layerOf(file);
    if (!rank.has(own)) unplaced.add(own);
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g)) {
      const target = layerOf(normalize(join(dirname(file), m[1]!)));
      if (target === own) continue;
      if (!rank.has(target)) unplaced.add(target);
      else if ((rank.get(target) ?? 0) > (rank.get(own) ?? 0)) violations.push(`${relative(SRC, file)} imports ${m[1]} (${target} is above ${own})`);
    }
  }
  assert.deepEqual([...unplaced], [], "every folder and loose file of src/ has a layer in LAYERS");
  assert.deepEqual(violations, []);
});

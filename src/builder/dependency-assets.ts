/**
 * Files a dependency reads relative to its own code (json-server's `views/`, a template engine's
 * templates) are not in the bundle: the bundler follows imports, not `readFile(join(__dirname, …))`.
 * After the compile, the packages the bundle holds are looked through for such files, and each
 * package's are named in one warning with the `files` glob that ships them.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { packageDirOf } from "../sbom/npm-packages.ts";

/** Folders that hold what a package serves or renders, by their usual names. */
const ASSET_DIRS = new Set(["views", "templates", "public", "static", "assets", "www", "html"]);
/** Files that are read, not imported. */
const ASSET_FILE = /\.(html?|ejs|hbs|handlebars|pug|mustache|njk|liquid|css)$/i;
/** A package is looked through this far: a package with more files is not a set of assets to list. */
const MAX_ENTRIES = 5000;

async function assetFiles(pkgDir: string, rel: string, out: string[], budget: { left: number }): Promise<void> {
  const entries = await readdir(join(pkgDir, rel), { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (--budget.left < 0) return;
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      if (e.name !== "node_modules" && !e.name.startsWith(".")) await assetFiles(pkgDir, path, out, budget);
    } else if (e.isFile()) {
      const inAssetDir = path.split("/").slice(0, -1).some((d) => ASSET_DIRS.has(d));
      if (ASSET_FILE.test(e.name) || (inAssetDir && !/\.(c|m)?[jt]sx?$|\.d\.ts$|\.map$/.test(e.name))) out.push(path);
    }
  }
}

/**
 * One warning per bundled package with asset files that are neither bundled nor shipped.
 * `bundled` and `shipped` are project-relative (`node_modules/pkg/…`, `../node_modules/pkg/…` hoisted).
 */
export async function dependencyAssetWarnings(projectDir: string, bundled: readonly string[], shipped: readonly string[]): Promise<string[]> {
  const inBundle = new Set(bundled);
  const isShipped = new Set(shipped);
  const warnings: string[] = [];
  for (const dir of [...new Set(bundled.map(packageDirOf).filter((d): d is string => d !== undefined))].sort()) {
    const found: string[] = [];
    await assetFiles(join(projectDir, dir), "", found, { left: MAX_ENTRIES });
    const missing = found.map((f) => `${dir}/${f}`).filter((f) => !inBundle.has(f) && !isShipped.has(f));
    if (missing.length === 0) continue;
    const name = dir.slice(dir.lastIndexOf("node_modules/") + "node_modules/".length);
    const top = [...new Set(missing.map((f) => f.slice(dir.length + 1).split("/")[0]!))].sort();
    const globs = top.map((t) => (missing.some((f) => f.startsWith(`${dir}/${t}/`)) ? `${dir}/${t}/**` : `${dir}/${t}`));
    // `files` globs are relative to the project: a package hoisted above it cannot be named there.
    const fix = dir.startsWith("../")
      ? `it is installed above the project (${dir}); install it in the project's own node_modules to ship them`
      : `if it reads them at run time, add "files": [${globs.map((g) => JSON.stringify(g)).join(", ")}]`;
    warnings.push(`${name} has ${missing.length} file${missing.length === 1 ? "" : "s"} that are not in the bundle (${top.join(", ")}): ${fix}`);
  }
  return warnings;
}

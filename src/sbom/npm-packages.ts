/**
 * The npm packages a bundle holds: the package dirs of the bundler's inputs (not all of
 * node_modules), named, versioned and licensed from package-lock.json, else from the
 * installed package.json. Both are project files: values are checked before they are used.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";

export interface NpmComponent {
  name: string;
  version: string;
  license?: string;
  /** npm's sha512 integrity of the tarball, from the lockfile. */
  integrity?: string;
}

interface LockEntry {
  name?: string;
  version?: string;
  license?: string;
  integrity?: string;
}

const NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/i;
const VERSION = /^[0-9A-Za-z.+~-]{1,100}$/;

/** `node_modules/a/node_modules/@s/b` for an input `node_modules/a/node_modules/@s/b/dist/x.js`. */
export function packageDirOf(input: string): string | undefined {
  const parts = input.split("/");
  let end = -1;
  for (let i = 0; i < parts.length - 1; i++) {
    if (parts[i] !== "node_modules") continue;
    const scoped = parts[i + 1]?.startsWith("@");
    end = scoped ? i + 2 : i + 1;
    i = end;
  }
  return end < 0 || end >= parts.length ? undefined : parts.slice(0, end + 1).join("/");
}

async function readJson<T>(path: string): Promise<T | undefined> {
  return readFile(path, "utf8").then((t) => JSON.parse(t) as T, () => undefined);
}

export async function npmComponents(projectDir: string, bundled: string[]): Promise<NpmComponent[]> {
  const lock = await readJson<{ packages?: Record<string, LockEntry> }>(join(projectDir, "package-lock.json"));
  const dirs = [...new Set(bundled.map(packageDirOf).filter((d): d is string => d !== undefined))];
  const out = new Map<string, NpmComponent>();
  for (const dir of dirs) {
    const entry = lock?.packages?.[dir] ?? (await readJson<LockEntry>(join(projectDir, dir, "package.json")));
    const name = entry?.name ?? dir.slice(dir.lastIndexOf("node_modules/") + "node_modules/".length);
    const version = entry?.version;
    if (!NAME.test(name) || typeof version !== "string" || !VERSION.test(version)) continue;
    const c: NpmComponent = { name, version };
    if (typeof entry?.license === "string" && entry.license.length < 200) c.license = entry.license;
    if (typeof entry?.integrity === "string" && /^sha(256|384|512)-[A-Za-z0-9+/=]+$/.test(entry.integrity)) c.integrity = entry.integrity;
    out.set(`${name}@${version}`, c);
  }
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.version < b.version ? -1 : 1));
}

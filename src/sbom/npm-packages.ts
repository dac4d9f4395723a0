/**
 * The npm packages a bundle holds: the package dirs of the bundler's inputs (not all of
 * node_modules), named, versioned and licensed from package-lock.json, else from the
 * installed package.json. Both are project files: values are checked before they are used. Inputs
 * outside the project (`../node_modules/x/…`, hoisted by workspaces) are named from their package.json.
 */
import { readFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { redactText } from "../redact.ts";
import { checkIntegrity, npmCacheDir, type IntegrityCheck } from "./npm-integrity.ts";

export interface NpmComponent {
  name: string;
  version: string;
  license?: string;
  /** npm's integrity of the tarball, from the lockfile: only when verified against npm's cached tarball and the bundled bytes. */
  integrity?: string;
}

interface LockEntry {
  name?: string;
  version?: string;
  license?: string;
  integrity?: string;
  resolved?: string;
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

export interface NpmComponentOptions {
  /** Where the build's warnings go: a `resolved` that is no registry URL, integrities that could not be verified. */
  warn?: (message: string) => void;
  /** For npm's cache folder (npm_config_cache). */
  env?: NodeJS.ProcessEnv;
}

const UNVERIFIED: Record<Exclude<IntegrityCheck, { verified: true }>["why"], (npmCache: string) => string> = {
  "not-cached": (npmCache) => `not in npm's cache (${npmCache})`,
  "no-sha512": () => "no sha512 integrity in the lockfile",
  "tarball-mismatch": () => "the tarball in npm's cache does not hash to the lockfile's integrity",
  unreadable: () => "the tarball in npm's cache cannot be read (or is over the size limits)",
  differs: () => "bundled bytes differ from the tarball: node_modules was changed after install",
};

/** A value from a project file, for a message: quoted and escaped, without credentials, bounded. */
function shown(value: string): string {
  return JSON.stringify(redactText(value.length > 200 ? `${value.slice(0, 200)}…` : value));
}

/**
 * The bundled npm packages. A lockfile integrity is kept only when verified against the tarball npm
 * installed (from npm's cache) and the bundled bytes (npm-integrity.ts); otherwise it is left out and
 * one warning says how many and why.
 */
export async function npmComponents(projectDir: string, bundled: string[], options: NpmComponentOptions = {}): Promise<NpmComponent[]> {
  const warn = options.warn ?? (() => {});
  // The nearest package-lock.json at or above the project: a workspace's lockfile is at its root, and
  // names packages from there (`node_modules/ms` for the service's `../../node_modules/ms`).
  let lockDir = resolve(projectDir);
  let lock: { packages?: Record<string, LockEntry> } | undefined;
  for (;;) {
    lock = await readJson<{ packages?: Record<string, LockEntry> }>(join(lockDir, "package-lock.json"));
    if (lock || dirname(lockDir) === lockDir) break;
    lockDir = dirname(lockDir);
  }
  const lockKey = (dir: string): string => relative(lockDir, join(projectDir, dir)).split(sep).join("/");
  // Package dir → the bundled files inside it (paths relative to the package).
  const dirs = new Map<string, string[]>();
  for (const input of bundled) {
    const dir = packageDirOf(input);
    if (dir !== undefined) dirs.set(dir, [...(dirs.get(dir) ?? []), input.slice(dir.length + 1)]);
  }
  const out = new Map<string, NpmComponent>();
  const unverified = new Map<string, string[]>();
  let npmCache: string | undefined;
  for (const [dir, files] of dirs) {
    const locked = lock?.packages && Object.hasOwn(lock.packages, lockKey(dir)) ? lock.packages[lockKey(dir)] : undefined;
    const entry = locked ?? (await readJson<LockEntry>(join(projectDir, dir, "package.json")));
    const name = entry?.name ?? dir.slice(dir.lastIndexOf("node_modules/") + "node_modules/".length);
    const version = entry?.version;
    if (!NAME.test(name) || typeof version !== "string" || !VERSION.test(version)) continue;
    const c: NpmComponent = { name, version };
    if (typeof entry?.license === "string" && entry.license.length < 200) c.license = entry.license;
    if (typeof locked?.resolved === "string" && !locked.resolved.startsWith("https://")) {
      warn(`sbom: npm package ${name}@${version} was resolved from ${shown(locked.resolved)}, not an https registry URL: its bytes are whatever that source held at install`);
    }
    if (typeof entry?.integrity === "string" && /^sha(256|384|512)-[A-Za-z0-9+/=]+$/.test(entry.integrity)) {
      npmCache ??= await npmCacheDir(projectDir, options.env);
      const check = await checkIntegrity(entry.integrity, join(projectDir, dir), files, npmCache);
      if (check.verified) c.integrity = entry.integrity;
      else unverified.set(check.why, [...(unverified.get(check.why) ?? []), `${name}@${version}${check.why === "differs" ? ` (${shown(check.file)})` : ""}`]);
    }
    // Two copies of one name@version: the integrity stands only if both were verified.
    const key = `${name}@${version}`;
    const prev = out.get(key);
    if (prev && prev.integrity !== c.integrity) delete c.integrity;
    out.set(key, c);
  }
  const count = [...unverified.values()].reduce((n, l) => n + l.length, 0);
  if (count) {
    const why = [...unverified].map(([reason, labels]) => `${labels.join(", ")}: ${UNVERIFIED[reason as keyof typeof UNVERIFIED](npmCache ?? "")}`).join("; ");
    warn(`sbom: ${count} npm package${count === 1 ? "" : "s"} left without a checksum in the SBOM (the lockfile's integrity could not be verified against the bundled bytes): ${why}`);
  }
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.version < b.version ? -1 : 1));
}

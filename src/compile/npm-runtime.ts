/**
 * Fetch one executable out of an npm package (a Bun or Node runtime), through npm's
 * own configured registry, and keep it in aotpack's cache:
 *
 *   cacheDir("runtimes")/<pkg>@<version>/<name>          the executable (0755)
 *   cacheDir("runtimes")/<pkg>@<version>/<name>.sha256   its sha256, recorded at extraction
 *
 * `npm pack` does the download so the user's registry, proxy, CA and auth settings
 * apply; we check the tarball against the sha512 integrity npm reports, over the bytes
 * ourselves, then stream the one file out of it. The cached file is re-hashed on every
 * use; a mismatch means it is fetched again.
 */
import { formatBytes } from "../bytes.ts";
import { fileReadStream, sha256File } from "../oci/fs-util.ts";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import { cacheDir, cacheFsError, DISK_FULL_HINT, noteCacheWrite, touchUsed } from "../cache.ts";
import { AotpackError, errorMessage } from "../errors.ts";
import { redactText, redactUrl } from "../redact.ts";
import { DigestCounter } from "../oci/digest.ts";

export interface NpmRuntimeSpec {
  /** npm package name, e.g. "@oven/bun-linux-aarch64". */
  pkg: string;
  /** Exact version, e.g. "1.4.5". */
  version: string;
  /** Path of the executable inside the package, e.g. "bin/bun". */
  fileInPackage: string;
  /** File name in the cache, e.g. "bun". */
  name: string;
}

export interface FetchOptions {
  /** Directory npm runs in, so a project's .npmrc applies. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  onProgress?: (message: string) => void;
  /** Upper bound on one `npm pack` (download of ~40-60 MB). */
  timeoutMs?: number;
  /** `npm pack` reports nothing until it ends: say it is still running this often (default 5 s). */
  heartbeatMs?: number;
}

/** Where a runtime is (or would be) cached. */
export function runtimeCachePath(spec: NpmRuntimeSpec, env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir("runtimes", env), `${spec.pkg}@${spec.version}`, spec.name);
}

/** Same runtime asked for twice at once in one process (e.g. compileAll) → one fetch. */
const inFlight = new Map<string, Promise<string>>();

/** Path to a verified cached copy of the runtime, fetching it when missing or corrupt. */
export function ensureNpmRuntime(spec: NpmRuntimeSpec, options: FetchOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const target = runtimeCachePath(spec, env);
  const pending = inFlight.get(target);
  if (pending) return pending;
  const p = ensureUncached(spec, target, options).finally(() => inFlight.delete(target));
  inFlight.set(target, p);
  return p;
}

/**
 * Runtimes this process has hashed and found as recorded: the SBOM's facts (runtimeFacts) reuse
 * the hash instead of reading 100 MB again right after ensureNpmRuntime read it.
 */
const verifiedSha256 = new Map<string, string>();

/** The sha256 recorded beside a cached runtime when it was fetched, or undefined. */
function recordedSha256(target: string): Promise<string | undefined> {
  return readFile(`${target}.sha256`, "utf8").then(
    (s) => s.trim(),
    () => undefined,
  );
}

/** Hash the cached runtime; when it is as recorded, remember that (and its use). Returns the hash, or undefined when unreadable. */
async function hashAgainstRecord(target: string, recorded: string): Promise<string | undefined> {
  const actual = await sha256File(target).catch(() => undefined);
  if (actual === recorded) {
    verifiedSha256.set(target, actual);
    await touchUsed(dirname(target));
  }
  return actual;
}

async function ensureUncached(spec: NpmRuntimeSpec, target: string, options: FetchOptions): Promise<string> {
  const recorded = await recordedSha256(target);
  if (recorded !== undefined) {
    const actual = await hashAgainstRecord(target, recorded);
    if (actual === recorded) return target;
    options.onProgress?.(
      actual === undefined
        ? `cached runtime ${spec.pkg}@${spec.version} is missing; fetching it again`
        : `cached runtime ${spec.pkg}@${spec.version} is corrupt (sha256 ${actual.slice(0, 12)}… ≠ recorded ${recorded.slice(0, 12)}…); fetching it again`,
    );
  }
  verifiedSha256.delete(target);
  await fetchIntoCache(spec, target, options);
  noteCacheWrite();
  return target;
}

export { sha256File };

/**
 * The cached runtime for a compile that copies its bytes (Bun's single-file executable), without
 * waiting for its 100 MB to be hashed: the compile starts at once and `verified` settles to false
 * when the bytes are not the recorded ones. The caller then throws away what it made and asks
 * ensureNpmRuntime, which fetches the runtime again. Fetched first when it is not cached.
 */
export async function npmRuntimeForCopy(spec: NpmRuntimeSpec, options: FetchOptions = {}): Promise<{ path: string; verified: Promise<boolean> }> {
  const target = runtimeCachePath(spec, options.env ?? process.env);
  const recorded = inFlight.has(target) ? undefined : await recordedSha256(target);
  if (recorded === undefined) return { path: await ensureNpmRuntime(spec, options), verified: Promise.resolve(true) };
  return { path: target, verified: hashAgainstRecord(target, recorded).then((actual) => actual === recorded) };
}

/**
 * The cached runtime's path for reading its ELF header only, without re-hashing 100 MB on every warm
 * build: the compile that uses its bytes verifies them (ensureNpmRuntime). Fetched when absent.
 */
export async function runtimeForElfFacts(spec: NpmRuntimeSpec, options: FetchOptions = {}): Promise<string> {
  const target = runtimeCachePath(spec, options.env ?? process.env);
  const present = await stat(target).then((s) => s.isFile(), () => false);
  return present ? target : ensureNpmRuntime(spec, options);
}

/**
 * Drop a cached runtime (its whole `runtimes/<pkg>@<version>/` entry), so the next ensureNpmRuntime
 * fetches it again: its bytes and records agree, but not with what aotpack.lock pins.
 */
export async function dropCachedRuntime(pkg: string, version: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  // The names come from an artifact record: never a path that climbs out of the runtimes folder.
  if (!/^(?:@[a-z0-9][\w.~-]*\/)?[a-z0-9][\w.~-]*$/i.test(pkg) || !/^[0-9A-Za-z.+~-]{1,100}$/.test(version)) return;
  const dir = join(cacheDir("runtimes", env), `${pkg}@${version}`);
  for (const file of [...verifiedSha256.keys()]) if (file.startsWith(`${dir}/`)) verifiedSha256.delete(file);
  await rm(dir, { recursive: true, force: true });
}

/** The runtime's identity for the SBOM: package, version, executable sha256 and the npm tarball integrity when recorded. */
export async function runtimeFacts(spec: NpmRuntimeSpec, file: string): Promise<{ pkg: string; version: string; sha256: string; integrity?: string }> {
  const integrity = await readFile(`${file}.integrity`, "utf8").then((s) => s.trim(), () => undefined);
  return { pkg: spec.pkg, version: spec.version, sha256: verifiedSha256.get(file) ?? (await sha256File(file)), ...(integrity ? { integrity } : {}) };
}

interface PackResult {
  filename: string;
  integrity: string;
}

async function fetchIntoCache(spec: NpmRuntimeSpec, target: string, options: FetchOptions): Promise<void> {
  const dir = dirname(target);
  await mkdir(dir, { recursive: true }).catch((err: unknown) => {
    throw cacheFsError(err, "creating", dir);
  });
  await removeAbandonedFetches(dir);
  // The temp dir sits beside the target so the final rename stays on one filesystem.
  const tmp = await mkdtemp(join(dir, ".fetch-"));
  try {
    const label = `${spec.pkg}@${spec.version}`;
    options.onProgress?.(`fetching runtime ${label} from npm`);
    const packed = await npmPack(label, tmp, options);
    const tarball = join(tmp, packed.filename);
    options.onProgress?.(`fetched runtime ${label}: ${formatBytes((await stat(tarball)).size)}`);
    await verifyIntegrity(tarball, packed.integrity, label);

    const extracted = join(tmp, spec.name);
    const digest = await extractFile(tarball, `package/${spec.fileInPackage}`, extracted, label);
    await chmod(extracted, 0o755);
    // Drop the old record first: a crash between the two renames then reads as "not cached".
    await rm(`${target}.sha256`, { force: true });
    await rename(extracted, target);
    const recordTmp = join(tmp, `${spec.name}.sha256`);
    await writeFile(recordTmp, `${digest}\n`);
    await rename(recordTmp, `${target}.sha256`);
    // The tarball's npm integrity, for the SBOM's runtime component.
    await writeFile(join(tmp, "integrity"), `${packed.integrity}\n`);
    await rename(join(tmp, "integrity"), `${target}.integrity`);
  } catch (err) {
    throw err instanceof AotpackError ? err : cacheFsError(err, "writing", target);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** A fetch killed half-way leaves its temp dir; one a day old is surely not running any more. */
async function removeAbandonedFetches(dir: string): Promise<void> {
  const dayAgo = Date.now() - 24 * 3600_000;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(".fetch-")) continue;
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (st && st.mtimeMs < dayAgo) await rm(join(dir, name), { recursive: true, force: true });
  }
}

function registryOf(env: NodeJS.ProcessEnv): string {
  const url = env.npm_config_registry ?? env.NPM_CONFIG_REGISTRY;
  return url ? redactUrl(url) : "npm's configured registry";
}

function npmPack(spec: string, destination: string, options: FetchOptions): Promise<PackResult> {
  const env = options.env ?? process.env;
  const timeoutMs = options.timeoutMs ?? 10 * 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn("npm", ["pack", spec, "--json", "--pack-destination", destination, "--ignore-scripts"], {
      cwd: options.cwd ?? destination,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    const started = Date.now();
    const heartbeat = setInterval(
      () => options.onProgress?.(`still fetching runtime ${spec} from npm (${Math.round((Date.now() - started) / 1000)} s)`),
      options.heartbeatMs ?? 5000,
    );
    const fail = (why: string, cause?: unknown): void =>
      reject(
        new AotpackError(`cannot fetch runtime ${spec} from ${registryOf(env)}: ${why}`, {
          // A full disk is not a network problem: say where the cache is and how to shrink it.
          hint: /ENOSPC|EDQUOT|no space left/i.test(`${why} ${stderr}`)
            ? DISK_FULL_HINT()
            : "check network access to the npm registry (npm config get registry), or run once online to fill the runtime cache",
          cause,
        }),
      );
    child.on("error", (err) => {
      clearTimeout(timer);
      clearInterval(heartbeat);
      fail(`cannot run npm (${errorMessage(err)})`, err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      clearInterval(heartbeat);
      if (code !== 0) {
        fail(signal ? `npm pack was stopped (${signal}, timeout ${timeoutMs} ms)` : `npm pack failed: ${redactText(summarizeNpmError(stderr, stdout))}`);
        return;
      }
      try {
        const parsed: unknown = JSON.parse(stdout);
        const first = Array.isArray(parsed) ? (parsed[0] as Partial<PackResult> | undefined) : undefined;
        if (!first || typeof first.filename !== "string" || typeof first.integrity !== "string") {
          throw new Error("no filename/integrity in its output");
        }
        // npm names scoped tarballs "oven-bun-linux-x64-1.4.5.tgz"; never trust a path in it.
        if (first.filename.includes("/") || first.filename.includes("\\")) throw new Error(`odd filename ${first.filename}`);
        resolve({ filename: first.filename, integrity: first.integrity });
      } catch (err) {
        fail(`unexpected npm pack output (${errorMessage(err)})`, err);
      }
    });
  });
}

/** The line of npm's output that says what went wrong, without the log-file chatter. */
function summarizeNpmError(stderr: string, stdout: string): string {
  try {
    const parsed = JSON.parse(stdout) as { error?: { summary?: string; code?: string } };
    if (parsed.error?.summary) return `${parsed.error.code ?? "error"} ${parsed.error.summary}`.trim();
  } catch {
    // not JSON: fall through to stderr
  }
  const lines = stderr
    .split("\n")
    .map((l) => l.replace(/^npm (error|ERR!)\s*/, "").trim())
    .filter((l) => l !== "" && !/^npm warn/i.test(l) && !/complete log|A complete log/i.test(l));
  return lines.slice(0, 2).join("; ") || "no error output";
}

/** The base64 sha512 of an SRI string (it may list several hashes; sha512 is the strongest we know), or undefined. */
export function sriSha512(integrity: string): string | undefined {
  return integrity
    .split(/\s+/)
    .map((s) => s.match(/^sha512-([A-Za-z0-9+/]{86}==)$/)?.[1])
    .find((v) => v !== undefined);
}

/** The base64 sha512 of a file. */
export async function sha512File(file: string): Promise<string> {
  const hash = createHash("sha512");
  await pipeline(fileReadStream(file), hash);
  return hash.digest("base64");
}

/** Check a file against an SRI string (`sha512-<base64>`), hashing the bytes ourselves. */
export async function verifyIntegrity(file: string, integrity: string, label: string): Promise<void> {
  const sha512 = sriSha512(integrity);
  if (!sha512) throw new AotpackError(`runtime ${label}: npm reported no sha512 integrity ("${integrity}")`);
  const actual = await sha512File(file);
  if (actual !== sha512) {
    throw new AotpackError(`runtime ${label}: tarball integrity mismatch: expected sha512-${sha512}, got sha512-${actual}`);
  }
}

/** Stream one entry out of a .tgz into `dest`; returns its sha256 hex. */
async function extractFile(tarball: string, entryName: string, dest: string, label: string): Promise<string> {
  const extract = tar.extract();
  let digest: string | undefined;
  const tmpDest = `${dest}.${randomBytes(4).toString("hex")}.part`;
  extract.on("entry", (header, stream, next) => {
    if (header.name !== entryName || header.type !== "file" || digest !== undefined) {
      stream.on("end", next);
      stream.resume();
      return;
    }
    const counter = new DigestCounter();
    pipeline(stream, counter, createWriteStream(tmpDest, { mode: 0o755 })).then(
      () => {
        digest = counter.result().digest.slice("sha256:".length);
        next();
      },
      (err: unknown) => next(err instanceof Error ? err : new Error(String(err))),
    );
  });
  await pipeline(fileReadStream(tarball), createGunzip(), extract);
  if (digest === undefined) throw new AotpackError(`runtime ${label}: the package has no ${entryName.slice("package/".length)}`);
  await rename(tmpDest, dest);
  return digest;
}

/**
 * Is a lockfile's `integrity` the package that was bundled? npm keeps every tarball it installed in
 * its cache (cacache: `<cache>/_cacache/content-v2/sha512/<hex[0..2]>/<hex[2..4]>/<hex[4..]>`, named by
 * the integrity). The tarball found there must hash to the integrity, and every bundled file of the
 * package must have the bytes of the tarball's entry (npm strips the tarball's first path component,
 * `package/`). Only then does the SBOM carry the integrity (see docs/decisions.md, issue 33).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { Transform } from "node:stream";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import { sha512File, sriSha512 } from "../compile/npm-runtime.ts";
import { fileReadStream, sha256File } from "../oci/fs-util.ts";

/** Why an integrity was not verified; `file` names the bundled file whose bytes are not the tarball's. */
export type IntegrityCheck =
  | { verified: true }
  | { verified: false; why: "no-sha512" | "not-cached" | "tarball-mismatch" | "unreadable" }
  | { verified: false; why: "differs"; file: string };

/** Bounds on a tarball read from npm's cache: a package is bundled code, not a disk image. */
const LIMITS = { tarballBytes: 512 * 1024 ** 2, unpackedBytes: 2 * 1024 ** 3, entries: 200_000 };

const cacheDirs = new Map<string, Promise<string>>();

/** npm's cache folder: `npm_config_cache` (npm honours it too), else what `npm config get cache` says in the project, else ~/.npm. */
export function npmCacheDir(projectDir: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const fromEnv = env.npm_config_cache ?? env.NPM_CONFIG_CACHE;
  if (fromEnv) return Promise.resolve(fromEnv);
  let dir = cacheDirs.get(projectDir);
  if (!dir) {
    const fallback = join(homedir(), ".npm");
    dir = new Promise((resolve) =>
      execFile("npm", ["config", "get", "cache"], { cwd: projectDir, env, timeout: 15_000 }, (err, stdout) => {
        const out = String(stdout).trim();
        resolve(!err && out.startsWith("/") ? out : fallback);
      }),
    );
    cacheDirs.set(projectDir, dir);
  }
  return dir;
}

/** Where cacache keeps the content of a sha512 integrity. */
export function cacachePath(npmCache: string, sha512Base64: string): string {
  const hex = Buffer.from(sha512Base64, "base64").toString("hex");
  return join(npmCache, "_cacache", "content-v2", "sha512", hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
}

/**
 * Check `integrity` against the package's tarball in npm's cache and the bundled files (paths inside
 * the package, read from `packageDir`). Never throws: a tarball it cannot read is "unreadable".
 */
export async function checkIntegrity(integrity: string, packageDir: string, files: string[], npmCache: string): Promise<IntegrityCheck> {
  const sha512 = sriSha512(integrity);
  if (!sha512) return { verified: false, why: "no-sha512" };
  const tarball = cacachePath(npmCache, sha512);
  const st = await stat(tarball).catch(() => undefined);
  if (!st?.isFile()) return { verified: false, why: "not-cached" };
  if (st.size > LIMITS.tarballBytes) return { verified: false, why: "unreadable" };
  // The whole tarball first: only bytes that are the locked package are parsed at all.
  if ((await sha512File(tarball).catch(() => undefined)) !== sha512) return { verified: false, why: "tarball-mismatch" };
  const inTarball = await entryHashes(tarball, new Set(files)).catch(() => undefined);
  if (!inTarball) return { verified: false, why: "unreadable" };
  for (const file of [...files].sort()) {
    const onDisk = await sha256File(join(packageDir, file)).catch(() => undefined);
    if (onDisk === undefined || onDisk !== inTarball.get(file)) return { verified: false, why: "differs", file };
  }
  return { verified: true };
}

/** sha256 of the tarball's regular-file entries named in `wanted` (first path component stripped; a later entry of one name wins, as on extraction). */
async function entryHashes(tarball: string, wanted: Set<string>): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  let unpacked = 0;
  let entries = 0;
  const source = fileReadStream(tarball);
  const gunzip = createGunzip();
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      unpacked += chunk.length;
      done(unpacked > LIMITS.unpackedBytes ? new Error("the tarball unpacks to more than the limit") : null, chunk);
    },
  });
  const extract = tar.extract();
  const consume = (async () => {
    for await (const entry of extract) {
      if (++entries > LIMITS.entries) throw new Error("the tarball has too many entries");
      const name = entry.header.name.replace(/^\.?\/+/, "").split("/").slice(1).join("/");
      if (entry.header.type === "file" && wanted.has(name)) {
        const h = createHash("sha256");
        for await (const chunk of entry as AsyncIterable<Buffer>) h.update(chunk);
        hashes.set(name, h.digest("hex"));
      } else entry.resume();
    }
  })();
  // tar-stream is a streamx stream: pipeline() may never settle when it fails mid-entry (see src/verify/unpack.ts).
  const failed = new Promise<never>((_resolve, reject) => {
    for (const stage of [source, gunzip, meter, extract]) (stage as NodeJS.EventEmitter).on("error", reject);
  });
  failed.catch(() => {});
  consume.catch(() => {});
  source.pipe(gunzip).pipe(meter).pipe(extract as unknown as NodeJS.WritableStream);
  try {
    await Promise.race([consume, failed]);
  } catch (err) {
    extract.destroy();
    for (const stage of [source, gunzip, meter]) stage.destroy();
    throw err;
  }
  return hashes;
}

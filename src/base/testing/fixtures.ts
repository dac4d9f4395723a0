/** Test helpers for src/base (excluded from the build): real Bun binaries, the real mirror, a tampering fake mirror. */
import { execFile } from "node:child_process";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { cacheDir } from "../../cache.ts";
import type { Layer } from "../../oci/interfaces.ts";

const execFileP = promisify(execFile);
export const REPO_ROOT = new URL("../../../", import.meta.url).pathname;
export const REAL_MIRROR = "http://deb.debian.org/debian";
export const BUN_VERSION = "1.4.5";

// The skip-outside-CI, fail-in-CI rule has one home (test/support/skip.ts); re-exported for this file's importers.
export { unavailable } from "../../../test/support/index.ts";

let mirrorReachable: Promise<boolean> | undefined;
export function debianMirrorReachable(): Promise<boolean> {
  mirrorReachable ??= fetch(`${REAL_MIRROR}/dists/bookworm/InRelease`, { method: "HEAD", signal: AbortSignal.timeout(15_000) }).then(
    (r) => r.ok,
    () => false,
  );
  return mirrorReachable;
}

/** The real Bun runtime for `arch` (amd64 from node_modules, arm64 fetched once with `npm pack` into the cache). */
export async function bunBinary(arch: "amd64" | "arm64"): Promise<string> {
  if (arch === "amd64") {
    for (const p of ["node_modules/@oven/bun-linux-x64/bin/bun", "node_modules/bun/bin/bun.exe"]) {
      const full = join(REPO_ROOT, p);
      if (existsSync(full) && (await stat(full)).size > 1_000_000) return full;
    }
    throw new Error("the amd64 Bun runtime is not in node_modules (npm install)");
  }
  const dest = join(cacheDir("base-test"), `bun-linux-aarch64-${BUN_VERSION}`, "bun");
  if (existsSync(dest)) return dest;
  const work = await mkdtemp(join(tmpdir(), "aotpack-bun-arm64-"));
  try {
    await execFileP("npm", ["pack", `@oven/bun-linux-aarch64@${BUN_VERSION}`, "--silent"], { cwd: work, timeout: 300_000 });
    await execFileP("tar", ["-xzf", `oven-bun-linux-aarch64-${BUN_VERSION}.tgz`], { cwd: work, timeout: 120_000 });
    await mkdir(join(dest, ".."), { recursive: true });
    await chmod(join(work, "package/bin/bun"), 0o755);
    await rename(join(work, "package/bin/bun"), `${dest}.tmp`).catch(async () => {
      // another file system: copy then rename
      await execFileP("cp", [join(work, "package/bin/bun"), `${dest}.tmp`]);
    });
    await rename(`${dest}.tmp`, dest);
    return dest;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Unpack a layer's tar into `dir` with GNU tar (owners and modes kept when root). Through a
 * file, not a pipe: tar stops reading at the end-of-archive blocks, which would cut a pipe short.
 */
export async function extractLayer(layer: Layer, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tarFile = `${dir}.tar`;
  try {
    await pipeline(await layer.uncompressed(), createWriteStream(tarFile));
    const r = await run("tar", ["-x", "-p", "-f", tarFile, "-C", dir]);
    if (r.code !== 0) throw new Error(`tar -x failed (${r.code}): ${r.stderr}`);
  } finally {
    await rm(tarFile, { force: true });
  }
}

/** Run a command with a bound; never rejects, returns code and output. */
export function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === "number" ? ((error as { code: number }).code) : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (error && code === null ? String(error.message) : "") });
    });
  });
}

export interface FakeMirror {
  /** e.g. http://127.0.0.1:PORT/debian */
  url: string;
  /** Paths (relative to /debian/) served so far. */
  requests: string[];
  stop(): Promise<void>;
}

/**
 * A loopback mirror: `resolve(path)` returns a file to serve, bytes, or undefined (404).
 * `tamper(path, bytes)` may rewrite what is served.
 */
export async function startFakeMirror(
  resolve: (path: string) => string | Buffer | undefined,
  tamper?: (path: string, body: Buffer) => Buffer,
): Promise<FakeMirror> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? "/").replace(/\?.*$/, "")).replace(/^\/debian\//, "");
    requests.push(path);
    void (async () => {
      const found = resolve(path);
      if (found === undefined) {
        res.writeHead(404).end();
        return;
      }
      if (tamper || Buffer.isBuffer(found)) {
        let body = Buffer.isBuffer(found) ? found : await readFile(found);
        if (tamper) body = tamper(path, body);
        res.writeHead(200, { "content-length": body.length }).end(req.method === "HEAD" ? undefined : body);
        return;
      }
      res.writeHead(200, { "content-length": (await stat(found)).size });
      if (req.method === "HEAD") res.end();
      else await pipeline(createReadStream(found), res);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => ok());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/debian`,
    requests,
    stop: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

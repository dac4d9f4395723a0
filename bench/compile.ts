/**
 * Compile benchmark, one run, side by side: for each compiler (bun, node SEA) and each
 * target (x64, arm64): compile time, binary size raw/gzip/zstd, time from exec to the
 * first 200, and RSS. Plus the same figures for running from source (`bun app.ts`,
 * `node app.js`): the JIT-versus-AOT trade-off, measured.
 *
 *   node --import tsx bench/compile.ts [projectDir] [--path /todos]
 *
 * arm64 rows run under qemu-aarch64-static: their start time and RSS are qemu's
 * (translation included) and only comparable with each other, not with x64.
 */
import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createGzip } from "node:zlib";
import { installedBun, ensureBunRuntime } from "../src/compile/bun-runtime.ts";
import { resolveEntry } from "../src/compile/entry.ts";
import { compilerFor } from "../src/compile/index.ts";
import { ensureNodeRuntime } from "../src/compile/node-sea.ts";
import { hasQemuArm64, runArgv, startServer } from "../src/compile/testing/serve.ts";
import type { Artifact, RuntimeKind } from "../src/compile/types.ts";
import type { Platform } from "../src/oci/platform.ts";

export interface CompileBenchOptions {
  /** Project to compile; default: test/fixtures/hello-server. */
  projectDir?: string;
  /** Path that must answer 200; default "/". */
  path?: string;
  compilers?: RuntimeKind[];
  archs?: Array<"amd64" | "arm64">;
  /** Requests sent before RSS is read, so it reflects a warmed-up server. */
  warmupRequests?: number;
  /** Starts per row; exec→200 is their median (one start is noisy on a shared machine). Default 3. */
  starts?: number;
  onProgress?: (message: string) => void;
}

export interface CompileBenchRow {
  /** "bun --compile", "node SEA", "bun app.ts (source)", "node app.js (source)". */
  what: string;
  arch: "amd64" | "arm64";
  /** How it ran: "native" or "qemu-user". */
  execution: "native" | "qemu-user";
  compileMs?: number;
  /** For from-source rows: the runtime binary plus the app file(s). */
  rawBytes: number;
  gzipBytes: number;
  zstdBytes: number;
  firstOkMs?: number;
  rssBytes?: number;
  note?: string;
}

const DEFAULT_PROJECT = fileURLToPath(new URL("../test/fixtures/hello-server/", import.meta.url));

async function gzipSize(path: string): Promise<number> {
  let n = 0;
  const counter = new Writable({
    write(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      cb();
    },
  });
  await pipeline(createReadStream(path), createGzip({ level: 6 }), counter);
  return n;
}

/** zstd's default level (3), as registries and `docker buildx --compression zstd` use. */
function zstdSize(path: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("zstd", ["-3", "-q", "-c", path], { stdio: ["ignore", "pipe", "ignore"] });
    let n = 0;
    child.stdout.on("data", (d: Buffer) => (n += d.length));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolvePromise(n) : reject(new Error(`zstd exited ${code}`))));
  });
}

async function sizes(paths: string[]): Promise<Pick<CompileBenchRow, "rawBytes" | "gzipBytes" | "zstdBytes">> {
  let rawBytes = 0;
  let gzipBytes = 0;
  let zstdBytes = 0;
  for (const p of paths) {
    rawBytes += (await stat(p)).size;
    gzipBytes += await gzipSize(p);
    zstdBytes += await zstdSize(p);
  }
  return { rawBytes, gzipBytes, zstdBytes };
}

async function rssOf(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}

/** Exec → first 200 (median of `starts`), then warm up the last one and read its RSS; always stops the process. */
async function measureRun(
  argv: string[],
  path: string,
  warmupRequests: number,
  starts: number,
): Promise<{ firstOkMs: number; rssBytes?: number }> {
  const times: number[] = [];
  let rssBytes: number | undefined;
  for (let i = 0; i < Math.max(1, starts); i++) {
    const server = await startServer(argv, { path, timeoutMs: 180_000, pollMs: 5 });
    try {
      times.push(server.firstOkMs);
      if (i === Math.max(1, starts) - 1) {
        for (let r = 0; r < warmupRequests; r++) {
          const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { signal: AbortSignal.timeout(10_000) });
          await res.arrayBuffer();
        }
        if (server.child.pid !== undefined) rssBytes = await rssOf(server.child.pid);
      }
    } finally {
      await server.stop();
    }
  }
  times.sort((a, b) => a - b);
  const firstOkMs = times[Math.floor(times.length / 2)]!;
  return rssBytes === undefined ? { firstOkMs } : { firstOkMs, rssBytes };
}

export async function runCompileBench(options: CompileBenchOptions = {}): Promise<CompileBenchRow[]> {
  const projectDir = resolve(options.projectDir ?? DEFAULT_PROJECT);
  const path = options.path ?? "/";
  const compilers = options.compilers ?? ["bun", "node"];
  const warmup = options.warmupRequests ?? 200;
  const starts = options.starts ?? 3;
  const progress = options.onProgress ?? (() => {});
  const archs = (options.archs ?? ["amd64", "arm64"]).filter((a) => a === "amd64" || hasQemuArm64() || process.arch === "arm64");
  const rows: CompileBenchRow[] = [];
  const out = await mkdtemp(join(tmpdir(), "aotpack-bench-compile-"));
  try {
    for (const runtime of compilers) {
      const compiler = await compilerFor(runtime);
      for (const arch of archs) {
        const platform: Platform = { os: "linux", architecture: arch };
        // Fetch first so compile time is the compile, not the download.
        await (runtime === "bun" ? ensureBunRuntime(platform) : ensureNodeRuntime(platform));
        progress(`compiling with ${runtime} for ${arch}`);
        const artifact: Artifact = await compiler.compile({
          projectDir,
          platform,
          layout: "single-file",
          outDir: join(out, runtime, arch),
        });
        const binary = artifact.layers[0]!.files[0]!.source;
        progress(`running ${runtime} ${arch}`);
        const run = await measureRun(runArgv(arch, binary), path, warmup, starts);
        rows.push({
          what: runtime === "bun" ? "bun --compile" : "node SEA",
          arch,
          execution: arch === process.arch.replace("x64", "amd64") ? "native" : "qemu-user",
          compileMs: artifact.compileMs,
          ...(await sizes([binary])),
          ...run,
        });
      }
    }

    // From source on the host: the JIT side of the trade-off (no compile step, the runtime ships whole).
    const hostArch = process.arch === "arm64" ? "arm64" : "amd64";
    const entry = await resolveEntry(projectDir);
    const bun = installedBun();
    progress("running bun from source");
    rows.push({
      what: "bun app.ts (source)",
      arch: hostArch,
      execution: "native",
      ...(await sizes([bun.executable, entry])),
      ...(await measureRun([bun.executable, entry], path, warmup, starts)),
      note: "runtime + entry file; dependencies not counted",
    });
    if (compilers.includes("node")) {
      // The same bundle the SEA embeds, run by the same Node version (from the runtime cache).
      const layered = await (await compilerFor("node")).compile({
        projectDir,
        platform: { os: "linux", architecture: hostArch },
        layout: "layered",
        outDir: join(out, "node-source"),
      });
      const nodeBin = layered.layers[0]!.files[0]!.source;
      const appJs = layered.layers[1]!.files[0]!.source;
      progress("running node from source");
      rows.push({
        what: "node app.js (source)",
        arch: hostArch,
        execution: "native",
        ...(await sizes([nodeBin, appJs])),
        ...(await measureRun([nodeBin, appJs], path, warmup, starts)),
        note: "node runtime + esbuild bundle",
      });
    }
    return rows;
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

const MB = (n: number | undefined): string => (n === undefined ? "-" : (n / 1e6).toFixed(1));

export function formatCompileBench(rows: CompileBenchRow[]): string {
  const header = ["what", "arch", "exec", "compile ms", "raw MB", "gzip MB", "zstd MB", "exec→200 ms", "RSS MB"];
  const body = rows.map((r) => [
    r.what,
    r.arch,
    r.execution,
    r.compileMs === undefined ? "-" : String(r.compileMs),
    MB(r.rawBytes),
    MB(r.gzipBytes),
    MB(r.zstdBytes),
    r.firstOkMs === undefined ? "-" : r.firstOkMs.toFixed(0),
    MB(r.rssBytes),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line)].join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const pathAt = args.indexOf("--path");
  const path = pathAt >= 0 ? args[pathAt + 1] : undefined;
  const projectDir = args.find((a, i) => !a.startsWith("--") && (pathAt < 0 || i !== pathAt + 1));
  const rows = await runCompileBench({ projectDir, path, onProgress: (m) => process.stderr.write(`… ${m}\n`) });
  process.stdout.write(`${formatCompileBench(rows)}\n`);
  process.stdout.write("exec→200: median of 3 starts, polling every 5 ms from spawn; arm64 rows run under qemu-user (start and RSS include translation).\n");
  process.stdout.write("RSS: VmRSS after the warm-up requests (of qemu for arm64). gzip level 6, zstd level 3.\n");
}

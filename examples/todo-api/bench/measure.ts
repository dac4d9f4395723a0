/**
 * Framework comparison for the example: build each variant the way aotpack ships it (a
 * `bun build --compile` executable; a minified CJS bundle for Node SEA) and measure size,
 * startup (spawn → first 200 from GET /todos) and throughput (wrk on loopback).
 *
 * Usage: node --import tsx examples/todo-api/bench/measure.ts [--runs 15] [--seconds 5]
 * Numbers are from a shared 2-core machine: compare variants within one run, not across runs.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "node:http";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "../../..");
const bun = join(repoRoot, "node_modules/.bin/bun");
const esbuild = join(repoRoot, "node_modules/.bin/esbuild");

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}
const runs = flag("runs", 15);
const seconds = flag("seconds", 5);

interface Variant {
  name: string;
  entry: string;
  /** Bun-only variants (Bun.serve) have no Node build. */
  node: boolean;
}
const variants: Variant[] = [
  { name: "thin router; Bun.serve under Bun, node:http under Node (chosen)", entry: resolve(here, "../src/server.ts"), node: true },
  { name: "thin router on node:http everywhere", entry: join(here, "node-http-everywhere.ts"), node: false },
  { name: "Hono + @hono/node-server (node:http everywhere)", entry: join(here, "hono-node-server.ts"), node: true },
  { name: "Hono on Bun.serve (Bun only)", entry: join(here, "hono-bun-serve.ts"), node: false },
];

interface Target {
  variant: string;
  runtime: "bun --compile" | "node (CJS bundle)";
  command: string[];
  bundleBytes: number;
  executableBytes?: number;
  startupMs: number[];
  /** CPU time (all threads) the process used up to its first 200: robust on a busy machine. */
  startupCpuMs: number[];
  rssAfterStartKiB?: number;
  rssAfterLoadKiB?: number;
  requestsPerSecond?: number;
  /** Server CPU per 1000 requests under wrk: robust where req/s is not (a busy machine). */
  cpuMsPer1kRequests?: number;
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { cwd: repoRoot, encoding: "utf8", timeout: 120_000 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed:\n${result.stderr}${result.stdout}`);
}

function get(port: number, path: string): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false, signal: AbortSignal.timeout(5000) }, (res) => {
      res.resume();
      res.on("end", () => resolveStatus(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Nanosecond on-CPU time summed over the process's threads (/proc/PID/task/TID/schedstat). */
function cpuMs(pid: number): number {
  let nanoseconds = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    nanoseconds += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
  }
  return nanoseconds / 1e6;
}

function rssKiB(pid: number): number | undefined {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) : undefined;
}

/** Start, wait for the listening line, then the first 200; returns ms from spawn to that 200. */
async function start(target: Target): Promise<{ ms: number; cpuMs: number; port: number; pid: number; stop: () => Promise<void> }> {
  const began = process.hrtime.bigint();
  const [command, ...args] = target.command;
  const child = spawn(command ?? "", args, { env: { ...process.env, PORT: "0", TZ: "UTC" }, stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()));
  const stop = async (): Promise<void> => {
    child.kill("SIGKILL");
    await exited;
  };
  try {
    const port = await new Promise<number>((resolvePort, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`${target.variant}: no listening line`)), 20_000);
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        out += chunk;
        const found = /Now listening on: http:\/\/\[::\]:(\d+)/.exec(out);
        if (found) {
          clearTimeout(timer);
          resolvePort(Number(found[1]));
        }
      });
    });
    const status = await get(port, "/todos");
    const ms = Number(process.hrtime.bigint() - began) / 1e6;
    if (status !== 200) throw new Error(`${target.variant}: GET /todos → ${status}`);
    return { ms, cpuMs: cpuMs(child.pid ?? 0), port, pid: child.pid ?? 0, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? NaN) : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
};

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "todo-api-bench-"));
  try {
    const targets: Target[] = [];
    for (const [index, variant] of variants.entries()) {
      const exe = join(work, `v${index}`);
      run(bun, ["build", "--compile", "--minify", variant.entry, "--outfile", exe]);
      const bundle = join(work, `v${index}.bun.js`);
      run(bun, ["build", "--minify", "--target=bun", variant.entry, "--outfile", bundle]);
      targets.push({ variant: variant.name, runtime: "bun --compile", command: [exe], bundleBytes: statSync(bundle).size, executableBytes: statSync(exe).size, startupMs: [], startupCpuMs: [] });
      if (variant.node) {
        const cjs = join(work, `v${index}.cjs`);
        run(esbuild, [variant.entry, "--bundle", "--minify", "--platform=node", "--format=cjs", "--target=node20", `--outfile=${cjs}`, "--log-level=warning"]);
        targets.push({ variant: variant.name, runtime: "node (CJS bundle)", command: [process.execPath, cjs], bundleBytes: statSync(cjs).size, startupMs: [], startupCpuMs: [] });
      }
    }

    // Round-robin so a burst of load from elsewhere hits every target alike.
    for (let round = 0; round < runs; round += 1) {
      for (const target of targets) {
        const started = await start(target);
        target.startupMs.push(started.ms);
        target.startupCpuMs.push(started.cpuMs);
        await started.stop();
      }
    }

    for (const target of targets) {
      const started = await start(target);
      try {
        target.rssAfterStartKiB = rssKiB(started.pid);
        const cpuBefore = cpuMs(started.pid);
        const wrk = spawnSync("wrk", ["-t2", "-c64", `-d${seconds}s`, `http://127.0.0.1:${started.port}/todos`], { encoding: "utf8", timeout: (seconds + 30) * 1000 });
        const rps = /Requests\/sec:\s+([\d.]+)/.exec(wrk.stdout);
        target.requestsPerSecond = rps ? Number(rps[1]) : undefined;
        const total = /(\d+) requests in/.exec(wrk.stdout);
        if (total) target.cpuMsPer1kRequests = ((cpuMs(started.pid) - cpuBefore) / Number(total[1])) * 1000;
        target.rssAfterLoadKiB = rssKiB(started.pid);
      } finally {
        await started.stop();
      }
    }

    const mb = (bytes: number | undefined): string => (bytes === undefined ? "–" : (bytes / 1e6).toFixed(2));
    const kb = (bytes: number): string => (bytes / 1e3).toFixed(1);
    console.log(`runs=${runs} wrk=-t2 -c64 -d${seconds}s GET /todos; ${new Date().toISOString()}`);
    console.log("| variant | runtime | JS bundle, minified (kB) | executable (MB) | startup to first 200: wall, median ms (min–max) | CPU used to first 200, median ms | RSS idle / after load (MiB) | req/s | server CPU per 1k requests (ms) |");
    console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const t of targets) {
      const startup = `${median(t.startupMs).toFixed(1)} (${Math.min(...t.startupMs).toFixed(1)}–${Math.max(...t.startupMs).toFixed(1)})`;
      const rss = `${((t.rssAfterStartKiB ?? NaN) / 1024).toFixed(1)} / ${((t.rssAfterLoadKiB ?? NaN) / 1024).toFixed(1)}`;
      console.log(`| ${t.variant} | ${t.runtime} | ${kb(t.bundleBytes)} | ${mb(t.executableBytes)} | ${startup} | ${median(t.startupCpuMs).toFixed(1)} | ${rss} | ${t.requestsPerSecond?.toFixed(0) ?? "–"} | ${t.cpuMsPer1kRequests?.toFixed(1) ?? "–"} |`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});

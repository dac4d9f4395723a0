/**
 * Runtime of one server command: time from spawn to the first 200 (repeated starts), RSS at
 * idle and under load (/proc/PID/status VmRSS), and wrk's req/s and p99 per path. Every
 * process is started and stopped here, by PID; every wait is bounded.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { startServer } from "../src/compile/testing/serve.ts";
import { stats, type Stats } from "./lib.ts";

const run = promisify(execFile);

export interface WrkResult {
  requestsPerSecond: number;
  p99Ms: number;
  requests: number;
  /** Non-2xx/3xx answers plus socket errors; a correct run has none. */
  errors: number;
}

/** wrk's latency units in ms; µs divide (not multiply by 0.001) so 950us is exactly 0.95. */
const toMs = (value: number, unit: string): number => (unit === "us" ? value / 1000 : value * (unit === "s" ? 1000 : unit === "m" ? 60_000 : 1));

/** Parse `wrk --latency` output (Debian's wrk 4.1). */
export function parseWrk(output: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(output);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(output);
  const total = /^\s*(\d+) requests in /m.exec(output);
  if (!rps || !p99 || !total) throw new Error(`cannot parse wrk output:\n${output.slice(0, 2000)}`);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = socket ? socket.slice(1).reduce((a, n) => a + Number(n), 0) : 0;
  return {
    requestsPerSecond: Number(rps[1]),
    p99Ms: toMs(Number(p99[1]), p99[2]!),
    requests: Number(total[1]),
    errors: non2xx + socketErrors,
  };
}

/** VmRSS of a process in bytes, from /proc; undefined once it is gone. */
export function parseVmRss(status: string): number | undefined {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}

export async function rssOf(pid: number): Promise<number | undefined> {
  return parseVmRss(await readFile(`/proc/${pid}/status`, "utf8").catch(() => ""));
}

export async function wrk(url: string, seconds: number): Promise<WrkResult> {
  const { stdout } = await run("wrk", ["-t1", "-c32", `-d${seconds}s`, "--latency", "--timeout", "2s", url], {
    timeout: (seconds + 20) * 1000,
    killSignal: "SIGKILL",
  });
  return parseWrk(stdout);
}

export interface RuntimeCase {
  name: string;
  argv: string[];
  cwd?: string;
}

export interface RuntimeResult {
  name: string;
  firstOkMs: Stats;
  idleRssBytes: number;
  loadRssBytes: number;
  wrk: Record<string, WrkResult>;
}

export interface RuntimeOptions {
  starts: number;
  wrkSeconds: number;
  /** Seconds of wrk before measuring, so JIT runtimes are measured warm. */
  warmupSeconds: number;
  paths: string[];
  /** Checks the body of GET path; throws when the server answers wrongly. */
  check: (path: string, body: string) => void;
}

export async function measureRuntime(c: RuntimeCase, o: RuntimeOptions): Promise<RuntimeResult> {
  const env = { HOST: "127.0.0.1", TODO_API_SHUTDOWN_TIMEOUT_MS: "1000" };
  const serverOptions = { path: o.paths[0]!, timeoutMs: 120_000, pollMs: 5, env, ...(c.cwd ? { cwd: c.cwd } : {}) };
  const times: number[] = [];
  for (let i = 0; i < o.starts - 1; i++) {
    const s = await startServer(c.argv, serverOptions);
    times.push(s.firstOkMs);
    await s.stop();
  }
  // The last start also serves the load test.
  const server = await startServer(c.argv, serverOptions);
  try {
    times.push(server.firstOkMs);
    const pid = server.child.pid!;
    const base = `http://127.0.0.1:${server.port}`;
    for (const path of o.paths) {
      const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(10_000) });
      if (res.status !== 200) throw new Error(`${c.name}: GET ${path} answered ${res.status}`);
      o.check(path, await res.text());
    }
    await new Promise((r) => setTimeout(r, 500));
    const idleRssBytes = await rssOf(pid);
    if (idleRssBytes === undefined) throw new Error(`${c.name}: process ${pid} is gone`);
    let loadRssBytes = idleRssBytes;
    const sampler = setInterval(() => {
      void rssOf(pid).then((r) => {
        if (r !== undefined && r > loadRssBytes) loadRssBytes = r;
      });
    }, 100);
    const results: Record<string, WrkResult> = {};
    try {
      if (o.warmupSeconds > 0) await wrk(`${base}${o.paths[0]}`, o.warmupSeconds);
      for (const path of o.paths) {
        const r = await wrk(`${base}${path}`, o.wrkSeconds);
        if (r.errors > 0) throw new Error(`${c.name}: wrk on ${path} saw ${r.errors} errors or non-2xx answers`);
        results[path] = r;
      }
    } finally {
      clearInterval(sampler);
    }
    return { name: c.name, firstOkMs: stats(times), idleRssBytes, loadRssBytes, wrk: results };
  } finally {
    await server.stop();
  }
}

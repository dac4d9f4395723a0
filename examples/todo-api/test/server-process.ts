/**
 * Start the Todo API as a real child process (node+tsx, bun, a bundle or a compiled
 * executable) on an ephemeral port, and stop it again. Every wait is bounded; every
 * process is killed by its own PID.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const exampleDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const repoRoot = resolve(exampleDir, "../..");
export const serverEntry = join(exampleDir, "src/server.ts");
export const bunBinary = join(repoRoot, "node_modules/.bin/bun");

/** How to launch the server: a command and its arguments, run with the example dir as cwd. */
export interface Launcher {
  name: string;
  command: string;
  args: string[];
  /** Working directory, i.e. the content root (default: the example's folder). */
  cwd?: string;
}

export const nodeFromSource: Launcher = { name: "node", command: process.execPath, args: ["--import", "tsx", serverEntry] };
export const bunFromSource: Launcher = { name: "bun", command: bunBinary, args: [serverEntry] };

/**
 * Why a component can't run here, or undefined when it can. In CI a missing component is a
 * failure, not a skip, so callers pass the result to `skipOrFail`.
 */
export function bunMissing(): string | undefined {
  if (!existsSync(bunBinary)) return `bun not found at ${bunBinary} (npm install)`;
  const probe = spawnSync(bunBinary, ["--version"], { encoding: "utf8", timeout: 15_000 });
  return probe.status === 0 ? undefined : `bun does not run: ${probe.stderr || probe.error?.message || "no output"}`;
}

// node:test `skip` value (the reason outside CI; throws in CI): one home in test/support, re-exported here.
export { skipOrFail } from "../../../test/support/index.ts";

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningServer {
  pid: number;
  port: number;
  baseUrl: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
  /** Resolves with the exit once the process is gone, or rejects after `timeoutMs`. */
  waitForExit(timeoutMs: number): Promise<Exit>;
  /** SIGKILL if still running, then wait; safe to call twice. */
  kill(): Promise<void>;
}

const inheritedButControlled = ["ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT", "TZ", "PORT", "TODO_API_FAKE_NOW", "TODO_API_SHUTDOWN_TIMEOUT_MS"];

/** The parent's environment minus everything the server reads, plus `env`. */
export function serverEnv(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !inheritedButControlled.includes(key)) base[key] = value;
  }
  return { ...base, PORT: "0", ...env };
}

export function spawnServer(launcher: Launcher, env: Record<string, string>, prefix: string[] = []): ChildProcess {
  const [command, ...args] = [...prefix, launcher.command, ...launcher.args];
  return spawn(command ?? launcher.command, args, {
    cwd: launcher.cwd ?? exampleDir,
    env: serverEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Wrap a spawned server: collect output, wait for "Now listening on", bounded by `startTimeoutMs`. */
export async function attachServer(child: ChildProcess, startTimeoutMs = 20_000): Promise<RunningServer> {
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  // "close", not "exit": it comes after the output pipes are drained, so stdout() is complete.
  const exited = new Promise<Exit>((resolveExit) => child.once("close", (code, signal) => resolveExit({ code, signal })));
  if (child.pid === undefined) throw new Error("spawn failed: no pid");
  const pid = child.pid;

  function waitForExit(timeoutMs: number): Promise<Exit> {
    return new Promise((resolveWait, reject) => {
      const timer = setTimeout(() => reject(new Error(`process ${pid} still running after ${timeoutMs} ms\nstdout:\n${out}\nstderr:\n${err}`)), timeoutMs);
      void exited.then((exit) => {
        clearTimeout(timer);
        resolveWait(exit);
      });
    });
  }

  async function kill(): Promise<void> {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await waitForExit(10_000);
    }
  }

  try {
    const port = await new Promise<number>((resolvePort, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "Now listening on" within ${startTimeoutMs} ms\nstdout:\n${out}\nstderr:\n${err}`)), startTimeoutMs);
      const onData = (): void => {
        const found = /Now listening on: http:\/\/\[::\]:(\d+)/.exec(out);
        if (found) {
          clearTimeout(timer);
          child.stdout?.off("data", onData);
          resolvePort(Number(found[1]));
        }
      };
      child.stdout?.on("data", onData);
      void exited.then((exit) => {
        clearTimeout(timer);
        reject(new Error(`server exited before listening (${JSON.stringify(exit)})\nstdout:\n${out}\nstderr:\n${err}`));
      });
    });
    return {
      pid,
      port,
      baseUrl: `http://127.0.0.1:${port}`,
      child,
      stdout: () => out,
      stderr: () => err,
      exited,
      waitForExit,
      kill,
    };
  } catch (error) {
    await kill();
    throw error;
  }
}

export async function startServer(launcher: Launcher, env: Record<string, string> = {}): Promise<RunningServer> {
  return attachServer(spawnServer(launcher, env));
}

/** Run to completion a server that is expected to fail at startup; bounded. */
export async function runToExit(launcher: Launcher, env: Record<string, string>, timeoutMs = 20_000): Promise<Exit & { stdout: string; stderr: string }> {
  const child = spawnServer(launcher, env);
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  const exit = await new Promise<Exit>((resolveExit, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`still running after ${timeoutMs} ms\nstdout:\n${out}`));
    }, timeoutMs);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolveExit({ code, signal });
    });
  });
  return { ...exit, stdout: out, stderr: err };
}

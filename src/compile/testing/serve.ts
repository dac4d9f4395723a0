/**
 * Test helpers for the compile tests: find real tools, run a compiled server, wait for
 * its first 200, stop it with SIGTERM. Every wait is bounded; every process is ours, by PID.
 */
import { spawn, type ChildProcess } from "node:child_process";

// Ports, tools, platforms and the skip-or-fail rule live in test/support; re-exported for this file's importers.
import { ARM64_SYSROOT, freePort, QEMU_AARCH64 } from "../../../test/support/index.ts";
export { ARM64_SYSROOT, freePort, hasQemuArm64, QEMU_AARCH64, requireReal } from "../../../test/support/index.ts";

export interface RunningServer {
  child: ChildProcess;
  port: number;
  /** Milliseconds from spawn to the first 200. */
  firstOkMs: number;
  body: string;
  output: () => string;
  /** SIGTERM, then wait (bounded) for the exit; SIGKILL and report if it does not come. */
  stop: (timeoutMs?: number) => Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }>;
}

/** Start `argv` with PORT set and poll GET http://127.0.0.1:PORT<path> until it answers 200 (bounded). */
export async function startServer(
  argv: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string; path?: string; pollMs?: number } = {},
): Promise<RunningServer> {
  const port = await freePort();
  const [cmd, ...args] = argv as [string, ...string[]];
  const started = performance.now();
  const child = spawn(cmd, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));

  const stop: RunningServer["stop"] = async (timeoutMs = 15_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return { ...(await exited), killed: false };
    child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
    const first = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    if (first === "timeout") {
      child.kill("SIGKILL");
      return { ...(await exited), killed: true };
    }
    return { ...first, killed: false };
  };

  const deadline = started + (options.timeoutMs ?? 60_000);
  while (performance.now() < deadline) {
    if (exitedEarly) {
      const r = await exited;
      throw new Error(`${argv.join(" ")} exited (${r.code ?? r.signal}) before serving: ${out.slice(-2000)}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}${options.path ?? "/"}`, { signal: AbortSignal.timeout(2000) });
      const body = await res.text();
      if (res.status === 200) {
        return { child, port, firstOkMs: performance.now() - started, body, output: () => out, stop };
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 25));
  }
  await stop(5000);
  throw new Error(`${argv.join(" ")} did not answer 200 on port ${port} in time: ${out.slice(-2000)}`);
}

/** The argv that runs an executable for `arch` on this (amd64) host. */
export function runArgv(arch: string, executable: string, ...args: string[]): string[] {
  return arch === "arm64" && process.arch !== "arm64"
    ? [QEMU_AARCH64, "-L", ARM64_SYSROOT, executable, ...args]
    : [executable, ...args];
}
